package park

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// threeHours is the engine's output for three hours of the reference
// park: 180 live intervals, 3 hourly records, no statement.
func threeHours(t *testing.T) Output {
	t.Helper()
	r := newReplay(t, loadExample(t), day0, 7)
	end := day0.Add(3 * time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	if len(r.out.Hours) != 3 {
		t.Fatalf("%d hours", len(r.out.Hours))
	}
	return r.out
}

// deadLetters collects the park's dead-letter topic.
type deadLetters struct {
	mu   sync.Mutex
	recs []deadPayload
}

func (d *deadLetters) all() []deadPayload {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]deadPayload(nil), d.recs...)
}

// sinkRig is a sink of a service on a real Mosquitto, writing to url.
type sinkRig struct {
	svc  *Service
	reg  *prometheus.Registry
	k    *sink
	dead *deadLetters
}

func newSinkRig(t *testing.T, mq *testenv.Mosquitto, url string, maxPending int) *sinkRig {
	t.Helper()
	cfg := loadExample(t)
	reg := prometheus.NewRegistry()
	svc, err := NewService(parkRole(t, cfg), slog.New(slog.DiscardHandler), reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if maxPending > 0 {
		svc.maxPending = maxPending
	}
	ic, err := influxwrite.New(&config.InfluxDB{URL: url, Bucket: "eipgw/autogen", Timeout: 5 * time.Second}, svc.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ic.Close)

	dead := &deadLetters{}
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID(t.Name() + "-dl"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe(topic.DeadLetter(cfg.Park), 1, func(_ mqtt.Client, m mqtt.Message) {
		var p deadPayload
		if err := json.Unmarshal(m.Payload(), &p); err != nil {
			t.Errorf("dead letter %q: %v", m.Payload(), err)
		}
		dead.mu.Lock()
		dead.recs = append(dead.recs, p)
		dead.mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	gate := mqttconn.NewGate()
	client := mqttconn.NewClient(mqttconn.Options(&config.MQTT{Broker: mq.URL, ConnectTimeout: 10 * time.Second}, t.Name()+"-park", svc.log).
		SetOnConnectHandler(func(mqtt.Client) { gate.Set(true) }))
	if err := mqttconn.Connect(client, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(100) })
	return &sinkRig{svc: svc, reg: reg, k: svc.newSink(ic.Writer, client, gate), dead: dead}
}

// run hands o to the sink and waits until every record is settled.
func (r *sinkRig) run(t *testing.T, o Output, within time.Duration) {
	t.Helper()
	outputs := make(chan Output, 1)
	outputs <- o
	close(outputs)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	r.k.run(ctx, outputs)
	if ctx.Err() != nil {
		t.Fatalf("records still pending after %s: %+v", within, r.svc.Stats())
	}
}

// waitDead waits for n dead letters to arrive at the subscriber.
func (r *sinkRig) waitDead(t *testing.T, n int) []deadPayload {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.dead.all()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := r.dead.all()
	if len(got) != n {
		t.Fatalf("%d dead letters received, want %d", len(got), n)
	}
	return got
}

// counter reads one series of a counter vector.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// influxStub is an InfluxDB write endpoint that keeps the lines of the
// requests it accepted.
type influxStub struct {
	mu       sync.Mutex
	requests int
	times    []time.Time
	stored   map[string]bool
	// respond answers request n (from 1); false: accept it.
	respond func(n int, body string, w http.ResponseWriter) bool
}

func (s *influxStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if s.respond != nil && s.respond(n, string(body), w) {
		return
	}
	s.mu.Lock()
	for _, l := range strings.Split(string(body), "\n") {
		s.stored[l] = true
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestSinkStoresOrDeadLettersEveryHourlyRecord: against a stub InfluxDB
// that fails in each of the ways InfluxDB does, every hourly record ends
// up stored or on the dead-letter topic, and is counted.
func TestSinkStoresOrDeadLettersEveryHourlyRecord(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	out := threeHours(t)
	park := loadExample(t).Park
	var hourly, live []Record
	for _, h := range out.Hours {
		hourly = append(hourly, HourRecords(park, h)...)
	}
	for _, iv := range out.Live {
		live = append(live, LiveRecords(park, iv)...)
	}
	bad := string(hourly[len(hourly)/2].Line) // refused in the "400" case

	cases := []struct {
		name    string
		respond func(n int, body string, w http.ResponseWriter) bool
		// down: the server is not listening for the first 2 s.
		down     bool
		refused  int // hourly records InfluxDB refuses
		minFails uint64
	}{
		{name: "500", minFails: 3, respond: func(n int, _ string, w http.ResponseWriter) bool {
			if n <= 3 {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		}},
		{name: "429 Retry-After", minFails: 1, respond: func(n int, _ string, w http.ResponseWriter) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}},
		{name: "400 for one record", refused: 1, minFails: 1, respond: func(_ int, body string, w http.ResponseWriter) bool {
			if strings.Contains(body, bad) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Influxdb-Error", `partial write: field type conflict: input field "completeness" on measurement "park_hourly" is type float, already exists as type integer dropped=1`)
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":"partial write: field type conflict: input field \"completeness\" on measurement \"park_hourly\" is type float, already exists as type integer dropped=1"}`)
				return true
			}
			return false
		}},
		{name: "down then up", down: true, minFails: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stub := &influxStub{stored: map[string]bool{}, respond: c.respond}
			srv := httptest.NewUnstartedServer(stub)
			addr := srv.Listener.Addr().String()
			started := make(chan struct{})
			if c.down {
				srv.Listener.Close() // connection refused until it listens again
				time.AfterFunc(2*time.Second, func() {
					defer close(started)
					ln, err := net.Listen("tcp", addr)
					if err != nil {
						t.Errorf("listen again on %s: %v", addr, err)
						return
					}
					srv.Listener = ln
					srv.Start()
				})
			} else {
				srv.Start()
				close(started)
			}
			t.Cleanup(func() { <-started; srv.Close() })
			rig := newSinkRig(t, mq, "http://"+addr, 0)
			rig.run(t, out, 60*time.Second)

			dead := rig.waitDead(t, c.refused)
			st := rig.svc.Stats()
			stub.mu.Lock()
			defer stub.mu.Unlock()
			for _, r := range hourly {
				stored := stub.stored[string(r.Line)]
				deadLettered := false
				for _, d := range dead {
					deadLettered = deadLettered || d.Payload == string(r.Line)
				}
				if stored == deadLettered {
					t.Errorf("hourly record stored %v, dead-lettered %v: %s", stored, deadLettered, r.Line)
				}
			}
			for _, r := range live {
				if !stub.stored[string(r.Line)] {
					t.Errorf("live record not stored: %s", r.Line)
				}
			}
			for _, d := range dead {
				if d.Reason != DeadInfluxRefused || d.Measurement != MeasurementHourly || d.Source != "park" ||
					!strings.Contains(d.Error, "field type conflict") || d.Payload != bad {
					t.Errorf("dead letter %+v", d)
				}
			}
			if st.Hours != 3 || st.Intervals != uint64(len(out.Live)) || st.DeadLetters != uint64(c.refused) ||
				st.Records != uint64(len(hourly)+len(live)-c.refused) || st.Dropped != 0 || st.WriteErrors < c.minFails {
				t.Errorf("stats %+v (hourly records %d, live %d)", st, len(hourly), len(live))
			}
			if n := counter(t, rig.reg, "eipgw_park_records_dead_lettered_total", map[string]string{"measurement": MeasurementHourly, "reason": DeadInfluxRefused}); n != float64(c.refused) {
				t.Errorf("dead-lettered counter %v, want %d", n, c.refused)
			}
			if n := counter(t, rig.reg, "eipgw_park_records_written_total", map[string]string{"measurement": MeasurementHourly}); n != float64(len(hourly)-c.refused) {
				t.Errorf("written counter %v, want %d", n, len(hourly)-c.refused)
			}
			if c.name == "429 Retry-After" {
				if gap := stub.times[1].Sub(stub.times[0]); gap < 950*time.Millisecond {
					t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
				}
			}
			t.Logf("%d requests, %d write errors, %d records stored", stub.requests, st.WriteErrors, st.Records)
		})
	}
}

// TestSinkQueueFull: when more records wait than the queue holds (here
// three hours of output taken at once by a queue of 200), live records are
// dropped oldest first and counted; hourly records are never dropped:
// pushed out, they go to the dead-letter topic (queue_full). Every record
// is stored, dead-lettered or dropped, and counted.
func TestSinkQueueFull(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	out := threeHours(t)
	park := loadExample(t).Park
	var hourly, live int
	for _, h := range out.Hours {
		hourly += len(HourRecords(park, h))
	}
	for _, iv := range out.Live {
		live += len(LiveRecords(park, iv))
	}
	const maxPending = 200
	if hourly <= maxPending {
		t.Fatalf("%d hourly records: the test needs more than %d", hourly, maxPending)
	}
	stub := &influxStub{stored: map[string]bool{}}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	rig := newSinkRig(t, mq, srv.URL, maxPending)
	rig.run(t, out, 60*time.Second)

	// The hours come after the live intervals: every live record and the
	// oldest hourly ones were pushed out; the last maxPending are stored.
	wantDead := hourly - maxPending
	dead := rig.waitDead(t, wantDead)
	for _, d := range dead {
		if d.Reason != DeadQueueFull || d.Measurement != MeasurementHourly || d.Payload == "" {
			t.Fatalf("dead letter %+v", d)
		}
	}
	st := rig.svc.Stats()
	if st.Records != maxPending || st.DeadLetters != uint64(wantDead) || st.Dropped != uint64(live) || st.Hours != 3 {
		t.Errorf("stats %+v; hourly %d live %d", st, hourly, live)
	}
	if n := counter(t, rig.reg, "eipgw_park_records_dropped_total", map[string]string{"measurement": MeasurementLive, "reason": "queue_full"}); n != float64(live) {
		t.Errorf("dropped counter %v, want %d", n, live)
	}
	if n := counter(t, rig.reg, "eipgw_park_records_dropped_total", map[string]string{"measurement": MeasurementHourly}); n != 0 {
		t.Errorf("hourly records dropped: %v", n)
	}
	if n := counter(t, rig.reg, "eipgw_park_records_dead_lettered_total", map[string]string{"measurement": MeasurementHourly, "reason": DeadQueueFull}); n != float64(wantDead) {
		t.Errorf("dead-lettered counter %v, want %d", n, wantDead)
	}
}

// TestSinkAgainstInflux18: the records go to a real InfluxDB 1.8.10, in
// which an earlier float "hours" field of park_hourly makes the integer
// "hours" of cumulative metrics a field type conflict: InfluxDB stores the
// rest of each request and answers "partial write"; the sink finds the
// conflicting records, dead-letters each with InfluxDB's reason, and every
// other hourly record is in InfluxDB.
func TestSinkAgainstInflux18(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	out := threeHours(t)
	park := loadExample(t).Park

	ic, err := influxwrite.New(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw/autogen", Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Writer.WriteRecord(context.Background(), fmt.Sprintf("park_hourly,metric=conflict,park=other hours=1.5 %d", day0.UnixMilli())); err != nil {
		t.Fatal(err)
	}
	var hourly, conflicting int
	for _, h := range out.Hours {
		for _, r := range HourRecords(park, h) {
			hourly++
			if strings.Contains(string(r.Line), ",hours=") {
				conflicting++
			}
		}
	}
	if conflicting == 0 {
		t.Fatal("no cumulative metric in the hourly records")
	}

	rig := newSinkRig(t, mq, ifx.URL, 0)
	rig.run(t, out, 60*time.Second)
	dead := rig.waitDead(t, conflicting)
	for _, d := range dead {
		if d.Reason != DeadInfluxRefused || !strings.Contains(d.Error, "field type conflict") || !strings.Contains(d.Payload, ",hours=") {
			t.Errorf("dead letter %+v", d)
		}
	}
	rows, err := ifx.Query("eipgw", fmt.Sprintf(`SELECT count("completeness") FROM park_hourly WHERE "park" = '%s'`, park))
	if err != nil || len(rows) != 1 {
		t.Fatalf("query: %v %v", rows, err)
	}
	if n, _ := rows[0].Values[0][1].(json.Number).Int64(); int(n) != hourly-conflicting {
		t.Errorf("InfluxDB holds %d hourly records, want %d of %d", n, hourly-conflicting, hourly)
	}
	st := rig.svc.Stats()
	if st.Hours != 3 || st.DeadLetters != uint64(conflicting) || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d hourly records, %d refused by InfluxDB 1.8.10 as field type conflicts, %d write errors", hourly, conflicting, st.WriteErrors)
}

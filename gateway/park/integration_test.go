package park

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// safeClock is a settable clock shared with the service's goroutine.
type safeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *safeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *safeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// TestServiceAgainstMosquittoAndInflux: the service subscribes to a real
// Mosquitto, takes an hour of the reference park's batches published as an
// edge publishes them, and writes its live metrics, the hourly record and
// retained MQTT metrics; the hourly values in InfluxDB are those of the
// engine fed directly with the same batches.
func TestServiceAgainstMosquittoAndInflux(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")

	data, err := os.ReadFile("../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(data)
	y = strings.Replace(y, "tcp://127.0.0.1:1883", mq.URL, 1)
	y = strings.Replace(y, "http://127.0.0.1:8086", ifx.URL, 1)
	y = strings.Replace(y, "  listen: 127.0.0.1:9464", "  listen: \"\"", 1)
	path := filepath.Join(t.TempDir(), "park.yaml")
	os.WriteFile(path, []byte(y), 0o644)
	t.Setenv("EIPGW_MQTT_PASSWORD", "")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &safeClock{now: day0}
	reg := prometheus.NewRegistry()
	svc, err := NewService(parkRole(t, cfg), slog.New(slog.DiscardHandler), reg, Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	// The same batches go to MQTT and to a directly driven engine.
	r := newReplay(t, loadExample(t), day0, 5)
	var batches []*batch.Batch
	r.sink = func(b *batch.Batch) { batches = append(batches, b) }
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("test-edge"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	// The clock stays at the last poll while the batches arrive, as it
	// would at a site: no batch is in the future, and no live interval the
	// batches still fill can be settled by the service's once-a-second
	// Advance before all of them are in. (With the clock past the last
	// interval, a tick in the middle of the last poll's batches settled that
	// interval with only some devices, and its metrics, the last ones
	// retained, said no data.)
	clock.Set(end.Add(-time.Minute))
	// Wait for the service's subscription: its retained-free topic gets
	// nothing until then, so publish a probe until the service counts it.
	deadline := time.Now().Add(20 * time.Second)
	for svc.Stats().Received == 0 {
		pub.Publish(topic.Data("suzhou-eip", "gw-1", "probe"), 1, false, []byte("{}")).Wait()
		if time.Now().After(deadline) {
			t.Fatal("service not subscribed after 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	probes := svc.Stats().Received
	var toks []mqtt.Token
	for _, b := range batches {
		toks = append(toks, pub.Publish(topic.Data("suzhou-eip", b.Gateway, b.Device), 1, false, b.AppendJSON(nil)))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	for svc.Stats().Received < probes+uint64(len(batches)) {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("service received %d of %d", svc.Stats().Received-probes, len(batches))
		}
		time.Sleep(50 * time.Millisecond)
	}
	clock.Set(end.Add(3 * time.Minute)) // past the grace: the hour closes
	for svc.Stats().Hours < 1 {
		if time.Now().After(deadline.Add(40 * time.Second)) {
			t.Fatalf("no hourly record written: %+v", svc.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}

	want := r.out.Hours[0]
	rows, err := ifx.Query("eipgw", fmt.Sprintf(`SELECT "value", "valid", "completeness", "valid_minutes" FROM park_hourly WHERE time = %dms GROUP BY *`, day0.UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]any{}
	for _, s := range rows {
		key := s.Tags["metric"] + "/" + s.Tags["tenant"] + s.Tags["device"] + s.Tags["link"] + s.Tags["header"] + s.Tags["material"]
		got[key] = s.Values[0]
	}
	if len(got) != len(want.Metrics) {
		t.Errorf("InfluxDB holds %d hourly metrics, the engine computed %d", len(got), len(want.Metrics))
	}
	for _, m := range want.Metrics {
		v, ok := got[m.Name+"/"+m.Entity]
		if !ok {
			t.Errorf("%s %s not in InfluxDB", m.Name, m.Entity)
			continue
		}
		if valid := v[2] == true; valid != (m.Flag == Valid) {
			t.Errorf("%s %s: valid %v, engine flag %s", m.Name, m.Entity, v[2], m.Flag)
		}
		if m.Flag == Valid {
			n, _ := v[1].(json.Number).Float64()
			if !near(n, m.Value, 1e-12) && !(n == 0 && m.Value == 0) {
				t.Errorf("%s %s: InfluxDB %v, engine %v", m.Name, m.Entity, n, m.Value)
			}
		}
	}
	live, err := ifx.Query("eipgw", `SELECT count("value") FROM park_live WHERE "metric" = 'supplier_steam_power_mw'`)
	if err != nil || len(live) == 0 {
		t.Errorf("no live records: %v", err)
	} else {
		t.Logf("live supplier power records: %v", live[0].Values[0][1])
	}

	// A retained live metric waits for any new subscriber.
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("test-dashboard"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	msg := make(chan []byte, 1)
	sub.Subscribe(topic.Metrics("suzhou-eip", "steam_power_mw", "t01"), 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case msg <- m.Payload():
		default:
		}
	}).Wait()
	select {
	case p := <-msg:
		var lp livePayload
		if err := json.Unmarshal(p, &lp); err != nil || lp.Tenant != "t01" || lp.Unit != "MW" || lp.Value == nil || lp.Flag != Valid {
			t.Errorf("retained metric %s (%v)", p, err)
		}
	case <-time.After(10 * time.Second):
		t.Error("no retained live metric for steam_power_mw.t01")
	}
	if n := counterValue(t, reg, "eipgw_park_batches_total", "accepted"); n != float64(len(batches)) {
		t.Errorf("eipgw_park_batches_total{result=accepted} = %v, want %d", n, len(batches))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// counterValue reads a counter series of reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{result=%q}", name, result)
	return 0
}

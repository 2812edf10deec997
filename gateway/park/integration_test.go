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

// serviceRig is a park service of the reference park's example
// configuration against a real Mosquitto and InfluxDB, its clock set by
// the test, and a client publishing as an edge would.
type serviceRig struct {
	t      *testing.T
	mq     *testenv.Mosquitto
	ifx    *testenv.Influx
	svc    *Service
	clock  *safeClock
	reg    *prometheus.Registry
	pub    mqtt.Client
	cancel context.CancelFunc
	done   chan error
	// probes counts the messages the service received before the test's.
	probes uint64
}

// newServiceRig starts the service; edit, when set, changes the example
// configuration's text first; log receives the service's log (nil: none).
func newServiceRig(t *testing.T, edit func(string) string, log *slog.Logger) *serviceRig {
	t.Helper()
	g := &serviceRig{t: t, mq: testenv.StartMosquitto(t), ifx: testenv.StartInflux(t, "eipgw"), clock: &safeClock{now: day0}, reg: prometheus.NewRegistry()}
	data, err := os.ReadFile("../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(data)
	y = strings.Replace(y, "tcp://127.0.0.1:1883", g.mq.URL, 1)
	y = strings.Replace(y, "http://127.0.0.1:8086", g.ifx.URL, 1)
	y = strings.Replace(y, "  listen: 127.0.0.1:9464", "  listen: \"\"", 1)
	if edit != nil {
		y = edit(y)
	}
	path := filepath.Join(t.TempDir(), "park.yaml")
	os.WriteFile(path, []byte(y), 0o644)
	t.Setenv("EIPGW_MQTT_PASSWORD", "")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if g.svc, err = NewService(parkRole(t, cfg), log, g.reg, Options{Clock: g.clock.Now}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel, g.done = cancel, make(chan error, 1)
	go func() { g.done <- g.svc.Run(ctx) }()
	t.Cleanup(cancel)

	g.pub = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(g.mq.URL).SetClientID("test-edge"))
	if tok := g.pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { g.pub.Disconnect(100) })
	return g
}

// subscribed waits for the service's subscription: its retained-free topic
// gets nothing until then, so it publishes a probe until the service
// counts it.
func (g *serviceRig) subscribed() {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for g.svc.Stats().Received == 0 {
		g.pub.Publish(topic.Data("suzhou-eip", "gw-1", "probe"), 1, false, []byte("{}")).Wait()
		if time.Now().After(deadline) {
			g.t.Fatal("service not subscribed after 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.probes = g.svc.Stats().Received
}

// message is one payload on one device's data topic.
type message struct {
	gateway, device string
	payload         []byte
}

// publish sends msgs in order, QoS 1, and waits until the service received
// every message the test published so far (n counts them).
func (g *serviceRig) publish(msgs []message, n *uint64) {
	g.t.Helper()
	var toks []mqtt.Token
	for _, m := range msgs {
		toks = append(toks, g.pub.Publish(topic.Data("suzhou-eip", m.gateway, m.device), 1, false, m.payload))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			g.t.Fatalf("publish: %v", tok.Error())
		}
	}
	*n += uint64(len(msgs))
	deadline := time.Now().Add(40 * time.Second)
	for g.svc.Stats().Received < g.probes+*n {
		if time.Now().After(deadline) {
			g.t.Fatalf("service received %d of %d", g.svc.Stats().Received-g.probes, *n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closeHour moves the clock past the grace of the hour ending at end and
// waits for its record.
func (g *serviceRig) closeHour(end time.Time) {
	g.t.Helper()
	g.clock.Set(end.Add(3 * time.Minute))
	deadline := time.Now().Add(40 * time.Second)
	for g.svc.Stats().Hours < 1 {
		if time.Now().After(deadline) {
			g.t.Fatalf("no hourly record written: %+v", g.svc.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// compareHour checks that InfluxDB holds exactly the hourly record want.
func (g *serviceRig) compareHour(want Hour) {
	t := g.t
	t.Helper()
	rows, err := g.ifx.Query("eipgw", fmt.Sprintf(`SELECT "value", "valid", "completeness", "valid_minutes" FROM park_hourly WHERE time = %dms GROUP BY *`, want.Start.UnixMilli()))
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
}

// stop ends the service and checks that Run returned cleanly.
func (g *serviceRig) stop() {
	g.t.Helper()
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		g.t.Fatal("Run did not return after cancel")
	}
}

// TestServiceAgainstMosquittoAndInflux: the service subscribes to a real
// Mosquitto, takes an hour of the reference park's batches published as an
// edge publishes them, and writes its live metrics, the hourly record and
// retained MQTT metrics; the hourly values in InfluxDB are those of the
// engine fed directly with the same batches.
func TestServiceAgainstMosquittoAndInflux(t *testing.T) {
	g := newServiceRig(t, nil, nil)

	// The same batches go to MQTT and to a directly driven engine.
	r, msgs := hourOfBatches(t)
	end := day0.Add(time.Hour)

	// The clock stays at the last poll while the batches arrive, as it
	// would at a site: no batch is in the future, and no live interval the
	// batches still fill can be settled by the service's once-a-second
	// Advance before all of them are in. (With the clock past the last
	// interval, a tick in the middle of the last poll's batches settled that
	// interval with only some devices, and its metrics, the last ones
	// retained, said no data.)
	g.clock.Set(end.Add(-time.Minute))
	g.subscribed()
	var n uint64
	g.publish(msgs, &n)
	g.closeHour(end)
	g.compareHour(r.out.Hours[0])

	live, err := g.ifx.Query("eipgw", `SELECT count("value") FROM park_live WHERE "metric" = 'supplier_steam_power_mw'`)
	if err != nil || len(live) == 0 {
		t.Errorf("no live records: %v", err)
	} else {
		t.Logf("live supplier power records: %v", live[0].Values[0][1])
	}

	// A retained live metric waits for any new subscriber.
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(g.mq.URL).SetClientID("test-dashboard"))
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
	if n := counterValue(t, g.reg, "eipgw_park_batches_total", "accepted"); n != float64(len(msgs)) {
		t.Errorf("eipgw_park_batches_total{result=accepted} = %v, want %d", n, len(msgs))
	}
	g.stop()
}

// counterValue reads a counter series of reg by its result label.
func counterValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	return labelValue(t, reg, name, "result", result)
}

// labelValue reads the counter series of reg whose label is value.
func labelValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// TestServiceHoldsHourForOfflineGateway: against a real Mosquitto, the
// broker's last will says gw-1 is offline (its status topic, retained)
// before the last minute of hour 0 reached the engine. Past the grace the
// hour stays open, and the log says why; once gw-1 is online again and its
// backlog arrives, the hour closes a grace later with every batch, equal
// to the engine fed directly.
func TestServiceHoldsHourForOfflineGateway(t *testing.T) {
	var logs testenv.LogBuffer
	g := newServiceRig(t, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	r, msgs := hourOfBatches(t)
	end := day0.Add(time.Hour)
	perMinute := len(msgs) / 60
	g.clock.Set(end.Add(-time.Minute))
	g.subscribed()
	var n uint64
	g.publish(msgs[:len(msgs)-perMinute], &n)
	status := func(state string) {
		t.Helper()
		if tok := g.pub.Publish(topic.Status("suzhou-eip", "gw-1"), 1, true, fmt.Appendf(nil, `{"state":%q,"gateway":"gw-1"}`, state)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		n++
		for deadline := time.Now().Add(10 * time.Second); g.svc.Stats().Received < g.probes+n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("status not received")
			}
		}
	}
	status("offline")
	g.clock.Set(end.Add(5 * time.Minute))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "gateway gw-1 is offline"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the held hour:\n%s", logs.String())
		}
	}
	if h := g.svc.Stats().Hours; h != 0 {
		t.Fatalf("%d hours closed while gw-1 is offline", h)
	}
	status("online")
	g.publish(msgs[len(msgs)-perMinute:], &n)
	g.closeHour(end.Add(5 * time.Minute)) // a grace after gw-1 came back
	g.compareHour(r.out.Hours[0])
	if late := counterValue(t, g.reg, "eipgw_park_batches_total", "late"); late != 0 {
		t.Errorf("%v batches refused as late", late)
	}
}

// hourOfBatches is the reference park's hour 0 (seed 5, a poll a
// minute) as an edge publishes it, and the engine fed those batches
// directly, its hour closed.
func hourOfBatches(t *testing.T) (*replay, []message) {
	t.Helper()
	r := newReplay(t, loadExample(t), day0, 5)
	var msgs []message
	r.sink = func(b *batch.Batch) { msgs = append(msgs, message{b.Gateway, b.Device, b.AppendJSON(nil)}) }
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	return r, msgs
}

package edge

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
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// The example ACL names this park and these gateways.
const (
	aclPark    = "suzhou-eip"
	aclGateway = "gw-1"
)

var aclUsers = map[string]string{
	"gw-1": "pw-gw-1", "gw-2": "pw-gw-2", "ingest": "pw-ingest", "park": "pw-park",
	"stranger": "pw-stranger", // in the password file, absent from the ACL
	"observer": "pw-observer", // test only: reads everything
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen records the messages a client received.
type seen struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (s *seen) add(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// find returns the messages whose topic satisfies match.
func (s *seen) find(match func(string) bool) []mqtt.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mqtt.Message
	for _, m := range s.msgs {
		if match(m.Topic()) {
			out = append(out, m)
		}
	}
	return out
}

func dial(t *testing.T, broker, user, clientID string, handler mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(user).
		SetPassword(aclUsers[user]).SetCleanSession(true).SetDefaultPublishHandler(handler)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connecting: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c mqtt.Client, topic string, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// testLog writes a component's log to the test's log, until the test's
// cleanups ran: a line a client's goroutine logs later (the MQTT client's
// last reconnection attempt, after its edge stopped) is dropped, since
// logging after a test completed panics.
type testLog struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestLog(t *testing.T) testLog {
	l := testLog{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		l.mu.Lock()
		*l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !*l.done {
		l.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// forbidden publishes what the ACL denies user, on a connection of its
// own: Mosquitto 2.0.11 drops the message, and acknowledges it to an MQTT
// 3.1.1 client all the same. Either way the broker has processed the
// message when the token completes.
func forbidden(t *testing.T, broker, user, topic string, retained bool, payload []byte) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(user + "-forbidden").SetUsername(user).
		SetPassword(aclUsers[user]).SetCleanSession(true).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connecting: %v", user, tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s publishing %s: no answer", user, topic)
	}
	t.Logf("%s publishing %s: %v (denied by the ACL)", user, topic, tok.Error())
}

type runningEdge struct {
	e    *Edge
	reg  *prometheus.Registry
	stop func()
}

func startEdge(t *testing.T, cfg *config.File, drv drivers.Registry) *runningEdge {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := New(edgeRole(t, cfg), drv, slog.New(slog.NewTextHandler(newTestLog(t), &slog.HandlerOptions{Level: slog.LevelWarn})), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge: %v", err)
		}
	}
	t.Cleanup(stop)
	return &runningEdge{e: e, reg: reg, stop: stop}
}

func (r *runningEdge) value(t *testing.T, name string, label ...string) float64 {
	t.Helper()
	return metricValue(t, r.reg, name, label...)
}

func (r *runningEdge) refusedTotal(t *testing.T) float64 {
	var n float64
	for _, reason := range replayReasons {
		n += r.value(t, "eipgw_edge_replay_requests_refused_total", "reason", reason)
	}
	return n
}

// TestReplayUnderACL runs an edge and an ingest worker against a Mosquitto
// that enforces config/examples/mosquitto-acl.conf, and InfluxDB 1.8: the
// roles work, the ingest's replay request is served, strangers and the
// edge's own user cannot publish requests or another gateway's data, and
// the edge refuses every abusive request it does receive.
func TestReplayUnderACL(t *testing.T) {
	root := testenv.RepoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, "config", "examples", "mosquitto-acl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aclFile := filepath.Join(dir, "acl.conf")
	acl := string(example) + "\n# test only\nuser observer\ntopic read #\n"
	if err := os.WriteFile(aclFile, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	mq := testenv.StartMosquittoACL(t, testenv.MosquittoACL{ACLFile: aclFile, Users: aclUsers})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", mq.Log())
		}
	})
	ifx := testenv.StartInflux(t, "eipgw")
	_, simAddr := testenv.StartSim(t, 11, 100*time.Millisecond)
	for user, pw := range aclUsers {
		if err := os.WriteFile(filepath.Join(dir, user+".pw"), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	drv, hasProfile := testenv.Drivers(t)
	stateDir := filepath.Join(dir, "edge")
	edgeCfg, err := config.Parse("edge.yaml", []byte(fmt.Sprintf(`park: %s
site: plant
mqtt: {broker: "%s", username: gw-1, password_file: %s, connect_timeout: 5s}
edge:
  gateway: %s
  state_dir: %s
  publish_timeout: 2s
  replay: {min_interval: 1h, max_age: 3s}
  buses:
    - {name: sim, address: "%s", timeout: 500ms}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: 100ms}
    - {name: cems-1, profile: cems, bus: sim, unit: 2, interval: 100ms}
`, aclPark, mq.URL, filepath.Join(dir, "gw-1.pw"), aclGateway, stateDir, simAddr)), hasProfile)
	if err != nil {
		t.Fatal(err)
	}
	ingestCfg, err := config.Parse("ingest.yaml", []byte(fmt.Sprintf(`park: %s
mqtt: {broker: "%s", client_id: eipgw-ingest-1, username: ingest, password_file: %s}
ingest:
  group: eipgw-ingest
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen, timeout: 3s}
  completeness: {disabled: true}
`, aclPark, mq.URL, filepath.Join(dir, "ingest.pw"), ifx.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}

	var obs seen
	observer := dial(t, mq.URL, "observer", "observer", obs.add)
	if tok := observer.Subscribe("#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}

	// The edge publishes into its log and to the broker before ingest
	// runs; the replay ingest asks for on connecting brings those back.
	edge := startEdge(t, edgeCfg, drv)
	eventually(t, 30*time.Second, "edge batches acknowledged", func() bool { return edge.e.Stats().Acked >= 20 })

	in, err := ingest.New(ingestRole(t, ingestCfg), slog.New(slog.NewTextHandler(newTestLog(t), &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	ictx, stopIngest := context.WithCancel(context.Background())
	ingestDone := make(chan error, 1)
	go func() { ingestDone <- in.Run(ictx) }()
	t.Cleanup(func() {
		stopIngest()
		<-ingestDone
	})

	ingestTopic := topic.Replay(aclPark, "eipgw-ingest-1")
	eventually(t, 30*time.Second, "ingest's replay request served", func() bool {
		return edge.value(t, "eipgw_edge_replay_requests_served_total") == 1
	})
	if n := edge.value(t, "eipgw_edge_batches_replayed_on_request_total"); n == 0 {
		t.Error("the served request published nothing again")
	}
	if v := edge.refusedTotal(t); v != 0 {
		t.Errorf("refusals before any abuse: %v", v)
	}
	eventually(t, 30*time.Second, "readings in InfluxDB", func() bool {
		s, err := ifx.Query("eipgw", `SELECT count(batch_seq) FROM chp WHERE gateway='gw-1'`)
		return err == nil && len(s) > 0 && fmt.Sprint(s[0].Values[0][1]) != "0"
	})
	requests := obs.find(func(s string) bool { return s == ingestTopic })
	if len(requests) != 1 || !strings.Contains(string(requests[0].Payload()), `"ts":`) {
		t.Fatalf("observer saw %d requests of ingest", len(requests))
	}
	ingestRequest := string(requests[0].Payload())

	// marker publishes, as the ingest user, a request from an id the edge
	// does not allow, and waits until the edge refused it: everything
	// published before it has reached the edge and the observer.
	tool := dial(t, mq.URL, "ingest", "eipgw-tool", func(mqtt.Client, mqtt.Message) {})
	markers := 0
	marker := func() {
		t.Helper()
		markers++
		before := edge.value(t, "eipgw_edge_replay_requests_refused_total", "reason", reasonNotAllowed)
		markerTopic := topic.Replay(aclPark, fmt.Sprintf("marker-%d", markers))
		publish(t, tool, markerTopic, false, request(fmt.Sprint("m", markers), time.Now(), time.Now()))
		eventually(t, 10*time.Second, "marker refused", func() bool {
			return edge.value(t, "eipgw_edge_replay_requests_refused_total", "reason", reasonNotAllowed) == before+1
		})
		eventually(t, 10*time.Second, "marker seen", func() bool { return len(obs.find(func(s string) bool { return s == markerTopic })) == 1 })
	}

	// What the ACL must stop: a stranger and the edge's own user forging
	// the ingest's request, and the edge's user publishing as gw-2.
	forged := request("forged", time.Now().Add(-time.Hour), time.Now())
	forbidden(t, mq.URL, "stranger", ingestTopic, true, forged)
	forbidden(t, mq.URL, "stranger", topic.Replay(aclPark, "eipgw-ingest-2"), true, forged)
	forbidden(t, mq.URL, "gw-1", ingestTopic, true, forged)
	forbidden(t, mq.URL, "gw-1", topic.Data(aclPark, "gw-2", "chp-1"), false,
		[]byte(`{"v":1,"gateway":"gw-2","seq":1,"device":"chp-1","kind":"chp","ts":"2026-11-26T18:00:01.000Z","points":[]}`))
	forbidden(t, mq.URL, "stranger", topic.Data(aclPark, "gw-1", "chp-1"), false, []byte(`{}`))
	// What the ACL must let through beyond the roles' data: the park
	// engine's dead letters (records InfluxDB refused) and live metrics,
	// ingest's dead letters. Mosquitto acknowledges a denied publish of
	// an MQTT 3.1.1 client as delivered, so only a reader can tell.
	for i, c := range []struct{ user, topic string }{
		{"park", topic.DeadLetter(aclPark)}, {"park", topic.Metrics(aclPark, "steam_power_mw", "t01")}, {"ingest", topic.DeadLetter(aclPark)},
	} {
		payload := fmt.Sprintf("allowed-%d", i)
		publish(t, dial(t, mq.URL, c.user, payload, func(mqtt.Client, mqtt.Message) {}), c.topic, false, []byte(payload))
		eventually(t, 10*time.Second, c.user+" publishing on "+c.topic, func() bool {
			for _, m := range obs.find(func(s string) bool { return s == c.topic }) {
				if string(m.Payload()) == payload {
					return true
				}
			}
			return false
		})
	}
	marker()
	if v := edge.refusedTotal(t); v != 1 {
		t.Errorf("the edge received forged requests: %v refusals, want the marker's 1", v)
	}
	if got := obs.find(func(s string) bool {
		tp, err := topic.Parse(s)
		return err == nil && tp.Park == aclPark && tp.Gateway == "gw-2"
	}); len(got) != 0 {
		t.Errorf("the edge's user published as gw-2: %s", got[0].Topic())
	}
	for _, m := range obs.find(func(s string) bool { return s == ingestTopic || s == topic.Replay(aclPark, "eipgw-ingest-2") }) {
		if strings.Contains(string(m.Payload()), "forged") {
			t.Errorf("a forged request reached %s", m.Topic())
		}
	}
	for _, m := range obs.find(func(s string) bool { return s == topic.Data(aclPark, "gw-1", "chp-1") }) {
		if string(m.Payload()) == "{}" {
			t.Error("the stranger published gw-1 data")
		}
	}
	// The retained request is still the ingest's own.
	var retained seen
	late := dial(t, mq.URL, "observer", "observer-2", retained.add)
	late.Subscribe(ingestTopic, 1, nil).Wait()
	eventually(t, 10*time.Second, "retained request", func() bool { return len(retained.find(func(string) bool { return true })) > 0 })
	if got := string(retained.find(func(string) bool { return true })[0].Payload()); got != ingestRequest {
		t.Errorf("retained request on %s is %s, want the ingest's %s", ingestTopic, got, ingestRequest)
	}

	// What reaches the edge from the ingest user and is refused, each
	// counted, none published again.
	replayed := edge.value(t, "eipgw_edge_batches_replayed_on_request_total")
	// The served request, published again once older than max_age.
	var served mqttconn.ReplayRequest
	if err := json.Unmarshal([]byte(ingestRequest), &served); err != nil {
		t.Fatal(err)
	}
	issued, err := time.Parse(time.RFC3339Nano, served.Time)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(issued.Add(3500 * time.Millisecond)))
	fresh := func(id string, since time.Duration) func() []byte {
		return func() []byte { return request(id, time.Now().Add(since), time.Now()) }
	}
	fixed := func(b []byte) func() []byte { return func() []byte { return b } }
	for _, c := range []struct {
		requester string
		payload   func() []byte
		reason    string
	}{
		{"intruder", fresh("i1", -time.Minute), reasonNotAllowed},
		{"eipgw-ingest-1", fresh("again", -time.Minute), reasonRateLimited},
		{"eipgw-ingest-tool", fresh("ahead", 365*24*time.Hour), reasonFuture},
		{"eipgw-ingest-tool", fixed([]byte(`{"v":1,"id":"x","since":"not a time","ts":"now"}`)), reasonMalformed},
		{"eipgw-ingest-tool", fixed([]byte("\x00\x01binary")), reasonMalformed},
		{"eipgw-ingest-tool", fixed(request("old", time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))), reasonStale},
		{"eipgw-ingest-1", fixed([]byte(ingestRequest)), reasonStale},
	} {
		before := edge.value(t, "eipgw_edge_replay_requests_refused_total", "reason", c.reason)
		publish(t, tool, topic.Replay(aclPark, c.requester), false, c.payload())
		eventually(t, 10*time.Second, c.requester+" refused as "+c.reason, func() bool {
			return edge.value(t, "eipgw_edge_replay_requests_refused_total", "reason", c.reason) == before+1
		})
	}
	if v := edge.value(t, "eipgw_edge_batches_replayed_on_request_total"); v != replayed {
		t.Errorf("refused requests published %v batches again", v-replayed)
	}
	if v := edge.value(t, "eipgw_edge_replay_requests_served_total"); v != 1 {
		t.Errorf("served %v requests, want 1", v)
	}

	// A since of days ago is served from max_age (3s) only: a fraction of
	// what the log holds after the edge ran for several times that.
	eventually(t, 30*time.Second, "six times max_age polled", func() bool { return edge.e.Stats().Polled >= 360 })
	polled := edge.e.Stats().Polled
	// The ingest's request (1 min back) counted as limited only if the
	// log held batches from before max_age then: it depends on how long
	// the edge ran before ingest started.
	limited := edge.value(t, "eipgw_edge_replay_requests_limited_total", "limit", limitMaxAge)
	publish(t, tool, topic.Replay(aclPark, "eipgw-ingest-tool"), false, request("days", time.Now().Add(-72*time.Hour), time.Now()))
	eventually(t, 10*time.Second, "clamped request served", func() bool {
		return edge.value(t, "eipgw_edge_replay_requests_limited_total", "limit", limitMaxAge) == limited+1
	})
	eventually(t, 10*time.Second, "served", func() bool { return edge.value(t, "eipgw_edge_replay_requests_served_total") == 2 })
	clamped := edge.value(t, "eipgw_edge_batches_replayed_on_request_total") - replayed
	t.Logf("since of 3 days ago: %v batches published again; the edge had polled %d", clamped, polled)
	if clamped == 0 || clamped >= float64(polled)/2 {
		t.Errorf("since of days ago published %v batches of the %d polled", clamped, polled)
	}

	// A restart of the edge: the requests still retained (the ingest's,
	// and one retained by the tool) are not served again.
	publish(t, tool, topic.Replay(aclPark, "eipgw-ingest-keeper"), true, request("kept", time.Now().Add(-time.Second), time.Now()))
	eventually(t, 10*time.Second, "retained request served", func() bool { return edge.value(t, "eipgw_edge_replay_requests_served_total") == 3 })
	edge.stop()
	restarted := startEdge(t, edgeCfg, drv)
	eventually(t, 30*time.Second, "retained requests refused after the restart", func() bool {
		return restarted.value(t, "eipgw_edge_replay_requests_refused_total", "reason", reasonDuplicate)+
			restarted.value(t, "eipgw_edge_replay_requests_refused_total", "reason", reasonStale) >= 2
	})
	if v := restarted.value(t, "eipgw_edge_replay_requests_served_total"); v != 0 {
		t.Errorf("the restarted edge served %v old requests", v)
	}
	if v := restarted.value(t, "eipgw_edge_batches_replayed_on_request_total"); v != 0 {
		t.Errorf("the restarted edge published %v batches for old requests", v)
	}

	// Ingest clears its retained request when it stops.
	stopIngest()
	if err := <-ingestDone; err != nil {
		t.Errorf("ingest: %v", err)
	}
	ingestDone <- nil // for the cleanup
	var after seen
	check := dial(t, mq.URL, "observer", "observer-3", after.add)
	check.Subscribe(ingestTopic, 1, nil).Wait()
	marker2 := topic.Replay(aclPark, "eipgw-ingest-keeper")
	check.Subscribe(marker2, 1, nil).Wait() // retained "kept": arrives after any retained on ingestTopic
	eventually(t, 10*time.Second, "retained tool request", func() bool { return len(after.find(func(s string) bool { return s == marker2 })) == 1 })
	if got := after.find(func(s string) bool { return s == ingestTopic }); len(got) != 0 {
		t.Errorf("ingest's request still retained after it stopped: %s", got[0].Payload())
	}
}

package ingest

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// retainedWatch records, in order, the payloads received on one topic.
type retainedWatch struct {
	mu       sync.Mutex
	payloads []string
}

func (w *retainedWatch) add(_ mqtt.Client, m mqtt.Message) {
	w.mu.Lock()
	w.payloads = append(w.payloads, string(m.Payload()))
	w.mu.Unlock()
}

func (w *retainedWatch) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.payloads...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connectTest(t *testing.T, broker, id string, h mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetDefaultPublishHandler(h))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestReplayRequestClearedAfterHold: the worker's request carries an id and
// its issue time, stays retained for the hold, then the worker clears it
// with an empty retained message; a second request replaces the first and
// stop clears it at once.
func TestReplayRequestClearedAfterHold(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	cfg, err := config.Parse("ingest.yaml", []byte(`park: p
mqtt: {broker: "`+mq.URL+`"}
ingest:
  influxdb: {url: "http://127.0.0.1:1", bucket: b}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(ingestRole(t, cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	in.replay.hold = 300 * time.Millisecond
	var w retainedWatch
	watcher := connectTest(t, mq.URL, "watcher", w.add)
	watcher.Subscribe(topic.Replay("p", "worker-1"), 1, nil).Wait()
	c := connectTest(t, mq.URL, "worker-1", nil)

	before := time.Now()
	in.requestReplay(c, "worker-1")
	waitFor(t, "request and its clearing", func() bool { return len(w.get()) == 2 })
	got := w.get()
	var req mqttconn.ReplayRequest
	if err := json.Unmarshal([]byte(got[0]), &req); err != nil {
		t.Fatalf("request %q: %v", got[0], err)
	}
	issued, err := time.Parse(time.RFC3339Nano, req.Time)
	if req.V != 1 || len(req.ID) != 16 || err != nil || issued.Before(before.Add(-time.Second)) || issued.After(time.Now()) {
		t.Errorf("request %+v (ts: %v)", req, err)
	}
	if got[1] != "" {
		t.Errorf("second message %q, want the empty clearing", got[1])
	}
	// Nothing retained any more: a new subscriber gets nothing before a
	// retained message published after its subscription.
	var late retainedWatch
	lc := connectTest(t, mq.URL, "late", late.add)
	lc.Subscribe(topic.ReplayFilter("p"), 1, nil).Wait()
	c.Publish(topic.Replay("p", "marker"), 1, true, []byte("m")).Wait()
	waitFor(t, "marker", func() bool { return len(late.get()) > 0 })
	if l := late.get(); l[0] != "m" {
		t.Errorf("still retained after clearing: %q", l[0])
	}

	// Two requests: the first's clearing is replaced by the second's; stop
	// clears at once.
	in.replay.hold = time.Hour
	in.requestReplay(c, "worker-1")
	in.requestReplay(c, "worker-1")
	waitFor(t, "two more requests", func() bool { return len(w.get()) == 4 })
	in.replay.stop(c, in.log)
	waitFor(t, "clearing at stop", func() bool { return len(w.get()) == 5 })
	if l := w.get(); l[4] != "" {
		t.Errorf("at stop: %q, want the empty clearing", l[4])
	}
}

package ingest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
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

// A worker that starts asks for a replay from shortly before the newest
// batch of its park stored in InfluxDB, not from its own start: a broker
// killed while no worker was subscribed lost what it queued since its
// last save, and the edges' logs still hold it however long the worker
// was away.
func TestReplaySinceNewestStored(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	now := time.Now()
	stored := now.Add(-25 * time.Minute).Truncate(time.Millisecond)
	var lines []string
	for i, at := range []time.Time{stored.Add(-time.Minute), stored} {
		lines = append(lines, fmt.Sprintf("chp,device=d,gateway=gw-1,park=p x=1,batch_seq=%di %d", i+1, at.UnixMilli()))
	}
	lines = append(lines,
		// Another park's newer batch, and a completeness record, are not
		// batches of this park.
		fmt.Sprintf("chp,device=d,gateway=gw-1,park=q x=1,batch_seq=9i %d", now.Add(-time.Minute).UnixMilli()),
		fmt.Sprintf("%s,gateway=gw-1,park=p missing_first=3i,missing_last=3i,missing_count=1i %d", CompletenessMeasurement, now.Add(-time.Minute).UnixMilli()))
	postLines(t, ifx.URL, lines...)
	newIngest := func(park, url string) (*Ingest, *testenv.LogBuffer) {
		in, cfg, logs := loggedIngest(t, "park: "+park+"\nmqtt: {broker: \"tcp://127.0.0.1:1\"}\ningest:\n  influxdb: {url: \""+url+"\", bucket: eipgw}\n")
		in.lookup = influxQLFor(cfg.Ingest.InfluxDB)
		return in, logs
	}

	in, _ := newIngest("p", ifx.URL)
	if got, want := in.replaySince(now), stored.Add(-replayMargin); !got.Equal(want) {
		t.Errorf("at start: since %v, want a minute before the newest stored batch, %v", got, want)
	}
	// Once a batch was received, the newest received decides.
	in.newest.Store(now.Add(-2 * time.Second).UnixMilli())
	if got, want := in.replaySince(now), time.UnixMilli(in.newest.Load()).Add(-replayMargin); !got.Equal(want) {
		t.Errorf("after a batch: since %v, want %v", got, want)
	}
	// Nothing stored within the look-back: as far back as it goes (the
	// edges clamp it to their replay.max_age).
	empty, _ := newIngest("r", ifx.URL)
	if got, want := empty.replaySince(now), now.Add(-storedLookback); !got.Equal(want) {
		t.Errorf("nothing stored: since %v, want %v", got, want)
	}
	// InfluxDB unreachable: a minute back, and a warning saying so.
	down, logs := newIngest("p", "http://127.0.0.1:1")
	if got, want := down.replaySince(now), now.Add(-replayMargin); !got.Equal(want) {
		t.Errorf("InfluxDB unreachable: since %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "newest stored batch unknown") {
		t.Errorf("no warning when InfluxDB is unreachable:\n%s", logs.String())
	}

	// Park e: gw-1 signs (its key configured), gw-2 does not. A batch
	// anyone sent in gw-1's name, stored flagged and stamped ahead, does
	// not count; gw-2's newer batch counts unless every gateway must sign.
	signedAt, otherAt := now.Add(-20*time.Minute).Truncate(time.Millisecond), now.Add(-18*time.Minute).Truncate(time.Millisecond)
	postLines(t, ifx.URL,
		fmt.Sprintf("chp,device=d,gateway=gw-1,park=e x=1,batch_seq=1i,batch_check=\"ok\" %d", signedAt.UnixMilli()),
		fmt.Sprintf("chp,device=d,gateway=gw-1,park=e x=1,batch_seq=2i,batch_check=\"unsigned\" %d", now.Add(5*time.Minute).UnixMilli()),
		fmt.Sprintf("chp,device=d,gateway=gw-2,park=e x=1,batch_seq=1i %d", otherAt.UnixMilli()))
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		require bool
		want    time.Time
	}{{false, otherAt}, {true, signedAt}} {
		in, cfg, _ := loggedIngest(t, fmt.Sprintf("park: e\nmqtt: {broker: \"tcp://127.0.0.1:1\"}\ningest:\n  influxdb: {url: %q, bucket: eipgw}\n  evidence:\n    require: %v\n    keys:\n      gw-1: [%q]\n",
			ifx.URL, c.require, evidence.EncodePublicKey(pub)))
		in.lookup = influxQLFor(cfg.Ingest.InfluxDB)
		if got, want := in.replaySince(now), c.want.Add(-replayMargin); !got.Equal(want) {
			t.Errorf("evidence, require %v: since %v, want %v", c.require, got, want)
		}
	}

	// Park f: an invented gateway's batch stamped 9 minutes ahead (ingest
	// stores up to 10) does not count, stored or received.
	genuineAt := now.Add(-10 * time.Minute).Truncate(time.Millisecond)
	postLines(t, ifx.URL,
		fmt.Sprintf("chp,device=d,gateway=gw-1,park=f x=1,batch_seq=1i %d", genuineAt.UnixMilli()),
		fmt.Sprintf("chp,device=d,gateway=gw-ahead,park=f x=1,batch_seq=1i %d", now.Add(9*time.Minute).UnixMilli()))
	ahead, _ := newIngest("f", ifx.URL)
	if got, want := ahead.replaySince(now), genuineAt.Add(-replayMargin); !got.Equal(want) {
		t.Errorf("a batch stamped ahead stored: since %v, want %v", got, want)
	}
}

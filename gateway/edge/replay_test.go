package edge

import (
	"context"
	"fmt"
	"io"
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
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

var t0 = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

func testReplayConfig() *config.Replay {
	return &config.Replay{Allow: []string{"ingest-a", "eipgw-ingest-*"}, MinInterval: 10 * time.Second,
		MaxAge: 10 * time.Minute, MaxBatches: 1000}
}

func request(id string, since, issued time.Time) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"id":%q,"since":%q,"ts":%q}`, id,
		since.UTC().Format(time.RFC3339Nano), issued.UTC().Format(time.RFC3339Nano)))
}

var topicA = topic.Replay("p", "ingest-a")

func reasonOf(err error) string {
	if r, ok := err.(*refusal); ok {
		return r.reason
	}
	return fmt.Sprint(err)
}

// TestReplayPolicy runs one policy through a sequence of requests, each
// accepted or refused for its reason.
func TestReplayPolicy(t *testing.T) {
	p := newReplayPolicy("p", testReplayConfig())
	min := time.Minute
	steps := []struct {
		name    string
		at      time.Time
		topic   string
		payload []byte
		reason  string    // "" accepted
		since   time.Time // accepted: the since served
	}{
		{"first request", t0, topicA, request("r1", t0.Add(-min), t0), "", t0.Add(-min)},
		{"same id again", t0.Add(time.Hour / 2), topicA, request("r1", t0.Add(-min), t0), reasonStale, time.Time{}},
		{"not allowed", t0, topic.Replay("p", "stranger"), request("s1", t0, t0), reasonNotAllowed, time.Time{}},
		{"edge user's own id", t0, topic.Replay("p", "gw-1"), request("s2", t0, t0), reasonNotAllowed, time.Time{}},
		{"other park", t0, topic.Replay("q", "ingest-a"), request("x", t0, t0), reasonMalformed, time.Time{}},
		{"not JSON", t0, topicA, []byte("replay please"), reasonMalformed, time.Time{}},
		{"version 2", t0, topicA, []byte(`{"v":2,"id":"a","since":"2026-11-26T18:00:00Z","ts":"2026-11-26T18:00:00Z"}`), reasonMalformed, time.Time{}},
		{"no ts (old format)", t0, topicA, []byte(`{"v":1,"id":"a","since":"2026-11-26T18:00:00Z"}`), reasonMalformed, time.Time{}},
		{"bad since", t0, topicA, []byte(`{"v":1,"id":"a","since":"yesterday","ts":"2026-11-26T18:00:00Z"}`), reasonMalformed, time.Time{}},
		{"bad id", t0, topicA, request("a b", t0, t0), reasonMalformed, time.Time{}},
		{"huge payload", t0, topicA, []byte(`{"v":1,"id":"` + strings.Repeat("a", 2000) + `"}`), reasonMalformed, time.Time{}},
		{"issued long ago", t0.Add(time.Second), topicA, request("r2", t0.Add(-time.Hour), t0.Add(-time.Hour)), reasonStale, time.Time{}},
		{"issued in the future", t0.Add(time.Second), topicA, request("r3", t0, t0.Add(time.Hour)), reasonFuture, time.Time{}},
		{"since in the future", t0.Add(time.Second), topicA, request("r4", t0.Add(24*time.Hour), t0), reasonFuture, time.Time{}},
		{"too soon", t0.Add(5 * time.Second), topicA, request("r5", t0, t0.Add(5*time.Second)), reasonRateLimited, time.Time{}},
		{"another requester meanwhile", t0.Add(5 * time.Second), topic.Replay("p", "eipgw-ingest-p-h2"), request("r5", t0, t0), "", t0},
		{"after min_interval, since of days ago", t0.Add(11 * time.Second), topicA, request("r6", t0.Add(-72*time.Hour), t0.Add(11*time.Second)), "", t0.Add(11*time.Second - 10*time.Minute)},
		{"served id again, within max_age", t0.Add(40 * time.Second), topicA, request("r6", t0, t0.Add(11*time.Second)), reasonDuplicate, time.Time{}},
	}
	for _, s := range steps {
		g, err := p.decide(s.topic, s.payload, s.at)
		switch {
		case s.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", s.name, err)
		case s.reason != "" && reasonOf(err) != s.reason:
			t.Errorf("%s: got %v, want refusal %s", s.name, err, s.reason)
		case s.reason == "" && !g.since.Equal(s.since):
			t.Errorf("%s: since %s, want %s", s.name, g.since, s.since)
		}
	}
	if _, err := p.decide(topicA, nil, t0); err != errCleared {
		t.Errorf("empty payload: %v, want errCleared", err)
	}
}

func TestReplayPolicyClampsSince(t *testing.T) {
	p := newReplayPolicy("p", testReplayConfig())
	g, err := p.decide(topicA, request("r1", time.Unix(0, 0), t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !g.clamped || !g.since.Equal(t0.Add(-10*time.Minute)) {
		t.Errorf("since 1970 served from %s (clamped %t), want max_age before now", g.since, g.clamped)
	}
}

// TestReplayServedSurvivesRestart: a request served, remembered on disk,
// is refused by the next run while it could still be fresh; once older
// than max_age it is forgotten (and refused as stale).
func TestReplayServedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), servedFile)
	p := newReplayPolicy("p", testReplayConfig())
	if _, err := p.decide(topicA, request("r1", t0, t0), t0); err != nil {
		t.Fatal(err)
	}
	if err := p.save(path); err != nil {
		t.Fatal(err)
	}
	restarted := newReplayPolicy("p", testReplayConfig())
	if err := restarted.load(path, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.decide(topicA, request("r1", t0, t0), t0.Add(time.Minute)); reasonOf(err) != reasonDuplicate {
		t.Errorf("after restart: %v, want duplicate", err)
	}
	later := newReplayPolicy("p", testReplayConfig())
	if err := later.load(path, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(later.served) != 0 {
		t.Errorf("entries older than max_age kept: %v", later.served)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newReplayPolicy("p", testReplayConfig()).load(path, t0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: %v, want an error naming it", err)
	}
	if err := newReplayPolicy("p", testReplayConfig()).load(filepath.Join(t.TempDir(), "absent"), t0); err != nil {
		t.Errorf("missing file: %v", err)
	}
}

// doneToken is a publish the broker acknowledged at once.
type doneToken struct{}

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (doneToken) Error() error                   { return nil }

// recorder is an MQTT client that records publishes.
type recorder struct {
	mqtt.Client
	mu     sync.Mutex
	topics []string
}

func (r *recorder) Publish(topic string, _ byte, _ bool, _ any) mqtt.Token {
	r.mu.Lock()
	r.topics = append(r.topics, topic)
	r.mu.Unlock()
	return doneToken{}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.topics)
}

// newTestServer is a replay server over a log holding one batch per second
// for the hour before t0+1h, with its clock at t0+1h.
func newTestServer(t *testing.T, cfg *config.Replay) (*replayServer, *wal.WAL, *prometheus.Registry) {
	t.Helper()
	dir := t.TempDir()
	w, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "wal"), Retain: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for i := range 3600 {
		if err := w.Append(uint64(i+1), topic.Data("p", "gw-1", "chp-1"), []byte(`{}`), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, func() wal.Stats { return wal.Stats{} })
	s := newReplayServer("p", &config.Edge{StateDir: dir, Replay: cfg}, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	s.now = func() time.Time { return t0.Add(time.Hour) }
	return s, w, reg
}

// serveOnce serves what is queued, as the serving goroutine does.
func serveOnce(t *testing.T, s *replayServer, c mqtt.Client, w *wal.WAL) {
	t.Helper()
	s.handle(context.Background(), c, w, s.drain())
}

func TestReplayServerBounds(t *testing.T) {
	cfg := testReplayConfig()
	cfg.MaxAge = 5 * time.Minute
	cfg.MaxBatches = 100
	s, w, reg := newTestServer(t, cfg)
	c := &recorder{}
	now := s.now()

	// since a day ago: moved forward to 5 min (300 batches), then cut at 100.
	s.enqueue(topicA, request("r1", now.Add(-24*time.Hour), now), false)
	serveOnce(t, s, c, w)
	if got := c.count(); got != 100 {
		t.Errorf("published %d batches, want max_batches 100", got)
	}
	if v := metricValue(t, reg, "eipgw_edge_replay_requests_limited_total", "limit", limitMaxAge); v != 1 {
		t.Errorf("limited{max_age} = %v, want 1", v)
	}
	if v := metricValue(t, reg, "eipgw_edge_replay_requests_limited_total", "limit", limitMaxBatches); v != 1 {
		t.Errorf("limited{max_batches} = %v, want 1", v)
	}

	// Without the batch bound, max_age alone: 5 min of one batch a second.
	cfg.MaxBatches = 1000
	s.now = func() time.Time { return now.Add(time.Minute) } // past min_interval
	c2 := &recorder{}
	s.enqueue(topicA, request("r2", now.Add(-24*time.Hour), now.Add(time.Minute)), false)
	serveOnce(t, s, c2, w)
	// The log ends at t0+1h; the clock is t0+1h+1m: 4 minutes of it remain.
	if got := c2.count(); got != 240 {
		t.Errorf("published %d batches, want the 240 of the last max_age", got)
	}
	if v := metricValue(t, reg, "eipgw_edge_replay_requests_served_total"); v != 2 {
		t.Errorf("served = %v, want 2", v)
	}
	if v := metricValue(t, reg, "eipgw_edge_batches_replayed_on_request_total"); v != 340 {
		t.Errorf("replayed_on_request = %v, want 340", v)
	}
}

// TestReplayServerYoungLogNotLimited: a request reaching back a day to an
// edge whose log starts a minute ago (a new edge, or one whose log was
// reset) loses nothing to max_age, so it is served whole and not counted
// as limited (nor logged as such).
func TestReplayServerYoungLogNotLimited(t *testing.T) {
	cfg := testReplayConfig()
	cfg.MaxAge = 5 * time.Minute
	s, _, reg := newTestServer(t, cfg)
	now := s.now()
	young, err := wal.Open(wal.Options{Dir: filepath.Join(t.TempDir(), "wal"), Retain: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer young.Close()
	for i := range 60 {
		if err := young.Append(uint64(i+1), topic.Data("p", "gw-1", "chp-1"), []byte(`{}`), now.Add(time.Duration(i-60)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	c := &recorder{}
	s.enqueue(topicA, request("r1", now.Add(-24*time.Hour), now), false)
	serveOnce(t, s, c, young)
	if got := c.count(); got != 60 {
		t.Errorf("published %d batches, want the log's 60", got)
	}
	if v := metricValue(t, reg, "eipgw_edge_replay_requests_limited_total", "limit", limitMaxAge); v != 0 {
		t.Errorf("limited{max_age} = %v, want 0: the log held nothing older than max_age", v)
	}
}

// TestReplayServerRefusalsPublishNothing sends one request of each kind
// the policy refuses: each is counted under its reason, none publishes.
func TestReplayServerRefusalsPublishNothing(t *testing.T) {
	s, w, reg := newTestServer(t, testReplayConfig())
	c := &recorder{}
	now := s.now()
	// One served request first, to be repeated and to start min_interval.
	s.enqueue(topicA, request("ok", now.Add(-time.Minute), now), false)
	serveOnce(t, s, c, w)
	served := c.count()
	if served != 60 {
		t.Fatalf("first request published %d, want 60", served)
	}
	for _, m := range []struct {
		topic   string
		payload []byte
	}{
		{topic.Replay("p", "stranger"), request("s", now, now)},
		{topicA, request("soon", now.Add(-time.Minute), now)},
		{topicA, request("ok", now.Add(-time.Minute), now)},
		{topicA, request("old", now.Add(-2*time.Hour), now.Add(-2*time.Hour))},
		{topicA, request("ahead", now.Add(48*time.Hour), now)},
		{topicA, []byte(`{"v":1`)},
	} {
		s.enqueue(m.topic, m.payload, true)
	}
	serveOnce(t, s, c, w)
	if got := c.count(); got != served {
		t.Errorf("refused requests published %d batches", got-served)
	}
	want := map[string]float64{reasonNotAllowed: 1, reasonRateLimited: 1, reasonDuplicate: 1, reasonStale: 1, reasonFuture: 1,
		reasonMalformed: 1}
	for reason, n := range want {
		if v := metricValue(t, reg, "eipgw_edge_replay_requests_refused_total", "reason", reason); v != n {
			t.Errorf("refused{%s} = %v, want %v", reason, v, n)
		}
	}
}

func TestReplayQueueFull(t *testing.T) {
	s, _, reg := newTestServer(t, testReplayConfig())
	for i := range replayQueueLen + 3 {
		s.enqueue(topicA, request(fmt.Sprint(i), t0, t0), false)
	}
	s.enqueue(topicA, nil, true) // a clearing: neither queued nor counted
	if v := metricValue(t, reg, "eipgw_edge_replay_requests_refused_total", "reason", reasonQueueFull); v != 3 {
		t.Errorf("refused{queue_full} = %v, want 3", v)
	}
	if len(s.queue) != replayQueueLen {
		t.Errorf("queued %d", len(s.queue))
	}
}

// metricValue is the value of the counter or gauge name in reg, with the
// label pair given (if any).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, label ...string) float64 {
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
			for i := 0; i+1 < len(label); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == label[i] && lp.GetValue() == label[i+1])
				}
				if !found {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s %v not registered", name, label)
	return 0
}

package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// fakeInflux answers each write with respond(body).
type fakeInflux struct {
	mu      sync.Mutex
	bodies  []string
	times   []time.Time
	respond func(n int, body string, w http.ResponseWriter)
}

func newFakeWorker(t *testing.T, f *fakeInflux) *worker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(body))
		f.times = append(f.times, time.Now())
		n := len(f.bodies)
		f.mu.Unlock()
		if f.respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.respond(n, string(body), w)
	}))
	t.Cleanup(srv.Close)
	ic := influxdb2.NewClientWithOptions(srv.URL, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetHTTPRequestTimeout(1))
	t.Cleanup(ic.Close)
	in := &Ingest{log: slog.New(slog.DiscardHandler), m: newMetrics(prometheus.NewRegistry())}
	return &worker{in: in, writer: ic.WriteAPIBlocking("", "db/rp"), park: "p", seen: map[string]*seqWindow{},
		maxBytes: 1 << 20, maxLines: 5000, maxAttempts: 4}
}

func testEntry(w *worker, device string, seq uint64, points int) *entry {
	b := &batch.Batch{Gateway: "gw", Seq: seq, Device: device, Kind: "chp", Time: time.UnixMilli(1000 + int64(seq))}
	for i := range points {
		b.Points = append(b.Points, batch.Point{Name: fmt.Sprintf("p%06d", i), Value: float64(i) + 0.5, HasValue: true, Quality: batch.Good})
	}
	return newEntry(nil, b, w.linesOf(b))
}

// drive runs write rounds as Run does, without the broker, until every
// entry is settled or given up; it returns the reasons given up.
func drive(t *testing.T, w *worker, es []*entry, within time.Duration) map[*entry]string {
	t.Helper()
	gaveUp := map[*entry]string{}
	deadline := time.Now().Add(within)
	for {
		var open, due []*entry
		for _, e := range es {
			if e.settledOK || gaveUp[e] != "" {
				continue
			}
			if why := w.giveUp(e); why != "" {
				gaveUp[e] = why
				continue
			}
			open = append(open, e)
			if !e.due.After(time.Now()) {
				due = append(due, e)
			}
		}
		if len(open) == 0 {
			return gaveUp
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still open after %s", len(open), within)
		}
		if err := w.writeAll(context.Background(), due); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A 429 with Retry-After: 2 makes the message wait two seconds, not its
// 100 ms back-off, and it is then written with the same body.
func TestWriteHonoursRetryAfter(t *testing.T) {
	f := &fakeInflux{respond: func(n int, _ string, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	w := newFakeWorker(t, f)
	e := testEntry(w, "d", 1, 1)
	if gaveUp := drive(t, w, []*entry{e}, 10*time.Second); len(gaveUp) != 0 || !e.settledOK {
		t.Fatalf("gave up %v, settled %v", gaveUp, e.settledOK)
	}
	if len(f.bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(f.bodies))
	}
	if gap := f.times[1].Sub(f.times[0]); gap < 1900*time.Millisecond {
		t.Errorf("retried after %s, want the 2 s the server asked for", gap)
	}
	if f.bodies[0] != f.bodies[1] || f.bodies[1] != "chp,device=d,gateway=gw,park=p p000000=0.5,batch_seq=1i 1001" {
		t.Errorf("bodies %q", f.bodies)
	}
}

// A huge batch is written as lines of at most maxLineFields fields, in
// requests of at most maxBytes, and settles only when every line is in.
func TestWriteSplitsByBytesAndLines(t *testing.T) {
	f := &fakeInflux{}
	w := newFakeWorker(t, f)
	w.maxBytes, w.maxLines = 256<<10, 3
	huge := testEntry(w, "big", 1, 120_000)
	small := []*entry{testEntry(w, "a", 2, 5), testEntry(w, "b", 3, 5), testEntry(w, "c", 4, 5), testEntry(w, "d", 5, 5)}
	if len(huge.lines) != 120 {
		t.Fatalf("%d lines, want 120", len(huge.lines))
	}
	es := append([]*entry{huge}, small...)
	if gaveUp := drive(t, w, es, 10*time.Second); len(gaveUp) != 0 {
		t.Fatalf("gave up %v", gaveUp)
	}
	fields := 0
	for i, b := range f.bodies {
		lines := strings.Split(b, "\n")
		if len(b) > w.maxBytes || len(lines) > w.maxLines {
			t.Fatalf("request %d: %d bytes, %d lines", i, len(b), len(lines))
		}
		for _, l := range lines {
			if strings.Contains(l, "device=big") {
				fieldSet := strings.Split(l, " ")[1]
				fields += strings.Count(fieldSet, "=") - 1 // less batch_seq
			}
		}
	}
	if fields != 120_000 {
		t.Fatalf("%d fields of the huge batch written, want 120000", fields)
	}
	for _, e := range es {
		if !e.settledOK || e.written != len(e.lines) {
			t.Fatalf("entry %s: written %d of %d", e.device, e.written, len(e.lines))
		}
	}
}

// One message that InfluxDB keeps failing (a timeout, say) while it
// accepts the others is dead-lettered after maxAttempts with the reason;
// the others are written meanwhile, not held behind it.
func TestWriteOneFailingMessageDoesNotBlockOthers(t *testing.T) {
	f := &fakeInflux{respond: func(_ int, body string, w http.ResponseWriter) {
		if strings.Contains(body, "device=poison") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	w := newFakeWorker(t, f)
	poison := testEntry(w, "poison", 1, 3)
	es := []*entry{poison}
	for i := range 20 {
		es = append(es, testEntry(w, fmt.Sprintf("ok-%d", i), uint64(i+2), 3))
	}
	gaveUp := drive(t, w, es, 30*time.Second)
	if len(gaveUp) != 1 || !strings.Contains(gaveUp[poison], "4 times in a row") {
		t.Fatalf("gave up %v", gaveUp)
	}
	for _, e := range es[1:] {
		if !e.settledOK {
			t.Fatalf("%s not written", e.device)
		}
	}
}

// While InfluxDB is down for everyone, nothing is given up.
func TestWriteOutageDeadLettersNothing(t *testing.T) {
	down := true
	var mu sync.Mutex
	f := &fakeInflux{respond: func(_ int, _ string, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	w := newFakeWorker(t, f)
	var logs testenv.LogBuffer
	w.in.log = slog.New(slog.NewTextHandler(&logs, nil))
	w.in.writeFails.Interval = failureLogInterval
	var es []*entry
	for i := range 20 {
		// Messages too large to share a request: 20 requests a round.
		es = append(es, testEntry(w, fmt.Sprintf("d%d", i), uint64(i+1), 3000))
	}
	w.maxBytes = 100 << 10
	time.AfterFunc(2*time.Second, func() { mu.Lock(); down = false; mu.Unlock() })
	if gaveUp := drive(t, w, es, 30*time.Second); len(gaveUp) != 0 {
		t.Fatalf("gave up during an outage: %v", gaveUp)
	}
	for _, e := range es {
		if e.attempts != 0 || !e.settledOK {
			t.Fatalf("entry %+v", e)
		}
	}
	// One line when it began, one when it ended: not one per request
	// and retry.
	out := logs.String()
	f.mu.Lock()
	requests := len(f.bodies)
	f.mu.Unlock()
	if n := strings.Count(out, "influxdb write failed"); n != 1 || requests < 60 {
		t.Errorf("%d write-failure lines for %d requests, want 1:\n%s", n, requests, out)
	}
	if n := strings.Count(out, "influxdb writes succeed again"); n != 1 || !strings.Contains(out, "failed_writes=") {
		t.Errorf("%d recovery lines, want 1:\n%s", n, out)
	}
}

// A request InfluxDB refuses as a whole is split into its messages: the
// refused one is given up with InfluxDB's reason, the rest are written.
func TestWriteRejectedMessageIsolated(t *testing.T) {
	f := &fakeInflux{respond: func(_ int, body string, w http.ResponseWriter) {
		if strings.Contains(body, "device=bad") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"partial write: field type conflict"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	w := newFakeWorker(t, f)
	bad := testEntry(w, "bad", 2, 3)
	es := []*entry{testEntry(w, "a", 1, 3), bad, testEntry(w, "c", 3, 3)}
	gaveUp := drive(t, w, es, 10*time.Second)
	if len(gaveUp) != 1 || !strings.Contains(gaveUp[bad], "field type conflict") {
		t.Fatalf("gave up %v", gaveUp)
	}
	if !es[0].settledOK || !es[2].settledOK {
		t.Fatal("the good messages were not written")
	}
}

// A message InfluxDB is too slow to store in one request (it answers
// after the client's timeout above 200 kB) is written alone, in halving
// requests, until they fit: stored, not dead-lettered, and the small
// messages around it are written without waiting for it.
func TestWriteShrinksRequestsOfSlowMessage(t *testing.T) {
	f := &fakeInflux{respond: func(_ int, body string, w http.ResponseWriter) {
		if len(body) > 200<<10 {
			time.Sleep(1500 * time.Millisecond) // past the 1 s client timeout
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	w := newFakeWorker(t, f)
	w.maxBytes = 2 << 20
	huge := testEntry(w, "big", 1, 120_000)
	small := testEntry(w, "small", 2, 5)
	if gaveUp := drive(t, w, []*entry{huge, small}, 60*time.Second); len(gaveUp) != 0 {
		t.Fatalf("gave up %v", gaveUp)
	}
	if !huge.settledOK || huge.maxBytes == 0 || huge.maxBytes > 200<<10 {
		t.Fatalf("huge entry: settled %v, request bound %d", huge.settledOK, huge.maxBytes)
	}
	for _, b := range f.bodies {
		if strings.Contains(b, "device=small") && strings.Contains(b, "device=big") {
			t.Fatal("the small message was written in a request with the huge one")
		}
	}
}

// BenchmarkLinesAndPlan is ingest's work per round after decoding: the
// line protocol of 20 batches of 1000 points and the write requests they
// are grouped into, per point.
func BenchmarkLinesAndPlan(b *testing.B) {
	w := &worker{park: "p", maxBytes: 2 << 20, maxLines: 5000}
	var bs []*batch.Batch
	for d := range 20 {
		bt := &batch.Batch{Gateway: "gw", Seq: uint64(d + 1), Device: fmt.Sprintf("dev-%03d", d), Kind: "bench", Time: time.UnixMilli(1795716001000)}
		for i := range 1000 {
			bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("v%04d", i), Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: batch.Good})
		}
		bs = append(bs, bt)
	}
	due := make([]*entry, len(bs))
	b.ReportAllocs()
	for b.Loop() {
		for i, bt := range bs {
			due[i] = newEntry(nil, bt, w.linesOf(bt))
		}
		if reqs := w.plan(due); len(reqs) != 1 {
			b.Fatalf("%d requests", len(reqs))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20*1000), "ns/point")
}

// A worker decodes each batch into the previous batch's points: the lines
// of every message accepted in one round are its own, and no entry keeps
// points that a later message overwrites.
func TestAcceptReusesPointsSafely(t *testing.T) {
	in := &Ingest{log: slog.New(slog.DiscardHandler), m: newMetrics(prometheus.NewRegistry())}
	w := &worker{in: in, park: "p", seen: map[string]*seqWindow{}}
	var msgs []mqtt.Message
	var want []string
	for seq := uint64(1); seq <= 3; seq++ {
		bt := batch.Batch{Gateway: "gw", Seq: seq, Device: "d", Kind: "chp", Time: time.Now().Add(-time.Second).Truncate(time.Millisecond)}
		for i := range 100 + int(seq) {
			bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("p%03d", i), Value: float64(seq*1000) + float64(i), HasValue: true, Quality: batch.Good})
		}
		payload := bt.AppendJSON(nil)
		msgs = append(msgs, topicMessage{topic: topic.Data("p", "gw", "d"), payload: payload})
		// The line of the message decoded on its own.
		alone, err := batch.Decode(payload)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(appendLine(nil, "p", alone)))
	}
	es, err := w.accept(t.Context(), msgs)
	if err != nil || len(es) != 3 {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	for i, e := range es {
		if len(e.lines) != 1 || string(e.lines[0]) != want[i] {
			t.Errorf("message %d: line\n%s\nwant\n%s", i+1, e.lines[0], want[i])
		}
		if e.points != 101+i || e.device != "d" {
			t.Errorf("message %d: %d points of device %q", i+1, e.points, e.device)
		}
	}
	if cap(w.points) < 103 {
		t.Errorf("the worker kept an array of %d points for the next batch", cap(w.points))
	}
}

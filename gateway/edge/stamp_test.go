package edge

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// stampRig is an edge with buses that are never run: the test drives the
// stamper directly, as the bus owners do.
type stampRig struct {
	e   *Edge
	w   *wal.WAL
	seq *seqStore
	st  *stamper
	log *strings.Builder
	dir string
}

func newStampRig(t *testing.T, buses int, maxPoints int, walOpts func(*wal.Options)) *stampRig {
	t.Helper()
	dir := t.TempDir()
	cfg := &config.File{Park: "p", Site: "s", MQTT: &config.MQTT{Broker: "tcp://127.0.0.1:1", ConnectTimeout: time.Second},
		Edge: &config.Edge{Gateway: "gw", StateDir: dir, MaxBatchPoints: maxPoints}}
	for i := range buses {
		bus := fmt.Sprintf("bus-%02d", i)
		cfg.Edge.Buses = append(cfg.Edge.Buses, config.Bus{Name: bus, Protocol: "fake"})
		cfg.Edge.Devices = append(cfg.Edge.Devices, config.Device{Name: fmt.Sprintf("dev-%02d", i), Bus: bus})
	}
	var logBuf strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
	e, err := New(edgeRole(t, cfg), drivers.Registry{"fake": fakeDriver{period: time.Second}}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := wal.Options{Dir: filepath.Join(dir, "wal"), Log: log}
	if walOpts != nil {
		walOpts(&o)
	}
	w, err := wal.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	seq, err := openSeq(dir, seqBlock)
	if err != nil {
		t.Fatal(err)
	}
	seq.resumeAfter(w.LastSeq(), 0, false)
	e.w = w
	return &stampRig{e: e, w: w, seq: seq, st: &stamper{e: e, w: w, seq: seq, max: maxPoints}, log: &logBuf, dir: dir}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func devices(e *Edge) []*drivers.Device {
	var ds []*drivers.Device
	for d := range e.topics {
		ds = append(ds, d)
	}
	return ds
}

func points(n int) []drivers.Reading {
	pts := make([]drivers.Reading, n)
	for i := range pts {
		pts[i] = drivers.Reading{Name: fmt.Sprintf("p%05d", i), Float: float64(i), HasValue: true, Unit: "kW", Quality: drivers.Good}
	}
	return pts
}

// readAll reads every record of the log in order.
func readAll(t *testing.T, w *wal.WAL) []wal.Record {
	t.Helper()
	var recs []wal.Record
	if err := w.Scan(time.Time{}, func(r wal.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

// Twenty buses stamping at once: every batch reaches the log, in sequence
// order, and nothing is held in memory or dropped. Before stamping and
// appending were one step, a later number often reached the log first and
// the earlier batch was refused.
func TestStampManyBusesKeepsLogOrder(t *testing.T) {
	r := newStampRig(t, 20, 2000, nil)
	const polls = 300
	var wg sync.WaitGroup
	for _, d := range devices(r.e) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pts := points(10)
			for range polls {
				r.st.stamp(d, time.Now(), pts)
			}
		}()
	}
	wg.Wait()
	recs := readAll(t, r.w)
	if len(recs) != 20*polls {
		t.Fatalf("log holds %d batches, want %d\n%s", len(recs), 20*polls, r.log)
	}
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, rec.Seq)
		}
		b, err := batch.Decode(rec.Payload)
		if err != nil || b.Seq != rec.Seq {
			t.Fatalf("record %d: payload seq %v, err %v", rec.Seq, b, err)
		}
	}
	if st := r.e.Stats(); st.Dropped != 0 || st.Polled != 20*polls || len(r.e.mem) != 0 {
		t.Fatalf("stats %+v, %d held in memory", st, len(r.e.mem))
	}
	if strings.Contains(r.log.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", r.log)
	}
}

// A poll with more points than max_batch_points becomes consecutive
// batches with the same poll time, numbered as parts 0, 1, 2, that
// together hold every point once.
func TestStampSplitsLargePolls(t *testing.T) {
	r := newStampRig(t, 1, 2000, nil)
	d := devices(r.e)[0]
	polled := time.Date(2026, 11, 26, 18, 0, 1, 0, time.UTC)
	r.st.stamp(d, polled, points(4500))
	recs := readAll(t, r.w)
	if len(recs) != 3 {
		t.Fatalf("%d batches, want 3", len(recs))
	}
	seen := map[string]bool{}
	for i, rec := range recs {
		b, err := batch.Decode(rec.Payload)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{2000, 2000, 500}[i]
		if b.Seq != uint64(i+1) || b.Part != i || !b.Time.Equal(polled) || len(b.Points) != want || b.Device != d.Name {
			t.Fatalf("batch %d: seq %d part %d time %v points %d device %s", i, b.Seq, b.Part, b.Time, len(b.Points), b.Device)
		}
		for _, p := range b.Points {
			if seen[p.Name] {
				t.Fatalf("point %s twice", p.Name)
			}
			seen[p.Name] = true
		}
	}
	if len(seen) != 4500 {
		t.Fatalf("%d distinct points, want 4500", len(seen))
	}
}

// While the log cannot write, batches are held in memory and each number
// is written exactly to the sequence file: a crash then resumes above
// them, so they are never reused (their loss shows as a gap). When the log
// writes again, the held batches move into it in order.
func TestStampHeldBatchesNeverReuseNumbers(t *testing.T) {
	r := newStampRig(t, 1, 2000, func(o *wal.Options) { o.SegmentBytes = 4096; o.MaxBytes = 1 << 20 })
	d := devices(r.e)[0]
	for range 3 {
		r.st.stamp(d, time.Now(), points(3))
	}
	// A batch larger than a segment can never enter the log: it is held
	// for the publisher and does not hold back the next ones.
	r.st.stamp(d, time.Now(), points(200))
	if len(r.e.mem) != 1 || !r.e.mem[0].noLog || r.e.mem[0].seq != 4 {
		t.Fatalf("held %+v, want seq 4 marked noLog", r.e.mem)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, seqFile))
	if string(b) != "00000000000000000004strict\n" {
		t.Fatalf("sequence file %q, want exact 4", b)
	}
	r.st.stamp(d, time.Now(), points(3)) // seq 5 enters the log
	if last := r.w.LastSeq(); last != 5 {
		t.Fatalf("log ends at %d, want 5", last)
	}
	// A crash now: the log ends at 5, the file must not send us back.
	r.w.Close()
	crashed, err := openSeq(r.dir, seqBlock)
	if err != nil {
		t.Fatal(err)
	}
	crashed.resumeAfter(5, 0, false)
	if n, _ := crashed.next(); n != 6 {
		t.Fatalf("after crash next = %d, want 6", n)
	}

	// The log refuses (closed stands for a failing disk): numbers 6.. are
	// held, and a crash resumes above the highest.
	r2 := newStampRig(t, 1, 2000, nil)
	d2 := devices(r2.e)[0]
	r2.st.stamp(d2, time.Now(), points(3))
	r2.w.Close()
	for range 4 {
		r2.st.stamp(d2, time.Now(), points(3))
	}
	if len(r2.e.mem) != 4 {
		t.Fatalf("%d held, want 4", len(r2.e.mem))
	}
	again, err := openSeq(r2.dir, seqBlock)
	if err != nil {
		t.Fatal(err)
	}
	again.resumeAfter(1, 0, false) // the log holds only seq 1
	if n, _ := again.next(); n != 6 {
		t.Fatalf("after crash with 2-5 held in memory next = %d, want 6", n)
	}
}

// Held batches move into the log as soon as it takes them again.
func TestStampFlushesHeldBatchesIntoLog(t *testing.T) {
	r := newStampRig(t, 1, 2000, nil)
	d := devices(r.e)[0]
	r.st.stamp(d, time.Now(), points(3))
	held := message{seq: 2, topic: "t", payload: []byte("{}"), polled: time.Now()}
	r.e.mem = append(r.e.mem, held)
	r.seq.last = 2
	r.st.stamp(d, time.Now(), points(3)) // seq 3
	if len(r.e.mem) != 0 {
		t.Fatalf("%d still held", len(r.e.mem))
	}
	recs := readAll(t, r.w)
	if len(recs) != 3 || recs[1].Seq != 2 || recs[2].Seq != 3 {
		t.Fatalf("log %v", recs)
	}
}

// Devices of different profiles, a profile whose names are new strings at
// every poll (as from a source that builds them), and batches split at
// the batch size: each payload carries its own poll's names, and the
// names kept as JSON text stay bounded by the devices' batches.
func TestStampKeptNamesFollowEachPoll(t *testing.T) {
	r := newStampRig(t, 3, 7, nil)
	ds := devices(r.e)
	fixed := [][]drivers.Reading{points(10), points(3)}
	for i := range fixed[1] {
		fixed[1][i].Name = fmt.Sprintf("other_%d", i)
	}
	var want [][]string
	for poll := range 200 {
		for k, d := range ds {
			var rs []drivers.Reading
			if k < len(fixed) {
				rs = fixed[k]
			} else {
				rs = points(5)
				for i := range rs {
					rs[i].Name = fmt.Sprintf("fresh_%d_%d", poll, i)
				}
			}
			r.st.stamp(d, time.Now(), rs)
			for start := 0; start < len(rs); start += 7 {
				var names []string
				for _, x := range rs[start:min(len(rs), start+7)] {
					names = append(names, x.Name)
				}
				want = append(want, names)
			}
		}
	}
	recs := readAll(t, r.w)
	if len(recs) != len(want) {
		t.Fatalf("%d batches, want %d", len(recs), len(want))
	}
	for i, rec := range recs {
		b, err := batch.Decode(rec.Payload)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		var got []string
		for _, p := range b.Points {
			got = append(got, p.Name)
		}
		if !slices.Equal(got, want[i]) {
			t.Fatalf("batch %d names %v, want %v", i, got, want[i])
		}
	}
	if n := len(r.st.texts); n > 4*len(ds)+64 {
		t.Errorf("%d runs of names kept for %d devices", n, len(ds))
	}
}

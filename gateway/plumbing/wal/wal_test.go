package wal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

func open(t *testing.T, dir string, mod func(*Options)) *WAL {
	t.Helper()
	o := Options{Dir: dir, SegmentBytes: 4096, MaxBytes: 1 << 20}
	if mod != nil {
		mod(&o)
	}
	w, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func payload(seq uint64) []byte { return []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0100d"}`, seq, seq)) }

func appendRange(t *testing.T, w *WAL, from, to uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), time.Unix(0, int64(s))); err != nil {
			t.Fatalf("append %d: %v", s, err)
		}
	}
}

func readN(t *testing.T, r *Reader, n int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var seqs []uint64
	for range n {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", seqs, err)
		}
		if string(rec.Payload) != string(payload(rec.Seq)) || rec.Topic != topic.Data("p", "gw", "d") {
			t.Fatalf("record %d: topic %q payload %q", rec.Seq, rec.Topic, rec.Payload)
		}
		seqs = append(seqs, rec.Seq)
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func equal(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestAppendReadAckAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	appendRange(t, w, 1, 100) // ~140 bytes each: several 4 KiB segments
	r := w.Reader()
	if got := readN(t, r, 100); !equal(got, seqRange(1, 100)) {
		t.Fatalf("read %v", got)
	}
	st := w.Stats()
	if st.Segments < 3 || st.Pending != 100 || !st.Oldest.Equal(time.Unix(0, 1)) {
		t.Fatalf("stats before acks: %+v", st)
	}
	// Out-of-order acks: the frontier waits for the gap.
	for s := uint64(1); s <= 60; s++ {
		if s != 30 {
			w.Ack(s)
		}
	}
	if st := w.Stats(); st.Acked != 29 {
		t.Fatalf("acked frontier %d, want 29", st.Acked)
	}
	w.Ack(30)
	st = w.Stats()
	if st.Acked != 60 || st.Pending != 40 {
		t.Fatalf("after acks: %+v", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) != st.Segments || st.Segments >= 5 {
		t.Fatalf("acknowledged segments not removed: %d files, stats %+v", len(files), st)
	}
	r.Close()
	w.Close()

	// After a restart only the unacknowledged records come back, in order.
	w = open(t, dir, nil)
	defer w.Close()
	if got := readN(t, w.Reader(), 40); !equal(got, seqRange(61, 100)) {
		t.Fatalf("replayed %v", got)
	}
	if w.LastSeq() != 100 {
		t.Fatalf("LastSeq %d", w.LastSeq())
	}
}

func TestReaderWaitsForAppends(t *testing.T) {
	w := open(t, t.TempDir(), nil)
	defer w.Close()
	r := w.Reader()
	got := make(chan uint64)
	go func() {
		rec, err := r.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- rec.Seq
	}()
	time.Sleep(20 * time.Millisecond)
	appendRange(t, w, 7, 7)
	if s := <-got; s != 7 {
		t.Fatalf("got %d", s)
	}
	if err := w.Append(7, "t", nil, time.Now()); err == nil {
		t.Fatal("a repeated seq was accepted")
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	appendRange(t, w, 1, 10)
	w.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0x80, 0, 0, 0, 1, 2, 3}) // half a header and body of record 11
	f.Close()
	var drops []string
	w = open(t, dir, func(o *Options) {
		o.SegmentBytes = 1 << 20
		o.OnDrop = func(n int, first, last uint64, reason string) { drops = append(drops, reason) }
	})
	if got := readN(t, w.Reader(), 10); !equal(got, seqRange(1, 10)) {
		t.Fatalf("read %v", got)
	}
	_, tornDamaged := w.TailDamage()
	appendRange(t, w, 11, 12) // appends after the repaired tail are readable
	w.Close()
	w = open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	defer w.Close()
	if got := readN(t, w.Reader(), 12); !equal(got, seqRange(1, 12)) {
		t.Fatalf("after repair read %v", got)
	}
	// A torn last record (an append interrupted) is no damage: its batch
	// was never read from the log.
	if len(drops) != 0 {
		t.Fatalf("drops %v", drops)
	}
	if tornDamaged {
		t.Fatal("a torn last record reported as damage")
	}
}

// TestDamageReported: a damaged record in a segment followed by another
// loses the records up to that one's first, reported with their exact
// range (those not acknowledged); damage at the log's end is reported by
// TailDamage with the last intact number.
func TestDamageReported(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, func(o *Options) { o.SegmentBytes = 1600 }) // 10 records a segment
	appendRange(t, w, 1, 25)
	r := w.Reader()
	readN(t, r, 3)
	for s := uint64(1); s <= 3; s++ {
		w.Ack(s)
	}
	r.Close()
	w.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) < 3 {
		t.Fatalf("%d segments", len(files))
	}
	b, _ := os.ReadFile(files[0])
	recLen := len(b) / 10
	b[1*recLen+40] ^= 0xff // record 2 (acknowledged): 2..10 lost, 4..10 unacknowledged
	os.WriteFile(files[0], b, 0o640)
	last := files[len(files)-1]
	b, _ = os.ReadFile(last)
	b[len(b)-recLen/2] ^= 0xff // a payload byte of 25, the last record, whole
	os.WriteFile(last, b, 0o640)
	type drop struct {
		n           int
		first, last uint64
	}
	var drops []drop
	w = open(t, dir, func(o *Options) {
		o.SegmentBytes = 1600
		o.OnDrop = func(n int, first, last uint64, reason string) { drops = append(drops, drop{n, first, last}) }
	})
	defer w.Close()
	if len(drops) != 1 || drops[0] != (drop{7, 4, 10}) {
		t.Errorf("drops %+v, want 7 (4..10)", drops)
	}
	if after, damaged := w.TailDamage(); !damaged || after != 24 {
		t.Errorf("tail damage %d %v, want after 24", after, damaged)
	}
}

func TestCorruptRecordStopsTheSegmentThere(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	appendRange(t, w, 1, 10)
	w.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	b, _ := os.ReadFile(files[0])
	recLen := len(b) / 10
	b[5*recLen+40] ^= 0xff // a payload byte of record 6
	os.WriteFile(files[0], b, 0o640)
	w = open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	defer w.Close()
	if got := readN(t, w.Reader(), 5); !equal(got, seqRange(1, 5)) {
		t.Fatalf("read %v", got)
	}
	if st, _ := os.Stat(files[0]); st.Size() != int64(5*recLen) {
		t.Fatalf("segment size %d, want %d", st.Size(), 5*recLen)
	}
}

func TestFullDropsOldestAndCountsIt(t *testing.T) {
	type drop struct {
		n           int
		first, last uint64
	}
	var drops []drop
	w := open(t, t.TempDir(), func(o *Options) {
		o.SegmentBytes = 1024
		o.MaxBytes = 4096
		o.OnDrop = func(n int, first, last uint64, reason string) { drops = append(drops, drop{n, first, last}) }
	})
	defer w.Close()
	appendRange(t, w, 1, 100)
	st := w.Stats()
	if st.Bytes > 4096 || st.Dropped == 0 {
		t.Fatalf("stats %+v", st)
	}
	total := 0
	next := uint64(1)
	for _, d := range drops {
		if d.first != next {
			t.Fatalf("drops %+v not contiguous from 1", drops)
		}
		total += d.n
		next = d.last + 1
	}
	rest := readN(t, w.Reader(), int(100-total))
	if uint64(total) != st.Dropped || rest[0] != next || rest[len(rest)-1] != 100 {
		t.Fatalf("dropped %d (stats %d), then read %d..%d", total, st.Dropped, rest[0], rest[len(rest)-1])
	}
}

func TestFullDropNewestRefuses(t *testing.T) {
	w := open(t, t.TempDir(), func(o *Options) {
		o.SegmentBytes = 1024
		o.MaxBytes = 2048
		o.Full = FullDropNewest
	})
	defer w.Close()
	var refused []uint64
	for s := uint64(1); s <= 40; s++ {
		if err := w.Append(s, "t", payload(s), time.Now()); err == ErrFull {
			refused = append(refused, s)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(refused) == 0 || w.Stats().Dropped != uint64(len(refused)) {
		t.Fatalf("refused %v, stats %+v", refused, w.Stats())
	}
	sort.Slice(refused, func(i, j int) bool { return refused[i] < refused[j] })
	if refused[len(refused)-1] != 40 {
		t.Fatalf("refused %v: the newest must be refused", refused)
	}
}

// A log full of acknowledged records kept for replays gives them up, the
// oldest first, before it drops a batch, under either policy.
func TestFullOfRetainedDropsNothing(t *testing.T) {
	for name, full := range map[string]FullPolicy{"drop_oldest": FullDropOldest, "drop_newest": FullDropNewest} {
		t.Run(name, func(t *testing.T) {
			var drops int
			w := open(t, t.TempDir(), func(o *Options) {
				o.SegmentBytes = 1024
				o.MaxBytes = 4096
				o.Full = full
				o.Retain = time.Hour
				o.OnDrop = func(n int, first, last uint64, reason string) { drops += n }
			})
			defer w.Close()
			r := w.Reader()
			defer r.Close()
			for s := uint64(1); s <= 200; s++ {
				if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), time.Now()); err != nil {
					t.Fatalf("append %d: %v", s, err)
				}
				if got := readN(t, r, 1); got[0] != s {
					t.Fatalf("read %d, want %d", got[0], s)
				}
				w.Ack(s)
			}
			st := w.Stats()
			if drops != 0 || st.Dropped != 0 || st.Bytes > 4096 {
				t.Fatalf("dropped %d (stats %+v)", drops, st)
			}
			// The newest acknowledged records are still there for a replay.
			var kept []uint64
			if err := w.Scan(time.Time{}, func(rec Record) error { kept = append(kept, rec.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(kept) == 0 || kept[len(kept)-1] != 200 || !equal(kept, seqRange(kept[0], 200)) {
				t.Fatalf("kept %v, want the newest up to 200", kept)
			}
			// Unacknowledged records beyond the bound are still subject to
			// the policy.
			var err error
			for s := uint64(201); s <= 400 && err == nil; s++ {
				err = w.Append(s, topic.Data("p", "gw", "d"), payload(s), time.Now())
			}
			if full == FullDropNewest && err != ErrFull || full == FullDropOldest && (err != nil || drops == 0) {
				t.Fatalf("policy %v past the bound: err %v, %d dropped", full, err, drops)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	w, err := Open(Options{Dir: b.TempDir(), MaxBytes: 8 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := make([]byte, 20000) // a batch of ~1000 values
	r := w.Reader()
	defer r.Close()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := w.Append(seq, topic.Data("park", "gw-1", "dev-01"), p, time.Now()); err != nil {
			b.Fatal(err)
		}
		rec, ok, _, err := r.TryNext()
		if err != nil || !ok || rec.Seq != seq {
			b.Fatalf("read back %d: %v %v", seq, ok, err)
		}
		w.Ack(seq)
	}
}

func TestRetainAndScan(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, func(o *Options) { o.Retain = time.Hour })
	if at, ok := w.Earliest(); ok {
		t.Fatalf("an empty log's earliest record at %s", at)
	}
	base := time.Now()
	for s := uint64(1); s <= 100; s++ {
		if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), base.Add(time.Duration(s)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	r := w.Reader()
	readN(t, r, 100)
	for s := uint64(1); s <= 100; s++ {
		w.Ack(s)
	}
	if st := w.Stats(); st.Pending != 0 || st.Segments < 3 {
		t.Fatalf("acknowledged segments must be retained: %+v", st)
	}
	if at, ok := w.Earliest(); !ok || !at.Equal(base.Add(time.Millisecond)) {
		t.Fatalf("earliest record at %s (%v), want the first appended, %s", at, ok, base.Add(time.Millisecond))
	}
	var got []uint64
	err := w.Scan(base.Add(40*time.Millisecond), func(rec Record) error {
		if string(rec.Payload) != string(payload(rec.Seq)) {
			t.Fatalf("record %d payload %q", rec.Seq, rec.Payload)
		}
		got = append(got, rec.Seq)
		return nil
	})
	if err != nil || !equal(got, seqRange(40, 100)) {
		t.Fatalf("Scan = %v, %v", got, err)
	}
	r.Close()
	w.Close()
	// Without retention the acknowledged segments go.
	w = open(t, dir, nil)
	defer w.Close()
	if st := w.Stats(); st.Segments != 1 {
		t.Fatalf("after reopening without retention: %+v", st)
	}
	if at, ok := w.Earliest(); ok && !at.After(base.Add(40*time.Millisecond)) {
		t.Fatalf("after the acknowledged segments went, the earliest record is at %s", at)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

func TestGroupCommitWakesOnlyWhenDirty(t *testing.T) {
	dir := t.TempDir()
	// Long enough that the five appends of the burst below fall within
	// one interval even on a loaded machine.
	const interval = 200 * time.Millisecond
	w := open(t, dir, func(o *Options) { o.SyncInterval = interval })
	defer w.Close()
	clean := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.dirty && !w.ackDirty
	}
	time.Sleep(2 * interval)
	if n := w.loops.Load(); n != 0 {
		t.Fatalf("an idle log's sync loop woke %d times", n)
	}
	// Five appends in a burst share one sync.
	appendRange(t, w, 1, 5)
	waitFor(t, "the appended records synced", clean)
	if n := w.loops.Load(); n != 1 {
		t.Fatalf("five appends in a burst took %d syncs, want 1", n)
	}
	// The acknowledgement frontier reaches its checkpoint without a
	// further append or a Close.
	r := w.Reader()
	defer r.Close()
	readN(t, r, 5)
	for s := uint64(1); s <= 5; s++ {
		w.Ack(s)
	}
	waitFor(t, "the checkpoint written", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, ackFile))
		return err == nil && string(b) == fmt.Sprintf("%020d\n", 5)
	})
	n := w.loops.Load()
	time.Sleep(2 * interval)
	if m := w.loops.Load(); m != n {
		t.Fatalf("the sync loop woke %d times with nothing to write", m-n)
	}
}

func TestRetentionExpiresWhileIdle(t *testing.T) {
	dir := t.TempDir()
	// Retained long enough to be seen before they expire, even on a
	// loaded machine.
	w := open(t, dir, func(o *Options) { o.Retain = time.Second; o.SyncInterval = 10 * time.Millisecond })
	defer w.Close()
	for s := uint64(1); s <= 100; s++ {
		if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r := w.Reader()
	defer r.Close()
	readN(t, r, 100)
	for s := uint64(1); s <= 100; s++ {
		w.Ack(s)
	}
	if st := w.Stats(); st.Segments < 3 {
		t.Fatalf("acknowledged segments must be retained first: %+v", st)
	}
	// Nothing else happens to the log: the expiry alone removes them.
	waitFor(t, "the retained segments removed", func() bool { return w.Stats().Segments == 1 })
}

// TestReaderTakesNewRecordsFromMemory: a record appended while the reader
// keeps up is handed over from memory; one appended past the bound of
// what is kept, or after a gap, is read from disk; the reader returns
// every record once, in order, whichever way it came, and starts reading
// from disk after the records it took from memory.
func TestReaderTakesNewRecordsFromMemory(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20; o.MaxBytes = 8 << 20 })
	defer w.Close()
	r := w.Reader()
	defer r.Close()
	appendRange(t, w, 1, 3)
	// Overwrite the payloads on disk: what the reader returns now can
	// only have come from memory.
	seg := filepath.Join(dir, segName(1))
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	garbled := []byte(string(raw))
	for i := range garbled {
		if garbled[i] == 'p' { // in every payload's "pad"
			garbled[i] = 'q'
		}
	}
	if err := os.WriteFile(seg, garbled, 0o640); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, r, 3); !equal(got, seqRange(1, 3)) {
		t.Fatalf("read %v", got)
	}

	// More than the bound, unread: the first maxHot come from memory
	// as long as they fit, the rest from disk after them, in order. The
	// disk reads start after the records taken from memory: the three
	// garbled ones above would fail their checksums.
	n := uint64(maxHot + 10)
	appendRange(t, w, 4, 3+n)
	if len(w.hot) != maxHot {
		t.Fatalf("%d records kept in memory, want the bound %d", len(w.hot), maxHot)
	}
	if got := readN(t, r, int(n)); !equal(got, seqRange(4, 3+n)) {
		t.Fatalf("read %v", got)
	}
	if len(w.hot) != 0 || w.hotBytes != 0 {
		t.Fatalf("%d records (%d bytes) still kept after all were read", len(w.hot), w.hotBytes)
	}

	// The bytes bound: payloads of 100 kB, five fit in half a megabyte.
	big := make([]byte, 100<<10)
	for s := 4 + n; s < 4+n+8; s++ {
		if err := w.Append(s, topic.Data("p", "gw", "d"), big, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.hot) != 5 || w.hotBytes != 5*len(big) {
		t.Fatalf("%d records (%d bytes) kept, want 5 (%d bytes)", len(w.hot), w.hotBytes, 5*len(big))
	}
	for s := 4 + n; s < 4+n+8; s++ {
		rec, ok, _, err := r.TryNext()
		if err != nil || !ok || rec.Seq != s || len(rec.Payload) != len(big) {
			t.Fatalf("record %d: seq %d, %d bytes, ok %v, err %v", s, rec.Seq, len(rec.Payload), ok, err)
		}
	}
	if _, ok, _, err := r.TryNext(); ok || err != nil {
		t.Fatalf("a record after the last: ok %v err %v", ok, err)
	}

	// A gap in the seqs (as after a restart): the record after it still
	// comes from memory, and the reader goes on after it.
	gap := 4 + n + 8 + 1000
	appendRange(t, w, gap, gap+1)
	if got := readN(t, r, 1); !equal(got, seqRange(gap, gap)) || len(w.hot) != 1 {
		t.Fatalf("read %v; %d records still kept, want 1 (the next)", got, len(w.hot))
	}
	if got := readN(t, r, 1); !equal(got, seqRange(gap+1, gap+1)) || len(w.hot) != 0 {
		t.Fatalf("read %v; %d records still kept", got, len(w.hot))
	}
}

// TestRecordsKeptInMemoryAreDroppedWithTheirSegment: when the log is full
// and drops its oldest segment, the records of it that were kept in
// memory and not yet read are dropped too, and counted once.
func TestRecordsKeptInMemoryAreDroppedWithTheirSegment(t *testing.T) {
	var lost int
	w := open(t, t.TempDir(), func(o *Options) {
		o.SegmentBytes = 4096
		o.MaxBytes = 3 * 4096
		o.OnDrop = func(n int, first, last uint64, reason string) { lost += n }
	})
	defer w.Close()
	r := w.Reader()
	defer r.Close()
	// About 30 records a segment; 150 fill five, so the first two go.
	appendRange(t, w, 1, 150)
	if lost == 0 {
		t.Fatal("nothing dropped: the test needs a full log")
	}
	st := w.Stats()
	var got []uint64
	for _, rec := range available(t, r) {
		if string(rec.Payload) != string(payload(rec.Seq)) {
			t.Fatalf("record %d: payload %q", rec.Seq, rec.Payload)
		}
		got = append(got, rec.Seq)
	}
	if len(got) == 0 || got[len(got)-1] != 150 || !equal(got, seqRange(got[0], 150)) {
		t.Fatalf("read %v", got)
	}
	if uint64(lost)+uint64(len(got)) != 150 || st.Dropped != uint64(lost) {
		t.Fatalf("%d read and %d counted lost (stats: %d) of 150", len(got), lost, st.Dropped)
	}
}

// available returns the records the reader has now, without waiting.
func available(t *testing.T, r *Reader) []Record {
	t.Helper()
	var recs []Record
	for {
		rec, ok, _, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return recs
		}
		recs = append(recs, rec)
	}
}

// TestPayloadsHandedOverAreTheCallers: a payload the reader returned is
// never written by later appends, whether it came from memory or from
// disk.
func TestPayloadsHandedOverAreTheCallers(t *testing.T) {
	w := open(t, t.TempDir(), func(o *Options) { o.SegmentBytes = 1 << 20; o.MaxBytes = 8 << 20 })
	defer w.Close()
	r := w.Reader()
	defer r.Close()
	appendRange(t, w, 1, 1)
	first, ok, _, err := r.TryNext()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	held := []Record{first}
	// Past the bound of what is kept in memory: some records come from
	// disk, through the reader's buffer.
	appendRange(t, w, 2, maxHot+5)
	held = append(held, available(t, r)...)
	appendRange(t, w, maxHot+6, 3*maxHot)
	held = append(held, available(t, r)...)
	if len(held) != 3*maxHot {
		t.Fatalf("read %d records, want %d", len(held), 3*maxHot)
	}
	for _, rec := range held {
		if string(rec.Payload) != string(payload(rec.Seq)) {
			t.Fatalf("record %d now holds %q", rec.Seq, rec.Payload)
		}
	}
}

// TestOldestIsTheFirstUnacknowledgedRecord: Stats' Oldest is the append
// time of the oldest unacknowledged record, to within a second, not of the
// first record of its segment (a segment can hold days of acknowledged
// batches before a short outage); after a restart too, and with the marks
// thinned past their bound it is never later than the record's time.
func TestOldestIsTheFirstUnacknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	big := func(o *Options) { o.SegmentBytes, o.MaxBytes = 1<<20, 256<<20 }
	w := open(t, dir, big)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// 3 1/3 records a second, then from 201 on one every 1.3 s
	at := func(s uint64) time.Time {
		if s <= 200 {
			return t0.Add(time.Duration(s) * 300 * time.Millisecond)
		}
		return t0.Add(time.Minute + time.Duration(s)*1300*time.Millisecond)
	}
	add := func(w *WAL, from, to uint64) {
		for s := from; s <= to; s++ {
			if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), at(s)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ack := func(w *WAL, r *Reader, from, to uint64) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for s := from; s <= to; s++ {
			rec, err := r.Next(ctx)
			if err != nil || rec.Seq != s {
				t.Fatalf("read seq %d: %d, %v", s, rec.Seq, err)
			}
			w.Ack(s)
		}
	}
	check := func(when string, w *WAL, first uint64, within time.Duration) {
		t.Helper()
		st := w.Stats()
		if d := at(first).Sub(st.Oldest); d < 0 || d >= within {
			t.Errorf("%s: oldest %s, want within %s before record %d's %s", when, st.Oldest.Format(time.RFC3339Nano), within, first, at(first).Format(time.RFC3339Nano))
		}
	}
	add(w, 1, 200)
	check("nothing acknowledged", w, 1, time.Second)
	r := w.Reader()
	ack(w, r, 1, 150)
	check("150 acknowledged", w, 151, time.Second)
	r.Close()
	w.Close()

	w = open(t, dir, big)
	defer w.Close()
	check("reopened", w, 151, time.Second)
	last := uint64(200 + maxMarks + 10)
	add(w, 201, last)
	if n := len(w.marks); n > maxMarks {
		t.Errorf("%d marks, above the bound %d", n, maxMarks)
	}
	check("marks thinned", w, 151, time.Second)
	r = w.Reader()
	defer r.Close()
	ack(w, r, 151, 1000)
	check("after thinning", w, 1001, 3*time.Second)
	ack(w, r, 1001, last)
	if st := w.Stats(); !st.Oldest.IsZero() || st.Pending != 0 {
		t.Errorf("all acknowledged: %+v", st)
	}
}

// TestMarksFollowPollTimes: a record's time is its batch's poll time,
// which the buses' polls interleave (a later number with an earlier
// time): such records add no mark, so the marks stay one a second.
func TestMarksFollowPollTimes(t *testing.T) {
	w := open(t, t.TempDir(), func(o *Options) { o.SegmentBytes, o.MaxBytes = 1<<20, 64<<20 })
	defer w.Close()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for s := uint64(1); s <= 2000; s++ {
		at := t0.Add(time.Duration(s) * 5 * time.Millisecond) // 10 s of polls
		if s%2 == 0 {
			at = at.Add(-300 * time.Millisecond) // a bus whose poll began earlier
		}
		if err := w.Append(s, topic.Data("p", "gw", "d"), payload(s), at); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.marks); n > 11 {
		t.Errorf("%d marks for 10 s of interleaved polls, want about 10", n)
	}
}

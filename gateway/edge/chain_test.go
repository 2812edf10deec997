package edge

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// signedRig is a stamp rig whose stamper signs with a fresh key.
func signedRig(t *testing.T, maxPoints int) (*stampRig, evidence.Keys, string) {
	t.Helper()
	r := newStampRig(t, 1, maxPoints, nil)
	keyFile := filepath.Join(r.dir, "edge.key")
	pub, err := evidence.Generate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys := evidence.Keys{}
	keys.Add("gw", pub)
	ch, err := openChain(r.dir, keyFile, r.w)
	if err != nil {
		t.Fatal(err)
	}
	r.st.chain = ch
	return r, keys, keyFile
}

// logged returns the batches in the log with their payloads.
func logged(t *testing.T, w *wal.WAL) []wal.Record {
	t.Helper()
	var recs []wal.Record
	if err := w.Scan(time.Time{}, func(r wal.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkChain verifies every record's signature and that each names the
// hash of the one before; the first names first.
func checkChain(t *testing.T, keys evidence.Keys, recs []wal.Record, first evidence.Hash) evidence.Hash {
	t.Helper()
	prev := first
	for _, r := range recs {
		b, err := batch.Decode(r.Payload)
		if err != nil {
			t.Fatalf("seq %d: %v", r.Seq, err)
		}
		h, err := keys.Verify(b.Gateway, b.Key, r.Payload)
		if err != nil {
			t.Fatalf("seq %d: %v", r.Seq, err)
		}
		if b.Prev != prev.String() {
			t.Fatalf("seq %d: prev %s, want %s", r.Seq, b.Prev, prev)
		}
		prev = h
	}
	return prev
}

// Every batch is signed and names the previous one, split polls included,
// in sequence order.
func TestStampSignsAndChains(t *testing.T) {
	r, keys, _ := signedRig(t, 2)
	d := devices(r.e)[0]
	for range 3 {
		r.st.stamp(d, time.Now(), points(5)) // 3 batches per poll
	}
	recs := logged(t, r.w)
	if len(recs) != 9 {
		t.Fatalf("%d batches logged, want 9", len(recs))
	}
	checkChain(t, keys, recs, evidence.Hash{})
}

// The chain goes on across a crash (head from the log) and a clean stop
// (head from the chain file).
func TestChainSurvivesRestarts(t *testing.T) {
	r, keys, keyFile := signedRig(t, 2000)
	d := devices(r.e)[0]
	for range 4 {
		r.st.stamp(d, time.Now(), points(3))
	}
	head := r.st.chain.head
	// Crash: no chain file; the head comes from the log's last record.
	crashed, err := openChain(r.dir, keyFile, r.w)
	if err != nil {
		t.Fatal(err)
	}
	if crashed.head != head || crashed.headSeq != 4 {
		t.Fatalf("after a crash head %s at %d, want %s at 4", crashed.head, crashed.headSeq, head)
	}
	r.st.chain = crashed
	r.st.stamp(d, time.Now(), points(3))
	if err := crashed.close(); err != nil {
		t.Fatal(err)
	}
	clean, err := openChain(r.dir, keyFile, r.w)
	if err != nil {
		t.Fatal(err)
	}
	if clean.head != crashed.head || clean.headSeq != 5 {
		t.Fatalf("after a clean stop head %s at %d, want %s at 5", clean.head, clean.headSeq, crashed.head)
	}
	r.st.chain = clean
	r.st.stamp(d, time.Now(), points(3))
	checkChain(t, keys, logged(t, r.w), evidence.Hash{})
}

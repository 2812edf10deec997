package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeqStrictlyIncreasesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s, err := openSeq(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 25; want++ {
		got, err := s.next()
		if err != nil || got != want {
			t.Fatalf("next = %d, %v; want %d", got, err, want)
		}
	}
	// The file always covers every number handed out (crash safety).
	b, _ := os.ReadFile(filepath.Join(dir, seqFile))
	if string(b) != "00000000000000000030      \n" {
		t.Fatalf("reservation on disk = %q, want 30 (25 used, blocks of 10)", b)
	}
	// A crash (no close) without a write-ahead log: the next run starts
	// above the reservation.
	crashed, err := openSeq(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	crashed.resumeAfter(0)
	if got, _ := crashed.next(); got != 31 {
		t.Fatalf("after crash next = %d, want 31", got)
	}
	// A clean stop records the exact number: no gap.
	if err := crashed.close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, seqFile)); string(b) != "00000000000000000031 clean\n" {
		t.Fatalf("after a clean stop the file holds %q", b)
	}
	again, _ := openSeq(dir, 10)
	again.resumeAfter(20) // an older log does not move a clean counter back
	if got, _ := again.next(); got != 32 {
		t.Fatalf("after clean stop next = %d, want 32", got)
	}
	// A crash with a write-ahead log: resume right after its last batch.
	fromWAL, _ := openSeq(dir, 10)
	fromWAL.resumeAfter(32)
	if got, _ := fromWAL.next(); got != 33 {
		t.Fatalf("after crash with log next = %d, want 33", got)
	}
}

func TestSeqCorruptFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, seqFile), []byte("12x\n"), 0o644)
	if _, err := openSeq(dir, 10); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
}

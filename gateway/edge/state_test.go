package edge

import (
	"errors"
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
	if strings.TrimSpace(string(b)) != "30" {
		t.Fatalf("reservation on disk = %q, want 30 (25 used, blocks of 10)", b)
	}
	// A crash (no close): the next run starts above the reservation.
	crashed, err := openSeq(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := crashed.next(); got != 31 {
		t.Fatalf("after crash next = %d, want 31", got)
	}
	// A clean stop records the exact number: no gap.
	if err := crashed.close(); err != nil {
		t.Fatal(err)
	}
	again, _ := openSeq(dir, 10)
	if got, _ := again.next(); got != 32 {
		t.Fatalf("after clean stop next = %d, want 32", got)
	}
}

func TestSeqCorruptFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, seqFile), []byte("12x\n"), 0o644)
	if _, err := openSeq(dir, 10); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
}

func TestSpoolRoundTripAndCorruptTail(t *testing.T) {
	dir := t.TempDir()
	msgs := []message{
		{seq: 1, topic: "eip/v1/p/gw/a", payload: []byte(`{"seq":1}`)},
		{seq: 2, topic: "eip/v1/p/gw/b", payload: []byte(`{"seq":2}`)},
	}
	if err := writeSpool(dir, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := readSpool(dir)
	if err != nil || len(got) != 2 || got[1].topic != msgs[1].topic || string(got[1].payload) != `{"seq":2}` {
		t.Fatalf("readSpool = %+v, %v", got, err)
	}
	// A torn last record (power cut mid-write) and a flipped byte.
	path := filepath.Join(dir, spoolFile)
	b, _ := os.ReadFile(path)
	b = append(b, []byte("0badc0de eip/v1/p/gw/c {\"se")...)
	b[len("00000000 eip/v1/p/gw/a {\"seq\":")] = '7'
	os.WriteFile(path, b, 0o644)
	got, err = readSpool(dir)
	if !errors.Is(err, errCorruptSpool) || len(got) != 1 || got[0].topic != "eip/v1/p/gw/b" {
		t.Fatalf("readSpool after corruption = %+v, %v", got, err)
	}
	if !strings.Contains(err.Error(), ":1:") || !strings.Contains(err.Error(), ":3:") {
		t.Errorf("error should name lines 1 and 3: %v", err)
	}
	// An empty spool removes the file.
	if err := writeSpool(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("spool file still there: %v", err)
	}
}

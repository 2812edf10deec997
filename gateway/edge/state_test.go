package edge

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
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
	crashed.resumeAfter(0, 0, false)
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
	again.resumeAfter(20, 0, false) // an older log does not move a clean counter back
	if got, _ := again.next(); got != 32 {
		t.Fatalf("after clean stop next = %d, want 32", got)
	}
	// A crash with a write-ahead log: resume right after its last batch.
	fromWAL, _ := openSeq(dir, 10)
	fromWAL.resumeAfter(32, 0, false)
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

// TestSeqAfterADamagedLog: the log's tail was cut off at open (a torn
// write, a bad sector). Numbers above its last intact batch were handed
// out and maybe published: the next number follows every number the file
// covers and the acknowledgement checkpoint, never one at or below them (a
// new batch under an acknowledged number would be taken for acknowledged
// and never sent; one under a published number would clash with it), and
// the numbers that may be lost are returned, exactly after a clean stop.
func TestSeqAfterADamagedLog(t *testing.T) {
	for _, tc := range []struct {
		name              string
		file              string
		walLast, acked    uint64
		next, first, last uint64
		exact             bool
	}{
		{"crash, reservation", "00000000000000001000      \n", 950, 960, 1001, 961, 1000, false},
		{"clean stop", "00000000000000000980 clean\n", 950, 0, 981, 951, 980, true},
		{"damage within what was acknowledged", "00000000000000000980 clean\n", 950, 980, 981, 981, 980, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, seqFile), []byte(tc.file), 0o640)
			s, err := openSeq(dir, 100)
			if err != nil {
				t.Fatal(err)
			}
			first, last, exact := s.resumeAfter(tc.walLast, tc.acked, true)
			if first != tc.first || last != tc.last || exact != tc.exact {
				t.Errorf("lost %d..%d exact %v, want %d..%d %v", first, last, exact, tc.first, tc.last, tc.exact)
			}
			if got, _ := s.next(); got != tc.next {
				t.Errorf("next %d, want %d", got, tc.next)
			}
		})
	}
	// Undamaged, after a crash: the log's end (the reservation above it
	// was never used), but never at or below the checkpoint.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, seqFile), []byte("00000000000000001000      \n"), 0o640)
	s, _ := openSeq(dir, 100)
	if first, last, _ := s.resumeAfter(950, 940, false); first <= last {
		t.Errorf("undamaged: lost %d..%d", first, last)
	}
	if got, _ := s.next(); got != 951 {
		t.Errorf("undamaged: next %d, want 951", got)
	}
}

// TestSeqEmptyFile: a sequence file left empty (created, its first write
// failed on a full disk) does not keep the edge from starting: no number
// was recorded in it, and numbering follows the log.
func TestSeqEmptyFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, seqFile), nil, 0o640)
	s, err := openSeq(dir, 100)
	if err != nil || !s.empty {
		t.Fatalf("empty file: %v (empty %v)", err, s != nil && s.empty)
	}
	s.resumeAfter(7, 5, false)
	if got, _ := s.next(); got != 8 {
		t.Errorf("next %d, want 8", got)
	}
}

// TestRestartAfterAMachineRestart: the edge did not stop cleanly (its
// sequence file holds a reservation) and the machine restarted since it
// last ran (another boot id): the log's last appends may have been lost
// with the operating system's cache, published or not, so numbering goes
// on after the reservation, and the numbers between are counted as lost,
// at most. After a crash of the process alone (the same boot), numbering
// follows the log, with no false gap.
func TestRestartAfterAMachineRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prevBoot string
		next     uint64
		lost     float64
	}{
		{"machine restarted", "an-earlier-boot", 2001, 1000 - 1},
		{"process restarted", "this-boot", 1002, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := bootID
			bootID = func() string { return "this-boot" }
			defer func() { bootID = saved }()
			broker := startBroker(t)
			dir := t.TempDir()
			retain := time.Duration(0)
			cfg := &config.File{Park: "p", Site: "s",
				MQTT: &config.MQTT{Broker: broker, ClientID: "boot-edge", KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second},
				Edge: &config.Edge{Gateway: "gw", StateDir: dir, PublishTimeout: 5 * time.Second, MaxInflight: 16, MaxBatchPoints: 2000,
					WAL:     &config.WAL{Sync: "interval", SyncInterval: 50 * time.Millisecond, MaxMB: 64, SegmentMB: 1, Full: "drop_oldest", Retain: &retain},
					Buses:   []config.Bus{{Name: "line", Protocol: "fake"}},
					Devices: []config.Device{{Name: "dev", Bus: "line"}}}}
			drv := drivers.Registry{"fake": fakeDriver{period: 20 * time.Millisecond}}
			// A run that left 1001 batches in its log and a reservation
			// up to 2000, as a crash does: 1001 appended, none acknowledged
			// (the log is read back, not published, in this test).
			w, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "wal")})
			if err != nil {
				t.Fatal(err)
			}
			for s := uint64(1); s <= 1001; s++ {
				if err := w.Append(s, topic.Data("p", "gw", "dev"), []byte(`{}`), time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			os.WriteFile(filepath.Join(dir, seqFile), []byte("00000000000000002000      \n"), 0o640)
			os.WriteFile(filepath.Join(dir, bootFile), []byte(tc.prevBoot+"\n"), 0o640)
			r := startEdge(t, cfg, drv)
			deadline := time.Now().Add(10 * time.Second)
			for r.e.Stats().Polled == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			r.stop()
			b, _ := os.ReadFile(filepath.Join(dir, seqFile))
			last, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(b)), "clean")), 10, 64)
			if first := last - r.e.Stats().Polled + 1; first != tc.next {
				t.Errorf("the run numbered from %d, want %d", first, tc.next)
			}
			if got := r.value(t, "eipgw_edge_batches_dropped_total", "reason", "wal_unsynced"); got != tc.lost {
				t.Errorf("counted lost %v, want %v", got, tc.lost)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, bootFile)); strings.TrimSpace(string(b)) != "this-boot" {
				t.Errorf("boot file %q after the start", b)
			}
		})
	}
}

package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestApplyIngestGC: ingest collects at five times its live heap under a
// soft limit that follows max_write_bytes, unless the environment's GOGC
// and GOMEMLIMIT, which the runtime has read, say otherwise.
func TestApplyIngestGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) }()

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	p, l := applyIngestGC(0)
	if p != 400 || l != 28<<20 {
		t.Errorf("defaults: GC percent %d, limit %d MiB; want 400 and 28 MiB", p, l>>20)
	}
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("GC percent in force %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 28<<20 {
		t.Errorf("memory limit in force %d, want %d", got, 28<<20)
	}
	if _, l := applyIngestGC(25_000_000); l != 16<<20+150_000_000 {
		t.Errorf("limit at max_write_bytes 25000000: %d", l)
	}

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "100MiB")
	if p, l := applyIngestGC(0); p != 0 || l != 0 {
		t.Errorf("with GOGC and GOMEMLIMIT set: %d, %d; want both left alone", p, l)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent changed to %d though GOGC was set", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit changed to %d though GOMEMLIMIT was set", got)
	}
}

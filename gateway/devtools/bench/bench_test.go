package bench

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// TestBenchShort runs the harness on a small load so that it cannot rot:
// two devices of 300 values at 200 ms for three seconds. Every value
// polled is stored, none dropped, and every figure the harness reports was
// measured.
func TestBenchShort(t *testing.T) {
	r := RunEipgw(t, NewEnv(t, Load{Devices: 2, Values: 300, Interval: 200 * time.Millisecond, Run: 3 * time.Second}))
	t.Logf("\n%s", Table(r))
	if r.Polled == 0 || r.Lost() != 0 || r.Dropped != 0 {
		t.Fatalf("polled %d values, stored %d, dropped %d batches", r.Polled, r.Stored, r.Dropped)
	}
	if r.Edge.Values == 0 || r.Edge.CPU == 0 || r.Edge.PeakRSS == 0 || r.Ingest.Values < r.Polled || r.Ingest.CPU == 0 || r.Ingest.PeakRSS == 0 {
		t.Fatalf("unmeasured figures: edge %+v, ingest %+v", r.Edge, r.Ingest)
	}
	if r.Latency.Count == 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max <= 0 {
		t.Fatalf("latency %+v", r.Latency)
	}
	if !strings.Contains(Table(r), "| 2 x 300 @ 200ms for 3s |") {
		t.Fatalf("table:\n%s", Table(r))
	}
}

// TestBenchLoads runs the loads of docs/benchmarks.md (make bench); it
// needs EIPGW_BENCH=1 and takes minutes.
func TestBenchLoads(t *testing.T) {
	if os.Getenv("EIPGW_BENCH") == "" {
		t.Skip("EIPGW_BENCH not set: the full loads run under make bench")
	}
	run := 30 * time.Second
	if s := os.Getenv("EIPGW_BENCH_RUN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("EIPGW_BENCH_RUN=%q: %v", s, err)
		}
		run = d
	}
	var rs, tgs []Result
	for _, l := range []Load{
		{Devices: 20, Values: 1000, Interval: time.Second, Run: run},
		{Devices: 40, Values: 5000, Interval: time.Second, Run: run},
	} {
		t.Run(l.String(), func(t *testing.T) {
			e := NewEnv(t, l)
			g := RunEipgw(t, e)
			tg := RunTelegraf(t, e)
			rs = append(rs, g)
			tgs = append(tgs, tg)
			t.Logf("\neipgw\n%s\nTelegraf %s\n%s\n%s", Table(g), TelegrafVersion, Table(tg), Ratios(g, tg))
		})
	}
	t.Logf("\neipgw\n%s\nTelegraf %s\n%s", Table(rs...), TelegrafVersion, Table(tgs...))
}

// TestTelegrafShort checks the Telegraf side of the comparison on a small
// load: everything Telegraf polled in whole seconds reaches InfluxDB, and
// the figures were measured. It runs under make bench (EIPGW_BENCH=1),
// which builds Telegraf.
func TestTelegrafShort(t *testing.T) {
	if os.Getenv("EIPGW_BENCH") == "" {
		t.Skip("EIPGW_BENCH not set: Telegraf is built and compared under make bench")
	}
	l := Load{Devices: 2, Values: 300, Interval: time.Second, Run: 4 * time.Second}
	r := RunTelegraf(t, NewEnv(t, l))
	t.Logf("\n%s", Table(r))
	if r.Stored < int64(l.Values*l.Devices) || r.Stored%int64(l.Values) != 0 {
		t.Fatalf("stored %d values, want whole polls of %d values", r.Stored, l.Values)
	}
	// CPU time is counted in 10 ms ticks: a small load may use none.
	if r.Edge.PeakRSS == 0 || r.Ingest.PeakRSS == 0 {
		t.Fatalf("unmeasured figures: edge %+v, ingest %+v", r.Edge, r.Ingest)
	}
}

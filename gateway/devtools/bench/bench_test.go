package bench

import (
	"fmt"
	"os"
	"strconv"
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
// two devices of 300 values (5 reads each) at 200 ms for three seconds,
// at the default pipeline (auto: the farm's servers queue requests, so
// each device's 5 reads go together after the trial), one request at a
// time and 4 in flight. Every value polled is stored, none dropped, and
// every figure the harness reports was measured.
func TestBenchShort(t *testing.T) {
	for _, pipeline := range []int{0, 1, 4} {
		l := Load{Devices: 2, Values: 300, Interval: 200 * time.Millisecond, Run: 3 * time.Second, Pipeline: pipeline}
		t.Run(l.String(), func(t *testing.T) {
			r := RunEipgw(t, NewEnv(t, l))
			t.Logf("\n%s", Table(r))
			if r.Polled == 0 || r.Lost() != 0 || r.Dropped != 0 {
				t.Fatalf("polled %d values, stored %d, dropped %d batches", r.Polled, r.Stored, r.Dropped)
			}
			if r.Edge.Values == 0 || r.Edge.CPU == 0 || r.Edge.PeakRSS == 0 || r.Ingest.Values < r.Polled || r.Ingest.CPU == 0 || r.Ingest.PeakRSS == 0 {
				t.Fatalf("unmeasured figures: edge %+v, ingest %+v", r.Edge, r.Ingest)
			}
			if r.EdgeSteady.Values <= 0 || r.EdgeSteady.Values >= r.Edge.Values || r.EdgeSteady.CPU > r.Edge.CPU {
				t.Fatalf("steady window: %+v of the whole run's %+v", r.EdgeSteady, r.Edge)
			}
			if r.Latency.Count == 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max <= 0 {
				t.Fatalf("latency %+v", r.Latency)
			}
			want := pipeline
			if pipeline == 0 {
				want = 5
			}
			if r.InFlight != want {
				t.Fatalf("the edge's buses send %d reads together at the end, want %d", r.InFlight, want)
			}
			if !strings.Contains(Table(r), "| "+l.String()+" |") {
				t.Fatalf("table:\n%s", Table(r))
			}
		})
	}
}

// TestBenchShortSite is TestBenchShort with two RS-485 lines beside the
// TCP devices, polled at other intervals: every batch polled is stored,
// and the lines' figures come from the edge's metrics and agree with the
// line time the load needs.
func TestBenchShortSite(t *testing.T) {
	l := Load{Devices: 2, Values: 300, Interval: 200 * time.Millisecond, Run: 3 * time.Second, SerialValues: 60,
		Serial: []SerialLine{{Baud: 115200, Devices: 3, Interval: 200 * time.Millisecond}, {Baud: 19200, Devices: 2, Interval: time.Second}}}
	r := RunEipgw(t, NewEnv(t, l))
	t.Logf("\n%s\n%s", Table(r), LineTable(r))
	if r.LostBatches != 0 || r.Polled != r.Stored || r.Stored == 0 || r.Dropped != 0 {
		t.Fatalf("lost %d batches; polled %d values, stored %d, dropped %d batches", r.LostBatches, r.Polled, r.Stored, r.Dropped)
	}
	if r.Edge.Values == 0 || r.Ingest.Values < r.Stored {
		t.Fatalf("values: edge %+v, ingest %+v, stored %d", r.Edge, r.Ingest, r.Stored)
	}
	if len(r.Lines) != 2 {
		t.Fatalf("lines %+v", r.Lines)
	}
	for _, lr := range r.Lines {
		// One read of 120 registers: 8 + 245 characters and two silences
		// of 3.5, at 11 bits a character.
		need := float64(lr.Line.Devices) * 260 * 11 / float64(lr.Line.Baud) / lr.Line.Interval.Seconds()
		if lr.Requests == 0 || lr.Timeouts != 0 || lr.Utilisation < need/2 || lr.Utilisation > need*1.5 || lr.Efficiency < 0.3 || lr.Efficiency > 1.05 {
			t.Errorf("%s: %+v; the load needs a utilisation of %.2f", lr.Bus, lr, need)
		}
	}
	if !strings.Contains(LineTable(r), "| line-01 | 19200 | 2 × 60 @ 1s |") {
		t.Errorf("line table:\n%s", LineTable(r))
	}
}

// TestBenchLoads runs the loads of docs/benchmarks.md (make bench); it
// needs EIPGW_BENCH=1 and takes minutes. eipgw runs each load
// EIPGW_BENCH_REPEAT times (default 3), each run on a fresh farm, broker
// and database, and the summary gives each figure's median and range;
// Telegraf runs once, beside eipgw's first run.
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
	repeat, err := benchRepeat()
	if err != nil {
		t.Fatal(err)
	}
	var rs, tgs []Result
	// runs runs eipgw on l, runs first to last, each on a fresh farm,
	// broker and database that stop before the next run starts.
	runs := func(t *testing.T, l Load, first, last int) []Result {
		var gs []Result
		n := last - first + 1
		for i := first; i <= last; i++ {
			t.Run(fmt.Sprintf("run %d", i), func(t *testing.T) {
				g := RunEipgw(t, NewEnv(t, l))
				t.Logf("\n%s", Table(g))
				gs = append(gs, g)
			})
		}
		if len(gs) < n {
			t.FailNow()
		}
		return gs
	}
	for _, l := range []Load{
		{Devices: 20, Values: 1000, Interval: time.Second, Run: run},
		{Devices: 40, Values: 5000, Interval: time.Second, Run: run},
	} {
		t.Run(l.String(), func(t *testing.T) {
			var g, tg Result
			t.Run("run 1 and Telegraf", func(t *testing.T) {
				e := NewEnv(t, l)
				g = RunEipgw(t, e)
				tg = RunTelegraf(t, e)
			})
			if tg.Load.String() != l.String() {
				t.FailNow()
			}
			gs := append([]Result{g}, runs(t, l, 2, repeat)...)
			rs, tgs = append(rs, gs...), append(tgs, tg)
			t.Logf("\neipgw\n%s\n%s\nTelegraf %s\n%s\n%s", Table(gs...), Summary(gs...), TelegrafVersion, Table(tg), Ratios(gs, tg))
		})
		// eipgw again with one request at a time (bus pipeline: 1; the
		// default, auto, sends a device's reads together once the
		// server has answered them so).
		l.Pipeline = 1
		t.Run(l.String(), func(t *testing.T) {
			gs := runs(t, l, 1, repeat)
			rs = append(rs, gs...)
			t.Logf("\neipgw\n%s\n%s", Table(gs...), Summary(gs...))
		})
	}
	// The 20 x 1000 load again with RS-485 lines beside it, once.
	site := SiteLoad(run)
	var sr Result
	t.Run(site.String(), func(t *testing.T) {
		sr = RunEipgw(t, NewEnv(t, site))
		t.Logf("\n%s\n%s", Table(sr), LineTable(sr))
	})
	t.Logf("\neipgw\n%s\neipgw, median (range) over %d runs\n%s\nTelegraf %s\n%s\neipgw against the targets, one request at a time, on this machine\n%s\neipgw at a site: the first load with RS-485 lines beside it (line / busy is the RTU wire efficiency)\n%s\n%s",
		Table(rs...), repeat, Summary(rs...), TelegrafVersion, Table(tgs...), Targets(rs...), Table(sr), LineTable(sr))
}

// benchRepeat is EIPGW_BENCH_REPEAT, the runs of each load: 3 when unset.
func benchRepeat() (int, error) {
	s := os.Getenv("EIPGW_BENCH_REPEAT")
	if s == "" {
		return 3, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 20 {
		return 0, fmt.Errorf("EIPGW_BENCH_REPEAT=%q: want the runs of each load, 1 to 20", s)
	}
	return n, nil
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

// TestDrainShort runs the scale-out drain on a small backlog so that it
// cannot rot: two workers in one shared group on Mosquitto write every
// value of 200 batches of 100 points, and each took part.
func TestDrainShort(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, db)
	d := RunDrain(t, "mosquitto", mq.URL, ifx, 2, Backlog{Devices: 4, Batches: 200, Points: 100})
	t.Logf("\n%s", DrainTable(d))
	if d.Values != 200*100 || len(d.PerWorker) != 2 || d.PerWorker[0] == 0 || d.PerWorker[1] == 0 {
		t.Fatalf("%d values written (by worker: %v), want %d shared by both", d.Values, d.PerWorker, 200*100)
	}
	series, err := ifx.Query("drain_mosquitto_2", "SELECT count(v0000) FROM bench")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || fmt.Sprint(series[0].Values[0][1]) != "200" {
		t.Fatalf("stored batches: %v", series)
	}
}

// TestScaleOut drains a backlog of 4 million values with 1, 2 and 4
// ingest workers in one shared group, on Mosquitto and on the embedded
// broker (make bench).
func TestScaleOut(t *testing.T) {
	if os.Getenv("EIPGW_BENCH") == "" {
		t.Skip("EIPGW_BENCH not set: the scale-out runs under make bench")
	}
	b := Backlog{Devices: 20, Batches: 4000, Points: 1000}
	var ds []Drain
	for _, broker := range []string{"mosquitto", "embedded"} {
		for _, w := range []int{1, 2, 4} {
			ifx := testenv.StartInflux(t, db)
			url := ""
			if broker == "mosquitto" {
				url = testenv.StartMosquitto(t).URL
			} else {
				url = StartEmbeddedBroker(t)
			}
			d := RunDrain(t, broker, url, ifx, w, b)
			ds = append(ds, d)
			ifx.Stop()
		}
	}
	t.Logf("\n%s", DrainTable(ds...))
}

// TestBenchOne runs one load given as EIPGW_BENCH_LOAD=DEVICESxVALUES
// (at 1 s, for EIPGW_BENCH_RUN, default 30 s; EIPGW_BENCH_PIPELINE
// requests in flight on each bus, 1 to 16, default auto) through eipgw only: for
// profiling a change without the whole of make bench.
func TestBenchOne(t *testing.T) {
	spec := os.Getenv("EIPGW_BENCH_LOAD")
	if spec == "" {
		t.Skip("EIPGW_BENCH_LOAD not set")
	}
	var l Load
	if spec == "site" {
		l = SiteLoad(30 * time.Second)
	} else if _, err := fmt.Sscanf(spec, "%dx%d", &l.Devices, &l.Values); err != nil || l.Devices < 1 || l.Values < 1 {
		t.Fatalf("EIPGW_BENCH_LOAD=%q: want DEVICESxVALUES, e.g. 20x1000, or site", spec)
	}
	l.Interval, l.Run = time.Second, 30*time.Second
	if s := os.Getenv("EIPGW_BENCH_RUN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("EIPGW_BENCH_RUN=%q: %v", s, err)
		}
		l.Run = d
	}
	if s := os.Getenv("EIPGW_BENCH_PIPELINE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("EIPGW_BENCH_PIPELINE=%q: want the requests in flight on a bus, 1 to 16", s)
		}
		l.Pipeline = n
	}
	r := RunEipgw(t, NewEnv(t, l))
	t.Logf("\n%s\n%s", Table(r), LineTable(r))
}

// TestMissedPolls reads the edge's "poll overran its interval" warnings
// in both log formats.
func TestMissedPolls(t *testing.T) {
	log := `time=2026-12-02T16:00:01.000Z level=INFO msg="edge starting" devices=2
time=2026-12-02T16:00:03.020Z level=WARN msg="poll overran its interval" bus=bus-000 device=dev-000 missed=1
{"time":"2026-12-02T16:00:05.020Z","level":"WARN","msg":"poll overran its interval","bus":"bus-001","device":"dev-001","missed":3}
time=2026-12-02T16:00:06.000Z level=INFO msg="device answers again" device=dev-000 missed_before=7
`
	if n := missedPolls(log); n != 4 {
		t.Fatalf("missed polls %d, want 4", n)
	}
	if n := missedPolls("msg=\"poll overran its interval\"\nmissed=9\n"); n != 0 {
		t.Fatalf("a count on another line was taken: %d", n)
	}
}

package bench

import (
	"strings"
	"testing"
	"time"
)

func TestSpreadOf(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{0.7}, Spread{0.7, 0.7, 0.7, 1}},
		{[]float64{0.85, 0.65, 0.7}, Spread{0.7, 0.65, 0.85, 3}},
		{[]float64{4, 1, 3, 2}, Spread{2.5, 1, 4, 4}},
	} {
		if got := SpreadOf(c.xs); got != c.want {
			t.Errorf("SpreadOf(%v) = %+v, want %+v", c.xs, got, c.want)
		}
	}
	xs := []float64{3, 1, 2}
	SpreadOf(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Errorf("SpreadOf sorted its argument: %v", xs)
	}
}

// run is a Result of load l whose edge used perValue µs a value (of
// 600 000) and peaked at rssMB.
func run(l Load, perValue float64, rssMB int64) Result {
	values := int64(600000)
	return Result{
		Load:       l,
		Edge:       Process{CPU: time.Duration(perValue * float64(values) * 1000), PeakRSS: rssMB * 1e6, Values: values},
		EdgeSteady: Process{CPU: time.Duration(perValue * float64(values) * 900), Values: values},
		Ingest:     Process{CPU: 240 * time.Millisecond, PeakRSS: 20e6, Values: values},
		Latency:    Latency{P50: 250 * time.Millisecond, P99: 400 * time.Millisecond, Max: time.Second, Count: 600},
		Polled:     values, Stored: values,
	}
}

func TestSummary(t *testing.T) {
	a := Load{Devices: 20, Values: 1000, Interval: time.Second, Run: 30 * time.Second}
	b := a
	b.Pipeline = 16
	tg := run(a, 5.2, 190)
	tg.Unpolled = true
	s := Summary(run(a, 0.85, 23), run(b, 0.5, 24), run(a, 0.65, 22), run(a, 0.7, 23))
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header, a rule and a row per load:\n%s", len(lines), s)
	}
	for i, want := range []string{
		"| 20 x 1000 @ 1s for 30s | 3 | 0.700 µs (0.650 to 0.850) | 0.630 µs (0.585 to 0.765) | 23.0 MB (22.0 to 23.0) | 0.400 µs | 20.0 MB | 400 ms | 0 | 0 |",
		"| 20 x 1000 @ 1s for 30s, pipeline 16 | 1 | 0.500 µs | 0.450 µs | 24.0 MB | 0.400 µs | 20.0 MB | 400 ms | 0 | 0 |",
	} {
		if lines[2+i] != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, lines[2+i], want)
		}
	}
	if got := Summary(tg); !strings.Contains(got, "| n/a | n/a |") {
		t.Errorf("a run that does not tell what it lost or dropped:\n%s", got)
	}
	want := "| Telegraf / eipgw | edge CPU/value 7.4 | edge peak RSS 8.3 | ingest CPU/value 1.0 | ingest peak RSS 1.0 |"
	if got := Ratios([]Result{run(a, 0.85, 23), run(a, 0.65, 22), run(a, 0.7, 23)}, tg); got != want {
		t.Errorf("Ratios against the medians:\n got %s\nwant %s", got, want)
	}
}

func TestTargets(t *testing.T) {
	a := Load{Devices: 20, Values: 1000, Interval: time.Second, Run: 30 * time.Second}
	piped := a
	piped.Pipeline = 16
	single := a
	single.Pipeline = 1
	big := Load{Devices: 40, Values: 5000, Interval: time.Second, Run: 30 * time.Second}
	slow := run(a, 0.45, 25)
	slow.Latency.P99 = 1500 * time.Millisecond
	lossy := run(big, 0.2, 50)
	lossy.Stored -= 5000
	lossy.InfluxCPU = 6 * lossy.Ingest.CPU
	s := Targets(run(a, 0.35, 23), slow, run(a, 0.38, 22), run(piped, 0.9, 30), run(single, 0.95, 31), run(big, 0.25, 50), lossy)
	for _, want := range []string{
		// Medians 0.380 µs, 23 MB and 400 ms; one run over each limit.
		"| edge CPU/value ≤ 0.400 µs | 20 x 1000 | 3 | 0.380 µs (0.350 to 0.450) | at the median, not in every run |",
		"| edge peak RSS ≤ 24.0 MB | 20 x 1000 | 3 | 23.0 MB (22.0 to 25.0) | at the median, not in every run |",
		"| poll-to-stored p99 ≤ 1000 ms | 20 x 1000 | 3 | 400 ms (400 to 1500) | at the median, not in every run |",
		"| edge CPU/value ≤ 0.300 µs | 40 x 5000 | 2 | 0.225 µs (0.200 to 0.250) | yes |",
		"| lost values + dropped batches ≤ 0 | 40 x 5000 | 2 | 2500 (0 to 5000) | no |",
		"| ingest CPU/value ≤ 0.400 µs | 40 x 5000 | 2 | 0.400 µs | yes |",
		// One run at 6, one with no InfluxDB figure at all (0).
		"| InfluxDB CPU / ingest CPU ≥ 5.0 | 40 x 5000 | 2 | 3.0 (0.0 to 6.0) | no |",
	} {
		if !strings.Contains(s, want+"\n") {
			t.Errorf("no row\n%s\nin\n%s", want, s)
		}
	}
	if strings.Contains(s, "0.900") || strings.Contains(s, "30.0 MB") || strings.Contains(s, "0.950") || strings.Contains(s, "31.0 MB") {
		t.Errorf("a run with its pipeline set was judged against the targets of the default:\n%s", s)
	}
	if got := Targets(run(piped, 0.3, 20)); strings.Count(got, "\n") != 2 {
		t.Errorf("targets judged without a run of their load:\n%s", got)
	}
}

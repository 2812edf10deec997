package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Spread is one figure over repeated runs of a load: its median and its
// range. A machine that shares its cores with others can move a single
// run's CPU time by a tenth or more; the median of several runs, with
// the range beside it, is what a target is judged on.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// SpreadOf is the spread of xs (the median of an even count is the mean
// of the middle two). The zero Spread stands for no values.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[n-1], N: n}
}

// format writes the spread with one format for all three numbers:
// "0.700 (0.650 to 0.850)", or the median alone for one run.
func (s Spread) format(verb, unit string) string {
	if s.N == 0 {
		return "n/a"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf(verb+"%s", s.Median, unit)
	}
	return fmt.Sprintf(verb+"%s ("+verb+" to "+verb+")", s.Median, unit, s.Min, s.Max)
}

// figures are the columns of Summary: a Result's figures that the
// targets name.
var figures = []struct {
	name       string
	verb, unit string
	of         func(Result) (float64, bool)
}{
	{"edge CPU/value", "%.3f", " µs", func(r Result) (float64, bool) { return us(r.Edge.PerValue()), r.Edge.Values > 0 }},
	{"edge CPU/value, steady", "%.3f", " µs", func(r Result) (float64, bool) {
		return us(r.EdgeSteady.PerValue()), r.EdgeSteady.Values > 0
	}},
	{"edge peak RSS", "%.1f", " MB", func(r Result) (float64, bool) { return mb(r.Edge.PeakRSS), r.Edge.PeakRSS > 0 }},
	{"ingest CPU/value", "%.3f", " µs", func(r Result) (float64, bool) { return us(r.Ingest.PerValue()), r.Ingest.Values > 0 }},
	{"ingest peak RSS", "%.1f", " MB", func(r Result) (float64, bool) { return mb(r.Ingest.PeakRSS), r.Ingest.PeakRSS > 0 }},
	{"p99", "%.0f", " ms", func(r Result) (float64, bool) {
		return float64(r.Latency.P99) / float64(time.Millisecond), r.Latency.Count > 0
	}},
	{"lost", "%.0f", "", func(r Result) (float64, bool) { return float64(r.Lost()), !r.Unpolled && r.Polled >= 0 }},
	{"dropped", "%.0f", "", func(r Result) (float64, bool) { return float64(r.Dropped), !r.Unpolled }},
}

// Summary is a table of the median and range of each figure over runs of
// the same load, a row per load in the order the loads first appear.
func Summary(rs ...Result) string {
	var b strings.Builder
	b.WriteString("| load | runs |")
	for _, f := range figures {
		b.WriteString(" " + f.name + ", median (range) |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(figures)) + "\n")
	var loads []string
	for _, r := range rs {
		if !slices.Contains(loads, r.Load.String()) {
			loads = append(loads, r.Load.String())
		}
	}
	for _, l := range loads {
		var runs []Result
		for _, r := range rs {
			if r.Load.String() == l {
				runs = append(runs, r)
			}
		}
		fmt.Fprintf(&b, "| %s | %d |", l, len(runs))
		for _, f := range figures {
			b.WriteString(" " + spreadOf(runs, f.of).format(f.verb, f.unit) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// spreadOf is the spread of one figure over the runs that measured it.
func spreadOf(rs []Result, of func(Result) (float64, bool)) Spread {
	var xs []float64
	for _, r := range rs {
		if x, ok := of(r); ok {
			xs = append(xs, x)
		}
	}
	return SpreadOf(xs)
}

// target is one of the performance targets make bench is judged on: a
// figure of the runs of one load, one request at a time (the default),
// at most or at least a limit.
type target struct {
	devices, values int
	name            string
	of              func(Result) (float64, bool)
	limit           float64
	atLeast         bool
	verb, unit      string
}

// figure returns the Summary figure of that name.
func figure(name string) func(Result) (float64, bool) {
	for _, f := range figures {
		if f.name == name {
			return f.of
		}
	}
	panic("bench: no figure " + name)
}

// targets are the targets of the performance work for a 2-core machine,
// QoS 1 and the write-ahead log on (docs/benchmarks.md, "Against the
// targets").
var targets = []target{
	{20, 1000, "edge CPU/value", figure("edge CPU/value"), 0.4, false, "%.3f", " µs"},
	{20, 1000, "edge peak RSS", figure("edge peak RSS"), 24, false, "%.1f", " MB"},
	{40, 5000, "edge CPU/value", figure("edge CPU/value"), 0.3, false, "%.3f", " µs"},
	{40, 5000, "edge peak RSS", figure("edge peak RSS"), 64, false, "%.1f", " MB"},
	{40, 5000, "lost values + dropped batches", func(r Result) (float64, bool) {
		return float64(r.Lost() + r.Dropped), !r.Unpolled
	}, 0, false, "%.0f", ""},
	{20, 1000, "ingest CPU/value", figure("ingest CPU/value"), 0.4, false, "%.3f", " µs"},
	{40, 5000, "ingest CPU/value", figure("ingest CPU/value"), 0.4, false, "%.3f", " µs"},
	{20, 1000, "ingest peak RSS", figure("ingest peak RSS"), 48, false, "%.1f", " MB"},
	{40, 5000, "ingest peak RSS", figure("ingest peak RSS"), 48, false, "%.1f", " MB"},
	{20, 1000, "poll-to-stored p99", figure("p99"), 1000, false, "%.0f", " ms"},
	{40, 5000, "InfluxDB CPU / ingest CPU", func(r Result) (float64, bool) {
		return float64(r.InfluxCPU) / float64(r.Ingest.CPU), r.Ingest.CPU > 0
	}, 5, true, "%.1f", ""},
}

// Targets judges the runs of the targets' loads (at the default
// pipeline, auto; any interval and length) against the targets: each target's median
// over the runs, its range, and whether it is met at the median and in
// every run. A target whose load did not run is left out.
func Targets(rs ...Result) string {
	var b strings.Builder
	b.WriteString("| target | load | runs | median (range) | met |\n|---|---|---|---|---|\n")
	for _, tg := range targets {
		var runs []Result
		for _, r := range rs {
			if r.Load.Devices == tg.devices && r.Load.Values == tg.values && r.Load.Pipeline == 0 && len(r.Load.Serial) == 0 {
				runs = append(runs, r)
			}
		}
		s := spreadOf(runs, tg.of)
		if s.N == 0 {
			continue
		}
		within := func(x float64) bool {
			if tg.atLeast {
				return x >= tg.limit
			}
			return x <= tg.limit
		}
		met := "no"
		switch {
		case within(s.Min) && within(s.Max):
			met = "yes"
		case within(s.Median):
			met = "at the median, not in every run"
		}
		op := "≤"
		if tg.atLeast {
			op = "≥"
		}
		fmt.Fprintf(&b, "| %s %s "+tg.verb+"%s | %d x %d | %d | %s | %s |\n", tg.name, op, tg.limit, tg.unit,
			tg.devices, tg.values, s.N, s.format(tg.verb, tg.unit), met)
	}
	return b.String()
}

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
	{"lost", "%.0f", "", func(r Result) (float64, bool) { return float64(r.Lost()), !r.Unpolled }},
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
	var loads []Load
	for _, r := range rs {
		if !slices.Contains(loads, r.Load) {
			loads = append(loads, r.Load)
		}
	}
	for _, l := range loads {
		var runs []Result
		for _, r := range rs {
			if r.Load == l {
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

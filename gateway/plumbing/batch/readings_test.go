package batch

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
)

// contractReadings covers every form a reading takes: float64, float32,
// exact integers at the float64 boundary, non-finite floats, qualities
// without a value, empty units and names that need escaping.
func contractReadings() []drivers.Reading {
	return []drivers.Reading{
		{Name: "electric_power", Unit: "MW", Quality: drivers.Good, HasValue: true, Float: float64(float32(28.4)), Float32: true},
		{Name: "energy", Unit: "MWh", Quality: drivers.Good, HasValue: true, Float: 123456.7},
		{Name: "scaled", Unit: "kWh", Quality: drivers.Good, HasValue: true, Float: 250},
		{Name: "total", Unit: "Wh", Quality: drivers.Good, HasValue: true, Kind: drivers.Int, Int: -(1<<53 + 1), Float: -(1 << 53)},
		{Name: "counter", Unit: "1", Quality: drivers.Good, HasValue: true, Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64},
		{Name: "nan", Unit: "C", Quality: drivers.Good, HasValue: true, Float: math.NaN()},
		{Name: "inf", Quality: drivers.Good, HasValue: true, Float: math.Inf(-1), Float32: true},
		{Name: "stale", Unit: "bar", Quality: drivers.Stale, HasValue: true, Float: 1.5},
		{Name: "steam_flow", Unit: "t/h", Quality: drivers.Timeout, Kind: drivers.Int},
		{Name: "ng_flow", Unit: "Nm3/h", Quality: drivers.Exception(2), Float32: true},
		{Name: "quote\"and\\back\nslash", Unit: "µ", Quality: drivers.CommError},
	}
}

func TestAppendReadingsJSONMatchesPoints(t *testing.T) {
	rs := contractReadings()
	b := Batch{Gateway: "gw-1", Seq: 7, Prev: "ab", Key: "k1", Device: "chp-1", Kind: "chp", Site: "plant", Tenant: "t",
		Time: time.Date(2026, 11, 26, 18, 0, 1, 234_567_000, time.UTC)}
	for n := 0; n <= len(rs); n++ {
		pts := make([]Point, 0, n)
		for _, r := range rs[:n] {
			pts = append(pts, PointOf(r))
		}
		b.Points = pts
		want := string(b.AppendJSON(nil))
		b.Points = nil
		got := string(b.AppendReadingsJSON(nil, rs[:n]))
		if got != want {
			t.Errorf("%d readings:\n got %s\nwant %s", n, got, want)
		}
		// A good NaN has no value in JSON, which Decode refuses (see
		// TestNonFiniteValueNeverEncoded): decode only the readings before it.
		if _, err := Decode([]byte(got)); n >= 1 && n <= 5 && err != nil {
			t.Errorf("%d readings: %v", n, err)
		}
	}
}

func TestAppendReadingsJSONDoesNotAllocate(t *testing.T) {
	rs := contractReadings()
	b := Batch{Gateway: "gw-1", Seq: 7, Device: "chp-1", Kind: "chp", Time: time.Unix(0, 0)}
	buf := b.AppendReadingsJSON(nil, rs)
	if n := testing.AllocsPerRun(100, func() { buf = b.AppendReadingsJSON(buf[:0], rs) }); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}

// benchBatch is the benchmarks' batch: 1000 float32 readings of one
// device.
func benchBatch() ([]drivers.Reading, Batch) {
	rs := make([]drivers.Reading, 1000)
	for i := range rs {
		rs[i] = drivers.Reading{Name: "value_0000", Unit: "kW", Quality: drivers.Good, HasValue: true,
			Float: float64(float32(i) * 1.1), Float32: true}
	}
	return rs, Batch{Gateway: "gw-1", Seq: 1, Device: "dev-001", Kind: "bench", Site: "s", Time: time.Now()}
}

func BenchmarkAppendReadingsJSON(b *testing.B) {
	rs, bt := benchBatch()
	buf := bt.AppendReadingsJSON(nil, rs)
	b.ReportAllocs()
	for b.Loop() {
		buf = bt.AppendReadingsJSON(buf[:0], rs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/value")
}

// TestAppendReadingsJSONTextsMatches encodes the same device's readings
// poll after poll with kept texts, and then readings whose names, units,
// count or order change (another profile, a reload), and checks every
// encoding against AppendReadingsJSON's bytes.
func TestAppendReadingsJSONTextsMatches(t *testing.T) {
	b := Batch{Gateway: "gw-1", Seq: 7, Device: "chp-1", Kind: "chp", Time: time.Unix(0, 0)}
	base := contractReadings()
	renamed := slices.Clone(base)
	renamed[3].Name = "total_renamed"
	reunit := slices.Clone(base)
	reunit[0].Unit = ""
	reunit[2].Unit = "MWh\x01"
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	revalued := slices.Clone(base)
	for i := range revalued {
		revalued[i].Float *= 3
		revalued[i].HasValue = !revalued[i].HasValue
		if revalued[i].Quality == drivers.Good {
			revalued[i].Quality = drivers.Stale
		} else {
			revalued[i].Quality = drivers.Good
		}
	}
	var tx Texts
	var got []byte
	for step, rs := range [][]drivers.Reading{base, base, revalued, renamed, base, reunit, base[:4], base, reversed, nil, base} {
		want := string(b.AppendReadingsJSON(nil, rs))
		got = b.AppendReadingsJSONTexts(got[:0], rs, &tx)
		if string(got) != want {
			t.Fatalf("step %d:\n got %s\nwant %s", step, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { got = b.AppendReadingsJSONTexts(got[:0], base, &tx) }); n != 0 {
		t.Errorf("%v allocations per batch once grown", n)
	}
}

func BenchmarkAppendReadingsJSONTexts(b *testing.B) {
	rs, bt := benchBatch()
	var tx Texts
	buf := bt.AppendReadingsJSONTexts(nil, rs, &tx)
	b.ReportAllocs()
	for b.Loop() {
		buf = bt.AppendReadingsJSONTexts(buf[:0], rs, &tx)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/value")
}

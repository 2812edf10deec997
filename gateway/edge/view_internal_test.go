package edge

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
)

func statusReadings() []drivers.Reading {
	return []drivers.Reading{
		{Name: "power", Unit: "kW", Quality: drivers.Good, HasValue: true, Float: float64(float32(28.4)), Float32: true},
		{Name: "energy", Unit: "kWh", Quality: drivers.Good, HasValue: true, Float: 123456.7},
		{Name: "total", Unit: "Wh", Quality: drivers.Good, HasValue: true, Kind: drivers.Int, Int: -(1<<53 + 1), Float: -(1 << 53)},
		{Name: "counter", Unit: "1", Quality: drivers.Good, HasValue: true, Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64},
		{Name: "nan", Unit: "C", Quality: drivers.Good, HasValue: true, Float: math.NaN()},
		{Name: "stale", Unit: "bar", Quality: drivers.Stale, HasValue: true, Float: 1.5},
		{Name: "flow", Unit: "t/h", Quality: drivers.Timeout, Kind: drivers.Int},
		{Name: "valve", Quality: drivers.Exception(2)},
	}
}

func wantViews(rs []drivers.Reading) []ReadingView {
	out := make([]ReadingView, len(rs))
	for i, r := range rs {
		out[i] = readingView(r)
	}
	return out
}

// The status page's compact copy of a poll shows exactly what the
// readings themselves would: every kind of value, exact integers,
// float32 precision, qualities with and without a value; a later poll
// with other qualities, names or fewer points replaces it whole.
func TestStatusLastReadingsCompactCopy(t *testing.T) {
	l := newLastReadings()
	at := time.Date(2026, 11, 26, 18, 0, 1, 0, time.UTC)
	rs := statusReadings()
	l.set("dev", at, rs)
	got, ok := l.get("dev")
	if !ok || !got.at.Equal(at) {
		t.Fatalf("get: %v %v", ok, got.at)
	}
	if !reflect.DeepEqual(got.readings, wantViews(rs)) {
		t.Errorf("readings\n got %+v\nwant %+v", got.readings, wantViews(rs))
	}

	rs2 := statusReadings()
	rs2[0].Quality, rs2[0].HasValue = drivers.Exception(4), false
	rs2[1].Name, rs2[1].Unit = "energy_total", "MWh"
	rs2[2].Int = 42
	l.set("dev", at.Add(time.Second), rs2)
	if got, _ := l.get("dev"); !reflect.DeepEqual(got.readings, wantViews(rs2)) {
		t.Errorf("second poll\n got %+v\nwant %+v", got.readings, wantViews(rs2))
	}
	l.set("dev", at.Add(2*time.Second), rs[:3])
	if got, _ := l.get("dev"); !reflect.DeepEqual(got.readings, wantViews(rs[:3])) {
		t.Errorf("shorter poll\n got %+v\nwant %+v", got.readings, wantViews(rs[:3]))
	}
	l.set("dev", at, nil)
	if got, _ := l.get("dev"); got.readings == nil || len(got.readings) != 0 {
		t.Errorf("empty poll: %#v, want an empty list", got.readings)
	}
	l.forget("dev")
	if _, ok := l.get("dev"); ok {
		t.Error("a forgotten device still has readings")
	}
}

// Devices whose readings have the same names and units share one copy of
// them; a device whose names change gets its own, and the others keep
// theirs.
func TestStatusLastReadingsShareLayouts(t *testing.T) {
	l := newLastReadings()
	at := time.Date(2026, 11, 26, 18, 0, 1, 0, time.UTC)
	rs := statusReadings()
	for _, d := range []string{"m1", "m2", "m3"} {
		l.set(d, at, rs)
	}
	if len(l.layouts) != 1 || l.layouts[0].users != 3 {
		t.Fatalf("%d layouts, want 1 shared by 3", len(l.layouts))
	}
	other := statusReadings()
	other[1].Unit = "MWh"
	l.set("m2", at, other)
	if len(l.layouts) != 2 {
		t.Fatalf("%d layouts after a change, want 2", len(l.layouts))
	}
	for d, want := range map[string][]drivers.Reading{"m1": rs, "m2": other, "m3": rs} {
		if got, _ := l.get(d); !reflect.DeepEqual(got.readings, wantViews(want)) {
			t.Errorf("%s\n got %+v\nwant %+v", d, got.readings, wantViews(want))
		}
	}
	l.forget("m2")
	if len(l.layouts) != 1 || l.layouts[0].users != 2 {
		t.Errorf("after forgetting the only user of a layout: %d layouts", len(l.layouts))
	}
	l.forget("m1")
	l.forget("m3")
	if len(l.layouts) != 0 {
		t.Errorf("%d layouts without devices", len(l.layouts))
	}
}

// BenchmarkStatusLastReadingsSet records a poll of 1000 points for the
// status page.
func BenchmarkStatusLastReadingsSet(b *testing.B) {
	rs := make([]drivers.Reading, 1000)
	for i := range rs {
		rs[i] = drivers.Reading{Name: fmt.Sprintf("v%04d", i), Unit: "kW", Quality: drivers.Good, HasValue: true, Float: float64(i), Float32: true}
	}
	l := newLastReadings()
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.set("dev", at, rs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/value")
}

func TestStatusLastReadingsSetDoesNotAllocate(t *testing.T) {
	l := newLastReadings()
	rs := statusReadings()
	l.set("dev", time.Now(), rs)
	at := time.Now()
	if n := testing.AllocsPerRun(100, func() { l.set("dev", at, rs) }); n != 0 {
		t.Errorf("%v allocations per poll", n)
	}
}

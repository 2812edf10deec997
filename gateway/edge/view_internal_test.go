package edge

import (
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

func TestStatusLastReadingsSetDoesNotAllocate(t *testing.T) {
	l := newLastReadings()
	rs := statusReadings()
	l.set("dev", time.Now(), rs)
	at := time.Now()
	if n := testing.AllocsPerRun(100, func() { l.set("dev", at, rs) }); n != 0 {
		t.Errorf("%v allocations per poll", n)
	}
}

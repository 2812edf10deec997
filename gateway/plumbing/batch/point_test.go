package batch

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
)

func TestPointOf(t *testing.T) {
	tests := []struct {
		r    drivers.Reading
		want Point
		json string
	}{
		{drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Int: -(1<<53 + 1), Float: -(1 << 53), Quality: drivers.Good, HasValue: true},
			Point{Name: "total", Unit: "Wh", Quality: "good", HasValue: true, Kind: IntValue, Int: -(1<<53 + 1), Value: -(1 << 53)},
			`{"n":"total","v":-9007199254740993,"u":"Wh","q":"good"}`},
		{drivers.Reading{Name: "counter", Unit: "1", Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64, Quality: drivers.Good, HasValue: true},
			Point{Name: "counter", Unit: "1", Quality: "good", HasValue: true, Kind: UintValue, Uint: math.MaxUint64, Value: 1 << 64},
			`{"n":"counter","v":18446744073709551615,"u":"1","q":"good"}`},
		{drivers.Reading{Name: "power", Unit: "kW", Float: float64(float32(28.4)), Float32: true, Quality: drivers.Good, HasValue: true},
			Point{Name: "power", Unit: "kW", Quality: "good", HasValue: true, Float32: true, Value: float64(float32(28.4))},
			`{"n":"power","v":28.4,"u":"kW","q":"good"}`},
		{drivers.Reading{Name: "scaled", Unit: "kWh", Float: 250, Quality: drivers.Good, HasValue: true},
			Point{Name: "scaled", Unit: "kWh", Quality: "good", HasValue: true, Value: 250},
			`{"n":"scaled","v":250.0,"u":"kWh","q":"good"}`},
		{drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Quality: drivers.Timeout},
			Point{Name: "total", Unit: "Wh", Quality: "timeout"},
			`{"n":"total","u":"Wh","q":"timeout"}`},
		{drivers.Reading{Name: "counter", Unit: "1", Kind: drivers.Uint, Quality: drivers.Exception(2)},
			Point{Name: "counter", Unit: "1", Quality: "exception:2"},
			`{"n":"counter","u":"1","q":"exception:2"}`},
	}
	for _, tt := range tests {
		got := PointOf(tt.r)
		if got != tt.want {
			t.Errorf("PointOf(%+v)\n = %+v\nwant %+v", tt.r, got, tt.want)
		}
		b := Batch{Gateway: "g", Seq: 1, Device: "d", Kind: "meter", Time: time.Unix(0, 0), Points: []Point{got}}
		if enc := string(b.AppendJSON(nil)); !strings.Contains(enc, tt.json) {
			t.Errorf("encoded %s, want %s in it", enc, tt.json)
		}
	}
}

func TestPointOfDoesNotAllocate(t *testing.T) {
	r := drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Int: 7, Float: 7, Quality: drivers.Good, HasValue: true}
	var sink Point
	if n := testing.AllocsPerRun(100, func() { sink = PointOf(r) }); n != 0 {
		t.Errorf("%v allocations per point", n)
	}
	_ = sink
}

package edge

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func TestPointOf(t *testing.T) {
	tests := []struct {
		r    drivers.Reading
		want batch.Point
		json string
	}{
		{drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Int: -(1<<53 + 1), Float: -(1 << 53), Quality: drivers.Good, HasValue: true},
			batch.Point{Name: "total", Unit: "Wh", Quality: "good", HasValue: true, Kind: batch.IntValue, Int: -(1<<53 + 1), Value: -(1 << 53)},
			`{"n":"total","v":-9007199254740993,"u":"Wh","q":"good"}`},
		{drivers.Reading{Name: "counter", Unit: "1", Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64, Quality: drivers.Good, HasValue: true},
			batch.Point{Name: "counter", Unit: "1", Quality: "good", HasValue: true, Kind: batch.UintValue, Uint: math.MaxUint64, Value: 1 << 64},
			`{"n":"counter","v":18446744073709551615,"u":"1","q":"good"}`},
		{drivers.Reading{Name: "power", Unit: "kW", Float: float64(float32(28.4)), Float32: true, Quality: drivers.Good, HasValue: true},
			batch.Point{Name: "power", Unit: "kW", Quality: "good", HasValue: true, Float32: true, Value: float64(float32(28.4))},
			`{"n":"power","v":28.4,"u":"kW","q":"good"}`},
		{drivers.Reading{Name: "scaled", Unit: "kWh", Float: 250, Quality: drivers.Good, HasValue: true},
			batch.Point{Name: "scaled", Unit: "kWh", Quality: "good", HasValue: true, Value: 250},
			`{"n":"scaled","v":250.0,"u":"kWh","q":"good"}`},
		{drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Quality: drivers.Timeout},
			batch.Point{Name: "total", Unit: "Wh", Quality: "timeout"},
			`{"n":"total","u":"Wh","q":"timeout"}`},
		{drivers.Reading{Name: "counter", Unit: "1", Kind: drivers.Uint, Quality: drivers.Exception(2)},
			batch.Point{Name: "counter", Unit: "1", Quality: "exception:2"},
			`{"n":"counter","u":"1","q":"exception:2"}`},
	}
	for _, tt := range tests {
		got := pointOf(tt.r)
		if got != tt.want {
			t.Errorf("pointOf(%+v)\n = %+v\nwant %+v", tt.r, got, tt.want)
		}
		b := batch.Batch{Gateway: "g", Seq: 1, Device: "d", Kind: "meter", Time: time.Unix(0, 0), Points: []batch.Point{got}}
		if enc := string(b.AppendJSON(nil)); !strings.Contains(enc, tt.json) {
			t.Errorf("encoded %s, want %s in it", enc, tt.json)
		}
	}
}

func TestPointOfDoesNotAllocate(t *testing.T) {
	r := drivers.Reading{Name: "total", Unit: "Wh", Kind: drivers.Int, Int: 7, Float: 7, Quality: drivers.Good, HasValue: true}
	var sink batch.Point
	if n := testing.AllocsPerRun(100, func() { sink = pointOf(r) }); n != 0 {
		t.Errorf("%v allocations per point", n)
	}
	_ = sink
}

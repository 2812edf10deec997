package edge

import (
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/batch"
)

// pointOf is the batch point of one reading: a good reading carries its
// value, exact for an integer point (encoded as a JSON integer), at
// float32 precision for an unscaled float32 register; any other reading
// carries its quality only. It does not allocate.
func pointOf(r modbus.Reading) batch.Point {
	p := batch.Point{Name: r.Point.Name, Unit: r.Point.Unit, Quality: string(r.Quality)}
	if r.Quality != modbus.Good {
		return p
	}
	p.Value, p.HasValue = r.Value, true
	switch r.Kind {
	case modbus.IntValue:
		p.Kind, p.Int = batch.IntValue, r.Int
	case modbus.UintValue:
		p.Kind, p.Uint = batch.UintValue, r.Uint
	default:
		p.Float32 = r.Point.Float32()
	}
	return p
}

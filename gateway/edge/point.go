package edge

import (
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// pointOf is the batch point of one reading: a good reading carries its
// value, exact for an integer point (encoded as a JSON integer), at
// float32 precision for a float32 register; any other reading carries its
// quality only. It does not allocate.
func pointOf(r drivers.Reading) batch.Point {
	p := batch.Point{Name: r.Name, Unit: r.Unit, Quality: string(r.Quality)}
	if !r.HasValue {
		return p
	}
	p.Value, p.HasValue = r.Float, true
	switch r.Kind {
	case drivers.Int:
		p.Kind, p.Int = batch.IntValue, r.Int
	case drivers.Uint:
		p.Kind, p.Uint = batch.UintValue, r.Uint
	default:
		p.Float32 = r.Float32
	}
	return p
}

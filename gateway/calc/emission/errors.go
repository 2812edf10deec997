package emission

import (
	"github.com/eipgw/eipgw/gateway/calc/argcheck"
)

// Sentinel errors. Every error returned by this package wraps one of them,
// so callers can act on the cause with errors.Is; the message names the
// argument, its value and its unit.
var (
	// ErrInvalidInput reports an argument that is NaN, infinite, of a sign
	// the quantity cannot have, or inconsistent with the other arguments
	// (a denominator that would be zero).
	ErrInvalidInput = argcheck.ErrInvalid
)

// chk builds this package's argument errors.
var chk = argcheck.Check{Pkg: "emission"}

package steam

import (
	"errors"

	"github.com/eipgw/eipgw/gateway/calc/argcheck"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can act on the cause with errors.Is; the message names the
// argument, its value and its unit.
var (
	// ErrInvalidInput reports an argument that is NaN, infinite, or of a sign
	// no physical state can have (a pressure <= 0, a mass flow < 0).
	ErrInvalidInput = argcheck.ErrInvalid

	// ErrOutOfRange reports a state outside the part of IAPWS-IF97 this
	// package implements (regions 1, 2 and 4). States in IF97 regions 3 and 5
	// are reported with this error too: they are valid water states, but out
	// of scope for a park gateway: industrial steam networks run well below
	// the 16.5 MPa and 1073.15 K where those regions begin.
	ErrOutOfRange = errors.New("out of range")

	// ErrTwoPhase reports a (p, T) pair exactly on the saturation line, where
	// pressure and temperature alone do not fix the state: the steam quality
	// x must come from elsewhere (see WetSteam and Quality).
	ErrTwoPhase = errors.New("on the saturation line")
)

// chk builds this package's argument errors.
var chk = argcheck.Check{Pkg: "steam"}

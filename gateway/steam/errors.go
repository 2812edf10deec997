package steam

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can act on the cause with errors.Is; the message names the
// argument, its value and its unit.
var (
	// ErrInvalidInput reports an argument that is NaN, infinite, or of a sign
	// no physical state can have (a pressure <= 0, a mass flow < 0).
	ErrInvalidInput = errors.New("invalid input")

	// ErrOutOfRange reports a state outside the part of IAPWS-IF97 this
	// package implements (regions 1, 2 and 4). States in IF97 regions 3 and 5
	// are reported with this error too: they are valid water states, but out
	// of scope for a park gateway (formulas.md §1.1).
	ErrOutOfRange = errors.New("out of range")

	// ErrTwoPhase reports a (p, T) pair exactly on the saturation line, where
	// pressure and temperature alone do not fix the state: the steam quality
	// x must come from elsewhere (see WetSteam and Quality).
	ErrTwoPhase = errors.New("on the saturation line")
)

// withUnit formats a value followed by its unit, if any.
func withUnit(v float64, unit string) string {
	if unit == "" {
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// invalid builds an ErrInvalidInput error naming the argument.
func invalid(name string, v float64, unit, why string) error {
	return fmt.Errorf("steam: %s = %s: %w: %s", name, withUnit(v, unit), ErrInvalidInput, why)
}

// checkFinite rejects NaN and ±Inf.
func checkFinite(name string, v float64, unit string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(name, v, unit, "not a finite number")
	}
	return nil
}

// checkPositive rejects NaN, ±Inf and values <= 0.
func checkPositive(name string, v float64, unit string) error {
	if err := checkFinite(name, v, unit); err != nil {
		return err
	}
	if v <= 0 {
		return invalid(name, v, unit, "must be > 0")
	}
	return nil
}

// checkNonNegative rejects NaN, ±Inf and values < 0.
func checkNonNegative(name string, v float64, unit string) error {
	if err := checkFinite(name, v, unit); err != nil {
		return err
	}
	if v < 0 {
		return invalid(name, v, unit, "must be >= 0")
	}
	return nil
}

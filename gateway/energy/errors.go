package energy

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by this package wraps one of them,
// so callers can act on the cause with errors.Is; the message names the
// argument, its value and its unit.
var (
	// ErrInvalidInput reports an argument that is NaN, infinite, of a sign
	// the quantity cannot have, or inconsistent with the other arguments
	// (a denominator that would be zero).
	ErrInvalidInput = errors.New("invalid input")
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
	return fmt.Errorf("energy: %s = %s: %w: %s", name, withUnit(v, unit), ErrInvalidInput, why)
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

// checkFraction rejects values outside [0, 1] (and NaN).
func checkFraction(name string, v float64) error {
	if err := checkFinite(name, v, ""); err != nil {
		return err
	}
	if v < 0 || v > 1 {
		return invalid(name, v, "", "must be a fraction in [0, 1], not a percentage")
	}
	return nil
}

// checkEfficiency rejects values outside (0, 1] (and NaN): a reference or
// displaced-plant efficiency that divides.
func checkEfficiency(name string, v float64) error {
	if err := checkFinite(name, v, ""); err != nil {
		return err
	}
	if v <= 0 || v > 1 {
		return invalid(name, v, "", "must be an efficiency in (0, 1], not a percentage")
	}
	return nil
}

// Package argcheck checks the arguments of eipgw's calculation packages
// (steam, energy, emission): physical quantities that must be finite, of a
// sign, fractions or efficiencies. Every error wraps ErrInvalid and names
// the package, the argument, its value and its unit, e.g.
//
//	energy: FuelInput = -3 MW: invalid input: must be >= 0
package argcheck

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid reports an argument that is NaN, infinite, of a sign the
// quantity cannot have, or inconsistent with the other arguments.
var ErrInvalid = errors.New("invalid input")

// Check builds the errors of one package; Pkg prefixes every message.
type Check struct{ Pkg string }

func withUnit(v float64, unit string) string {
	if unit == "" {
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// Invalid builds an ErrInvalid error naming the argument and why.
func (c Check) Invalid(name string, v float64, unit, why string) error {
	return fmt.Errorf("%s: %s = %s: %w: %s", c.Pkg, name, withUnit(v, unit), ErrInvalid, why)
}

// Finite rejects NaN and ±Inf.
func (c Check) Finite(name string, v float64, unit string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return c.Invalid(name, v, unit, "not a finite number")
	}
	return nil
}

// Positive rejects NaN, ±Inf and values <= 0.
func (c Check) Positive(name string, v float64, unit string) error {
	if err := c.Finite(name, v, unit); err != nil {
		return err
	}
	if v <= 0 {
		return c.Invalid(name, v, unit, "must be > 0")
	}
	return nil
}

// NonNegative rejects NaN, ±Inf and values < 0.
func (c Check) NonNegative(name string, v float64, unit string) error {
	if err := c.Finite(name, v, unit); err != nil {
		return err
	}
	if v < 0 {
		return c.Invalid(name, v, unit, "must be >= 0")
	}
	return nil
}

// Fraction rejects values outside [0, 1] (and NaN).
func (c Check) Fraction(name string, v float64) error {
	if err := c.Finite(name, v, ""); err != nil {
		return err
	}
	if v < 0 || v > 1 {
		return c.Invalid(name, v, "", "must be a fraction in [0, 1], not a percentage")
	}
	return nil
}

// Efficiency rejects values outside (0, 1] (and NaN): an efficiency that
// divides.
func (c Check) Efficiency(name string, v float64) error {
	if err := c.Finite(name, v, ""); err != nil {
		return err
	}
	if v <= 0 || v > 1 {
		return c.Invalid(name, v, "", "must be an efficiency in (0, 1], not a percentage")
	}
	return nil
}

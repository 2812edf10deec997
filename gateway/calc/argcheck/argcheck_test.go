package argcheck

import (
	"errors"
	"math"
	"testing"
)

func TestChecks(t *testing.T) {
	c := Check{Pkg: "energy"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{c.NonNegative("FuelInput", -3, "MW"), "energy: FuelInput = -3 MW: invalid input: must be >= 0"},
		{c.Positive("P", 0, "MPa"), "energy: P = 0 MPa: invalid input: must be > 0"},
		{c.Finite("T", math.NaN(), "K"), "energy: T = NaN K: invalid input: not a finite number"},
		{c.Fraction("Loss", 3), "energy: Loss = 3: invalid input: must be a fraction in [0, 1], not a percentage"},
		{c.Efficiency("Eta", 0), "energy: Eta = 0: invalid input: must be an efficiency in (0, 1], not a percentage"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want || !errors.Is(tc.err, ErrInvalid) {
			t.Errorf("got %v, want %q wrapping ErrInvalid", tc.err, tc.want)
		}
	}
	for _, err := range []error{c.NonNegative("x", 0, ""), c.Positive("x", 1e-9, ""), c.Fraction("x", 1), c.Efficiency("x", 1), c.Finite("x", -1, "")} {
		if err != nil {
			t.Errorf("valid value refused: %v", err)
		}
	}
}

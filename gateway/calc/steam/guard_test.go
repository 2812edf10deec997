package steam

import (
	"errors"
	"testing"
)

// TestTinyPressureRefused: IF97 region 2 (IAPWS R7-97(2012) eq. 15) has
// v = RT/p·π·γ_π, which overflows to +Inf at p = 5e-324 MPa, and u = h − pv
// to −Inf: such a state is refused, not returned.
func TestTinyPressureRefused(t *testing.T) {
	if _, err := Properties(5e-324, 400); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("5e-324 MPa: %v", err)
	}
	if _, err := Enthalpy(5e-324, 400); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("enthalpy at 5e-324 MPa: %v", err)
	}
	if _, err := Properties(0.001, 400); err != nil {
		t.Errorf("1 kPa at 400 K refused: %v", err)
	}
}

// TestCondensateAboveSteamRefused: 10 t of steam at 2800 kJ/kg with 12 t
// of condensate back is a metering fault; 8 t back at 420 kJ/kg against
// h_ref 84 kJ/kg is [10·(2800 − 84) − 8·(420 − 84)]/1000 = 24.472 GJ.
func TestCondensateAboveSteamRefused(t *testing.T) {
	if _, err := EnergyWithReturn(10, 2800, 12, 420, 84); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("got %v", err)
	}
	if e, err := EnergyWithReturn(10, 2800, 8, 420, 84); err != nil || e < 24.472-1e-9 || e > 24.472+1e-9 {
		t.Errorf("%v %v", e, err)
	}
}

package steam

import (
	"fmt"
	"math"
)

// Region is an IAPWS-IF97 region number.
type Region int

// IF97 regions. Only Region1, Region2 and Region4 are computed by this
// package; Region3 and Region5 are reported by RegionOf so that callers can
// say why a state was rejected.
const (
	Region1 Region = 1 // compressed (sub-cooled) liquid
	Region2 Region = 2 // superheated vapour
	Region3 Region = 3 // near-critical, p > B23(T): not implemented
	Region4 Region = 4 // saturation line (two-phase)
	Region5 Region = 5 // high-temperature steam above 1073.15 K: not implemented
)

// String returns "region N" and a short description.
func (r Region) String() string {
	switch r {
	case Region1:
		return "region 1 (liquid)"
	case Region2:
		return "region 2 (vapour)"
	case Region3:
		return "region 3 (near-critical)"
	case Region4:
		return "region 4 (saturation)"
	case Region5:
		return "region 5 (high-temperature vapour)"
	}
	return fmt.Sprintf("region %d (unknown)", int(r))
}

// Props is the thermodynamic state of water or steam at one (p, T).
type Props struct {
	P      float64 // pressure, MPa (absolute)
	T      float64 // temperature, K
	V      float64 // specific volume, m³/kg
	H      float64 // specific enthalpy, kJ/kg
	U      float64 // specific internal energy, kJ/kg
	S      float64 // specific entropy, kJ/(kg·K)
	Cp     float64 // specific isobaric heat capacity, kJ/(kg·K)
	W      float64 // speed of sound, m/s
	Region Region  // IF97 region the state was computed in (1 or 2)
}

// Density returns 1/V in kg/m³.
func (s Props) Density() float64 { return 1 / s.V }

// RegionOf returns the IF97 region of the state at pressure p in MPa
// (absolute) and temperature T in K, using the region boundaries of IAPWS
// R7-97(2012) and its B23 equation (eq. 5):
//
//   - 273.15 K <= T <= 623.15 K: region 1 if p > p_s(T), region 2 if
//     p < p_s(T), region 4 if p == p_s(T) exactly;
//   - 623.15 K < T <= 863.15 K: region 2 if p <= p_B23(T), else region 3;
//   - 863.15 K < T <= 1073.15 K: region 2;
//   - 1073.15 K < T <= 2273.15 K and p <= 50 MPa: region 5;
//   - p <= 100 MPa throughout (50 MPa in region 5).
//
// States in regions 3 and 5 are returned together with an error wrapping
// ErrOutOfRange (they are outside this package's scope); states outside
// IF97 altogether return region 0 and ErrOutOfRange. NaN, infinite or
// non-positive inputs return ErrInvalidInput.
func RegionOf(p, T float64) (Region, error) {
	if err := chk.Positive("p", p, "MPa"); err != nil {
		return 0, err
	}
	if err := chk.Positive("T", T, "K"); err != nil {
		return 0, err
	}
	switch {
	case T < tMin:
		return 0, fmt.Errorf("steam: T = %g K: %w: IAPWS-IF97 starts at %g K", T, ErrOutOfRange, tMin)
	case T > t2Max:
		if T <= t5Max && p <= p5Max {
			return Region5, fmt.Errorf("steam: p = %g MPa, T = %g K: %w: IF97 %v is not supported (only regions 1, 2 and 4)", p, T, ErrOutOfRange, Region5)
		}
		return 0, fmt.Errorf("steam: p = %g MPa, T = %g K: %w: outside IAPWS-IF97", p, T, ErrOutOfRange)
	case p > pMax:
		return 0, fmt.Errorf("steam: p = %g MPa: %w: IAPWS-IF97 ends at %g MPa below %g K", p, ErrOutOfRange, pMax, t2Max)
	case T <= t13:
		ps := psat(T)
		switch {
		case p > ps:
			return Region1, nil
		case p < ps:
			return Region2, nil
		}
		return Region4, nil
	case T <= t2B23 && p > b23Pressure(T):
		return Region3, fmt.Errorf("steam: p = %g MPa, T = %g K: %w: IF97 %v is not supported (only regions 1, 2 and 4)", p, T, ErrOutOfRange, Region3)
	}
	return Region2, nil
}

// Properties returns the state of water or steam at pressure p in MPa
// (absolute) and temperature T in K, from the IF97 region 1 or region 2
// basic equation chosen by RegionOf (IAPWS R7-97(2012) eqs. 7 and 15; the
// tests reproduce its tables 5 and 15 to all 9 printed digits).
//
// A state exactly on the saturation line returns ErrTwoPhase: pressure and
// temperature do not fix the quality there (use WetSteam, SaturatedLiquid or
// SaturatedVapour instead). States in IF97 regions 3 and 5 or outside IF97
// return ErrOutOfRange, and so does a pressure so close to zero that a
// property is not a finite number (5e-324 MPa gives v = +Inf, u = −Inf).
func Properties(p, T float64) (Props, error) {
	r, err := RegionOf(p, T)
	if err != nil {
		return Props{}, err
	}
	var s Props
	switch r {
	case Region1:
		s = region1(p, T)
	case Region2:
		s = region2(p, T)
	default:
		return Props{}, fmt.Errorf("steam: p = %g MPa, T = %g K: %w: quality cannot be determined from p and T", p, T, ErrTwoPhase)
	}
	for _, v := range [...]float64{s.V, s.H, s.U, s.S, s.Cp, s.W} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Props{}, fmt.Errorf("steam: p = %g MPa, T = %g K: %w: pressure too small for finite properties", p, T, ErrOutOfRange)
		}
	}
	return s, nil
}

// Enthalpy returns the specific enthalpy in kJ/kg at pressure p in MPa
// (absolute) and temperature T in K (IF97 regions 1 and 2; see Properties).
func Enthalpy(p, T float64) (float64, error) {
	s, err := Properties(p, T)
	return s.H, err
}

// SpecificVolume returns the specific volume in m³/kg at pressure p in MPa
// (absolute) and temperature T in K (IF97 regions 1 and 2; see Properties).
func SpecificVolume(p, T float64) (float64, error) {
	s, err := Properties(p, T)
	return s.V, err
}

// Density returns the density in kg/m³ at pressure p in MPa (absolute) and
// temperature T in K (IF97 regions 1 and 2; see Properties). It is the real
// IF97 density, not the ideal-gas p/(RT), which is 3.6 % low at 1.0 MPa,
// 250 °C (4.141690 against 4.296660 kg/m³).
func Density(p, T float64) (float64, error) {
	s, err := Properties(p, T)
	if err != nil {
		return 0, err
	}
	return s.Density(), nil
}

// Entropy returns the specific entropy in kJ/(kg·K) at pressure p in MPa
// (absolute) and temperature T in K (IF97 regions 1 and 2; see Properties).
func Entropy(p, T float64) (float64, error) {
	s, err := Properties(p, T)
	return s.S, err
}

// Superheat returns T − T_s(p) in K for pressure p in MPa (absolute) and
// temperature T in K: positive for superheated vapour, negative for
// sub-cooled liquid. Callers use it to apply an instrument dead band around
// the saturation line, where (p, T) cannot tell liquid from vapour
// (project decision: a measured (p, T) cannot tell the phase within the
// instruments' resolution of the saturation line, so the caller chooses the
// dead band).
func Superheat(p, T float64) (float64, error) {
	if err := chk.Positive("T", T, "K"); err != nil {
		return 0, err
	}
	ts, err := SaturationTemperature(p)
	if err != nil {
		return 0, err
	}
	return T - ts, nil
}

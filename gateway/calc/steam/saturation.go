package steam

import "fmt"

// Saturation returns the saturated liquid (x = 0) and saturated vapour
// (x = 1) states at pressure p in MPa (absolute): the IAPWS R7-97(2012)
// region 1 equation gives the liquid and the region 2 equation the vapour,
// both evaluated at the saturation temperature T_s(p) (eq. 31), where the
// two regions meet the saturation line. Each returned Props has its Region
// set to the equation used (1 or 2).
//
// Valid for 611.213 Pa <= p <= p_s(623.15 K) = 16.5292 MPa; above that the
// saturated states lie in IF97 region 3 and ErrOutOfRange is returned.
func Saturation(p float64) (liquid, vapour Props, err error) {
	ts, err := SaturationTemperature(p)
	if err != nil {
		return Props{}, Props{}, err
	}
	if ts > t13 {
		return Props{}, Props{}, fmt.Errorf("steam: p = %g MPa: %w: saturated states above %g K (p > %.7g MPa) are in IF97 region 3, not supported", p, ErrOutOfRange, t13, psat(t13))
	}
	return region1(p, ts), region2(p, ts), nil
}

// Mixture is a liquid-vapour state on the saturation line.
type Mixture struct {
	P float64 // pressure, MPa (absolute)
	T float64 // saturation temperature, K
	X float64 // quality (vapour mass fraction), 0..1
	V float64 // specific volume, m³/kg
	H float64 // specific enthalpy, kJ/kg
	U float64 // specific internal energy, kJ/kg
	S float64 // specific entropy, kJ/(kg·K)
}

// WetSteam returns the state of wet steam at pressure p in MPa (absolute)
// and quality x (vapour mass fraction, 0 <= x <= 1), mixing the saturated
// states of Saturation linearly: h = h′ + x(h″ − h′), and likewise v, u and
// s: the quality is the vapour mass fraction, so every specific property is
// the mass-weighted mean of the two saturated phases.
func WetSteam(p, x float64) (Mixture, error) {
	if err := chk.Finite("x", x, ""); err != nil {
		return Mixture{}, err
	}
	if x < 0 || x > 1 {
		return Mixture{}, fmt.Errorf("steam: x = %g: %w: quality must be in [0, 1]", x, ErrOutOfRange)
	}
	l, v, err := Saturation(p)
	if err != nil {
		return Mixture{}, err
	}
	mix := func(a, b float64) float64 { return a + x*(b-a) }
	return Mixture{
		P: p, T: l.T, X: x,
		V: mix(l.V, v.V),
		H: mix(l.H, v.H),
		U: mix(l.U, v.U),
		S: mix(l.S, v.S),
	}, nil
}

// Quality returns the quality x = (h − h′)/(h″ − h′) (dimensionless, 0..1)
// of a two-phase state with specific enthalpy h in kJ/kg at pressure p in MPa
// (absolute), the mixing rule of WetSteam solved for x. An h below
// h′ (sub-cooled) or above h″ (superheated) returns ErrOutOfRange.
func Quality(p, h float64) (float64, error) {
	if err := chk.Finite("h", h, "kJ/kg"); err != nil {
		return 0, err
	}
	l, v, err := Saturation(p)
	if err != nil {
		return 0, err
	}
	x := (h - l.H) / (v.H - l.H)
	if x < 0 || x > 1 {
		return 0, fmt.Errorf("steam: h = %g kJ/kg at p = %g MPa: %w: not two-phase (h′ = %.6f, h″ = %.6f kJ/kg)", h, p, ErrOutOfRange, l.H, v.H)
	}
	return x, nil
}

// FlashFraction returns the mass fraction (0..1) of saturated liquid at
// pHigh in MPa (absolute) that flashes to vapour when throttled (at constant
// enthalpy) to pLow in MPa (absolute): x = (h′(pHigh) − h′(pLow)) /
// (h″(pLow) − h′(pLow)): the enthalpy of the liquid is conserved across the
// valve, and the part of it above h′(pLow) evaporates liquid at pLow. From
// 1.0 to 0.4 MPa it is 0.074043. pHigh < pLow returns ErrInvalidInput.
func FlashFraction(pHigh, pLow float64) (float64, error) {
	if err := chk.Positive("pHigh", pHigh, "MPa"); err != nil {
		return 0, err
	}
	if err := chk.Positive("pLow", pLow, "MPa"); err != nil {
		return 0, err
	}
	if pHigh < pLow {
		return 0, fmt.Errorf("steam: pHigh = %g MPa, pLow = %g MPa: %w: flashing needs pHigh >= pLow", pHigh, pLow, ErrInvalidInput)
	}
	hi, _, err := Saturation(pHigh)
	if err != nil {
		return 0, err
	}
	return Quality(pLow, hi.H)
}

package steam

import (
	"fmt"
	"math"
)

// region4N are the coefficients n₁…n₁₀ of the region 4 saturation-line
// equations, IAPWS R7-97(2012) table 34. Index 0 is unused so that
// region4N[i] is nᵢ.
var region4N = [11]float64{
	0,
	0.11670521452767e4, -0.72421316703206e6, -0.17073846940092e2,
	0.12020824702470e5, -0.32325550322333e7, 0.14915108613530e2,
	-0.48232657361591e4, 0.40511340542057e6, -0.23855557567849,
	0.65017534844798e3,
}

// b23N are n₁…n₃ of the region 2/3 boundary equation (B23), IAPWS
// R7-97(2012) eq. 5 and table 1. Index 0 is unused.
var b23N = [4]float64{0, 0.34805185628969e3, -0.11671859879975e1, 0.10192970039326e-2}

// SaturationPressure returns the saturation pressure p_s in MPa (absolute)
// at temperature T in K, by the region 4 saturation-pressure equation,
// IAPWS R7-97(2012) eq. 30. It is valid for 273.15 K <= T <= 647.096 K;
// outside that range it returns ErrOutOfRange. The tests reproduce the
// release's table 35.
func SaturationPressure(T float64) (float64, error) {
	if err := chk.Positive("T", T, "K"); err != nil {
		return 0, err
	}
	if T < tMin || T > Tc {
		return 0, fmt.Errorf("steam: T = %g K: %w: saturation pressure needs %g K <= T <= %g K", T, ErrOutOfRange, tMin, Tc)
	}
	return psat(T), nil
}

// SaturationTemperature returns the saturation temperature T_s in K at
// pressure p in MPa (absolute), by the region 4 saturation-temperature
// equation, IAPWS R7-97(2012) eq. 31. It is valid for 611.213 Pa <= p <=
// 22.064 MPa; outside that range it returns ErrOutOfRange. The tests
// reproduce the release's table 36.
func SaturationTemperature(p float64) (float64, error) {
	if err := chk.Positive("p", p, "MPa"); err != nil {
		return 0, err
	}
	if p < pSatLo || p > Pc {
		return 0, fmt.Errorf("steam: p = %g MPa: %w: saturation temperature needs %g MPa <= p <= %g MPa", p, ErrOutOfRange, pSatLo, Pc)
	}
	return tsat(p), nil
}

// psat is Eq. 30 without range checks.
func psat(T float64) float64 {
	n := &region4N
	theta := T + n[9]/(T-n[10])
	a := theta*theta + n[1]*theta + n[2]
	b := n[3]*theta*theta + n[4]*theta + n[5]
	c := n[6]*theta*theta + n[7]*theta + n[8]
	x := 2 * c / (-b + math.Sqrt(b*b-4*a*c))
	x *= x
	return x * x
}

// tsat is Eq. 31 without range checks.
func tsat(p float64) float64 {
	n := &region4N
	beta := math.Sqrt(math.Sqrt(p))
	e := beta*beta + n[3]*beta + n[6]
	f := n[1]*beta*beta + n[4]*beta + n[7]
	g := n[2]*beta*beta + n[5]*beta + n[8]
	d := 2 * g / (-f - math.Sqrt(f*f-4*e*g))
	return (n[10] + d - math.Sqrt((n[10]+d)*(n[10]+d)-4*(n[9]+n[10]*d))) / 2
}

// b23Pressure is the region 2/3 boundary pressure in MPa at T in K
// (IAPWS R7-97(2012) eq. 5). The release's check value, 16.5291643 MPa at
// 623.15 K, is a test.
func b23Pressure(T float64) float64 {
	return b23N[1] + b23N[2]*T + b23N[3]*T*T
}

package emission

import (
	"errors"
	"fmt"
)

// Gas constants for CEMS conversions.
const (
	// MolarVolumeNormal is the molar volume of an ideal gas at normal
	// conditions (273.15 K, 101.325 kPa), L/mol: CODATA 2018 gives
	// 22.413 969 54. HJ 75-2017 annex A prints the rounder 22.4.
	MolarVolumeNormal = 22.414
	// NormalTemperature is 0 °C in K, the Chinese and EU normal state.
	NormalTemperature = 273.15
	// NormalPressure is the normal-state pressure, Pa.
	NormalPressure = 101325.0
	// O2Air is the O₂ content of dry air used by the reference-O₂
	// normalisation of HJ 75-2017 annex A, % (the BS 845-1 flue-gas formulas
	// of package energy use 20.9).
	O2Air = 21.0
)

// Molar masses, g/mol: project constants rounded from standard atomic
// weights (docs/references.md#codata-2018).
const (
	MolarMassSO2 = 64.066
	MolarMassNO2 = 46.0055
	MolarMassH2S = 34.081
	MolarMassS   = 32.06
)

// PPMToMgPerNm3 converts a volume fraction in ppm (µmol/mol) of a gas of
// molar mass molarMass in g/mol to a mass concentration in mg/Nm³ at normal
// conditions (273.15 K, 101.325 kPa): C = ppm·M/22.414, the ideal-gas
// conversion of HJ 75-2017 annex A with the CODATA 2018 molar volume
// (2.858303 mg/Nm³ per ppm for SO₂).
func PPMToMgPerNm3(ppm, molarMass float64) (float64, error) {
	if err := chk.NonNegative("ppm", ppm, "ppm"); err != nil {
		return 0, err
	}
	if err := chk.Positive("molarMass", molarMass, "g/mol"); err != nil {
		return 0, err
	}
	return ppm * molarMass / MolarVolumeNormal, nil
}

// checkMoisture validates a flue-gas water vapour volume fraction X_sw.
func checkMoisture(xsw float64) error {
	if err := chk.Finite("moisture", xsw, ""); err != nil {
		return err
	}
	if xsw < 0 || xsw >= 1 {
		return chk.Invalid("moisture", xsw, "", "water vapour volume fraction must be in [0, 1), not a percentage")
	}
	return nil
}

// DryConcentration converts a wet-basis concentration cWet (any unit, e.g.
// mg/Nm³) to the dry basis, C_dry = C_wet/(1 − X_sw), with moisture the
// flue-gas water vapour volume fraction X_sw (HJ 75-2017 annex A).
func DryConcentration(cWet, moisture float64) (float64, error) {
	if err := chk.NonNegative("cWet", cWet, ""); err != nil {
		return 0, err
	}
	if err := checkMoisture(moisture); err != nil {
		return 0, err
	}
	return cWet / (1 - moisture), nil
}

// StandardDryFlow converts an actual wet flue-gas flow q in m³/h at
// temperature t in °C, barometric pressure ba in Pa and duct static
// pressure ps in Pa (gauge, negative under suction) to the dry flow at
// normal conditions in Nm³/h: Q_sn = q·273.15/(273.15 + t)·(B_a + P_s)/101325
// ·(1 − X_sw), with moisture the water vapour volume fraction X_sw
// (HJ 75-2017 annex A). The standard's formula writes 273; this uses 273.15
// (project decision, consistent with NormalTemperature: 300 000 m³/h at
// 120 °C, −500 Pa and 8 % moisture gives 190811.095601 Nm³/h; with 273 it
// would be 190779.1).
func StandardDryFlow(q, t, ba, ps, moisture float64) (float64, error) {
	if err := chk.NonNegative("q", q, "m³/h"); err != nil {
		return 0, err
	}
	if err := chk.Finite("t", t, "°C"); err != nil {
		return 0, err
	}
	if t <= -NormalTemperature {
		return 0, chk.Invalid("t", t, "°C", "must be above absolute zero")
	}
	if err := chk.Positive("ba", ba, "Pa"); err != nil {
		return 0, err
	}
	if err := chk.Finite("ps", ps, "Pa"); err != nil {
		return 0, err
	}
	if ba+ps <= 0 {
		return 0, fmt.Errorf("emission: ba = %g Pa, ps = %g Pa: %w: absolute duct pressure must be > 0", ba, ps, ErrInvalidInput)
	}
	if err := checkMoisture(moisture); err != nil {
		return 0, err
	}
	return q * NormalTemperature / (NormalTemperature + t) * (ba + ps) / NormalPressure * (1 - moisture), nil
}

// O2Normalised converts a measured dry concentration c (any unit, e.g.
// mg/Nm³) at measured dry O₂ o2Meas in % to the reference O₂ o2Ref in %:
// C_ref = C·(21 − O₂,ref)/(21 − O₂,meas) (HJ 75-2017 annex A). Use it only
// to compare with concentration limits; mass emissions use the measured
// concentration (MassRate). Reference O₂ depends on the plant type and the
// emission standard that applies to it, so it is an input, never built in.
func O2Normalised(c, o2Meas, o2Ref float64) (float64, error) {
	if err := chk.NonNegative("c", c, ""); err != nil {
		return 0, err
	}
	for _, a := range []struct {
		name string
		v    float64
	}{{"o2Meas", o2Meas}, {"o2Ref", o2Ref}} {
		if err := chk.Finite(a.name, a.v, "%"); err != nil {
			return 0, err
		}
		if a.v < 0 || a.v >= O2Air {
			return 0, chk.Invalid(a.name, a.v, "%", fmt.Sprintf("dry O2 must be in [0, %g) %%", O2Air))
		}
	}
	return c * (O2Air - o2Ref) / (O2Air - o2Meas), nil
}

// MassRate returns the mass emission rate in kg/h of a pollutant with the
// measured (not O₂-normalised) dry concentration c in mg/Nm³ in a dry
// normal-state flue-gas flow q in Nm³/h: E = c·q/10⁶ (project definition,
// docs/metrics.md#emissions; 400 mg/Nm³ × 200 000 Nm³/h = 80 kg/h).
// Multiplying an O₂-normalised concentration by the flow over-counts mass.
func MassRate(c, q float64) (float64, error) {
	if err := chk.NonNegative("c", c, "mg/Nm³"); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("q", q, "Nm³/h"); err != nil {
		return 0, err
	}
	return c * q / 1e6, nil
}

// ErrUnitOff reports a flue-gas O₂ reading so close to that of air that the
// unit is not firing (or the probe draws air): normalising to a reference
// O₂ would multiply the concentration by (21 − O₂,ref)/(21 − O₂), 60 at
// 20.9 % O₂ for a 15 % reference, turning noise into an emission.
var ErrUnitOff = errors.New("flue-gas O2 near ambient: unit off or air in-leak")

// CheckO2ForNormalisation refuses a measured dry O₂ o2Meas in % above o2Max
// in %, the highest O₂ at which the plant's normalised concentration is
// meaningful (a configured value below the 21 % of air), with an error
// wrapping ErrUnitOff; NaN or an o2Max outside (0, 21) returns
// ErrInvalidInput.
func CheckO2ForNormalisation(o2Meas, o2Max float64) error {
	if err := chk.Finite("o2Meas", o2Meas, "%"); err != nil {
		return err
	}
	if err := chk.Positive("o2Max", o2Max, "%"); err != nil {
		return err
	}
	if o2Max >= O2Air {
		return chk.Invalid("o2Max", o2Max, "%", fmt.Sprintf("must be below the %g %% of air", O2Air))
	}
	if o2Meas > o2Max {
		return fmt.Errorf("emission: o2Meas = %g %% above %g %%: %w", o2Meas, o2Max, ErrUnitOff)
	}
	return nil
}

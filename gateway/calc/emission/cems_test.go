package emission

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// TestPPMToMgPerNm3 checks the ppm conversions against hand-computed
// factors M/22.414.
func TestPPMToMgPerNm3(t *testing.T) {
	for _, c := range []struct {
		name string
		m    float64
		want string
	}{
		{"SO2", MolarMassSO2, "2.858303"},
		{"NO2", MolarMassNO2, "2.052534"},
		{"H2S", MolarMassH2S, "1.520523"},
	} {
		got, err := PPMToMgPerNm3(1, c.m)
		if err != nil {
			t.Fatal(err)
		}
		vectortest.CheckPrinted(t, c.name+" mg/Nm3 per ppm", got, c.want)
	}
}

// TestO2Normalised checks a hand-computed case: 400 mg/Nm³ at 8 % O₂ is
// 461.538462 mg/Nm³ at 6 %.
func TestO2Normalised(t *testing.T) {
	got, err := O2Normalised(400, 8, 6)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "C at 6 % O2", got, "461.538462")
	// At the reference O₂ nothing changes.
	got, err = O2Normalised(400, 6, 6)
	if err != nil || got != 400 {
		t.Errorf("O2Normalised(400, 6, 6) = %v, %v; want 400", got, err)
	}
}

// TestMassRate checks a hand-computed case: 400 mg/Nm³ × 200 000 Nm³/h.
func TestMassRate(t *testing.T) {
	got, err := MassRate(400, 200000)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "kg/h", got, 80.0)
}

// TestStandardDryFlow checks a hand-computed case:
// 300 000 m³/h at 120 °C, 101 325 Pa, −500 Pa static, 8 % moisture.
func TestStandardDryFlow(t *testing.T) {
	got, err := StandardDryFlow(300000, 120, 101325, -500, 0.08)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "Nm3/h dry", got, "190811.095601")
}

// TestDryConcentration checks the wet-to-dry correction on a hand value:
// 368 mg/Nm³ wet at 8 % moisture is 400 mg/Nm³ dry.
func TestDryConcentration(t *testing.T) {
	got, err := DryConcentration(368, 0.08)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "dry", got, 400)
}

// TestCEMSInputErrors checks that bad inputs are refused and named.
func TestCEMSInputErrors(t *testing.T) {
	errOf := func(_ float64, err error) error { return err }
	for _, c := range []struct {
		name, msg string
		err       error
	}{
		{"negative ppm", "emission: ppm = -3 ppm: invalid input: must be >= 0", errOf(PPMToMgPerNm3(-3, MolarMassSO2))},
		{"O2 of air", "emission: o2Meas = 21 %: invalid input: dry O2 must be in [0, 21) %", errOf(O2Normalised(400, 21, 6))},
		{"moisture in percent", "emission: moisture = 8: invalid input: water vapour volume fraction must be in [0, 1), not a percentage", errOf(StandardDryFlow(300000, 120, 101325, -500, 8))},
		{"NaN flow", "emission: q = NaN Nm³/h: invalid input: not a finite number", errOf(MassRate(400, math.NaN()))},
		{"below absolute zero", "emission: t = -300 °C: invalid input: must be above absolute zero", errOf(StandardDryFlow(1, -300, 101325, 0, 0))},
		{"vacuum beyond barometric", "emission: ba = 101325 Pa, ps = -101325 Pa: invalid input: absolute duct pressure must be > 0", errOf(StandardDryFlow(1, 20, 101325, -101325, 0))},
	} {
		if !errors.Is(c.err, ErrInvalidInput) || c.err.Error() != c.msg {
			t.Errorf("%s: error = %v, want %q", c.name, c.err, c.msg)
		}
	}
}

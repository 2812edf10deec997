package emission

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

func nan() float64 { return math.NaN() }

// exampleBDS is the project's BDS example: 500 Nm³/h of biogas, 3000 ppm
// H₂S in, 50 ppm out, 20 m³ bed, all removed sulphur elemental.
var exampleBDS = BDS{GasFlow: 500, H2SIn: 3000, H2SOut: 50, BedVolume: 20}

// TestEvaluateBDS reproduces the BDS example; the expected values were
// computed independently of this package.
func TestEvaluateBDS(t *testing.T) {
	p, err := EvaluateBDS(exampleBDS)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "Cin g/Nm3", p.CIn, "4.561569")
	vectortest.CheckPrinted(t, "Cout g/Nm3", p.COut, "0.076026")
	vectortest.CheckPrinted(t, "RE %", p.RemovalEfficiency, "98.333333")
	vectortest.CheckPrinted(t, "LR g/m3/h", p.LoadingRate, "114.039217")
	vectortest.CheckPrinted(t, "EC g/m3/h", p.EliminationCapacity, "112.138563")
	vectortest.CheckExact(t, "EBRT s", p.EBRT, 144)
	vectortest.CheckPrinted(t, "S removed kg/h", p.SulfurRemoved, "2.109775")
	vectortest.CheckPrinted(t, "stoich air Nm3/h", p.StoichiometricAir, "3.520286")
	vectortest.CheckPrinted(t, "air % of gas", p.AirFraction, "0.704057")
	if !p.ClogRisk {
		t.Error("ClogRisk = false, want true: EC 112.1 > 90 g/m3/h")
	}
	// H₂S removed: Q·(Cin − Cout) = 500·4.485543/1000.
	vectortest.CheckPrinted(t, "H2S removed kg/h", p.H2SRemoved, "2.242771")
	// SO₂ avoided: 500·2950e-6/22.414 kmol/h × 64.066 kg/kmol (hand
	// calculation, one mole of SO₂ per mole of H₂S burned).
	vectortest.CheckPrinted(t, "SO2 avoided kg/h", p.SO2Avoided, "4.215997")
	// Mass balance: SO₂ avoided / S removed = 64.066/32.06.
	if r := p.SO2Avoided / p.SulfurRemoved; math.Abs(r-MolarMassSO2/MolarMassS) > 1e-12 {
		t.Errorf("SO2/S = %v, want %v", r, MolarMassSO2/MolarMassS)
	}
}

// TestBDSSulfate checks that sulphate formation lowers the elemental sulphur
// yield but not the H₂S removed or the SO₂ avoided.
func TestBDSSulfate(t *testing.T) {
	r := exampleBDS
	r.SulfateFraction = 0.25
	p, err := EvaluateBDS(r)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "S removed kg/h at 25 % sulphate", p.SulfurRemoved, "1.582331")
	vectortest.CheckPrinted(t, "SO2 avoided kg/h", p.SO2Avoided, "4.215997")
}

// TestBDSBelowLimit: the same reactor on 300 Nm³/h has EC = 67.28 g/m³/h,
// below the 90 g/m³/h industrial guideline.
func TestBDSBelowLimit(t *testing.T) {
	r := exampleBDS
	r.GasFlow = 300
	p, err := EvaluateBDS(r)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "EC g/m3/h", p.EliminationCapacity, "67.283138")
	if p.ClogRisk {
		t.Error("ClogRisk = true at EC 67.3 g/m3/h")
	}
}

// TestBDSInputErrors checks that bad inputs are refused and named.
func TestBDSInputErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		r    BDS
		msg  string
	}{
		{"no gas", BDS{H2SIn: 3000, BedVolume: 20}, "emission: GasFlow = 0 Nm³/h: invalid input: must be > 0"},
		{"NaN outlet", BDS{GasFlow: 500, H2SIn: 3000, H2SOut: nan(), BedVolume: 20}, "emission: H2SOut = NaN ppm: invalid input: not a finite number"},
		{"no bed", BDS{GasFlow: 500, H2SIn: 3000, H2SOut: 50}, "emission: BedVolume = 0 m³: invalid input: must be > 0"},
		{"percent H2S", BDS{GasFlow: 500, H2SIn: 2e6, BedVolume: 20}, "emission: H2SIn = 2e+06 ppm, H2SOut = 0 ppm: invalid input: a volume fraction cannot exceed 1e6 ppm"},
		{"sulphate > 1", BDS{GasFlow: 500, H2SIn: 3000, BedVolume: 20, SulfateFraction: 25}, "emission: SulfateFraction = 25: invalid input: must be a fraction in [0, 1], not a percentage"},
	} {
		_, err := EvaluateBDS(c.r)
		if !errors.Is(err, ErrInvalidInput) || err.Error() != c.msg {
			t.Errorf("%s: error = %v, want %q", c.name, err, c.msg)
		}
	}
}

package emission

import (
	"errors"
	"math"
	"testing"
)

// TestCompanyBaselineCapsAtCapacity: two replaced boilers of 1 MW and 2 MW
// at a flat 0.80 on heavy oil (NCV 40.4 GJ/t, 77.4 kg/GJ, 2 % S, k = 1;
// IPCC 2006 Vol. 2 residual fuel oil for NCV and EF) and a company taking
// 4 MW. By hand: capacity 3 MW, credited 3 MW, excess 1 MW, load 1; fuel
// energy 3 MW·3.6/0.80 = 13.5 GJ in the hour; CO₂ 13.5·77.4/1000 = 1.0449
// t/h; SO₂ 2·0.02·(13.5/40.4) = 0.013366337 t/h (32.06 g S → 64.066 g SO₂,
// taken as 2 as in 40 CFR 72 App. B's sulphur balance).
func TestCompanyBaselineCapsAtCapacity(t *testing.T) {
	oil := CompanyBoiler{Efficiency: 0.80, NCV: 40.4, EFCO2: 77.4, Sulfur: 0.02, SulfurToSO2: 1}
	b1, b2 := oil, oil
	b1.Capacity, b2.Capacity = 1, 2
	r, err := CompanyBaseline(4, []CompanyBoiler{b1, b2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Credited != 3 || r.Excess != 1 || r.Load != 1 || math.Abs(r.CO2-1.0449) > 1e-12 || math.Abs(r.SO2-0.0133663366) > 1e-10 {
		t.Errorf("%+v", r)
	}
	// Below capacity everything is credited: 1.5 MW is load 0.5, fuel
	// 1.5·3.6/0.8 = 6.75 GJ/h, CO₂ 0.52245 t/h.
	r, err = CompanyBaseline(1.5, []CompanyBoiler{b1, b2})
	if err != nil || r.Credited != 1.5 || r.Excess != 0 || r.Load != 0.5 || math.Abs(r.CO2-0.52245) > 1e-12 {
		t.Errorf("%+v %v", r, err)
	}
}

// TestCompanyBaselineEfficiencyCurve: a 2 MW boiler with η 0.70 at 25 %
// load and 0.84 at 100 %; at 1 MW (load 0.5) linear interpolation gives
// 0.70 + 0.14·(0.25/0.75) = 0.746667, fuel 1·3.6/0.746667 = 4.821429 GJ/h,
// CO₂ (74.1 kg/GJ, gas oil) 0.357268 t/h. Below the first point the first
// efficiency holds (0.1 MW → 0.70).
func TestCompanyBaselineEfficiencyCurve(t *testing.T) {
	b := CompanyBoiler{Capacity: 2, Curve: []LoadEfficiency{{1, 0.84}, {0.25, 0.70}}, NCV: 42.6, EFCO2: 74.1, SulfurToSO2: 1}
	r, err := CompanyBaseline(1, []CompanyBoiler{b})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3.6 / (0.70 + 0.14/3) * 74.1 / 1000; math.Abs(r.CO2-want) > 1e-12 || math.Abs(r.CO2-0.357268) > 1e-6 {
		t.Errorf("CO2 %.9f, want %.9f", r.CO2, want)
	}
	if eta, _ := b.EfficiencyAt(0.04); eta != 0.70 {
		t.Errorf("below the curve: %v", eta)
	}
	b.Curve = append(b.Curve, LoadEfficiency{0.5, 1.2})
	if _, err := CompanyBaseline(1, []CompanyBoiler{b}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("efficiency 1.2 in a curve accepted: %v", err)
	}
	if _, err := CompanyBaseline(-1, []CompanyBoiler{b}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("negative heat accepted: %v", err)
	}
}

// TestNegativeRemovalRefused: an outlet H₂S above the inlet is an analyser
// fault, not a negative removal that would offset other hours.
func TestNegativeRemovalRefused(t *testing.T) {
	_, err := EvaluateBDS(BDS{GasFlow: 1500, H2SIn: 2000, H2SOut: 2100, BedVolume: 100})
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("got %v", err)
	}
	if _, err := EvaluateBDS(BDS{GasFlow: 1500, H2SIn: 2000, H2SOut: 2000, BedVolume: 100}); err != nil {
		t.Errorf("zero removal refused: %v", err)
	}
}

// TestO2NearAmbientRefused: with a 15 % reference (gas turbines), 20.9 %
// measured O₂ would multiply the concentration by (21 − 15)/(21 − 20.9) =
// 60 (HJ 75-2017 annex A reference-oxygen conversion): above the
// configured 19 % the reading is refused as a unit that is off.
func TestO2NearAmbientRefused(t *testing.T) {
	if err := CheckO2ForNormalisation(20.9, 19); !errors.Is(err, ErrUnitOff) {
		t.Errorf("20.9 %% accepted: %v", err)
	}
	if err := CheckO2ForNormalisation(15.2, 19); err != nil {
		t.Errorf("15.2 %% refused: %v", err)
	}
	if err := CheckO2ForNormalisation(15, 21); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("limit 21 %% accepted: %v", err)
	}
	if v, _ := O2Normalised(1, 20.9, 15); math.Abs(v-60) > 1e-9 {
		t.Errorf("the factor the guard prevents is %v, want 60", v)
	}
}

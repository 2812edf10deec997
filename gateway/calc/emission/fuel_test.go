package emission

import (
	"errors"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// TestOilBoilerBaselineMassBalance checks the project's baseline example:
// 1 000 000 GJ/yr of useful heat from oil boilers (η = 0.80, NCV 40.4 GJ/t,
// S = 2 %, k = 1, EF 77.4 kg/GJ).
func TestOilBoilerBaselineMassBalance(t *testing.T) {
	fuel, err := FuelForHeat(1e6, 0.80, 40.4)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "fuel t/yr", fuel, "30940.594059")
	so2, err := SO2FromFuelSulfur(fuel, 0.02, 1)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "SO2 t/yr", so2, "1237.623762")
	co2, err := CO2FromFuel(fuel, 40.4, 77.4)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "CO2 t/yr", co2, "96750.0")
	co2, err = CO2FromEnergy(1e6/0.8, 77.4)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "CO2 from energy t/yr", co2, 96750)
}

// TestTalkClaim checks the inverse mass balance on a claimed reduction: the
// oil needed to emit 22 000 t SO₂/yr.
func TestTalkClaim(t *testing.T) {
	for _, c := range []struct {
		s    float64
		want string
	}{
		{0.02, "550000"},
		{0.035, "314285.714286"},
	} {
		got, err := FuelForSO2(22000, c.s, 1)
		if err != nil {
			t.Fatal(err)
		}
		vectortest.CheckPrinted(t, "oil t/yr", got, c.want)
	}
	if _, err := FuelForSO2(22000, 0, 1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("FuelForSO2 with S = 0: error = %v, want ErrInvalidInput", err)
	}
}

// TestChineseAccountingVariants checks 1 t of fuel at S = 1 % with k = 1
// (stoichiometry) and with the k = 0.85 and k = 0.8 of some Chinese
// accounting rules, passed as inputs.
func TestChineseAccountingVariants(t *testing.T) {
	for _, c := range []struct {
		rule string
		k    float64
		kg   string
	}{
		{"stoichiometric_k1", 1, "20.0"},
		{"HJ_nonpermit_factor_0.85", 0.85, "17.0"},
		{"local_bureau_1600BS", 0.8, "16.0"},
	} {
		so2, err := SO2FromFuelSulfur(1, 0.01, c.k)
		if err != nil {
			t.Fatal(err)
		}
		vectortest.CheckPrinted(t, c.rule+" kg", so2*1000, c.kg)
	}
}

// TestCO2PerTonneResidualOil checks a hand-computed case: 40.4 GJ/t ×
// 77.4 kg/GJ = 3.12696 t CO₂ per t of residual oil, using the IPCC default.
func TestCO2PerTonneResidualOil(t *testing.T) {
	var oil FuelFactor
	for _, f := range IPCC2006Defaults() {
		if f.Fuel == "residual fuel oil" {
			oil = f
		}
	}
	co2, err := CO2FromFuel(1, oil.NCV, oil.EFCO2)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "t CO2 per t oil", co2, "3.12696")
}

// TestIPCC2006Defaults checks the built-in factors against the values as
// IPCC 2006 Vol. 2 prints them (table 1.4 EF in kg/TJ, table 1.2 NCV in
// TJ/Gg), so that a unit slip cannot pass.
func TestIPCC2006Defaults(t *testing.T) {
	want := map[string][2]float64{ // EF kg/TJ, NCV TJ/Gg
		"natural gas":               {56100, 48.0},
		"residual fuel oil":         {77400, 40.4},
		"gas/diesel oil":            {74100, 43.0},
		"liquefied petroleum gases": {63100, 47.3},
		"other bituminous coal":     {94600, 25.8},
		"sub-bituminous coal":       {96100, 18.9},
		"lignite":                   {101000, 11.9},
		"petroleum coke":            {97500, 32.5},
	}
	got := IPCC2006Defaults()
	if len(got) != len(want) {
		t.Errorf("%d factors, want %d", len(got), len(want))
	}
	for _, f := range got {
		w, ok := want[f.Fuel]
		if !ok {
			t.Errorf("unexpected fuel %q", f.Fuel)
			continue
		}
		vectortest.CheckExact(t, f.Fuel+" EF kg/TJ", f.EFCO2*1000, w[0])
		vectortest.CheckExact(t, f.Fuel+" NCV TJ/Gg", f.NCV, w[1])
	}
	// Callers get their own copy.
	got[0].NCV = 0
	if IPCC2006Defaults()[0].NCV == 0 {
		t.Error("IPCC2006Defaults shares its slice between calls")
	}
}

// TestFuelInputErrors checks that bad inputs are refused and named.
func TestFuelInputErrors(t *testing.T) {
	errOf := func(_ float64, err error) error { return err }
	for _, c := range []struct {
		name, msg string
		err       error
	}{
		{"sulphur in percent", "emission: sulfur = 2: invalid input: must be a fraction in [0, 1], not a percentage", errOf(SO2FromFuelSulfur(100, 2, 1))},
		{"negative fuel", "emission: fuel = -1 t: invalid input: must be >= 0", errOf(CO2FromFuel(-1, 40.4, 77.4))},
		{"zero efficiency", "emission: eta = 0: invalid input: must be an efficiency in (0, 1], not a percentage", errOf(FuelForHeat(1e6, 0, 40.4))},
		{"NaN EF", "emission: ef = NaN kg/GJ: invalid input: not a finite number", errOf(CO2FromEnergy(1, nan()))},
	} {
		if !errors.Is(c.err, ErrInvalidInput) || c.err.Error() != c.msg {
			t.Errorf("%s: error = %v, want %q", c.name, c.err, c.msg)
		}
	}
}

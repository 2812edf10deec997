package energy

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// TestCHPMetrics works the EPA CHP Partnership's illustration (F = 100,
// W_E = 30, Q_TH = 45 units); the expected ratios are computed by hand.
func TestCHPMetrics(t *testing.T) {
	const F, W, Q = 100.0, 30.0, 45.0
	eta, err := ElectricalEfficiency(F, W)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "eta_e", eta, 0.30)
	eta, err = ThermalEfficiency(F, Q)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "eta_th", eta, 0.45)
	eta, err = TotalEfficiency(F, W, Q)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "eta_total", eta, 0.75)
	hpr, err := HeatToPowerRatio(Q, W)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "HPR", hpr, 1.5)
	eee, err := EffectiveElectricEfficiency(F, W, Q, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "EEE alpha 0.8", eee, "0.685714")

	ferc, err := FERCEfficiency(F, W, Q)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "FERC value", ferc.Value, 0.525)
	vectortest.CheckExact(t, "thermal share", ferc.ThermalShare, 0.60)
	if !ferc.Pass || ferc.Threshold != 0.425 {
		t.Errorf("FERC = %+v, want pass against 0.425", ferc)
	}

	// EPA: separate production uses 98 units of fuel for the 30 units of
	// power and 56 for the heat (boiler 80 %); 98 is EPA's figure, so the
	// reference power efficiency is 30/98.
	shp, err := SeparateProductionFuel(W, Q, W/98, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "SHP fuel", shp, 154.25)
	saved, frac, err := FuelSaving(F, W, Q, W/98, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "fuel saving", frac, "0.351702")
	vectortest.CheckExact(t, "fuel saved", saved, 54.25)
}

// TestFERCThresholds checks the two thresholds of 18 CFR 292.205(a).
func TestFERCThresholds(t *testing.T) {
	for _, c := range []struct {
		name            string
		F, W, Q         float64
		threshold       float64
		pass            bool
		wantShare, want float64
	}{
		// Q below 15 % of output: 45 % threshold. (40 + 2.5)/100 = 0.425 fails.
		{"low heat share fails 45 %", 100, 40, 5, 0.45, false, 5.0 / 45, 0.425},
		// Q below 5 % of output fails whatever the efficiency.
		{"heat below 5 %", 100, 50, 2, 0.45, false, 2.0 / 52, 0.51},
		// Exactly 42.5 % with a 20 % heat share passes.
		{"at 42.5 %", 100, 34, 17, 0.425, true, 17.0 / 51, 0.425},
	} {
		f, err := FERCEfficiency(c.F, c.W, c.Q)
		if err != nil {
			t.Fatal(err)
		}
		if f.Pass != c.pass || f.Threshold != c.threshold || math.Abs(f.ThermalShare-c.wantShare) > 1e-15 || math.Abs(f.Value-c.want) > 1e-15 {
			t.Errorf("%s: FERCEfficiency = %+v, want pass=%v threshold=%v share=%v value=%v", c.name, f, c.pass, c.threshold, c.wantShare, c.want)
		}
	}
}

// TestPrimaryEnergySavings checks the PES formula of Directive 2012/27/EU
// Annex II(b) on hand-computed cases. The reference efficiencies are
// illustrative inputs, not values of Regulation (EU) 2015/2402.
func TestPrimaryEnergySavings(t *testing.T) {
	for _, c := range []struct {
		etaH, etaE, refH, refE float64
		want                   string
	}{
		{0.45, 0.30, 0.90, 0.525, "0.066667"},
		{0.45, 0.30, 0.92, 0.53, "0.052284"},
		{0.45, 0.30, 0.90, 0.442, "0.151631"},
	} {
		pes, err := PrimaryEnergySavings(c.etaH, c.etaE, c.refH, c.refE)
		if err != nil {
			t.Fatal(err)
		}
		vectortest.CheckPrinted(t, "PES", pes, c.want)
	}
}

// TestHighEfficiencyCogeneration checks the Directive 2012/27/EU Annex II(a)
// thresholds with the PES values above: 6.7 % fails at 30 MWe but passes
// below 1 MWe; 15.2 % passes.
func TestHighEfficiencyCogeneration(t *testing.T) {
	for _, c := range []struct {
		pes, mwe float64
		want     bool
	}{
		{0.066667, 30, false},
		{0.066667, 0.5, true},
		{0.151631, 30, true},
		{0.10, 1, true},
		{0, 0.5, false},
		{-0.02, 0.05, false},
	} {
		got, err := HighEfficiencyCogeneration(c.pes, c.mwe)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("HighEfficiencyCogeneration(%v, %v MWe) = %v, want %v", c.pes, c.mwe, got, c.want)
		}
	}
}

// TestCHPInputErrors checks that bad inputs are refused and named.
func TestCHPInputErrors(t *testing.T) {
	errOf := func(_ float64, err error) error { return err }
	for _, c := range []struct {
		name, msg string
		err       error
	}{
		{"zero fuel", "energy: fuel = 0: invalid input: must be > 0", errOf(ElectricalEfficiency(0, 30))},
		{"NaN heat", "energy: heat = NaN: invalid input: not a finite number", errOf(ThermalEfficiency(100, math.NaN()))},
		{"negative electricity", "energy: electricity = -1: invalid input: must be >= 0", errOf(TotalEfficiency(100, -1, 45))},
		{"HPR without power", "energy: electricity = 0: invalid input: must be > 0", errOf(HeatToPowerRatio(45, 0))},
		{"percent for fraction", "energy: refElec = 52.5: invalid input: must be an efficiency in (0, 1], not a percentage", errOf(PrimaryEnergySavings(0.45, 0.3, 0.9, 52.5))},
		{"heat credit exceeds fuel", "energy: fuel = 100, heat = 90, alpha = 0.8: invalid input: displaced boiler fuel heat/alpha = 112.5 exceeds the CHP fuel", errOf(EffectiveElectricEfficiency(100, 30, 90, 0.8))},
		{"no output", "energy: etaHeat = 0, etaElec = 0: invalid input: no useful output", errOf(PrimaryEnergySavings(0, 0, 0.9, 0.5))},
	} {
		if !errors.Is(c.err, ErrInvalidInput) || c.err.Error() != c.msg {
			t.Errorf("%s: error = %v, want %q", c.name, c.err, c.msg)
		}
	}
	if _, _, err := FuelSaving(100, 0, 0, 0.5, 0.8); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("FuelSaving without output: error = %v, want ErrInvalidInput", err)
	}
	if _, err := FERCEfficiency(100, 0, 0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("FERCEfficiency without output: error = %v, want ErrInvalidInput", err)
	}
}

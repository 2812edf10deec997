package energy

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// exampleOutput is the project's boiler example: 10 000 kg/h of saturated
// vapour at 1.0 MPa (h″ = 2777.119538 kJ/kg) from feedwater at 105 °C,
// 1.6 MPa (h_fw = 441.307176 kJ/kg), no blow-down; the enthalpies are those
// of the park table in gateway/calc/steam.
var exampleOutput = SteamOutput{SteamFlow: 10000, SteamEnthalpy: 2777.119538, FeedwaterEnthalpy: 441.307176}

// TestDirectEfficiency reproduces the direct-method example: the boiler
// above burning 720 kg/h of oil of NCV 40 400 kJ/kg.
func TestDirectEfficiency(t *testing.T) {
	eta, err := DirectEfficiency(exampleOutput, 720, 40400)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "eta", eta, "0.803016")

	// Blow-down of 2 % at h′(1.0 MPa) = 762.682844 kJ/kg adds
	// 200·(762.682844 − 441.307176) = 64275.1336 kJ/h to the useful heat.
	out := exampleOutput
	out.BlowdownFlow, out.BlowdownEnthalpy = 200, 762.682844
	q, err := out.Heat()
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "heat with blow-down kJ/h", q, "23422398.7536")
}

// TestFuelForOutput reproduces the inverse example: the fuel the same
// output needs at η = 0.88.
func TestFuelForOutput(t *testing.T) {
	m, err := FuelForOutput(exampleOutput, 0.88, 40400)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "fuel kg/h", m, "657.012928")
	eta, err := DirectEfficiency(exampleOutput, m, 40400)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(eta-0.88) > 1e-12 {
		t.Errorf("round trip eta = %v, want 0.88", eta)
	}
}

// TestKaneFlueGas checks the BS 845-1 flue-gas formulas (as printed in the
// Kane KM940 manual) on a hand-computed natural-gas example. K1n = 0.39 and
// K2 = 11.7 are illustrative inputs, not sourced fuel constants.
func TestKaneFlueGas(t *testing.T) {
	loss, err := DryFlueGasLoss(0.39, 11.7, 180, 20, 3.0)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "dry loss %", loss, "6.227188")
	ea, err := ExcessAir(3.0)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "excess air %", ea, "16.759777")
	co2, err := FlueCO2(3.0, 11.7)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "CO2 %", co2, "10.020574")
}

// TestBoilerInputErrors checks that bad inputs are refused and named.
func TestBoilerInputErrors(t *testing.T) {
	bad := exampleOutput
	bad.SteamFlow = -1
	for _, c := range []struct {
		name, msg string
		err       error
	}{
		{"negative steam", "energy: SteamFlow = -1 kg/h: invalid input: must be >= 0", func() error { _, err := DirectEfficiency(bad, 720, 40400); return err }()},
		{"zero fuel", "energy: fuelFlow = 0 kg/h: invalid input: must be > 0", func() error { _, err := DirectEfficiency(exampleOutput, 0, 40400); return err }()},
		{"NaN NCV", "energy: ncv = NaN kJ/kg: invalid input: not a finite number", func() error { _, err := FuelForOutput(exampleOutput, 0.88, math.NaN()); return err }()},
		{"percent efficiency", "energy: eta = 88: invalid input: must be an efficiency in (0, 1], not a percentage", func() error { _, err := FuelForOutput(exampleOutput, 88, 40400); return err }()},
		{"O2 of air", "energy: o2 = 20.9 %: invalid input: dry flue-gas O2 must be in [0, 20.9) %", func() error { _, err := ExcessAir(20.9); return err }()},
	} {
		if !errors.Is(c.err, ErrInvalidInput) || c.err.Error() != c.msg {
			t.Errorf("%s: error = %v, want %q", c.name, c.err, c.msg)
		}
	}
}

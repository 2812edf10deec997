package emission

import (
	"errors"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// oilBoiler is the project's baseline example: oil boilers (η = 0.80,
// 40.4 GJ/t, 77.4 kg/GJ, 2 % S) supplying 1 000 000 GJ of useful heat.
var oilBoiler = ReplacedBoiler{UsefulHeat: 1e6, Efficiency: 0.80, NCV: 40.4, EFCO2: 77.4, Sulfur: 0.02, SulfurToSO2: 1}

// TestBaselineEmissions checks the baseline example through
// BaselineEmissions (docs/metrics.md#reductions).
func TestBaselineEmissions(t *testing.T) {
	e, err := BaselineEmissions(Baseline{Boilers: []ReplacedBoiler{oilBoiler}})
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "BE CO2 t", e.CO2, "96750.0")
	vectortest.CheckPrinted(t, "BE SO2 t", e.SO2, "1237.623762")

	// Split over two boilers and add displaced grid power: the sum holds.
	half := oilBoiler
	half.UsefulHeat /= 2
	e, err = BaselineEmissions(Baseline{
		Boilers:         []ReplacedBoiler{half, half},
		GridElectricity: 50000, GridEF: 0.8,
	})
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "BE CO2 with grid t", e.CO2, "136750.0")
	vectortest.CheckPrinted(t, "BE SO2 two boilers t", e.SO2, "1237.623762")
}

// TestReduction works a park example by hand: the oil-boiler
// baseline plus 50 000 MWh of displaced grid power at 0.8 t/MWh
// (BE_CO2 = 96 750 + 40 000 = 136 750 t); a CHP burning 30 000 t of natural
// gas at the IPCC defaults (30 000 × 48.0 × 56.1/1000 = 80 784 t) and drawing
// 1 000 MWh of auxiliary grid power (800 t), with 12.5 t SO₂ measured by
// CEMS, and 100 t CO₂ leakage.
func TestReduction(t *testing.T) {
	be, err := BaselineEmissions(Baseline{Boilers: []ReplacedBoiler{oilBoiler}, GridElectricity: 50000, GridEF: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	pe, err := ProjectEmissions(Project{
		Fuels:          []ProjectFuel{{Quantity: 30000, NCV: 48.0, EFCO2: 56.1}, {Quantity: 1e6, NCV: 0.02, EFCO2: 0}},
		AuxElectricity: 1000, GridEF: 0.8,
		SO2Measured: 12.5,
	})
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "PE CO2 t", pe.CO2, "81584.0")
	vectortest.CheckExact(t, "PE SO2 t", pe.SO2, 12.5)
	er, err := Reduction(be, pe, Emissions{CO2: 100})
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "ER CO2 t", er.CO2, "55066.0")
	vectortest.CheckPrinted(t, "ER SO2 t", er.SO2, "1225.123762")
}

// TestReductionInputErrors checks that bad inputs are refused and named.
func TestReductionInputErrors(t *testing.T) {
	bad := oilBoiler
	bad.Efficiency = 80
	_, err := BaselineEmissions(Baseline{Boilers: []ReplacedBoiler{oilBoiler, bad}})
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "emission: Boilers[1].Efficiency = 80: invalid input: must be an efficiency in (0, 1], not a percentage" {
		t.Errorf("baseline efficiency in percent: error = %v", err)
	}
	_, err = ProjectEmissions(Project{Fuels: []ProjectFuel{{Quantity: 1, NCV: 0, EFCO2: 56.1}}})
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "emission: Fuels[0].NCV = 0 GJ/unit: invalid input: must be > 0" {
		t.Errorf("project fuel without NCV: error = %v", err)
	}
	if _, err := ProjectEmissions(Project{SO2Measured: -1}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("negative CEMS SO2: error = %v, want ErrInvalidInput", err)
	}
	if _, err := Reduction(Emissions{CO2: nan()}, Emissions{}, Emissions{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NaN baseline: error = %v, want ErrInvalidInput", err)
	}
}

package energy

import (
	"errors"
	"math"
	"testing"
)

// TestEfficienciesAboveOneRefused: more output than fuel input is a meter
// or heat-basis fault (Directive 2012/27/EU Annex II(b) efficiencies are
// output over fuel input).
func TestEfficienciesAboveOneRefused(t *testing.T) {
	for name, f := range map[string]func() (float64, error){
		"electrical": func() (float64, error) { return ElectricalEfficiency(100, 101) },
		"thermal":    func() (float64, error) { return ThermalEfficiency(100, 100.5) },
		"total":      func() (float64, error) { return TotalEfficiency(100, 40, 61) },
		"boiler": func() (float64, error) {
			return DirectEfficiency(SteamOutput{SteamFlow: 1000, SteamEnthalpy: 2800, FeedwaterEnthalpy: 440}, 50, 42600)
		},
	} {
		if v, err := f(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v, %v", name, v, err)
		}
	}
	if v, err := TotalEfficiency(100, 40, 60); err != nil || v != 1 {
		t.Errorf("exactly 1: %v %v", v, err)
	}
}

// TestWeightedReferences: the example hour burns 6390.81 Nm³/h of natural
// gas at 35.9 MJ/Nm³ (229 430.1 MJ/h) and 1377.45 Nm³/h of biogas at 21.5
// MJ/Nm³ (29 615.2 MJ/h). With the configured defaults (natural gas Ref Eη
// 0.53, Ref Hη 0.87; biogas 0.42, 0.75; Regulation (EU) 2015/2402 Annexes
// I, II, to confirm) by hand: share of gas 229 430.1/259 045.3 = 0.885674;
// Ref Eη = 0.885674·0.53 + 0.114326·0.42 = 0.517424; Ref Hη =
// 0.885674·0.87 + 0.114326·0.75 = 0.856281.
func TestWeightedReferences(t *testing.T) {
	e, h, err := WeightedReferences([]FuelReference{{6390.8098684483475 * 35.9, 0.53, 0.87}, {1377.4518608009935 * 21.5, 0.42, 0.75}})
	if err != nil || math.Abs(e-0.517424) > 1e-6 || math.Abs(h-0.856281) > 1e-6 {
		t.Errorf("%v %v %v", e, h, err)
	}
	if _, _, err := WeightedReferences([]FuelReference{{0, 0.53, 0.87}}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("no fuel: %v", err)
	}
	if _, _, err := WeightedReferences([]FuelReference{{1, 53, 0.87}}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("percentage accepted: %v", err)
	}
}

package emission_test

import (
	"fmt"

	"github.com/eipgw/eipgw/gateway/calc/emission"
)

// From a CEMS SO₂ reading to a compliance value and a mass rate
// (HJ 75-2017 annex A): the O₂-normalised value is for limits, the measured
// one for mass.
func ExampleO2Normalised() {
	c, _ := emission.PPMToMgPerNm3(139.94, emission.MolarMassSO2) // ≈ 400 mg/Nm³ dry
	cRef, _ := emission.O2Normalised(c, 8, 6)
	q, _ := emission.StandardDryFlow(300000, 120, 101325, -500, 0.08)
	rate, _ := emission.MassRate(c, q)
	fmt.Printf("C = %.1f mg/Nm³, C(6 %% O2) = %.1f mg/Nm³, Q = %.0f Nm³/h, E = %.2f kg/h\n", c, cRef, q, rate)
	// Output: C = 400.0 mg/Nm³, C(6 % O2) = 461.5 mg/Nm³, Q = 190811 Nm³/h, E = 76.32 kg/h
}

// SO₂ from the sulphur in 1 t of 1 % S fuel, by stoichiometry and by the
// 0.85 conversion factor some Chinese accounting rules use (an input).
func ExampleSO2FromFuelSulfur() {
	full, _ := emission.SO2FromFuelSulfur(1, 0.01, 1)
	hj, _ := emission.SO2FromFuelSulfur(1, 0.01, 0.85)
	fmt.Printf("%.1f kg, %.1f kg\n", full*1000, hj*1000)
	// Output: 20.0 kg, 17.0 kg
}

// CO₂ of one tonne of residual fuel oil at the IPCC 2006 defaults
// (IPCC 2006 Vol. 2, table 1.2 NCV and table 1.4 emission factor).
func ExampleCO2FromFuel() {
	co2, _ := emission.CO2FromFuel(1, 40.4, 77.4)
	fmt.Printf("%.5f t CO2\n", co2)
	// Output: 3.12696 t CO2
}

// A BDS reactor treating 500 Nm³/h of biogas.
func ExampleEvaluateBDS() {
	p, _ := emission.EvaluateBDS(emission.BDS{GasFlow: 500, H2SIn: 3000, H2SOut: 50, BedVolume: 20})
	fmt.Printf("RE %.2f %%, EC %.1f g/m³/h (clog risk %v), EBRT %.0f s, S %.3f kg/h, SO2 avoided %.3f kg/h\n",
		p.RemovalEfficiency, p.EliminationCapacity, p.ClogRisk, p.EBRT, p.SulfurRemoved, p.SO2Avoided)
	// Output: RE 98.33 %, EC 112.1 g/m³/h (clog risk true), EBRT 144 s, S 2.110 kg/h, SO2 avoided 4.216 kg/h
}

// Baseline (oil boilers supplying 1 000 000 GJ) minus project emissions.
func ExampleReduction() {
	be, _ := emission.BaselineEmissions(emission.Baseline{Boilers: []emission.ReplacedBoiler{
		{UsefulHeat: 1e6, Efficiency: 0.80, NCV: 40.4, EFCO2: 77.4, Sulfur: 0.02, SulfurToSO2: 1},
	}})
	pe, _ := emission.ProjectEmissions(emission.Project{
		Fuels:       []emission.ProjectFuel{{Quantity: 23000, NCV: 48.0, EFCO2: 56.1}},
		SO2Measured: 12.5,
	})
	er, _ := emission.Reduction(be, pe, emission.Emissions{})
	fmt.Printf("baseline %.0f t CO2, %.1f t SO2; reduction %.0f t CO2, %.1f t SO2\n", be.CO2, be.SO2, er.CO2, er.SO2)
	// Output: baseline 96750 t CO2, 1237.6 t SO2; reduction 34816 t CO2, 1225.1 t SO2
}

package energy_test

import (
	"fmt"

	"github.com/eipgw/eipgw/gateway/calc/energy"
)

// The EPA CHP Partnership's illustration: 100 units of fuel give 30 of
// power and 45 of heat.
func ExampleTotalEfficiency() {
	etaE, _ := energy.ElectricalEfficiency(100, 30)
	etaTh, _ := energy.ThermalEfficiency(100, 45)
	eta, _ := energy.TotalEfficiency(100, 30, 45)
	hpr, _ := energy.HeatToPowerRatio(45, 30)
	fmt.Printf("eta_e = %.2f, eta_th = %.2f, eta_total = %.2f, HPR = %.1f\n", etaE, etaTh, eta, hpr)
	// Output: eta_e = 0.30, eta_th = 0.45, eta_total = 0.75, HPR = 1.5
}

// EU primary energy savings of the same unit. The reference efficiencies
// must come from Regulation (EU) 2015/2402 as amended; these are
// illustrative values.
func ExamplePrimaryEnergySavings() {
	pes, _ := energy.PrimaryEnergySavings(0.45, 0.30, 0.90, 0.525)
	high, _ := energy.HighEfficiencyCogeneration(pes, 30)
	fmt.Printf("PES = %.2f %%, high-efficiency: %v\n", pes*100, high)
	// Output: PES = 6.67 %, high-efficiency: false
}

// Fuel saved against separate production with EPA's figures: 98 units of
// fuel for the power, a boiler of 80 % for the heat.
func ExampleFuelSaving() {
	saved, frac, _ := energy.FuelSaving(100, 30, 45, 30.0/98, 0.80)
	fmt.Printf("saved %.2f units of fuel, %.1f %% of separate production\n", saved, frac*100)
	// Output: saved 54.25 units of fuel, 35.2 % of separate production
}

// Direct-method efficiency of an oil-fired boiler.
func ExampleDirectEfficiency() {
	out := energy.SteamOutput{SteamFlow: 10000, SteamEnthalpy: 2777.119538, FeedwaterEnthalpy: 441.307176}
	eta, _ := energy.DirectEfficiency(out, 720, 40400)
	fmt.Printf("eta = %.4f\n", eta)
	// Output: eta = 0.8030
}

// Supplier versus tenant meters: 5.5 t/h are missing, 3 %
// are expected losses, and the remaining 2.5 t/h exceed the meters'
// combined uncertainty.
func ExampleMeterBalance() {
	tenants := make([]energy.Reading, 18)
	for i := range tenants {
		tenants[i] = energy.Reading{Value: 5.25, U: 0.025 * 5.25}
	}
	b, _ := energy.MeterBalance(energy.Reading{Value: 100, U: 1.5}, tenants, 0.03)
	fmt.Printf("imbalance %.1f t/h, unexplained %.1f t/h, U %.3f t/h, alarm %v\n", b.Imbalance, b.Unexplained, b.U, b.Alarm)
	// Output: imbalance 5.5 t/h, unexplained 2.5 t/h, U 1.600 t/h, alarm true
}

// The cascade example: flash steam worth 0.438776 MW reused from a chain
// supplied with 7.942248 MW.
func ExampleReuseRatio() {
	crr, _ := energy.ReuseRatio(0.438776, 7.942248)
	fmt.Printf("CRR = %.2f %%\n", crr*100)
	// Output: CRR = 5.52 %
}

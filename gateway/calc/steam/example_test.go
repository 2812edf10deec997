package steam_test

import (
	"errors"
	"fmt"

	"github.com/eipgw/eipgw/gateway/calc/steam"
)

// Specific enthalpy of the park's HP header steam, 1.0 MPa(a) and 250 °C
// (park operating-point table of the tests).
func ExampleEnthalpy() {
	h, err := steam.Enthalpy(1.0, steam.Kelvin(250))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("h = %.6f kJ/kg\n", h)
	// Output: h = 2943.222165 kJ/kg
}

// Region 3 and 5 are valid water states but out of scope: the error says so.
func ExampleRegionOf() {
	r, err := steam.RegionOf(1.6, steam.Kelvin(105))
	fmt.Println(r, err)
	r, err = steam.RegionOf(25.5837018, 650)
	fmt.Println(r, errors.Is(err, steam.ErrOutOfRange))
	// Output:
	// region 1 (liquid) <nil>
	// region 3 (near-critical) true
}

// IAPWS R7-97(2012) tables 35 and 36.
func ExampleSaturationTemperature() {
	ts, _ := steam.SaturationTemperature(1.0)
	ps, _ := steam.SaturationPressure(500)
	fmt.Printf("Ts(1 MPa) = %.6f K, ps(500 K) = %.8f MPa\n", ts, ps)
	// Output: Ts(1 MPa) = 453.035632 K, ps(500 K) = 2.63889776 MPa
}

// Saturated liquid and vapour at the LP header pressure.
func ExampleSaturation() {
	liq, vap, _ := steam.Saturation(0.6)
	fmt.Printf("h' = %.3f kJ/kg, h'' = %.3f kJ/kg, rho'' = %.4f kg/m³\n", liq.H, vap.H, vap.Density())
	// Output: h' = 670.501 kJ/kg, h'' = 2756.139 kJ/kg, rho'' = 3.1688 kg/m³
}

// Billing 20 t of steam at 1.0 MPa(a), 250 °C against make-up water at 20 °C
// (docs/metrics.md#steam-billing-convention).
func ExampleEnergy() {
	hs, _ := steam.Enthalpy(1.0, steam.Kelvin(250))
	hRef, _ := steam.Enthalpy(steam.StandardAtmosphere, steam.Kelvin(20))
	e, _ := steam.Energy(20, hs, hRef)
	p, _ := steam.ThermalPower(20, hs, hRef)
	fmt.Printf("E = %.3f GJ, P = %.3f MW\n", e, p)
	// Output: E = 57.184 GJ, P = 15.884 MW
}

// Flash steam from 1.0 MPa condensate let down to 0.4 MPa.
func ExampleFlashFraction() {
	x, _ := steam.FlashFraction(1.0, 0.4)
	fmt.Printf("x = %.6f\n", x)
	// Output: x = 0.074043
}

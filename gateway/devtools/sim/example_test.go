package sim_test

import (
	"fmt"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/sim"
)

// The supplier meter balances the tenant meters within the network losses;
// a CHP trip moves the steam load to the standby boilers.
func ExampleNewPark() {
	noon := time.Date(2026, 11, 26, 12, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))
	p, err := sim.NewPark(sim.Config{Seed: 1}, noon)
	if err != nil {
		panic(err)
	}
	p.Step(noon.Add(time.Minute))

	tenants := 0.0
	m := map[string]float64{}
	for _, d := range p.Devices() {
		if d.Kind == sim.KindSteamMeter && d.Tenant != "" {
			if err := p.Values(d.Name, m); err != nil {
				panic(err)
			}
			tenants += m["mass_flow"]
		}
	}
	supply := map[string]float64{}
	chp := map[string]float64{}
	_ = p.Values("steam-supply", supply)
	_ = p.Values("chp-1", chp)
	fmt.Printf("tenants %.2f t/h / (1 - 0.03) = supplier %.2f t/h\n", tenants, supply["mass_flow"])
	fmt.Printf("chp-1 running=%v: %.2f t/h steam, %.2f MW\n", chp["running"], chp["steam_flow"], chp["electric_power"])

	p.SetCHPTrip(true)
	boiler := map[string]float64{}
	_ = p.Values("chp-1", chp)
	_ = p.Values("boiler-1", boiler)
	fmt.Printf("tripped: chp-1 running=%v, boiler-1 %.2f t/h on %.0f kg/h oil\n", chp["running"], boiler["steam_flow"], boiler["fuel_flow"])
	_ = p.Values("boiler-2", boiler)
	fmt.Printf("boiler-2 %.2f t/h\n", boiler["steam_flow"])
	// Output:
	// tenants 53.08 t/h / (1 - 0.03) = supplier 54.72 t/h
	// chp-1 running=1: 54.72 t/h steam, 27.36 MW
	// tripped: chp-1 running=0, boiler-1 40.00 t/h on 2645 kg/h oil
	// boiler-2 14.72 t/h
}

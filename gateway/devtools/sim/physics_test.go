package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// Reference numbers of the balances, written out here rather than taken
// from the package constants so that a changed constant fails a test and
// gets documented.
const (
	refHSteam     = 2919.935 // kJ/kg, IF97 region 2 at 1.6 MPa, 250 C
	refHFeedwater = 441.307  // kJ/kg, IF97 region 1 at 1.6 MPa, 105 C
	refNGLHV      = 35.9     // MJ/Nm3
	refBiogasLHV  = 21.5     // MJ/Nm3
	refOilLHV     = 42.6     // MJ/kg
	refVm         = 22.414   // Nm3/kmol
)

// sumTenantSteam returns the sum of the tenant meters' mass_flow and
// mass_total.
func sumTenantSteam(t *testing.T, p *Park) (flow, total float64) {
	t.Helper()
	for i := range 18 {
		m := vals(t, p, steamName(i))
		flow += m["mass_flow"]
		total += m["mass_total"]
	}
	return flow, total
}

// TestSteamBalance: supplier = sum(tenants)/(1-loss) for flows and totaliser
// increments; production = CHP + boilers = supplier; boilers off at default
// demand.
func TestSteamBalance(t *testing.T) {
	for _, loss := range []float64{0, 0.05} {
		t.Run(fmt.Sprintf("loss=%v", loss), func(t *testing.T) {
			p := newPark(t, Config{Seed: 5, LossFraction: loss})
			eff := loss
			if eff == 0 {
				eff = 0.03
			}
			_, tenant0 := sumTenantSteam(t, p)
			supply0 := vals(t, p, "steam-supply")["mass_total"]
			run(p, 48*time.Hour, time.Minute, func(now time.Time) {
				flow, total := sumTenantSteam(t, p)
				s := vals(t, p, "steam-supply")
				if !near(s["mass_flow"], flow/(1-eff), 1e-12) {
					t.Fatalf("%v: supplier %v t/h, tenants %v t/h / (1-%v) = %v", now, s["mass_flow"], flow, eff, flow/(1-eff))
				}
				if d, want := s["mass_total"]-supply0, (total-tenant0)/(1-eff); !near(d, want, 1e-9) {
					t.Fatalf("%v: supplier totaliser +%v t, tenants' +%v t / (1-loss)", now, d, want)
				}
				chp := vals(t, p, "chp-1")
				b1, b2 := vals(t, p, "boiler-1"), vals(t, p, "boiler-2")
				if chp["steam_flow"] != s["mass_flow"] {
					t.Fatalf("%v: CHP %v t/h, supplier %v t/h", now, chp["steam_flow"], s["mass_flow"])
				}
				if b1["running"] != 0 || b2["running"] != 0 || b1["steam_flow"]+b2["steam_flow"]+b1["fuel_flow"]+b2["fuel_flow"] != 0 {
					t.Fatalf("%v: boilers run without a trip: %v %v", now, b1, b2)
				}
			})
			if _, total := sumTenantSteam(t, p); total-tenant0 < 48*25 {
				t.Errorf("tenants took only %v t in 48 h", total-tenant0)
			}
		})
	}
}

// TestTotalisersIntegrate: each step adds the trapezoid of the rate, and
// the totals do not depend on the step size.
func TestTotalisersIntegrate(t *testing.T) {
	pairs := map[string][2]string{ // device: rate, total
		"chp-1":        {"electric_power", "electric_energy"},
		"steam-supply": {"mass_flow", "mass_total"},
		"steam-t16":    {"mass_flow", "mass_total"},
		"power-t02":    {"active_power", "energy_import"},
		"heat-1":       {"thermal_power", "energy_total"},
	}
	p := newPark(t, Config{Seed: 9})
	p.Step(testStart.Add(8 * time.Hour))
	before := snapshot(t, p)
	p.Step(testStart.Add(8*time.Hour + 10*time.Minute))
	after := snapshot(t, p)
	for dev, rt := range pairs {
		got := after[dev][rt[1]] - before[dev][rt[1]]
		want := (before[dev][rt[0]] + after[dev][rt[0]]) / 2 / 6
		if !near(got, want, 1e-9) || want <= 0 {
			t.Errorf("%s: %s rose by %v over 10 min, want trapezoid %v", dev, rt[1], got, want)
		}
	}

	fine, coarse := newPark(t, Config{Seed: 9}), newPark(t, Config{Seed: 9})
	start := snapshot(t, fine)
	run(fine, 12*time.Hour, 5*time.Second, func(time.Time) {})
	run(coarse, 12*time.Hour, 15*time.Minute, func(time.Time) {})
	f, c := snapshot(t, fine), snapshot(t, coarse)
	for dev, rt := range pairs {
		df, dc := f[dev][rt[1]]-start[dev][rt[1]], c[dev][rt[1]]-start[dev][rt[1]]
		if !near(df, dc, 2e-3*math.Abs(df)) {
			t.Errorf("%s: %s rose by %v with 5 s steps, %v with 15 min steps", dev, rt[1], df, dc)
		}
	}
}

// TestCHPEnergyBalance: fuel in = electricity + m*(h_steam - h_fw) + losses,
// losses a fixed 9.67 % of fuel, eta_e 0.38, heat-led power.
func TestCHPEnergyBalance(t *testing.T) {
	for _, scale := range []float64{0.5, 1, 1.5} {
		p := newPark(t, Config{Seed: 2, SteamDemandScale: scale})
		full := false
		run(p, 48*time.Hour, 5*time.Minute, func(now time.Time) {
			c := vals(t, p, "chp-1")
			fuel := (c["ng_flow"]*refNGLHV + c["biogas_flow"]*refBiogasLHV) / 3600 // MW
			heat := c["steam_flow"] * (refHSteam - refHFeedwater) / 3600           // MW
			losses := fuel - c["electric_power"] - heat
			if !near(losses/fuel, 0.0967, 1e-3) {
				t.Fatalf("scale %v %v: losses %v MW of fuel %v MW (%v)", scale, now, losses, fuel, losses/fuel)
			}
			if eta := c["electric_power"] / fuel; !near(eta, 0.38, 1e-9) {
				t.Fatalf("scale %v %v: electrical efficiency %v", scale, now, eta)
			}
			if !near(c["electric_power"], 30*c["steam_flow"]/60, 1e-12) {
				t.Fatalf("scale %v %v: %v MW at %v t/h, not heat-led", scale, now, c["electric_power"], c["steam_flow"])
			}
			if c["steam_flow"] > 60 || c["running"] != 1 {
				t.Fatalf("scale %v %v: CHP %v t/h running=%v", scale, now, c["steam_flow"], c["running"])
			}
			if c["steam_flow"] == 60 {
				full = true
				if !near(c["electric_power"], 30, 1e-12) {
					t.Fatalf("full load %v MW", c["electric_power"])
				}
			}
			// Demand over capacity: the boilers make up the difference.
			s := vals(t, p, "steam-supply")["mass_flow"]
			b := vals(t, p, "boiler-1")["steam_flow"] + vals(t, p, "boiler-2")["steam_flow"]
			if !near(c["steam_flow"]+b, s, 1e-12) || (s <= 60 && b != 0) {
				t.Fatalf("scale %v %v: CHP %v + boilers %v t/h, supplier %v", scale, now, c["steam_flow"], b, s)
			}
		})
		if scale == 1.5 && !full {
			t.Error("scale 1.5 never reached the CHP's 60 t/h")
		}
		if scale == 1 && full {
			t.Error("default demand reached the CHP's capacity")
		}
	}
}

// TestCEMSFollowsFuel: dry flow from the fuel input and O2; SO2 mass from
// the H2S leaving bds-1 and the natural gas sulfur.
func TestCEMSFollowsFuel(t *testing.T) {
	p := newPark(t, Config{Seed: 4})
	ch4 := 1 + 2*(1-0.209)/0.209 // Nm3 dry flue gas per Nm3 CH4, stoichiometric
	run(p, 48*time.Hour, 2*time.Minute, func(now time.Time) {
		c, e, b := vals(t, p, "chp-1"), vals(t, p, "cems-1"), vals(t, p, "bds-1")
		if e["o2"] < 14.5 || e["o2"] > 16.5 {
			t.Fatalf("%v: O2 %v %%", now, e["o2"])
		}
		stoich := c["ng_flow"]*ch4 + c["biogas_flow"]*(0.6*ch4+0.4)
		if want := stoich * 20.9 / (20.9 - e["o2"]); !near(e["flue_gas_flow_dry"], want, 1e-9) {
			t.Fatalf("%v: dry flow %v, want %v", now, e["flue_gas_flow_dry"], want)
		}
		perMJ := stoich / (c["ng_flow"]*refNGLHV + c["biogas_flow"]*refBiogasLHV)
		if perMJ < 0.238 || perMJ > 0.26 {
			t.Fatalf("%v: %v Nm3 dry flue gas per MJ at stoichiometry", now, perMJ)
		}
		h2s := c["biogas_flow"] * b["outlet_h2s"] * 1e-6 / refVm * 34.081 // kg/h H2S to the CHP
		so2 := 64.066/34.081*h2s + c["ng_flow"]*10e-6*64.066/32.06        // kg/h
		if got := e["so2"] * e["flue_gas_flow_dry"] / 1e6; !near(got, so2, 1e-9) {
			t.Fatalf("%v: SO2 %v kg/h at the stack, %v kg/h from fuel sulfur", now, got, so2)
		}
		if e["nox"] < 30 || e["nox"] > 100 || e["dust"] <= 0 || e["dust"] > 5 || e["moisture"] < 5 || e["moisture"] > 10 {
			t.Fatalf("%v: implausible stack: %v", now, e)
		}
	})
}

// TestBDS: H2S removal, sulfur and air from the removed H2S, biogas to CHP.
func TestBDS(t *testing.T) {
	p := newPark(t, Config{Seed: 8})
	minFlow, maxFlow := math.Inf(1), 0.0
	run(p, 48*time.Hour, time.Minute, func(now time.Time) {
		b, c := vals(t, p, "bds-1"), vals(t, p, "chp-1")
		if c["biogas_flow"] != b["gas_flow"] {
			t.Fatalf("%v: CHP burns %v Nm3/h biogas, bds-1 passes %v", now, c["biogas_flow"], b["gas_flow"])
		}
		if b["inlet_h2s"] < 2000 || b["inlet_h2s"] > 3500 {
			t.Fatalf("%v: inlet H2S %v ppm", now, b["inlet_h2s"])
		}
		if r := b["outlet_h2s"] / b["inlet_h2s"]; r < 0.01-1e-12 || r > 0.03+1e-12 {
			t.Fatalf("%v: outlet/inlet %v", now, r)
		}
		removed := b["gas_flow"] * (b["inlet_h2s"] - b["outlet_h2s"]) * 1e-6 // Nm3/h H2S
		if want := removed / refVm * 34.081 * 32.06 / 34.081; !near(b["sulfur_produced"], want, 1e-12) {
			t.Fatalf("%v: sulfur %v kg/h, want %v", now, b["sulfur_produced"], want)
		}
		stoichAir := 0.5 * removed / 0.209
		if !near(b["air_flow"], 2*stoichAir, 1e-12) {
			t.Fatalf("%v: air %v Nm3/h, stoichiometric %v", now, b["air_flow"], stoichAir)
		}
		if b["ph"] < 6.5 || b["ph"] > 7.5 || b["orp"] > -250 || b["dissolved_oxygen"] > 0.3 {
			t.Fatalf("%v: liquid %v", now, b)
		}
		minFlow, maxFlow = math.Min(minFlow, b["gas_flow"]), math.Max(maxFlow, b["gas_flow"])
	})
	if maxFlow/minFlow < 1.2 {
		t.Errorf("biogas flow %v..%v Nm3/h has no daily profile", minFlow, maxFlow)
	}
}

// TestPowerMeters: P = sqrt(3) U I pf, voltage class, 50 Hz, energy.
func TestPowerMeters(t *testing.T) {
	p := newPark(t, Config{Seed: 6})
	run(p, 24*time.Hour, 3*time.Minute, func(now time.Time) {
		for i := range 18 {
			m := vals(t, p, powerName(i))
			if want := math.Sqrt(3) * m["voltage"] * m["current"] * m["power_factor"] / 1000; !near(m["active_power"], want, 1e-12) {
				t.Fatalf("%v %s: %v kW, sqrt(3) U I pf = %v", now, powerName(i), m["active_power"], want)
			}
			nominal := 10000.0
			if i >= 12 {
				nominal = 400
			}
			if math.Abs(m["voltage"]/nominal-1) > 0.06 {
				t.Fatalf("%v %s: %v V on a %v V supply", now, powerName(i), m["voltage"], nominal)
			}
			if math.Abs(m["frequency"]-50) > 0.1 || m["power_factor"] < 0.75 || m["power_factor"] > 0.99 {
				t.Fatalf("%v %s: %v", now, powerName(i), m)
			}
		}
	})
}

// TestHeatMeter: P = rho cp V dT, supply below the condensate, heat from
// t03's condensate.
func TestHeatMeter(t *testing.T) {
	p := newPark(t, Config{Seed: 10})
	run(p, 48*time.Hour, 2*time.Minute, func(now time.Time) {
		h := vals(t, p, "heat-1")
		dT := h["supply_temperature"] - h["return_temperature"]
		if want := 977.9 * 4.19 * h["volume_flow"] * dT / 3600; !near(h["thermal_power"], want, 1e-12) {
			t.Fatalf("%v: %v kW, rho cp V dT = %v", now, h["thermal_power"], want)
		}
		if h["supply_temperature"] >= 120 || dT < 20 {
			t.Fatalf("%v: supply %v C, return %v C (condensate 120 C)", now, h["supply_temperature"], h["return_temperature"])
		}
		cond := 0.85 * vals(t, p, "steam-t03")["mass_flow"] / 3.6 // kg/s
		if want := cond * 4.208 * (120 - h["return_temperature"] - 5); !near(h["thermal_power"], want, 1e-9) {
			t.Fatalf("%v: %v kW delivered, t03's condensate gives %v", now, h["thermal_power"], want)
		}
	})
}

// TestDailyProfile: night low, day high, smooth, tenants differ.
func TestDailyProfile(t *testing.T) {
	for seed := range int64(4) {
		p := newPark(t, Config{Seed: seed})
		at := func(h int) ([18]float64, [18]float64, float64) {
			p.Step(testStart.Add(time.Duration(h) * time.Hour))
			var steam, power [18]float64
			for i := range 18 {
				steam[i] = vals(t, p, steamName(i))["mass_flow"]
				power[i] = vals(t, p, powerName(i))["active_power"]
			}
			return steam, power, vals(t, p, "steam-supply")["mass_flow"]
		}
		nightS, nightP, nightSupply := at(3)
		dayS, dayP, daySupply := at(13)
		if nightSupply > 0.8*daySupply || daySupply < 45 || daySupply > 60 {
			t.Errorf("seed %d: supplier %v t/h at 03:00, %v t/h at 13:00", seed, nightSupply, daySupply)
		}
		ratios := map[float64]bool{}
		for i := range 18 {
			if nightS[i] >= dayS[i] || nightP[i] >= dayP[i] {
				t.Errorf("seed %d t%02d: night %v t/h %v kW, day %v t/h %v kW", seed, i+1, nightS[i], nightP[i], dayS[i], dayP[i])
			}
			ratios[math.Round(100*nightS[i]/dayS[i])] = true
		}
		if len(ratios) < 8 {
			t.Errorf("seed %d: tenants share too few night/day ratios: %v", seed, ratios)
		}
	}

	// Tenants start their day at different times: the minute each tenant's
	// flow first passes halfway between its 03:00 and 13:00 values.
	p := newPark(t, Config{Seed: 1})
	var night, day [18]float64
	p.Step(testStart.Add(3 * time.Hour))
	for i := range 18 {
		night[i] = vals(t, p, steamName(i))["mass_flow"]
	}
	p2 := newPark(t, Config{Seed: 1})
	p2.Step(testStart.Add(13 * time.Hour))
	for i := range 18 {
		day[i] = vals(t, p2, steamName(i))["mass_flow"]
	}
	rampAt := map[int]time.Time{}
	for el := time.Minute; el <= 9*time.Hour; el += time.Minute {
		now := testStart.Add(3*time.Hour + el)
		p.Step(now)
		for i := range 18 {
			if _, ok := rampAt[i]; !ok && vals(t, p, steamName(i))["mass_flow"] > (night[i]+day[i])/2 {
				rampAt[i] = now.Truncate(15 * time.Minute)
			}
		}
	}
	distinct := map[time.Time]bool{}
	for _, at := range rampAt {
		distinct[at] = true
	}
	if len(rampAt) != 18 || len(distinct) < 5 {
		t.Errorf("tenants ramp up at %d distinct quarter hours: %v", len(distinct), rampAt)
	}

	// Smooth: no jump between consecutive minutes.
	p = newPark(t, Config{Seed: 1})
	prev := vals(t, p, "steam-supply")["mass_flow"]
	run(p, 48*time.Hour, time.Minute, func(now time.Time) {
		s := vals(t, p, "steam-supply")["mass_flow"]
		if math.Abs(s/prev-1) > 0.01 {
			t.Fatalf("%v: supplier flow jumped from %v to %v t/h in a minute", now, prev, s)
		}
		prev = s
	})
}

// TestCHPTrip: the boilers take the load on oil at eta 0.88, the CEMS reads
// no flow, the tenants see nothing.
func TestCHPTrip(t *testing.T) {
	p, twin := newPark(t, Config{Seed: 12}), newPark(t, Config{Seed: 12})
	noon := testStart.Add(12 * time.Hour)
	p.Step(noon)
	twin.Step(noon)
	energy := vals(t, p, "chp-1")["electric_energy"]
	p.SetCHPTrip(true)
	check := func(now time.Time) {
		c, e := vals(t, p, "chp-1"), vals(t, p, "cems-1")
		if c["running"] != 0 || c["electric_power"] != 0 || c["ng_flow"] != 0 || c["biogas_flow"] != 0 || c["steam_flow"] != 0 {
			t.Fatalf("%v: tripped CHP reads %v", now, c)
		}
		if c["electric_energy"] != energy {
			t.Fatalf("%v: tripped CHP's energy counter moved", now)
		}
		if e["flue_gas_flow_dry"] != 0 || e["so2"] != 0 || e["o2"] != 20.9 {
			t.Fatalf("%v: CEMS on a cold stack reads %v", now, e)
		}
		if vals(t, p, "bds-1")["gas_flow"] <= 0 {
			t.Fatalf("%v: bds-1 stopped with the CHP", now)
		}
		s := vals(t, p, "steam-supply")["mass_flow"]
		total := 0.0
		for _, name := range []string{"boiler-1", "boiler-2"} {
			b := vals(t, p, name)
			if b["steam_flow"] > 40 {
				t.Fatalf("%v: %s makes %v t/h", now, name, b["steam_flow"])
			}
			if b["steam_flow"] > 0 {
				eta := b["steam_flow"] * 1000 * (refHSteam - refHFeedwater) / (b["fuel_flow"] * refOilLHV * 1000)
				if b["running"] != 1 || !near(eta, 0.88, 1e-9) || b["flue_o2"] > 5 {
					t.Fatalf("%v: %s %v, efficiency %v", now, name, b, eta)
				}
			}
			total += b["steam_flow"]
		}
		if !near(total, s, 1e-12) || s < 25 {
			t.Fatalf("%v: boilers make %v t/h, supplier meters %v", now, total, s)
		}
		// The tenants do not notice.
		for i := range 18 {
			if a, b := vals(t, p, steamName(i)), vals(t, twin, steamName(i)); a["mass_flow"] != b["mass_flow"] || a["mass_total"] != b["mass_total"] {
				t.Fatalf("%v: %s reads %v tripped, %v not", now, steamName(i), a, b)
			}
		}
	}
	check(noon)
	for el := time.Minute; el <= 12*time.Hour; el += time.Minute {
		p.Step(noon.Add(el))
		twin.Step(noon.Add(el))
		check(noon.Add(el))
	}
	p.SetCHPTrip(false)
	if c := vals(t, p, "chp-1"); c["running"] != 1 || c["steam_flow"] <= 0 || vals(t, p, "boiler-1")["running"] != 0 {
		t.Fatalf("after restart: CHP %v", c)
	}

	// At 1.5 x demand during the day both boilers run, and if the demand
	// exceeds their 80 t/h every tenant is curtailed alike.
	hi := newPark(t, Config{Seed: 12, SteamDemandScale: 1.5})
	hi.Step(noon)
	hi.SetCHPTrip(true)
	b1, b2 := vals(t, hi, "boiler-1"), vals(t, hi, "boiler-2")
	if b1["steam_flow"] != 40 || b2["running"] != 1 || b2["steam_flow"] <= 0 {
		t.Errorf("1.5 x demand at noon: boilers %v %v", b1, b2)
	}
	flow, _ := sumTenantSteam(t, hi)
	if s := vals(t, hi, "steam-supply")["mass_flow"]; !near(s, flow/0.97, 1e-12) || s > 80+1e-9 {
		t.Errorf("1.5 x demand at noon: supplier %v t/h, tenants %v t/h", s, flow)
	}
}

// TestMeterDrift: only the drifted meter changes, by the factor, so the
// supplier/tenant balance fails by it.
func TestMeterDrift(t *testing.T) {
	cases := []struct {
		device string
		factor float64
		scaled []string // points that read factor x true
	}{
		{"steam-supply", 1.08, []string{"mass_flow"}},
		{"steam-t05", 0.9, []string{"mass_flow"}},
		{"power-t02", 1.05, []string{"active_power", "current"}},
		{"heat-1", 1.08, []string{"volume_flow", "thermal_power"}},
	}
	for _, tc := range cases {
		t.Run(tc.device, func(t *testing.T) {
			p, twin := newPark(t, Config{Seed: 13}), newPark(t, Config{Seed: 13})
			t0 := testStart.Add(6 * time.Hour)
			p.Step(t0)
			twin.Step(t0)
			if err := p.SetMeterDrift(tc.device, tc.factor); err != nil {
				t.Fatal(err)
			}
			start := snapshot(t, p)
			for el := time.Minute; el <= 6*time.Hour; el += time.Minute {
				p.Step(t0.Add(el))
				twin.Step(t0.Add(el))
			}
			got, want := snapshot(t, p), snapshot(t, twin)
			for dev, m := range want {
				for k, v := range m {
					g := got[dev][k]
					switch {
					case dev != tc.device:
						if g != v {
							t.Errorf("%s.%s = %v, undrifted park %v", dev, k, g, v)
						}
					case slices.Contains(tc.scaled, k):
						if !near(g, tc.factor*v, 1e-12) {
							t.Errorf("%s.%s = %v, want %v x %v", dev, k, g, tc.factor, v)
						}
					case k == "mass_total" || k == "energy_import" || k == "energy_total":
						if d, dw := g-start[dev][k], v-start[dev][k]; !near(d, tc.factor*dw, 1e-9) {
							t.Errorf("%s.%s rose by %v, undrifted by %v", dev, k, d, dw)
						}
					default:
						if !near(g, v, 1e-12) {
							t.Errorf("%s.%s = %v, undrifted park %v", dev, k, g, v)
						}
					}
				}
			}
			if strings.HasPrefix(tc.device, "steam-") {
				// supplier*(1-loss) - sum(tenants) is 0 when healthy and
				// off by exactly the drifted meter's error.
				flow, _ := sumTenantSteam(t, p)
				imbalance := vals(t, p, "steam-supply")["mass_flow"]*0.97 - flow
				trueFlow := want[tc.device]["mass_flow"]
				wantImb := -(tc.factor - 1) * trueFlow
				if tc.device == "steam-supply" {
					wantImb = (tc.factor - 1) * trueFlow * 0.97
				}
				if !near(imbalance, wantImb, 1e-9) || math.Abs(imbalance) < 0.1 {
					t.Errorf("drift %v on %s: imbalance %v t/h, want %v", tc.factor, tc.device, imbalance, wantImb)
				}
			}
			if err := p.SetMeterDrift(tc.device, 1); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.scaled {
				if g, w := vals(t, p, tc.device)[k], vals(t, twin, tc.device)[k]; !near(g, w, 1e-12) {
					t.Errorf("healed %s.%s = %v, want %v", tc.device, k, g, w)
				}
			}
		})
	}

	p := newPark(t, Config{})
	if err := p.SetMeterDrift("chp-1", 1.1); !errors.Is(err, ErrNotMeter) {
		t.Errorf("drift on chp-1: err = %v, want ErrNotMeter", err)
	}
	if err := p.SetMeterDrift("steam-t99", 1.1); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("drift on steam-t99: err = %v, want ErrUnknownDevice", err)
	}
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1), 11} {
		if err := p.SetMeterDrift("steam-t01", f); err == nil {
			t.Errorf("SetMeterDrift(steam-t01, %v): no error", f)
		}
	}
}

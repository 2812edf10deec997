package park

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/calc/emission"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// setValue overwrites a point's value.
func setValue(b *batch.Batch, point string, v float64) {
	for i := range b.Points {
		if b.Points[i].Name == point {
			b.Points[i].Value = v
		}
	}
}

// TestTripHourCreditsOnlyWhatHappened: hour 0 normal, hour 1 with the CHP
// tripped (the simulator moves the load to the oil standby boilers and
// flares the biogas, while the BDS keeps treating it).
//   - BDS SO2 avoided is credited only for biogas the CHP burned: in the
//     normal hour the CHP burns all of it, so the credit is the BDS's own
//     Σ Q·ΔC·64.066/22.414 (the min() is the BDS side); in the trip hour
//     the CHP burns none and the credit is 0 kg although H2S was removed.
//   - The trip hour is marked standby_boilers = 1, the normal hour 0.
//   - The CEMS reads ambient O2 (20.9 %) on the cold stack: normalising to
//     15 % would multiply by (21 − 15)/(21 − 20.9) = 60 (HJ 75-2017 annex
//     A); the samples are refused and so2_o2ref_mg_nm3 is invalid.
//   - The heat check does not apply while standby boilers supply.
func TestTripHourCreditsOnlyWhatHappened(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	h1 := day0.Add(time.Hour)
	r.run(day0, h1, time.Minute)
	r.park.SetCHPTrip(true)
	r.run(h1, h1.Add(time.Hour), time.Minute)
	r.park.SetCHPTrip(false)
	r.finish(h1.Add(time.Hour))
	normal, trip := r.out.Hours[0].Metrics, r.out.Hours[1].Metrics

	removedN := mustMetric(t, normal, "bds_h2s_removed_kg", "")
	avoidedN := mustMetric(t, normal, "bds_so2_avoided_kg", "")
	// SO2 avoided = removed H2S (kg) / 34.081 · 64.066 when all is burned.
	if avoidedN.Flag != Valid || !near(avoidedN.Value, removedN.Value/34.081*64.066, 1e-9) {
		t.Errorf("normal hour: avoided %+v, removed %+v", avoidedN, removedN)
	}
	if m := mustMetric(t, trip, "bds_h2s_removed_kg", ""); m.Flag != Valid || m.Value <= 0 {
		t.Errorf("trip hour: the BDS still removes H2S: %+v", m)
	}
	if m := mustMetric(t, trip, "bds_so2_avoided_kg", ""); m.Flag != Valid || m.Value != 0 {
		t.Errorf("trip hour: SO2 avoided credited without biogas burned: %+v", m)
	}
	if m := mustMetric(t, normal, "standby_boilers", ""); m.Flag != Valid || m.Value != 0 {
		t.Errorf("normal hour standby: %+v", m)
	}
	if m := mustMetric(t, trip, "standby_boilers", ""); m.Flag != Valid || m.Value != 1 {
		t.Errorf("trip hour standby: %+v", m)
	}
	if m := mustMetric(t, trip, "boiler_firing_fraction", "boiler-1"); m.Flag != Valid || m.Value != 1 {
		t.Errorf("boiler-1 firing: %+v", m)
	}
	if m := mustMetric(t, trip, "so2_o2ref_mg_nm3", ""); m.Flag != Invalid || !strings.Contains(m.Reason, "o2: above 19 % (unit off or air in-leak), not normalised") {
		t.Errorf("trip hour O2-normalised SO2: %+v", m)
	}
	if m := mustMetric(t, normal, "so2_o2ref_mg_nm3", ""); m.Flag != Valid {
		t.Errorf("normal hour O2-normalised SO2: %+v", m)
	}
	if m := mustMetric(t, trip, "chp_heat_check", ""); m.Flag != NotApplicable {
		t.Errorf("trip hour heat check: %+v", m)
	}
	if m := mustMetric(t, normal, "chp_heat_check", ""); m.Flag != Valid || m.Value != 1 {
		t.Errorf("normal hour heat check: %+v", m)
	}
	// With the CHP down its emissions are 0 and the heat carries the
	// boilers' alone: Σ tenants' project CO2 = the park's.
	sum := 0.0
	for i := 1; i <= 18; i++ {
		sum += mustMetric(t, trip, "project_co2_t", tenantName(i)).Value
	}
	if p := mustMetric(t, trip, "project_co2_t", ""); !near(sum, p.Value, 1e-9) {
		t.Errorf("trip hour: tenants' project CO2 %.6f, park %.6f", sum, p.Value)
	}
}

// TestHeatCheckFlagsMissingHeat: a CHP steam flow transmitter reading 10 %
// low makes the CHP's useful heat (m·(h_s − h_ref), the delivery meters'
// basis) fall about 10 % below what the supplier meter sent out, beyond
// the 2 % tolerance: chp_heat_check = 0 and the margin is negative
// (≈ −0.1·155 GJ in an hour like the example's).
func TestHeatCheckFlagsMissingHeat(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		if dev == "chp-1" {
			for i := range b.Points {
				if b.Points[i].Name == "steam_flow" {
					b.Points[i].Value *= 0.9
				}
			}
		}
	}
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	ms := r.out.Hours[0].Metrics
	sup := mustMetric(t, ms, "supplier_steam_energy_gj", "").Value
	if m := mustMetric(t, ms, "chp_heat_check", ""); m.Flag != Valid || m.Value != 0 {
		t.Errorf("heat check: %+v", m)
	}
	if m := mustMetric(t, ms, "chp_heat_margin_gj", ""); m.Value > -0.08*sup || m.Value < -0.12*sup {
		t.Errorf("margin %.3f GJ, supplier %.3f GJ", m.Value, sup)
	}
}

// TestBiogasSulfurIntegratedPerSample: the biogas's sulphur is Σ Q·C_out
// over the BDS's samples divided by Σ Q, not the product of the hour's
// mean flow and mean concentration. Half the hour 2000 Nm3/h at 20 ppm,
// half 1000 Nm3/h at 60 ppm: flow-weighted (2000·20 + 1000·60)/3000 =
// 33.333 ppm where the mean of the ppm is 40. With natural gas sulphur and
// the boilers out of the way, so2_fuel_kg = 2 · B · 33.333e-6/22.414 ·
// 32.06 kg with B the CHP's biogas (Nm3) in the hour (sulphur → SO2 by
// 64/32, 40 CFR 72 App. B).
func TestBiogasSulfurIntegratedPerSample(t *testing.T) {
	cfg := loadExample(t)
	for i := range cfg.ParkEngine.Fuels {
		if cfg.ParkEngine.Fuels[i].Name == "natural_gas" {
			cfg.ParkEngine.Fuels[i].SulfurMgPerNm3 = 0
		}
	}
	r := newReplay(t, cfg, day0, 1)
	var biogas float64
	var n int
	r.mutate = func(dev string, b *batch.Batch) {
		switch dev {
		case "bds-1":
			if b.Time.Sub(day0) < 30*time.Minute {
				setValue(b, "gas_flow", 2000)
				setValue(b, "outlet_h2s", 20)
			} else {
				setValue(b, "gas_flow", 1000)
				setValue(b, "outlet_h2s", 60)
			}
		case "chp-1":
			for _, p := range b.Points {
				if p.Name == "biogas_flow" {
					biogas += p.Value
					n++
				}
			}
		}
	}
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	B := biogas / float64(n) // Nm3 in the hour
	want := 2 * B * (100.0 / 3 * 1e-6) / 22.414 * 32.06
	got := mustMetric(t, r.out.Hours[0].Metrics, "so2_fuel_kg", "")
	if got.Flag != Valid || !near(got.Value, want, 1e-9) {
		t.Errorf("so2_fuel_kg %+v, want %.9f (product of means would give %.9f)", got, want, want*40/(100.0/3))
	}
}

// TestGuardsMakeErrorsNotNumbers: impossible inputs flag the hour instead
// of producing numbers.
//   - outlet H2S above the inlet: negative removal, refused
//     (bds_h2s_removed_kg invalid);
//   - the CHP's electric power read 10× (≈ 280 MW from ≈ 72 MW of fuel):
//     η_e ≈ 3.8 > 1 is an error, chp_electrical_efficiency invalid;
//   - a steam meter reading 5e-324 MPa: IF97 gives v = +Inf, the samples
//     are refused and the tenant's energy is invalid.
func TestGuardsMakeErrorsNotNumbers(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		switch dev {
		case "bds-1":
			setValue(b, "outlet_h2s", 5000)
			setValue(b, "inlet_h2s", 3000)
		case "chp-1":
			for i := range b.Points {
				if b.Points[i].Name == "electric_power" {
					b.Points[i].Value *= 10
				}
			}
		case "steam-t04":
			setValue(b, "pressure", 5e-324)
		}
	}
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	ms := r.out.Hours[0].Metrics
	if m := mustMetric(t, ms, "bds_h2s_removed_kg", ""); m.Flag != Invalid || !strings.Contains(m.Reason, "outlet_h2s: above inlet_h2s") {
		t.Errorf("negative removal: %+v", m)
	}
	if m := mustMetric(t, ms, "chp_electrical_efficiency", ""); m.Flag != Invalid || !strings.Contains(m.Reason, "exceeds 1") {
		t.Errorf("efficiency above 1: %+v", m)
	}
	if m := mustMetric(t, ms, "steam_energy_gj", "t04"); m.Flag != Invalid || !strings.Contains(m.Reason, "outside IF97") {
		t.Errorf("tiny pressure: %+v", m)
	}
	for _, name := range []string{"chp_pes", "chp_fuel_saved_fraction", "chp_fuel_saved_gj"} {
		if m := mustMetric(t, ms, name, ""); m.Flag == Valid {
			t.Errorf("%s from an efficiency above 1: %+v", name, m)
		}
	}
}

// TestTenantReductionsAddUp: in a normal hour (boilers off) the tenants'
// baselines plus the grid's CO2 (W·0.581 t/MWh) make the park's baseline,
// and the tenants' project shares add up to the heat share a of the CHP's
// emissions, a = (Q/Ref Hη)/(Q/Ref Hη + W/Ref Eη) (chp_heat_allocation).
func TestTenantReductionsAddUp(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	ms := r.out.Hours[0].Metrics
	var base, proj, red float64
	for i := 1; i <= 18; i++ {
		base += mustMetric(t, ms, "baseline_co2_t", tenantName(i)).Value
		proj += mustMetric(t, ms, "project_co2_t", tenantName(i)).Value
		red += mustMetric(t, ms, "reduction_co2_t", tenantName(i)).Value
	}
	w := mustMetric(t, ms, "chp_electric_energy_mwh", "").Value
	a := mustMetric(t, ms, "chp_heat_allocation", "").Value
	if pb := mustMetric(t, ms, "baseline_co2_t", "").Value; !near(base+w*0.581, pb, 1e-9) {
		t.Errorf("Σ tenants %.6f + grid %.6f != park %.6f", base, w*0.581, pb)
	}
	pp := mustMetric(t, ms, "project_co2_t", "").Value
	if !near(proj, a*pp, 1e-9) || a <= 0 || a >= 1 {
		t.Errorf("Σ tenants' project %.6f, a %.4f × park %.6f", proj, a, pp)
	}
	// The park's reduction is the tenants' plus the power's.
	if pr := mustMetric(t, ms, "reduction_co2_t", "").Value; math.Abs(red+(w*0.581-(1-a)*pp)-pr) > 1e-9 {
		t.Errorf("Σ tenants %.6f + power %.6f != park %.6f", red, w*0.581-(1-a)*pp, pr)
	}
}

// TestPromNamesOfNewMetrics: the 0-or-1 flags carry no unit suffix; the
// margin is in watts.
func TestPromNamesOfNewMetrics(t *testing.T) {
	for _, tc := range []struct{ name, unit, want string }{
		{"chp_heat_check", "1", "eipgw_park_chp_heat_check"},
		{"standby_boilers", "1", "eipgw_park_standby_boilers"},
		{"chp_overall_threshold_met", "1", "eipgw_park_chp_overall_threshold_met"},
		{"chp_heat_margin_mw", "MW", "eipgw_park_chp_heat_margin_watts"},
		{"chp_ref_heat_efficiency", "1", "eipgw_park_chp_ref_heat_efficiency_ratio"},
	} {
		if got, _ := promName(tc.name, tc.unit); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestBDSAnalyserFaultRefusedEverywhere: for ten minutes of the hour the
// BDS's outlet analyser reads 3000 ppm, above the inlet: an analyser is
// wrong. Every metric resting on the BDS must come out as it does when
// the outlet analyser times out for those minutes instead: the biogas's
// sulphur (so2_fuel_kg) must not take the 3000 ppm, and the SO2 the BDS
// avoided must take its gas flow over the minutes its removal was
// evaluated on. Before, so2_fuel_kg took the fault and
// bds_so2_avoided_kg mixed the two sets of minutes.
func TestBDSAnalyserFaultRefusedEverywhere(t *testing.T) {
	run := func(fault func(b *batch.Batch)) []Metric {
		r := newReplay(t, loadExample(t), day0, 1)
		r.mutate = func(dev string, b *batch.Batch) {
			if m := b.Time.Minute(); dev == "bds-1" && m >= 5 && m < 15 {
				fault(b)
			}
		}
		r.run(day0, day0.Add(time.Hour), time.Minute)
		r.finish(day0.Add(time.Hour))
		return r.out.Hours[0].Metrics
	}
	high := run(func(b *batch.Batch) { setValue(b, "outlet_h2s", 3000) })
	silent := run(func(b *batch.Batch) {
		for i := range b.Points {
			if p := &b.Points[i]; p.Name == "outlet_h2s" {
				p.Quality, p.HasValue, p.Value = batch.Timeout, false, 0
			}
		}
	})
	for _, name := range []string{"so2_fuel_kg", "bds_so2_avoided_kg", "project_so2_t", "bds_h2s_removed_kg"} {
		a, b := mustMetric(t, high, name, ""), mustMetric(t, silent, name, "")
		if a.Flag != b.Flag || a.Samples != b.Samples || !near(a.Value, b.Value, 1e-12*max(b.Value, 1)) {
			t.Errorf("%s: outlet above inlet %s %v (%d samples), outlet silent %s %v (%d samples)", name, a.Flag, a.Value, a.Samples, b.Flag, b.Value, b.Samples)
		}
	}
}

// TestBDSAvoidedOverOneSetOfSamples: the CHP burns half the biogas the
// BDS treats, and for ten minutes the inlet analyser times out while the
// gas flow through the BDS triples. The avoided SO2 credited is
// B·ΣA/ΣQ over the minutes whose removal was evaluated (A and Q of the
// same fifty minutes), worked out here from the batches; before, ΣQ took
// all sixty minutes, the ten with the tripled flow among them.
func TestBDSAvoidedOverOneSetOfSamples(t *testing.T) {
	cfg := loadExample(t)
	r := newReplay(t, cfg, day0, 1)
	var sumA, sumQ, sumB float64
	var nA, nB int
	r.mutate = func(dev string, b *batch.Batch) {
		fault := b.Time.Minute() >= 5 && b.Time.Minute() < 15
		get := func(name string) *batch.Point {
			for i := range b.Points {
				if b.Points[i].Name == name {
					return &b.Points[i]
				}
			}
			t.Fatalf("%s has no %s", dev, name)
			return nil
		}
		switch dev {
		case "chp-1":
			p := get("biogas_flow")
			p.Value /= 2
			sumB += p.Value
			nB++
		case "bds-1":
			q, in := get("gas_flow"), get("inlet_h2s")
			if fault {
				q.Value *= 3
				in.Quality, in.HasValue, in.Value = batch.Timeout, false, 0
				return
			}
			perf, err := emission.EvaluateBDS(emission.BDS{GasFlow: q.Value, H2SIn: in.Value, H2SOut: get("outlet_h2s").Value, BedVolume: cfg.ParkEngine.BDS.BedVolume})
			if err != nil {
				t.Fatal(err)
			}
			sumA += perf.SO2Avoided
			sumQ += q.Value
			nA++
		}
	}
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	b, meanA := sumB/float64(nB), sumA/float64(nA)
	want := min(meanA, b*sumA/sumQ)
	if want == meanA {
		t.Fatalf("the CHP burns all the BDS's gas (%g of %g Nm3/h): the test needs it to burn less", b, sumQ/float64(nA))
	}
	m := mustMetric(t, r.out.Hours[0].Metrics, "bds_so2_avoided_kg", "")
	if m.Flag != Valid || !near(m.Value, want, 1e-9*want) {
		t.Errorf("bds_so2_avoided_kg %s %.9g, want %.9g = %.6g Nm3/h burned × %.6g kg / %.6g Nm3 over the %d evaluated minutes", m.Flag, m.Value, want, b, sumA, sumQ, nA)
	}
}

// TestFuelSavingFollowsPES: the CHP's useful heat drops to a fifth (its
// steam flow read low), so its overall efficiency falls below the Annex I
// threshold: PES is not applicable, and neither is the fuel saving, which
// is PES's own quantity and would otherwise stand in for it.
func TestFuelSavingFollowsPES(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		if dev == "chp-1" {
			for i := range b.Points {
				if b.Points[i].Name == "steam_flow" {
					b.Points[i].Value /= 5
				}
			}
		}
	}
	r.run(day0, day0.Add(time.Hour), time.Minute)
	r.finish(day0.Add(time.Hour))
	ms := r.out.Hours[0].Metrics
	if m := mustMetric(t, ms, "chp_overall_threshold_met", ""); m.Flag != Valid || m.Value != 0 {
		t.Fatalf("threshold met: %+v; the test needs the CHP below it", m)
	}
	for _, name := range []string{"chp_pes", "chp_fuel_saved_fraction", "chp_fuel_saved_gj"} {
		if m := mustMetric(t, ms, name, ""); m.Flag != NotApplicable || !strings.Contains(m.Reason, "below the Annex I threshold") {
			t.Errorf("%s: %s %q %g, want n/a below the threshold", name, m.Flag, m.Reason, m.Value)
		}
	}
}

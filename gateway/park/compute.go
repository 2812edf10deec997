package park

import (
	"fmt"
	"math"
	"strings"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/calc/emission"
	"github.com/eipgw/eipgw/gateway/calc/energy"
)

// Flag says whether a metric's value can be used.
type Flag string

// Flags.
const (
	// Valid: every input met the validity rule; Value holds the result.
	Valid Flag = "valid"
	// Invalid: an input was missing, bad or too incomplete, or the inputs
	// are physically impossible; Value is 0 and must not be used, Reason
	// says why.
	Invalid Flag = "invalid"
	// NotApplicable: the inputs are valid but the metric is undefined
	// (an efficiency while the unit burns no fuel); Reason says why.
	NotApplicable Flag = "n/a"
)

// Metric is one computed value of a live interval or an hourly record.
type Metric struct {
	// Name is the catalogue name (docs/metrics.md), with its unit as a
	// suffix: steam_energy_gj, chp_total_efficiency, balance_alarm.
	Name string
	Unit string
	// EntityKey is the tag naming what the metric is about (tenant,
	// device, link, header); empty for park-wide metrics.
	EntityKey, Entity string
	Value             float64
	Flag              Flag
	Reason            string
	// Completeness is the smallest share of the window's minutes with a
	// valid sample among the metric's inputs (live intervals: 1 or 0).
	Completeness float64
	// ValidMinutes and Samples are the smallest counts of valid minutes
	// and valid samples among the inputs: what the value rests on.
	ValidMinutes, Samples int
	// Hours and ValidHours count the hours a cumulative metric spans and
	// the valid ones it sums; 0 for the others.
	Hours, ValidHours int
}

// inputs is the combined verdict on a metric's input channels.
type inputs struct {
	ok               bool
	why              string
	compl            float64
	minutes, samples int
}

// calc computes the metrics of one window.
type calc struct {
	p     *plan
	w     *window
	r     rule
	hours float64 // window length, h
	live  bool
	st    map[chanID]chanState
	out   []Metric
}

func (c *calc) state(ch chanID) chanState {
	if s, ok := c.st[ch]; ok {
		return s
	}
	s := c.r.judge(c.p.names[ch], &c.w.ch[ch])
	c.st[ch] = s
	return s
}

func (c *calc) mean(ch chanID) float64 { return c.state(ch).mean }

func (c *calc) need(chs ...chanID) inputs {
	in := inputs{ok: true, compl: 1, minutes: 60, samples: math.MaxInt}
	var whys []string
	for _, ch := range chs {
		if ch == noChan {
			continue
		}
		s := c.state(ch)
		if !s.ok {
			in.ok = false
			whys = append(whys, s.why)
		}
		in.compl = min(in.compl, s.completeness)
		in.minutes = min(in.minutes, s.validMinutes)
		in.samples = min(in.samples, s.samples)
	}
	if in.samples == math.MaxInt {
		in.samples = 0
	}
	if c.live {
		in.minutes = 0
	}
	in.why = strings.Join(whys, "; ")
	return in
}

// put emits a metric: its value when the inputs are valid, flagged
// invalid with the inputs' reasons otherwise.
func (c *calc) put(name, unit, ek, e string, in inputs, v float64) {
	m := Metric{Name: name, Unit: unit, EntityKey: ek, Entity: e, Completeness: in.compl, ValidMinutes: in.minutes, Samples: in.samples}
	switch {
	case !in.ok:
		m.Flag, m.Reason = Invalid, in.why
	case math.IsNaN(v) || math.IsInf(v, 0):
		m.Flag, m.Reason = Invalid, "calculation: not a finite number"
	default:
		m.Flag, m.Value = Valid, v
	}
	c.out = append(c.out, m)
}

// putErr is put for a value computed by a function that may refuse its
// inputs: a refusal flags the metric invalid with the function's message.
func (c *calc) putErr(name, unit, ek, e string, in inputs, v float64, err error) {
	if in.ok && err != nil {
		in.ok, in.why = false, "calculation: "+err.Error()
	}
	c.put(name, unit, ek, e, in, v)
}

// na emits a metric that is undefined for valid inputs.
func (c *calc) na(name, unit, ek, e string, in inputs, why string) {
	if !in.ok {
		c.put(name, unit, ek, e, in, 0)
		return
	}
	c.out = append(c.out, Metric{Name: name, Unit: unit, EntityKey: ek, Entity: e, Flag: NotApplicable, Reason: why,
		Completeness: in.compl, ValidMinutes: in.minutes, Samples: in.samples})
}

// rate emits a live rate or an hourly total of one mean: live name/unit
// with the mean, hourly name/unit with mean·k·hours (k converts MW·h to GJ
// with 3.6, or 1).
func (c *calc) rate(liveName, liveUnit, hourName, hourUnit, ek, e string, ch chanID, k float64) {
	in := c.need(ch)
	if c.live {
		c.put(liveName, liveUnit, ek, e, in, c.mean(ch))
	} else {
		c.put(hourName, hourUnit, ek, e, in, c.mean(ch)*k*c.hours)
	}
}

// scale converts a mean rate into the window's quantity: the rate itself
// for live intervals, rate·k·hours for hourly records.
func (c *calc) scale(v, k float64) float64 {
	if c.live {
		return v
	}
	return v * k * c.hours
}

// mwhToGJ converts MW·h to GJ.
const mwhToGJ = 3.6

func (c *calc) run() {
	p := c.p
	c.tenants()
	c.balance()
	if p.chp != nil {
		c.chp()
	}
	c.boilers()
	c.shared()
	c.cascades()
	c.flowLinks(p.links)
	c.emissions()
	if !c.live && p.baseline != nil {
		c.reductions()
	}
}

func (c *calc) tenants() {
	p := c.p
	c.rate("supplier_steam_mass_flow_t_h", "t/h", "supplier_steam_mass_t", "t", "", "", p.supplier.mass, 1)
	c.rate("supplier_steam_power_mw", "MW", "supplier_steam_energy_gj", "GJ", "", "", p.supplier.power, mwhToGJ)
	for _, t := range p.tenants {
		c.rate("steam_mass_flow_t_h", "t/h", "steam_mass_t", "t", "tenant", t.name, t.steam.mass, 1)
		c.rate("steam_power_mw", "MW", "steam_energy_gj", "GJ", "tenant", t.name, t.steam.power, mwhToGJ)
		if t.power != noChan {
			c.rate("electric_power_mw", "MW", "electric_energy_mwh", "MWh", "tenant", t.name, t.power, 1)
		}
	}
	if c.live {
		return
	}
	for _, h := range p.headers {
		var chs []chanID
		sum := 0.0
		for _, t := range p.tenants {
			if t.header == h {
				chs = append(chs, t.steam.power)
				sum += c.mean(t.steam.power)
			}
		}
		if len(chs) > 0 {
			c.put("header_steam_energy_gj", "GJ", "header", h, c.need(chs...), sum*mwhToGJ*c.hours)
		}
	}
}

func (c *calc) balance() {
	p := c.p
	chs := []chanID{p.supplier.mass}
	for _, t := range p.tenants {
		chs = append(chs, t.steam.mass)
	}
	in := c.need(chs...)
	unit, suffix := "t", "_t"
	if c.live {
		unit, suffix = "t/h", "_t_h"
	}
	sup := c.scale(c.mean(p.supplier.mass), 1)
	ten := make([]energy.Reading, len(p.tenants))
	for i, t := range p.tenants {
		v := c.scale(c.mean(t.steam.mass), 1)
		ten[i] = energy.Reading{Value: v, U: t.steam.unc * v}
	}
	var b energy.Balance
	var err error
	if in.ok {
		b, err = energy.MeterBalance(energy.Reading{Value: sup, U: p.supplier.unc * sup}, ten, p.cfg.Balance.ExpectedLoss)
	}
	c.putErr("balance_tenants"+suffix, unit, "", "", in, b.Tenants, err)
	c.putErr("balance_loss"+suffix, unit, "", "", in, b.Imbalance, err)
	c.putErr("balance_unexplained"+suffix, unit, "", "", in, b.Unexplained, err)
	c.putErr("balance_uncertainty"+suffix, unit, "", "", in, b.U, err)
	if in.ok && err == nil && b.Supplier == 0 {
		c.na("balance_loss_fraction", "1", "", "", in, "no supplier flow")
	} else {
		c.putErr("balance_loss_fraction", "1", "", "", in, b.ImbalanceFrac, err)
	}
	alarm := 0.0
	if b.Alarm {
		alarm = 1
	}
	c.putErr("balance_alarm", "1", "", "", in, alarm, err)

	// Energy: what the supplier sent above the reference and the tenants
	// did not take is the network loss (condensate, heat loss).
	chs = []chanID{p.supplier.power}
	tenGJ := make([]float64, len(p.tenants))
	sum := 0.0
	for i, t := range p.tenants {
		chs = append(chs, t.steam.power)
		tenGJ[i] = c.scale(c.mean(t.steam.power), mwhToGJ)
		sum += tenGJ[i]
	}
	in = c.need(chs...)
	supGJ := c.scale(c.mean(p.supplier.power), mwhToGJ)
	loss := supGJ - sum
	if !c.live {
		c.put("network_loss_gj", "GJ", "", "", in, loss)
	} else {
		c.put("network_loss_mw", "MW", "", "", in, loss)
	}
	if supGJ > 0 || !in.ok {
		c.put("network_loss_fraction", "1", "", "", in, loss/supGJ)
	} else {
		c.na("network_loss_fraction", "1", "", "", in, "no supplier energy")
	}
	if c.live {
		return
	}
	shares, err := energy.AllocateLoss(loss, tenGJ)
	for i, t := range p.tenants {
		switch {
		case in.ok && err != nil:
			c.na("loss_share_gj", "GJ", "tenant", t.name, in, "no tenant energy to allocate against")
		default:
			v := 0.0
			if err == nil {
				v = shares[i]
			}
			c.put("loss_share_gj", "GJ", "tenant", t.name, in, v)
		}
	}
}

func (c *calc) chp() {
	u := c.p.chp
	c.rate("chp_electric_power_mw", "MW", "chp_electric_energy_mwh", "MWh", "", "", u.electric, 1)
	c.rate("chp_fuel_power_mw", "MW", "chp_fuel_energy_gj", "GJ", "", "", u.fuelPower, mwhToGJ)
	c.rate("chp_heat_power_mw", "MW", "chp_heat_gj", "GJ", "", "", u.heat, mwhToGJ)
	c.rate("chp_hrsg_heat_power_mw", "MW", "chp_hrsg_heat_gj", "GJ", "", "", u.hrsg, mwhToGJ)
	in := c.need(u.electric, u.fuelPower, u.heat)
	// All in MW: ratios are the same in MW and in GJ.
	f, w, q := c.mean(u.fuelPower), c.mean(u.electric), c.mean(u.heat)
	ratios := []string{"chp_electrical_efficiency", "chp_thermal_efficiency", "chp_total_efficiency", "chp_heat_to_power",
		"chp_ref_electrical_efficiency", "chp_ref_heat_efficiency", "chp_overall_threshold_met", "chp_pes", "chp_high_efficiency",
		"chp_fuel_saved_fraction"}
	if in.ok && f == 0 {
		for _, n := range ratios {
			c.na(n, "1", "", "", in, "not running (no fuel)")
		}
		if !c.live {
			c.na("chp_fuel_saved_gj", "GJ", "", "", in, "not running (no fuel)")
		}
	} else {
		ee, err := energy.ElectricalEfficiency(f, w)
		c.putErr("chp_electrical_efficiency", "1", "", "", in, ee, err)
		et, err := energy.ThermalEfficiency(f, q)
		c.putErr("chp_thermal_efficiency", "1", "", "", in, et, err)
		eo, eoErr := energy.TotalEfficiency(f, w, q)
		c.putErr("chp_total_efficiency", "1", "", "", in, eo, eoErr)
		if in.ok && w == 0 {
			c.na("chp_heat_to_power", "1", "", "", in, "no electricity")
		} else {
			hpr, err := energy.HeatToPowerRatio(q, w)
			c.putErr("chp_heat_to_power", "1", "", "", in, hpr, err)
		}
		refE, refH, refErr := c.chpReferences()
		c.putErr("chp_ref_electrical_efficiency", "1", "", "", in, refE, refErr)
		c.putErr("chp_ref_heat_efficiency", "1", "", "", in, refH, refErr)
		met := 0.0
		if eo >= u.threshold {
			met = 1
		}
		c.putErr("chp_overall_threshold_met", "1", "", "", in, met, eoErr)
		below := in.ok && eoErr == nil && met == 0
		why := fmt.Sprintf("overall efficiency %.4f below the Annex I threshold %g: the non-cogeneration electricity must be split off (Directive 2012/27/EU Annex I(b)), which is not implemented", eo, u.threshold)
		if below {
			c.na("chp_pes", "1", "", "", in, why)
			c.na("chp_high_efficiency", "1", "", "", in, why)
		} else {
			pes, err := energy.PrimaryEnergySavings(et, ee, refH, refE)
			err = firstErr(eoErr, refErr, err)
			c.putErr("chp_pes", "1", "", "", in, pes, err)
			high, herr := energy.HighEfficiencyCogeneration(pes, u.rated)
			hv := 0.0
			if high {
				hv = 1
			}
			c.putErr("chp_high_efficiency", "1", "", "", in, hv, firstErr(err, herr))
		}
		// The fuel saving is PES's own quantity (the same references and
		// output): below the threshold it is not applicable either, or it
		// would stand in for the PES the Directive refuses there; and an
		// efficiency above 1 (a meter fault) makes it invalid as it does
		// PES.
		saved, frac, err := energy.FuelSaving(f, w, q, refE, refH)
		err = firstErr(eoErr, refErr, err)
		switch {
		case below:
			c.na("chp_fuel_saved_fraction", "1", "", "", in, why)
			if !c.live {
				c.na("chp_fuel_saved_gj", "GJ", "", "", in, why)
			}
		default:
			c.putErr("chp_fuel_saved_fraction", "1", "", "", in, frac, err)
			if !c.live {
				c.putErr("chp_fuel_saved_gj", "GJ", "", "", in, saved*mwhToGJ*c.hours, err)
			}
		}
	}
	c.heatCheck()
	if !c.live {
		in := c.need(u.electric)
		lf, err := energy.LoadFactor(c.mean(u.electric)*c.hours, u.rated, c.hours)
		c.putErr("chp_load_factor", "1", "", "", in, lf, err)
	}
}

// chpReferences are the CHP's harmonised reference efficiencies weighted
// by each fuel's share of the window's fuel energy.
func (c *calc) chpReferences() (refElec, refHeat float64, err error) {
	u := c.p.chp
	refs := make([]energy.FuelReference, len(u.fuels))
	for i, f := range u.fuels {
		refs[i] = energy.FuelReference{Energy: max(c.mean(f.ch), 0) * f.fuel.NCV, RefElec: f.fuel.RefElectrical, RefHeat: f.fuel.RefHeat}
	}
	return energy.WeightedReferences(refs)
}

// heatCheck: while the CHP is the only source, the useful heat it raised
// (above the contract reference) must cover the heat the supplier meter
// sent out, within the configured tolerance.
func (c *calc) heatCheck() {
	p := c.p
	u := p.chp
	chs := []chanID{u.heat, p.supplier.power}
	standby := false
	for _, b := range p.boilers {
		chs = append(chs, b.firing)
		standby = standby || c.mean(b.firing) > 0
	}
	in := c.need(chs...)
	name, mname, unit := "chp_heat_check", "chp_heat_margin_gj", "GJ"
	if c.live {
		mname, unit = "chp_heat_margin_mw", "MW"
	}
	if in.ok && standby {
		c.na(name, "1", "", "", in, "standby boilers also supplied the network")
		c.na(mname, unit, "", "", in, "standby boilers also supplied the network")
		return
	}
	q, s := c.mean(u.heat), c.mean(p.supplier.power)
	ok := 0.0
	if q >= s*(1-u.tol) {
		ok = 1
	}
	c.put(name, "1", "", "", in, ok)
	c.put(mname, unit, "", "", in, c.scale(q-s, mwhToGJ))
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *calc) boilers() {
	var firing []chanID
	any := false
	for _, b := range c.p.boilers {
		c.rate("boiler_heat_power_mw", "MW", "boiler_heat_gj", "GJ", "device", b.name, b.heat, mwhToGJ)
		if !c.live {
			c.rate("", "", "boiler_fuel_energy_gj", "GJ", "device", b.name, b.fuelPower, mwhToGJ)
			c.put("boiler_firing_fraction", "1", "device", b.name, c.need(b.firing), c.mean(b.firing))
		}
		firing = append(firing, b.firing)
		any = any || c.mean(b.firing) > 0
		in := c.need(b.heat, b.fuelPower)
		f := c.mean(b.fuelPower)
		if in.ok && f == 0 {
			c.na("boiler_efficiency", "1", "device", b.name, in, "not firing (no fuel)")
			continue
		}
		eta, err := energy.ThermalEfficiency(f, c.mean(b.heat)) // direct method: heat above feedwater / fuel energy
		c.putErr("boiler_efficiency", "1", "device", b.name, in, eta, err)
	}
	if len(firing) > 0 {
		v := 0.0
		if any {
			v = 1
		}
		c.put("standby_boilers", "1", "", "", c.need(firing...), v)
	}
}

// shared: how much of the demand the shared plant meets, and how hard it
// works.
func (c *calc) shared() {
	p := c.p
	var chs []chanID
	var shared, own float64
	for _, t := range p.tenants {
		chs = append(chs, t.steam.power)
		shared += c.mean(t.steam.power)
		if t.hasOwn {
			chs = append(chs, t.own.power)
			own += c.mean(t.own.power)
		}
	}
	in := c.need(chs...)
	if in.ok && shared+own <= 0 {
		c.na("coverage", "1", "", "", in, "no tenant demand")
	} else {
		cov, err := energy.Coverage(max(shared, 0), max(own, 0))
		c.putErr("coverage", "1", "", "", in, cov, err)
	}
	if p.chp != nil {
		chs = []chanID{p.chp.heat}
		total := c.mean(p.chp.heat)
		for _, b := range p.boilers { // the same basis: above the contract reference
			chs = append(chs, b.useful)
			total += c.mean(b.useful)
		}
		in := c.need(chs...)
		if in.ok && total <= 0 {
			c.na("chp_steam_share", "1", "", "", in, "no steam raised")
		} else {
			c.put("chp_steam_share", "1", "", "", in, c.mean(p.chp.heat)/total)
		}
	}
	if !c.live && p.rated > 0 {
		in := c.need(p.supplier.mass)
		lf, err := energy.LoadFactor(c.mean(p.supplier.mass)*c.hours, p.rated, c.hours)
		c.putErr("steam_load_factor", "1", "", "", in, lf, err)
	}
}

func (c *calc) cascades() {
	p := c.p
	if len(p.cascades) == 0 {
		return
	}
	var all []chanID
	chains := map[int]*energy.Chain{}
	var order []int
	for _, l := range p.cascades {
		src := p.tenants[l.from]
		c.rate("cascade_heat_power_mw", "MW", "cascade_reused_gj", "GJ", "link", l.name, l.heat, mwhToGJ)
		in := c.need(l.heat, src.steam.power)
		all = append(all, l.heat, src.steam.power)
		reused, supplied := c.mean(l.heat), c.mean(src.steam.power)
		if in.ok && supplied <= 0 {
			c.na("cascade_reuse_ratio", "1", "link", l.name, in, "no steam supplied to "+src.name)
		} else {
			crr, err := energy.ReuseRatio(reused, supplied)
			c.putErr("cascade_reuse_ratio", "1", "link", l.name, in, crr, err)
		}
		ch, ok := chains[l.from]
		if !ok {
			ch = &energy.Chain{Supplied: max(supplied, 0)}
			chains[l.from] = ch
			order = append(order, l.from)
		}
		ch.Reused = append(ch.Reused, max(reused, 0))
	}
	in := c.need(all...)
	var list []energy.Chain
	for _, i := range order {
		list = append(list, *chains[i])
	}
	u, err := energy.CascadeUtilisation(list)
	if in.ok && err != nil {
		c.na("cascade_utilisation", "1", "", "", in, "no steam supplied to the cascade sources")
		return
	}
	c.put("cascade_utilisation", "1", "", "", in, u)
}

// sulfurPerUnit returns a fuel's sulphur, kg per Nm3 or per kg of fuel.
func (c *calc) sulfurPerUnit(f *config.Fuel) float64 {
	switch {
	case f.SulfurFromBDS:
		// Flow-weighted over the window: Σ Q·C_out / Σ Q, each product
		// taken per sample (kg S/h per Nm3/h = kg S/Nm3). Without any
		// gas through the BDS, the mean outlet ppm → kmol/Nm3 → kg S/Nm3.
		b := c.p.bds
		if q := c.mean(b.flow); q > 0 {
			return c.mean(b.outletS) / q
		}
		return c.mean(b.outlet) * 1e-6 / emission.MolarVolumeNormal * emission.MolarMassS
	case f.Basis == config.BasisVolume:
		return f.SulfurMgPerNm3 * 1e-6
	}
	return f.Sulfur
}

// fuelFlows lists the fuels burned by the project (CHP and boilers): the
// channel of each flow and its fuel.
func (c *calc) fuelFlows() []fuelChan {
	var fl []fuelChan
	if c.p.chp != nil {
		fl = append(fl, c.p.chp.fuels...)
	}
	for _, b := range c.p.boilers {
		fl = append(fl, fuelChan{point: "fuel_flow", fuel: b.fuel, ch: b.fuelFlow})
	}
	return fl
}

// fuelSO2 is the SO2 mass rate (kg/h) from the sulphur of the project's
// fuels, and its input channels.
func (c *calc) fuelSO2(fl []fuelChan) (float64, []chanID, error) {
	var chs []chanID
	so2 := 0.0
	for _, f := range fl {
		chs = append(chs, f.ch)
		if f.fuel.SulfurFromBDS {
			chs = append(chs, c.p.bds.outlet, c.p.bds.flow, c.p.bds.outletS)
		}
		sKg := max(c.mean(f.ch), 0) * c.sulfurPerUnit(f.fuel) // kg S/h
		v, err := emission.SO2FromFuelSulfur(sKg, 1, *f.fuel.SulfurToSO2)
		if err != nil {
			return 0, chs, err
		}
		so2 += v
	}
	return so2, chs, nil
}

func (c *calc) emissions() {
	p := c.p
	if p.cems != nil {
		c.rate("so2_cems_kg_h", "kg/h", "so2_cems_kg", "kg", "", "", p.cems.so2Mass, 1)
		c.put("so2_o2ref_mg_nm3", "mg/Nm3", "", "", c.need(p.cems.so2Ref), c.mean(p.cems.so2Ref))
	}
	fl := c.fuelFlows()
	if len(fl) > 0 {
		so2, chs, err := c.fuelSO2(fl)
		if c.live {
			c.putErr("so2_fuel_kg_h", "kg/h", "", "", c.need(chs...), so2, err)
		} else {
			c.putErr("so2_fuel_kg", "kg", "", "", c.need(chs...), so2*c.hours, err)
		}
		co2, chs, err := c.fuelCO2(fl)
		if c.live {
			c.putErr("co2_fuel_t_h", "t/h", "", "", c.need(chs...), co2, err)
		} else {
			c.putErr("co2_fuel_t", "t", "", "", c.need(chs...), co2*c.hours, err)
		}
	}
	if b := p.bds; b != nil {
		c.rate("bds_h2s_removed_kg_h", "kg/h", "bds_h2s_removed_kg", "kg", "", "", b.removed, 1)
		if !c.live {
			c.bdsAvoided()
		}
		c.put("bds_removal_efficiency_pct", "%", "", "", c.need(b.re), c.mean(b.re))
	}
}

// fuelCO2 is the CO2 rate (t/h) of the project's fuels.
func (c *calc) fuelCO2(fl []fuelChan) (float64, []chanID, error) {
	var chs []chanID
	co2 := 0.0
	for _, f := range fl {
		chs = append(chs, f.ch)
		v, err := emission.CO2FromFuel(max(c.mean(f.ch), 0), f.fuel.NCV/1000, f.fuel.CO2Factor) // units/h · GJ/unit · kg/GJ
		if err != nil {
			return 0, chs, err
		}
		co2 += v
	}
	return co2, chs, nil
}

// bdsAvoided credits the SO2 the BDS avoided only for the biogas the CHP
// burned: avoided = min(Σ avoided, B·Σ avoided/Σ Q), with Σ avoided and
// Σ Q the BDS's per-sample SO2 avoided and gas flow over the same samples
// (those the removal was evaluated on) and B the biogas the
// CHP's flow points metered. Biogas flared while the CHP is down avoids
// nothing: its H2S would not have reached a stack the baseline counts.
func (c *calc) bdsAvoided() {
	p := c.p
	b := p.bds
	var burn []chanID
	if p.chp != nil {
		for _, f := range p.chp.fuels {
			if f.fuel.SulfurFromBDS {
				burn = append(burn, f.ch)
			}
		}
	}
	in := c.need(append([]chanID{b.avoided, b.flowEval}, burn...)...)
	if len(burn) == 0 {
		c.na("bds_so2_avoided_kg", "kg", "", "", in, "no CHP fuel point burns the BDS's gas (fuels[].sulfur_from_bds)")
		return
	}
	burned := 0.0
	for _, ch := range burn {
		burned += max(c.mean(ch), 0)
	}
	avoided, flow := c.mean(b.avoided), c.mean(b.flowEval)
	v := 0.0
	if flow > 0 {
		v = min(avoided, burned*avoided/flow)
	}
	c.put("bds_so2_avoided_kg", "kg", "", "", in, max(v, 0)*c.hours)
}

// reductions: baseline (each tenant's replaced boilers making its heat,
// grid making the CHP's power) minus project (CHP and standby boiler
// fuels, the CHP stack's SO2) for the hour, for the park and per tenant.
// A tenant's project share is the heat part of the CHP's emissions plus
// the standby boilers', split by the tenants' delivered heat; the CHP's
// emissions are split between heat and power in proportion to the fuel
// separate production would need for each (Q/Ref Hη against W/Ref Eη).
func (c *calc) reductions() {
	p := c.p
	u := p.chp
	h := c.hours
	var chs []chanID
	var baseCO2, baseSO2, heatSum float64
	tenHeat := make([]float64, len(p.tenants))
	tenBase := make([]emission.Emissions, len(p.tenants))
	for i, t := range p.tenants {
		chs = append(chs, t.steam.power)
		tenHeat[i] = max(c.mean(t.steam.power), 0) * mwhToGJ * h
		heatSum += tenHeat[i]
		if t.base == nil {
			continue
		}
		b := t.base
		in := c.need(b.credited)
		chs = append(chs, b.credited)
		tenBase[i] = emission.Emissions{CO2: c.mean(b.co2) * h, SO2: c.mean(b.so2) * h}
		baseCO2 += tenBase[i].CO2
		baseSO2 += tenBase[i].SO2
		c.put("baseline_heat_gj", "GJ", "tenant", t.name, in, c.mean(b.credited)*mwhToGJ*h)
		c.put("baseline_uncredited_heat_gj", "GJ", "tenant", t.name, in, c.mean(b.excess)*mwhToGJ*h)
		c.put("baseline_co2_t", "t", "tenant", t.name, in, tenBase[i].CO2)
		c.put("baseline_so2_t", "t", "tenant", t.name, in, tenBase[i].SO2)
	}
	chs = append(chs, u.electric)
	grid, err := emission.BaselineEmissions(emission.Baseline{GridElectricity: max(c.mean(u.electric), 0) * h, GridEF: p.baseline.GridCO2Factor})
	base := emission.Emissions{CO2: baseCO2 + grid.CO2, SO2: baseSO2}
	inBase := c.need(chs...)
	c.putErr("baseline_co2_t", "t", "", "", inBase, base.CO2, err)
	c.putErr("baseline_so2_t", "t", "", "", inBase, base.SO2, err)
	baseErr := err

	// Project: the CHP (its stack SO2 from the CEMS, else from its fuels'
	// sulphur) and the standby boilers (their fuel's sulphur).
	var pchs []chanID
	var chpFuels, boilerFuels []emission.ProjectFuel
	for _, f := range u.fuels {
		pchs = append(pchs, f.ch)
		chpFuels = append(chpFuels, emission.ProjectFuel{Quantity: max(c.mean(f.ch), 0) * h, NCV: f.fuel.NCV / 1000, EFCO2: f.fuel.CO2Factor})
	}
	var bfl []fuelChan
	for _, b := range p.boilers {
		bfl = append(bfl, fuelChan{fuel: b.fuel, ch: b.fuelFlow})
		pchs = append(pchs, b.fuelFlow)
		boilerFuels = append(boilerFuels, emission.ProjectFuel{Quantity: max(c.mean(b.fuelFlow), 0) * h, NCV: b.fuel.NCV / 1000, EFCO2: b.fuel.CO2Factor})
	}
	var chpSO2 float64 // kg/h
	var serr error
	if p.cems != nil {
		pchs = append(pchs, p.cems.so2Mass)
		chpSO2 = max(c.mean(p.cems.so2Mass), 0)
	} else {
		var more []chanID
		chpSO2, more, serr = c.fuelSO2(u.fuels)
		pchs = append(pchs, more...)
	}
	boilSO2, _, e := c.fuelSO2(bfl)
	serr = firstErr(serr, e)
	chpE, e1 := emission.ProjectEmissions(emission.Project{Fuels: chpFuels, SO2Measured: chpSO2 * h / 1000})
	boilE, e2 := emission.ProjectEmissions(emission.Project{Fuels: boilerFuels, SO2Measured: boilSO2 * h / 1000})
	err = firstErr(e1, e2, serr)
	proj := emission.Emissions{CO2: chpE.CO2 + boilE.CO2, SO2: chpE.SO2 + boilE.SO2}
	inProj := c.need(pchs...)
	c.putErr("project_co2_t", "t", "", "", inProj, proj.CO2, err)
	c.putErr("project_so2_t", "t", "", "", inProj, proj.SO2, err)

	inAll := c.need(append(append(chs, pchs...), u.heat, u.fuelPower)...)
	red, rerr := emission.Reduction(base, proj, emission.Emissions{})
	err = firstErr(err, baseErr, rerr)
	c.putErr("reduction_co2_t", "t", "", "", inAll, red.CO2, err)
	c.putErr("reduction_so2_t", "t", "", "", inAll, red.SO2, err)

	// Heat share of the CHP's emissions, then each tenant's share of the
	// heat's.
	alloc := 1.0 // no CHP output: whatever it emitted goes with the heat
	refE, refH, aerr := c.chpReferences()
	if q, w := max(c.mean(u.heat), 0), max(c.mean(u.electric), 0); aerr == nil && q+w > 0 {
		alloc = (q / refH) / (q/refH + w/refE)
	} else if aerr != nil && c.mean(u.fuelPower) <= 0 {
		aerr = nil // not running: nothing to allocate
	}
	c.putErr("chp_heat_allocation", "1", "", "", inAll, alloc, aerr)
	err = firstErr(err, aerr)
	heatProj := emission.Emissions{CO2: alloc*chpE.CO2 + boilE.CO2, SO2: alloc*chpE.SO2 + boilE.SO2}
	for i, t := range p.tenants {
		share := 0.0
		if heatSum > 0 {
			share = tenHeat[i] / heatSum
		}
		tp := emission.Emissions{CO2: heatProj.CO2 * share, SO2: heatProj.SO2 * share}
		c.putErr("project_co2_t", "t", "tenant", t.name, inAll, tp.CO2, err)
		c.putErr("project_so2_t", "t", "tenant", t.name, inAll, tp.SO2, err)
		tr, terr := emission.Reduction(tenBase[i], tp, emission.Emissions{})
		c.putErr("reduction_co2_t", "t", "tenant", t.name, inAll, tr.CO2, firstErr(err, terr))
		c.putErr("reduction_so2_t", "t", "tenant", t.name, inAll, tr.SO2, firstErr(err, terr))
	}
}

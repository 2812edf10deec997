package park

import (
	"math"
	"strings"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/emission"
	"github.com/eipgw/eipgw/gateway/energy"
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
	in := c.need(u.electric, u.fuelPower, u.heat)
	// All in MW: ratios are the same in MW and in GJ.
	f, w, q := c.mean(u.fuelPower), c.mean(u.electric), c.mean(u.heat)
	if in.ok && f == 0 {
		for _, n := range []string{"chp_electrical_efficiency", "chp_thermal_efficiency", "chp_total_efficiency", "chp_heat_to_power", "chp_pes", "chp_fuel_saved_fraction"} {
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
		eo, err := energy.TotalEfficiency(f, w, q)
		c.putErr("chp_total_efficiency", "1", "", "", in, eo, err)
		if in.ok && w == 0 {
			c.na("chp_heat_to_power", "1", "", "", in, "no electricity")
		} else {
			hpr, err := energy.HeatToPowerRatio(q, w)
			c.putErr("chp_heat_to_power", "1", "", "", in, hpr, err)
		}
		pes, err := energy.PrimaryEnergySavings(et, ee, u.refHeat, u.refElec)
		c.putErr("chp_pes", "1", "", "", in, pes, err)
		saved, frac, err := energy.FuelSaving(f, w, q, u.refElec, u.refHeat)
		c.putErr("chp_fuel_saved_fraction", "1", "", "", in, frac, err)
		if !c.live {
			c.putErr("chp_fuel_saved_gj", "GJ", "", "", in, saved*mwhToGJ*c.hours, err)
		}
	}
	if !c.live {
		in := c.need(u.electric)
		lf, err := energy.LoadFactor(c.mean(u.electric)*c.hours, u.rated, c.hours)
		c.putErr("chp_load_factor", "1", "", "", in, lf, err)
	}
}

func (c *calc) boilers() {
	for _, b := range c.p.boilers {
		c.rate("boiler_heat_power_mw", "MW", "boiler_heat_gj", "GJ", "device", b.name, b.heat, mwhToGJ)
		if !c.live {
			c.rate("", "", "boiler_fuel_energy_gj", "GJ", "device", b.name, b.fuelPower, mwhToGJ)
		}
		in := c.need(b.heat, b.fuelPower)
		f := c.mean(b.fuelPower)
		if in.ok && f == 0 {
			c.na("boiler_efficiency", "1", "device", b.name, in, "not firing (no fuel)")
			continue
		}
		eta, err := energy.ThermalEfficiency(f, c.mean(b.heat)) // direct method: useful heat / fuel energy
		c.putErr("boiler_efficiency", "1", "device", b.name, in, eta, err)
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
		for _, b := range p.boilers {
			chs = append(chs, b.heat)
			total += c.mean(b.heat)
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
		// outlet H2S ppm → kmol/Nm3 → kg S/Nm3
		return c.mean(c.p.bds.outlet) * 1e-6 / emission.MolarVolumeNormal * emission.MolarMassS
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
			chs = append(chs, c.p.bds.outlet)
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
			c.rate("", "", "bds_so2_avoided_kg", "kg", "", "", b.avoided, 1)
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

// reductions: baseline (replaced boilers making the tenants' heat, grid
// making the CHP's power) minus project (CHP and standby boiler fuels, the
// CHP stack's SO2) for the hour.
func (c *calc) reductions() {
	p := c.p
	var chs []chanID
	heat := 0.0
	for _, t := range p.tenants {
		chs = append(chs, t.steam.power)
		heat += c.mean(t.steam.power) * mwhToGJ * c.hours
	}
	chs = append(chs, p.chp.electric)
	grid := max(c.mean(p.chp.electric), 0) * c.hours
	bf := p.baseFuel
	base, err := emission.BaselineEmissions(emission.Baseline{
		Boilers: []emission.ReplacedBoiler{{
			UsefulHeat: max(heat, 0), Efficiency: p.baseline.Efficiency, NCV: bf.NCV, EFCO2: bf.CO2Factor,
			Sulfur: bf.Sulfur, SulfurToSO2: *bf.SulfurToSO2,
		}},
		GridElectricity: grid, GridEF: p.baseline.GridCO2Factor,
	})
	inBase := c.need(chs...)
	c.putErr("baseline_co2_t", "t", "", "", inBase, base.CO2, err)
	c.putErr("baseline_so2_t", "t", "", "", inBase, base.SO2, err)
	baseErr := err

	fl := c.fuelFlows()
	var fuels []emission.ProjectFuel
	var pchs []chanID
	for _, f := range fl {
		pchs = append(pchs, f.ch)
		fuels = append(fuels, emission.ProjectFuel{Quantity: max(c.mean(f.ch), 0) * c.hours, NCV: f.fuel.NCV / 1000, EFCO2: f.fuel.CO2Factor})
	}
	// SO2: the CHP stack as the CEMS measured it, the boilers from their
	// fuel's sulphur; without a CEMS, every fuel's sulphur.
	var so2kg float64
	var serr error
	if p.cems != nil {
		pchs = append(pchs, p.cems.so2Mass)
		so2kg = max(c.mean(p.cems.so2Mass), 0)
		var bfl []fuelChan
		for _, b := range p.boilers {
			bfl = append(bfl, fuelChan{fuel: b.fuel, ch: b.fuelFlow})
		}
		v, _, e := c.fuelSO2(bfl)
		so2kg, serr = so2kg+v, e
	} else {
		var more []chanID
		so2kg, more, serr = c.fuelSO2(fl)
		pchs = append(pchs, more...)
	}
	proj, err := emission.ProjectEmissions(emission.Project{Fuels: fuels, SO2Measured: so2kg * c.hours / 1000})
	if err == nil {
		err = serr
	}
	inProj := c.need(pchs...)
	c.putErr("project_co2_t", "t", "", "", inProj, proj.CO2, err)
	c.putErr("project_so2_t", "t", "", "", inProj, proj.SO2, err)

	inAll := c.need(append(chs, pchs...)...)
	var red emission.Emissions
	if err == nil {
		err = baseErr
	}
	if err == nil {
		red, err = emission.Reduction(base, proj, emission.Emissions{})
	}
	c.putErr("reduction_co2_t", "t", "", "", inAll, red.CO2, err)
	c.putErr("reduction_so2_t", "t", "", "", inAll, red.SO2, err)
}

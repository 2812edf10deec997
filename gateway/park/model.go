package park

import (
	"errors"
	"fmt"
	"math"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/calc/emission"
	"github.com/eipgw/eipgw/gateway/calc/steam"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// chanID indexes a derived input channel: one quantity of one device, with
// a value per reading (a steam meter's mass flow, its thermal power, the
// CHP's fuel power, ...). Windows average channels; metrics combine the
// averages.
type chanID int

// noChan marks an optional channel that is not configured.
const noChan chanID = -1

// sample is one value of a channel from one reading, or the reason the
// reading gives none.
type sample struct {
	ch  chanID
	v   float64
	bad string // empty when valid: the point and its quality, e.g. "temperature: timeout"
}

// role turns one device's batch into channel samples.
type role struct {
	gateway string // "" matches any gateway
	device  string
	fn      func(pts points, out []sample) []sample
	// extra marks a role that reads a device another role may own too (a
	// flow link's meter): it runs in addition to the device's first role.
	extra bool
}

// meterChans are the channels of a steam meter.
type meterChans struct {
	mass, power chanID // t/h, MW above the contract reference
	unc         float64
}

type tenantPlan struct {
	name, header string
	steam        meterChans
	power        chanID // MW electric
	own          meterChans
	hasOwn       bool
	base         *tenantBaseline // nil: no replaced boilers, no baseline
}

// tenantBaseline are the channels of a tenant's baseline, computed per
// steam-meter sample from its replaced boilers (emission.CompanyBaseline).
type tenantBaseline struct {
	boilers                    []emission.CompanyBoiler
	credited, excess, co2, so2 chanID // MW, MW, t/h, t/h
}

type fuelChan struct {
	point string
	fuel  *config.Fuel
	ch    chanID // flow, Nm3/h or kg/h
}

type chpPlan struct {
	name                      string
	electric, fuelPower, heat chanID // MW; heat above the contract reference
	hrsg                      chanID // MW, heat raised above the feedwater
	fuels                     []fuelChan
	rated, threshold, tol     float64
	feedwaterP                float64
}

type boilerPlan struct {
	name                      string
	heat, fuelPower, fuelFlow chanID // MW above the feedwater, MW, kg/h
	useful                    chanID // MW above the contract reference
	firing                    chanID // 1 while fuel flows, else 0
	fuel                      *config.Fuel
	feedwaterP                float64
}

type cemsPlan struct{ so2Mass, so2Ref chanID } // kg/h, mg/Nm3 at reference O2

// bdsPlan: kg/h H2S, kg/h SO2, %, ppm, Nm3/h, kg/h of sulphur leaving with
// the treated gas.
// bdsPlan: flowEval is the gas flow of the samples the removal was
// evaluated on (those of removed and avoided), so that the avoided SO2 per
// Nm3 of gas is taken over one set of samples.
type bdsPlan struct{ removed, avoided, re, outlet, flow, outletS, flowEval chanID }

type cascadePlan struct {
	name     string
	from, to int // tenant indices
	heat     chanID
}

// plan is the configuration compiled for the engine: the channels, which
// device feeds which, and the constants of every formula.
type plan struct {
	cfg      *config.ParkEngine
	hRef     float64 // kJ/kg, contract reference enthalpy
	names    []string
	roles    map[string][]*role
	supplier meterChans
	rated    float64 // t/h
	tenants  []tenantPlan
	headers  []string
	chp      *chpPlan
	boilers  []boilerPlan
	cems     *cemsPlan
	bds      *bdsPlan
	cascades []cascadePlan
	links    []flowLinkPlan
	baseline *config.Baseline
}

func (p *plan) channel(name string) chanID {
	p.names = append(p.names, name)
	return chanID(len(p.names) - 1)
}

func (p *plan) addRole(gateway, device string, fn func(points, []sample) []sample) {
	p.roles[device] = append(p.roles[device], &role{gateway: gateway, device: device, fn: fn})
}

// compile builds the plan of a validated park_engine section.
func compile(cfg *config.ParkEngine) (*plan, error) {
	if cfg == nil {
		return nil, errors.New("park: no park_engine section")
	}
	hRef, err := steam.Enthalpy(cfg.Reference.Pressure, steam.Kelvin(cfg.Reference.Temperature))
	if err != nil {
		return nil, fmt.Errorf("park: contract reference state: %w", err)
	}
	p := &plan{cfg: cfg, hRef: hRef, roles: map[string][]*role{}, rated: cfg.Supplier.RatedFlow, baseline: cfg.Baseline}
	if cfg.CHP != nil && cfg.Baseline != nil && len(cfg.Baseline.Boilers) == 0 {
		return nil, errors.New("park: baseline without replaced boilers")
	}
	fuels := map[string]*config.Fuel{}
	for i := range cfg.Fuels {
		fuels[cfg.Fuels[i].Name] = &cfg.Fuels[i]
	}
	p.supplier = p.steamMeter(cfg.Supplier.Gateway, cfg.Supplier.Device, cfg.Supplier.Uncertainty)
	for _, h := range cfg.Headers {
		p.headers = append(p.headers, h.Name)
	}
	for _, t := range cfg.Tenants {
		tp := tenantPlan{name: t.Name, header: t.Header, power: noChan}
		tp.steam = p.steamMeter(t.SteamMeter.Gateway, t.SteamMeter.Device, t.SteamMeter.Uncertainty)
		if m := t.PowerMeter; m != nil {
			tp.power = p.kwMeter(m.Gateway, m.Device, "active_power")
		}
		if m := t.OwnSteamMeter; m != nil {
			tp.own, tp.hasOwn = p.steamMeter(m.Gateway, m.Device, m.Uncertainty), true
		}
		p.tenants = append(p.tenants, tp)
	}
	tenantIdx := map[string]int{}
	for i, t := range p.tenants {
		tenantIdx[t.name] = i
	}
	for _, c := range cfg.Cascades {
		p.cascades = append(p.cascades, cascadePlan{
			name: c.Name, from: tenantIdx[c.From], to: tenantIdx[c.To],
			heat: p.kwMeter(c.HeatMeter.Gateway, c.HeatMeter.Device, "thermal_power"),
		})
	}
	p.links = p.flowLinkPlans(cfg.FlowLinks)
	if c := cfg.CHP; c != nil {
		p.chp = p.chpUnit(c, fuels)
	}
	for _, b := range cfg.Boilers {
		p.boilers = append(p.boilers, p.boiler(b, fuels[b.Fuel]))
	}
	if c := cfg.CEMS; c != nil {
		p.cems = p.cemsUnit(c)
	}
	if b := cfg.BDS; b != nil {
		p.bds = p.bdsUnit(b)
	}
	if b := cfg.Baseline; b != nil {
		for i, bo := range b.Boilers {
			f := fuels[bo.Fuel]
			if f == nil || f.Basis != config.BasisMass {
				return nil, fmt.Errorf("park: baseline.boilers[%d]: fuel %q must be a mass-basis fuel", i, bo.Fuel)
			}
			ti, ok := tenantIdx[bo.Tenant]
			if !ok {
				return nil, fmt.Errorf("park: baseline.boilers[%d]: unknown tenant %q", i, bo.Tenant)
			}
			cb := emission.CompanyBoiler{Capacity: bo.Capacity, Efficiency: bo.Efficiency, NCV: f.NCV, EFCO2: f.CO2Factor,
				Sulfur: f.Sulfur, SulfurToSO2: *f.SulfurToSO2}
			for _, pt := range bo.EfficiencyCurve {
				cb.Curve = append(cb.Curve, emission.LoadEfficiency{Load: pt.Load, Efficiency: pt.Efficiency})
			}
			if bo.Sulfur != nil {
				cb.Sulfur = *bo.Sulfur
			}
			t := &p.tenants[ti]
			if t.base == nil {
				t.base = &tenantBaseline{}
			}
			t.base.boilers = append(t.base.boilers, cb)
		}
		for i := range p.tenants {
			if p.tenants[i].base != nil {
				p.tenantBaseline(&p.tenants[i])
			}
		}
	}
	return p, nil
}

// points indexes a batch's points by name.
type points map[string]*batch.Point

// get returns a good point's value in the expected unit, or why not.
func (pts points) get(name, unit string) (float64, string) {
	pt, ok := pts[name]
	switch {
	case !ok:
		return 0, name + ": missing"
	case pt.Quality != batch.Good:
		return 0, name + ": " + pt.Quality
	case !pt.HasValue || math.IsNaN(pt.Value) || math.IsInf(pt.Value, 0):
		return 0, name + ": no value"
	case pt.Unit != unit:
		return 0, fmt.Sprintf("%s: unit %q, want %q", name, pt.Unit, unit)
	}
	return pt.Value, ""
}

// first returns the first non-empty reason.
func first(reasons ...string) string {
	for _, r := range reasons {
		if r != "" {
			return r
		}
	}
	return ""
}

// errReason shortens a calculation error to its cause for counting.
func errReason(what string, err error) string {
	switch {
	case errors.Is(err, steam.ErrTwoPhase):
		return what + ": on the saturation line"
	case errors.Is(err, steam.ErrOutOfRange):
		return what + ": outside IF97 regions 1, 2, 4"
	}
	return what + ": invalid input"
}

// enthalpy is the IF97 specific enthalpy (kJ/kg) at p (MPa abs) and t
// (degC), or why not.
func enthalpy(p, t float64, what string) (float64, string) {
	h, err := steam.Enthalpy(p, steam.Kelvin(t))
	if err != nil {
		return 0, errReason(what, err)
	}
	return h, ""
}

func (p *plan) steamMeter(gateway, device string, unc float64) meterChans {
	m := meterChans{mass: p.channel(device + ".mass_flow"), power: p.channel(device + ".thermal_power"), unc: unc}
	hRef := p.hRef
	p.addRole(gateway, device, func(pts points, out []sample) []sample {
		flow, r1 := pts.get("mass_flow", "t/h")
		pr, r2 := pts.get("pressure", "MPa")
		t, r3 := pts.get("temperature", "degC")
		if r1 == "" && flow < 0 {
			r1 = "mass_flow: negative"
		}
		out = append(out, sample{ch: m.mass, v: flow, bad: r1})
		why := first(r1, r2, r3)
		var pw float64
		if why == "" {
			var h float64
			if h, why = enthalpy(pr, t, "pressure/temperature"); why == "" {
				var err error
				if pw, err = steam.ThermalPower(flow, h, hRef); err != nil {
					why = "steam power: " + err.Error()
				}
			}
		}
		return append(out, sample{ch: m.power, v: pw, bad: why})
	})
	return m
}

// tenantBaseline adds a tenant's baseline channels, computed from each
// sample of its steam meter's thermal power.
func (p *plan) tenantBaseline(t *tenantPlan) {
	b := t.base
	b.credited = p.channel(t.name + ".baseline_heat")
	b.excess = p.channel(t.name + ".baseline_excess_heat")
	b.co2 = p.channel(t.name + ".baseline_co2")
	b.so2 = p.channel(t.name + ".baseline_so2")
	dev := p.cfg.Tenants[p.tenantIndex(t.name)].SteamMeter
	var r *role
	for _, c := range p.roles[dev.Device] {
		if c.gateway == dev.Gateway {
			r = c
		}
	}
	inner, power := r.fn, t.steam.power
	r.fn = func(pts points, out []sample) []sample {
		n := len(out)
		out = inner(pts, out)
		var pw sample
		for _, s := range out[n:] {
			if s.ch == power {
				pw = s
			}
		}
		var rate emission.CompanyRate
		why := pw.bad
		if why == "" {
			var err error
			if rate, err = emission.CompanyBaseline(max(pw.v, 0), b.boilers); err != nil {
				why = "baseline: " + err.Error()
			}
		}
		return append(out, sample{ch: b.credited, v: rate.Credited, bad: why}, sample{ch: b.excess, v: rate.Excess, bad: why},
			sample{ch: b.co2, v: rate.CO2, bad: why}, sample{ch: b.so2, v: rate.SO2, bad: why})
	}
}

func (p *plan) tenantIndex(name string) int {
	for i, t := range p.cfg.Tenants {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// kwMeter is a power or heat meter reporting point in kW; its channel is
// in MW.
func (p *plan) kwMeter(gateway, device, point string) chanID {
	ch := p.channel(device + "." + point)
	p.addRole(gateway, device, func(pts points, out []sample) []sample {
		v, why := pts.get(point, "kW")
		if why == "" && v < 0 {
			// Power a tenant imports or heat it is delivered: a negative
			// reading is a wiring or configuration fault, and would
			// credit the tenant with energy it gave back.
			why = point + ": negative"
		}
		return append(out, sample{ch: ch, v: v / 1000, bad: why})
	})
	return ch
}

// flowUnit is the unit of a fuel's flow point.
func flowUnit(f *config.Fuel) string {
	if f.Basis == config.BasisVolume {
		return "Nm3/h"
	}
	return "kg/h"
}

// heatOutput is the heat (MW) a steam generator raises, on two bases:
// above its feedwater, m·(h_s − h_fw) with h_fw at the feedwater
// temperature and configured pressure (the direct-method boiler
// efficiency's basis), and above the contract reference, m·(h_s − h_ref)
// (the basis of every delivery meter, so the useful heat the plant puts
// into the network; docs/metrics.md#chp). A generator that raises no steam
// delivers 0 whatever its transmitters read (a vented or standby drum may
// sit on the saturation line).
func heatOutput(pts points, fwP, hRef float64) (fw, ref float64, why string) {
	m, r1 := pts.get("steam_flow", "t/h")
	ps, r2 := pts.get("steam_pressure", "MPa")
	ts, r3 := pts.get("steam_temperature", "degC")
	tf, r4 := pts.get("feedwater_temperature", "degC")
	if why := first(r1, r2, r3, r4); why != "" {
		return 0, 0, why
	}
	if m < 0 {
		return 0, 0, "steam_flow: negative"
	}
	if m == 0 {
		return 0, 0, ""
	}
	hs, why := enthalpy(ps, ts, "steam_pressure/steam_temperature")
	if why != "" {
		return 0, 0, why
	}
	hf, why := enthalpy(fwP, tf, "feedwater_temperature")
	if why != "" {
		return 0, 0, why
	}
	fw, err := steam.ThermalPower(m, hs, hf)
	if err != nil {
		return 0, 0, errReason("heat", err)
	}
	ref, err = steam.ThermalPower(m, hs, hRef)
	if err != nil {
		return 0, 0, errReason("heat", err)
	}
	return fw, ref, ""
}

func (p *plan) chpUnit(c *config.CHPUnit, fuels map[string]*config.Fuel) *chpPlan {
	u := &chpPlan{
		name: c.Device, rated: c.RatedPower, threshold: c.OverallThreshold, tol: c.HeatTolerance, feedwaterP: c.FeedwaterPressure,
		electric: p.channel(c.Device + ".electric_power"), fuelPower: p.channel(c.Device + ".fuel_power"),
		heat: p.channel(c.Device + ".useful_heat"), hrsg: p.channel(c.Device + ".hrsg_heat"),
	}
	hRef := p.hRef
	for _, fp := range c.Fuels {
		u.fuels = append(u.fuels, fuelChan{point: fp.Point, fuel: fuels[fp.Fuel], ch: p.channel(c.Device + "." + fp.Point)})
	}
	p.addRole(c.Gateway, c.Device, func(pts points, out []sample) []sample {
		e, why := pts.get("electric_power", "MW")
		if why == "" && e < 0 {
			// Gross generator power: the grid baseline credits it.
			why = "electric_power: negative"
		}
		out = append(out, sample{ch: u.electric, v: e, bad: why})
		var fuelMW float64
		var fuelWhy string
		for _, f := range u.fuels {
			v, why := pts.get(f.point, flowUnit(f.fuel))
			if why == "" && v < 0 {
				why = f.point + ": negative"
			}
			out = append(out, sample{ch: f.ch, v: v, bad: why})
			fuelWhy = first(fuelWhy, why)
			fuelMW += v * f.fuel.NCV / 3600 // (Nm3/h or kg/h)·(MJ/Nm3 or MJ/kg) → MJ/h → MW
		}
		out = append(out, sample{ch: u.fuelPower, v: fuelMW, bad: fuelWhy})
		fw, ref, why := heatOutput(pts, u.feedwaterP, hRef)
		return append(out, sample{ch: u.heat, v: ref, bad: why}, sample{ch: u.hrsg, v: fw, bad: why})
	})
	return u
}

func (p *plan) boiler(b config.BoilerUnit, fuel *config.Fuel) boilerPlan {
	u := boilerPlan{
		name: b.Device, fuel: fuel, feedwaterP: b.FeedwaterPressure,
		heat: p.channel(b.Device + ".heat_output"), fuelPower: p.channel(b.Device + ".fuel_power"),
		fuelFlow: p.channel(b.Device + ".fuel_flow"), useful: p.channel(b.Device + ".useful_heat"),
		firing: p.channel(b.Device + ".firing"),
	}
	hRef := p.hRef
	p.addRole(b.Gateway, b.Device, func(pts points, out []sample) []sample {
		fw, ref, why := heatOutput(pts, u.feedwaterP, hRef)
		out = append(out, sample{ch: u.heat, v: fw, bad: why}, sample{ch: u.useful, v: ref, bad: why})
		f, why := pts.get("fuel_flow", "kg/h")
		if why == "" && f < 0 {
			why = "fuel_flow: negative"
		}
		firing := 0.0
		if f > 0 {
			firing = 1
		}
		out = append(out, sample{ch: u.fuelFlow, v: f, bad: why}, sample{ch: u.firing, v: firing, bad: why})
		return append(out, sample{ch: u.fuelPower, v: f * u.fuel.NCV / 3600, bad: why})
	})
	return u
}

func (p *plan) cemsUnit(c *config.CEMSUnit) *cemsPlan {
	u := &cemsPlan{so2Mass: p.channel(c.Device + ".so2_mass"), so2Ref: p.channel(c.Device + ".so2_o2ref")}
	ref, o2Max := c.O2Reference, c.O2Max
	p.addRole(c.Gateway, c.Device, func(pts points, out []sample) []sample {
		so2, r1 := pts.get("so2", "mg/Nm3")
		q, r2 := pts.get("flue_gas_flow_dry", "Nm3/h")
		o2, r3 := pts.get("o2", "%")
		var mass, norm float64
		why := first(r1, r2)
		if why == "" {
			var err error
			if mass, err = emission.MassRate(so2, q); err != nil {
				why = "so2/flue_gas_flow_dry: invalid input"
			}
		}
		out = append(out, sample{ch: u.so2Mass, v: mass, bad: why})
		why = first(r1, r3)
		if why == "" {
			if err := emission.CheckO2ForNormalisation(o2, o2Max); err != nil {
				why = fmt.Sprintf("o2: above %g %% (unit off or air in-leak), not normalised", o2Max)
			} else if norm, err = emission.O2Normalised(so2, o2, ref); err != nil {
				why = "so2/o2: invalid input"
			}
		}
		return append(out, sample{ch: u.so2Ref, v: norm, bad: why})
	})
	return u
}

func (p *plan) bdsUnit(b *config.BDSUnit) *bdsPlan {
	u := &bdsPlan{
		removed: p.channel(b.Device + ".h2s_removed"), avoided: p.channel(b.Device + ".so2_avoided"),
		re: p.channel(b.Device + ".removal_efficiency"), outlet: p.channel(b.Device + ".outlet_h2s"),
		flow: p.channel(b.Device + ".gas_flow"), outletS: p.channel(b.Device + ".outlet_sulfur"),
		flowEval: p.channel(b.Device + ".gas_flow_evaluated"),
	}
	vol := b.BedVolume
	p.addRole(b.Gateway, b.Device, func(pts points, out []sample) []sample {
		q, r1 := pts.get("gas_flow", "Nm3/h")
		in, r2 := pts.get("inlet_h2s", "ppm")
		o, r3 := pts.get("outlet_h2s", "ppm")
		out = append(out, sample{ch: u.outlet, v: o, bad: r3})
		sWhy := first(r1, r3)
		if sWhy == "" && (q < 0 || o < 0) {
			sWhy = "gas_flow/outlet_h2s: negative"
		}
		if sWhy == "" && r2 == "" && o > in {
			// The removal refuses it (below): the outlet's sulphur, which
			// the biogas's SO2 is taken from, cannot rest on it either.
			sWhy = "outlet_h2s: above inlet_h2s (an analyser is wrong)"
		}
		// Sulphur leaving with the treated gas, per sample: Q·ppm·10⁻⁶
		// Nm3/h of H2S → kmol/h (/22.414) → kg S/h (×32.06).
		out = append(out, sample{ch: u.flow, v: q, bad: sWhy},
			sample{ch: u.outletS, v: q * o * 1e-6 / emission.MolarVolumeNormal * emission.MolarMassS, bad: sWhy})
		why := first(r1, r2, r3)
		var perf emission.BDSPerformance
		reWhy := why
		if why == "" {
			if q == 0 { // no biogas: nothing removed, no efficiency
				reWhy = "gas_flow: zero"
			} else {
				var err error
				if perf, err = emission.EvaluateBDS(emission.BDS{GasFlow: q, H2SIn: in, H2SOut: o, BedVolume: vol}); err != nil {
					why = "gas_flow/h2s: invalid input"
					if o > in {
						why = "outlet_h2s: above inlet_h2s (an analyser is wrong)"
					}
					reWhy = why
				}
			}
		}
		out = append(out, sample{ch: u.removed, v: perf.H2SRemoved, bad: why})
		out = append(out, sample{ch: u.avoided, v: perf.SO2Avoided, bad: why}, sample{ch: u.flowEval, v: q, bad: why})
		return append(out, sample{ch: u.re, v: perf.RemovalEfficiency, bad: reWhy})
	})
	return u
}

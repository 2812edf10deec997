// Package sim is the physical model of the simulated reference park: a CHP
// plant with its stack CEMS, a biodesulfurization reactor, two standby oil
// boilers, an HP/LP steam network to 18 tenants with supplier and tenant
// meters, tenant power meters and a heat meter on a cascade link.
//
// The model is pure: no I/O, no goroutines, no wall clock. The caller
// advances it with Step and reads each device's points with Values, in the
// units of the device profiles in drivers/modbus/profiles. Instantaneous
// values are a function of the seed, the time and the injected faults;
// totalisers integrate over the Step times. README.md documents the
// balances and constants.
package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Device is one simulated device.
type Device struct {
	// Name is the device name, e.g. "chp-1" or "steam-t07".
	Name string
	// Kind is the profile kind: chp, cems, bds, boiler, steam_meter,
	// power_meter or heat_meter.
	Kind string
	// Tenant is the tenant the device meters ("t01".."t18"); empty for
	// plant devices.
	Tenant string
}

// Config holds the park's knobs. The zero value of each field means its
// documented default.
type Config struct {
	// Seed makes the park deterministic: the same seed and the same
	// sequence of Step times give identical values.
	Seed int64
	// LossFraction is the share of the supplier's steam lost in the network
	// before the tenant meters, in [0.0001, 0.5). Default 0.03.
	LossFraction float64
	// SteamDemandScale multiplies every tenant's steam demand, in
	// [0.5, 1.5]. Default 1: the supplier peaks near 55 t/h, below the CHP's
	// 60 t/h. Above about 1.1 the boilers cover the peaks.
	SteamDemandScale float64
	// Location is the park's time zone for the daily profiles. Default
	// UTC+8 (China Standard Time).
	Location *time.Location
}

// Errors the caller can act on.
var (
	// ErrUnknownDevice: no device of that name in the park.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrNotMeter: the device is not a steam, power or heat meter.
	ErrNotMeter = errors.New("device is not a meter")
)

// Profile kinds.
const (
	KindCHP        = "chp"
	KindCEMS       = "cems"
	KindBDS        = "bds"
	KindBoiler     = "boiler"
	KindSteamMeter = "steam_meter"
	KindPowerMeter = "power_meter"
	KindHeatMeter  = "heat_meter"
)

const numTenants = 18

// numHPTenants is the number of tenants on the HP header (t01..t12); the
// others (t13..t18) are on the LP header.
const numHPTenants = 12

// Tenant indices on the cascade link heat-1.
const (
	cascadeSource = 2  // t03, condensate
	cascadeSink   = 13 // t14, hot-water loop
)

// Device indices, in the order Devices returns them.
const (
	devCHP = iota
	devCEMS
	devBDS
	devBoiler1
	devBoiler2
	devSupply
	devSteam0                           // steam-t01, then t02..t18
	devPower0  = devSteam0 + numTenants // power-t01, then t02..t18
	devHeat    = devPower0 + numTenants
	numDevices = devHeat + 1
)

// Point indices per kind, in profile order.
const (
	chpRunning = iota
	chpElectricPower
	chpNGFlow
	chpBiogasFlow
	chpSteamFlow
	chpSteamPressure
	chpSteamTemperature
	chpFeedwaterTemperature
	chpElectricEnergy
)

const (
	cemsSO2 = iota
	cemsNOx
	cemsDust
	cemsO2
	cemsFlowDry
	cemsTemperature
	cemsMoisture
)

const (
	bdsGasFlow = iota
	bdsInletH2S
	bdsOutletH2S
	bdsPH
	bdsORP
	bdsDO
	bdsAirFlow
	bdsTemperature
	bdsSulfur
)

const (
	boilerRunning = iota
	boilerSteamFlow
	boilerSteamPressure
	boilerSteamTemperature
	boilerFeedwaterTemperature
	boilerFuelFlow
	boilerFlueO2
	boilerFlueTemperature
)

const (
	steamMassFlow = iota
	steamPressure
	steamTemperature
	steamMassTotal
)

const (
	powerActive = iota
	powerVoltage
	powerCurrent
	powerPF
	powerFrequency
	powerEnergy
)

const (
	heatVolumeFlow = iota
	heatSupplyT
	heatReturnT
	heatPower
	heatEnergy
)

// point is one profile point: its name and the unit Values reports it in.
type point struct{ name, unit string }

// kindSpec lists a kind's points (the profile's, in its order) and the
// totaliser that integrates a rate point. Rates are per hour of the
// totaliser's unit (t/h -> t, kW -> kWh, MW -> MWh).
type kindSpec struct {
	points      []point
	rate, total int // -1 when the kind has no totaliser
	meter       bool
}

var kindSpecs = map[string]*kindSpec{
	KindCHP: {points: []point{
		chpRunning:              {"running", "1"},
		chpElectricPower:        {"electric_power", "MW"},
		chpNGFlow:               {"ng_flow", "Nm3/h"},
		chpBiogasFlow:           {"biogas_flow", "Nm3/h"},
		chpSteamFlow:            {"steam_flow", "t/h"},
		chpSteamPressure:        {"steam_pressure", "MPa"},
		chpSteamTemperature:     {"steam_temperature", "degC"},
		chpFeedwaterTemperature: {"feedwater_temperature", "degC"},
		chpElectricEnergy:       {"electric_energy", "MWh"},
	}, rate: chpElectricPower, total: chpElectricEnergy},
	KindCEMS: {points: []point{
		cemsSO2:         {"so2", "mg/Nm3"},
		cemsNOx:         {"nox", "mg/Nm3"},
		cemsDust:        {"dust", "mg/Nm3"},
		cemsO2:          {"o2", "%"},
		cemsFlowDry:     {"flue_gas_flow_dry", "Nm3/h"},
		cemsTemperature: {"flue_gas_temperature", "degC"},
		cemsMoisture:    {"moisture", "%"},
	}, rate: -1, total: -1},
	KindBDS: {points: []point{
		bdsGasFlow:     {"gas_flow", "Nm3/h"},
		bdsInletH2S:    {"inlet_h2s", "ppm"},
		bdsOutletH2S:   {"outlet_h2s", "ppm"},
		bdsPH:          {"ph", "pH"},
		bdsORP:         {"orp", "mV"},
		bdsDO:          {"dissolved_oxygen", "mg/L"},
		bdsAirFlow:     {"air_flow", "Nm3/h"},
		bdsTemperature: {"temperature", "degC"},
		bdsSulfur:      {"sulfur_produced", "kg/h"},
	}, rate: -1, total: -1},
	KindBoiler: {points: []point{
		boilerRunning:              {"running", "1"},
		boilerSteamFlow:            {"steam_flow", "t/h"},
		boilerSteamPressure:        {"steam_pressure", "MPa"},
		boilerSteamTemperature:     {"steam_temperature", "degC"},
		boilerFeedwaterTemperature: {"feedwater_temperature", "degC"},
		boilerFuelFlow:             {"fuel_flow", "kg/h"},
		boilerFlueO2:               {"flue_o2", "%"},
		boilerFlueTemperature:      {"flue_gas_temperature", "degC"},
	}, rate: -1, total: -1},
	KindSteamMeter: {points: []point{
		steamMassFlow:    {"mass_flow", "t/h"},
		steamPressure:    {"pressure", "MPa"},
		steamTemperature: {"temperature", "degC"},
		steamMassTotal:   {"mass_total", "t"},
	}, rate: steamMassFlow, total: steamMassTotal, meter: true},
	KindPowerMeter: {points: []point{
		powerActive:    {"active_power", "kW"},
		powerVoltage:   {"voltage", "V"},
		powerCurrent:   {"current", "A"},
		powerPF:        {"power_factor", "1"},
		powerFrequency: {"frequency", "Hz"},
		powerEnergy:    {"energy_import", "kWh"},
	}, rate: powerActive, total: powerEnergy, meter: true},
	KindHeatMeter: {points: []point{
		heatVolumeFlow: {"volume_flow", "m3/h"},
		heatSupplyT:    {"supply_temperature", "degC"},
		heatReturnT:    {"return_temperature", "degC"},
		heatPower:      {"thermal_power", "kW"},
		heatEnergy:     {"energy_total", "kWh"},
	}, rate: heatPower, total: heatEnergy, meter: true},
}

// device is a Device with its current readings, in kindSpec order.
type device struct {
	Device
	spec  *kindSpec
	cur   []float64
	drift float64 // reading factor of a meter; 1 when healthy
}

// Park is the simulated reference park. It is safe for concurrent use.
type Park struct {
	mu      sync.Mutex
	seed    uint64
	loss    float64
	scale   float64
	loc     *time.Location
	tenants [numTenants]tenant
	devs    [numDevices]device
	byName  map[string]int
	last    time.Time
	tripped bool
}

// NewPark builds the park and evaluates it at start. It does no I/O.
func NewPark(cfg Config, start time.Time) (*Park, error) {
	p := &Park{
		seed:  uint64(cfg.Seed),
		loss:  cfg.LossFraction,
		scale: cfg.SteamDemandScale,
		loc:   cfg.Location,
		last:  start,
	}
	if p.loss == 0 {
		p.loss = defaultLossFraction
	}
	if !(p.loss >= 1e-4 && p.loss < 0.5) {
		return nil, fmt.Errorf("sim: loss fraction %v outside [0.0001, 0.5)", cfg.LossFraction)
	}
	if p.scale == 0 {
		p.scale = 1
	}
	if !(p.scale >= 0.5 && p.scale <= 1.5) {
		return nil, fmt.Errorf("sim: steam demand scale %v outside [0.5, 1.5]", cfg.SteamDemandScale)
	}
	if p.loc == nil {
		p.loc = time.FixedZone("UTC+8", 8*3600)
	}
	p.initDevices()
	p.initTenants()
	p.update(start)
	p.initTotals()
	return p, nil
}

func (p *Park) initDevices() {
	add := func(i int, name, kind, tenant string) {
		spec := kindSpecs[kind]
		p.devs[i] = device{Device: Device{Name: name, Kind: kind, Tenant: tenant}, spec: spec, cur: make([]float64, len(spec.points)), drift: 1}
	}
	add(devCHP, "chp-1", KindCHP, "")
	add(devCEMS, "cems-1", KindCEMS, "")
	add(devBDS, "bds-1", KindBDS, "")
	add(devBoiler1, "boiler-1", KindBoiler, "")
	add(devBoiler2, "boiler-2", KindBoiler, "")
	add(devSupply, "steam-supply", KindSteamMeter, "")
	for i := range numTenants {
		tn := tenantName(i)
		add(devSteam0+i, "steam-"+tn, KindSteamMeter, tn)
		add(devPower0+i, "power-"+tn, KindPowerMeter, tn)
	}
	add(devHeat, "heat-1", KindHeatMeter, tenantName(cascadeSink))
	p.byName = make(map[string]int, numDevices)
	for i := range p.devs {
		p.byName[p.devs[i].Name] = i
	}
}

func tenantName(i int) string { return fmt.Sprintf("t%02d", i+1) }

// Devices returns the park's devices in a stable order: chp-1, cems-1,
// bds-1, boiler-1, boiler-2, steam-supply, steam-t01..steam-t18,
// power-t01..power-t18, heat-1.
func (p *Park) Devices() []Device {
	out := make([]Device, numDevices)
	for i := range p.devs {
		out[i] = p.devs[i].Device
	}
	return out
}

// Step advances the model to t. Totalisers integrate their rate over the
// elapsed time with the trapezoidal rule. A t before the last step is
// ignored.
func (p *Park) Step(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.Before(p.last) {
		return
	}
	hours := t.Sub(p.last).Hours()
	var before [numDevices]float64
	for i := range p.devs {
		if d := &p.devs[i]; d.spec.total >= 0 {
			before[i] = d.cur[d.spec.rate]
		}
	}
	p.update(t)
	for i := range p.devs {
		if d := &p.devs[i]; d.spec.total >= 0 {
			d.cur[d.spec.total] += (before[i] + d.cur[d.spec.rate]) / 2 * hours
		}
	}
	p.last = t
}

// Values sets dst[point] to each point of the device, in the unit of its
// profile. It leaves other keys of dst alone.
func (p *Park) Values(device string, dst map[string]float64) error {
	if dst == nil {
		return fmt.Errorf("sim: values of %q: nil map", device)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byName[device]
	if !ok {
		return fmt.Errorf("sim: device %q: %w", device, ErrUnknownDevice)
	}
	d := &p.devs[i]
	for j, pt := range d.spec.points {
		dst[pt.name] = d.cur[j]
	}
	return nil
}

// SetCHPTrip trips the CHP (true) or restarts it (false). While tripped the
// standby boilers carry the whole steam load, the biogas is flared and the
// CEMS on the CHP stack reads no flow. The change takes effect at the last
// Step time.
func (p *Park) SetCHPTrip(tripped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tripped = tripped
	p.update(p.last)
}

// SetMeterDrift makes a meter read factor times the true value of its flow
// measurement (steam: mass flow; power: current, hence active power; heat:
// volume flow, hence thermal power); its totaliser integrates the drifted
// reading from now on. Factor 1 heals the meter. factor must be in (0, 10].
func (p *Park) SetMeterDrift(device string, factor float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byName[device]
	if !ok {
		return fmt.Errorf("sim: drift of %q: %w", device, ErrUnknownDevice)
	}
	d := &p.devs[i]
	if !d.spec.meter {
		return fmt.Errorf("sim: drift of %q (kind %s): %w", device, d.Kind, ErrNotMeter)
	}
	if !(factor > 0 && factor <= 10) { // also rejects NaN
		return fmt.Errorf("sim: drift of %q: factor %v outside (0, 10]", device, factor)
	}
	d.drift = factor
	p.update(p.last)
	return nil
}

package config

import (
	"fmt"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // park time zones resolve on hosts without a zone database
)

// ParkEngine is the `park_engine` section read by `eipgw park`: the park's
// model (which device is the supplier meter, the tenants and their meters,
// the plant, the fuels, the cascade links, the emission baseline) and how
// the engine aggregates and validates readings. docs/configuration.md
// documents every key; docs/metrics.md what is computed from them.
type ParkEngine struct {
	// Interval is the aligned period of the live metrics (default 10s). It
	// must divide an hour.
	Interval time.Duration `yaml:"interval"`
	// LiveDelay is how long after an interval's end its live metrics are
	// computed, to let the interval's readings arrive (default 2s).
	LiveDelay time.Duration `yaml:"live_delay"`
	// Grace is how late (after the end of its hour) a reading is still
	// counted in its hourly record (default 2m).
	Grace time.Duration `yaml:"grace"`
	// MaxBatchesPerDeviceHour is how many batches of one device the engine
	// counts in an hour at most (default 36000, one every 100 ms); later
	// ones are left out. It bounds what the engine remembers to find
	// redeliveries, whatever a publisher sends.
	MaxBatchesPerDeviceHour int `yaml:"max_batches_per_device_hour"`
	// MaxHold is how long past its end an hour may be held open, beyond
	// its grace, while the engine's connection to the broker is down or a
	// gateway that sent data lately is offline (its status topic): their
	// batches of the hour may still come (default 1h; 0: never held).
	MaxHold time.Duration `yaml:"max_hold"`
	// Timezone is the IANA zone of the daily and monthly statements
	// (default UTC), e.g. Asia/Shanghai.
	Timezone string `yaml:"timezone"`
	// ClientID is the engine's MQTT client id (default eipgw-park-{park}).
	ClientID string `yaml:"client_id"`
	// InfluxDB is where derived records are written.
	InfluxDB *InfluxDB `yaml:"influxdb"`
	// AuditLog is the directory of the sealed hourly records: an
	// append-only, hash-chained log of each hour's records (package seal);
	// empty: hours are not sealed.
	AuditLog string `yaml:"audit_log"`
	// Evidence lists the gateways' public keys (config/evidence.go): a
	// batch of a gateway under evidence whose signature does not verify is
	// left out of the metrics. Absent: the file's ingest.evidence, if any.
	Evidence  *EvidenceKeys  `yaml:"evidence"`
	Reference SteamReference `yaml:"reference"`
	Validity  Validity       `yaml:"validity"`
	Supplier  SupplierMeter  `yaml:"supplier"`
	Balance   BalanceRule    `yaml:"balance"`
	Headers   []Header       `yaml:"headers"`
	Tenants   []Tenant       `yaml:"tenants"`
	CHP       *CHPUnit       `yaml:"chp"`
	Boilers   []BoilerUnit   `yaml:"boilers"`
	CEMS      *CEMSUnit      `yaml:"cems"`
	BDS       *BDSUnit       `yaml:"bds"`
	Cascades  []Cascade      `yaml:"cascades"`
	Fuels     []Fuel         `yaml:"fuels"`
	Baseline  *Baseline      `yaml:"baseline"`

	// FlowLinks are metered water and material flows between companies
	// (config/flowlink.go).
	FlowLinks []FlowLink `yaml:"flow_links"`

	// Location is the resolved Timezone after Load.
	Location *time.Location `yaml:"-"`
}

// SteamReference is the contract's reference state: steam energy is billed
// as m·(h − h_ref) with h_ref the IF97 enthalpy of water at this state (a
// fixed reference, docs/metrics.md#steam-billing-convention).
type SteamReference struct {
	// Convention is "fixed" (the only one implemented).
	Convention string `yaml:"convention"`
	// Pressure in MPa absolute (default 0.101325).
	Pressure float64 `yaml:"pressure"`
	// Temperature in °C (default 20).
	Temperature float64 `yaml:"temperature"`
}

// Validity is the rule that makes an hourly value valid.
type Validity struct {
	// Rule is "fraction" (at least MinFraction of the hour's minutes hold a
	// valid sample of every input) or "quadrants" (40 CFR 60.13(h)(2)(i):
	// a valid sample in each 15-minute quadrant of the hour).
	Rule string `yaml:"rule"`
	// MinFraction is the share of valid minutes the fraction rule needs
	// (default 0.75, i.e. 45 minutes: a project default, believed to match
	// the valid-hour rule of HJ 75-2017 but not checked against its text).
	MinFraction float64 `yaml:"min_fraction"`
}

// Validity rules.
const (
	ValidityFraction  = "fraction"
	ValidityQuadrants = "quadrants"
)

// DeviceRef names a device of the park: its name and, when device names
// repeat across gateways, the gateway that publishes it.
type DeviceRef struct {
	Device  string `yaml:"device"`
	Gateway string `yaml:"gateway"`
}

// Meter is a steam, power or heat meter with its expanded measurement
// uncertainty (k = 2) as a fraction of the reading.
type Meter struct {
	Device      string  `yaml:"device"`
	Gateway     string  `yaml:"gateway"`
	Uncertainty float64 `yaml:"uncertainty"`
}

// Ref returns the meter's device reference.
func (m Meter) Ref() DeviceRef { return DeviceRef{Device: m.Device, Gateway: m.Gateway} }

// SupplierMeter is the steam meter at the plant outlet.
type SupplierMeter struct {
	Device      string  `yaml:"device"`
	Gateway     string  `yaml:"gateway"`
	Uncertainty float64 `yaml:"uncertainty"`
	// RatedFlow is the network's rated steam flow in t/h, for the load
	// factor; 0 leaves the load factor out.
	RatedFlow float64 `yaml:"rated_flow"`
}

// BalanceRule configures the supplier-versus-tenants steam mass balance.
type BalanceRule struct {
	// ExpectedLoss is the modelled network loss as a fraction of the
	// supplier's mass (condensate drained, leaks), e.g. 0.03.
	ExpectedLoss float64 `yaml:"expected_loss"`
}

// Header is a steam header of the network.
type Header struct {
	Name string `yaml:"name"`
	// Pressure is the nominal header pressure, MPa absolute.
	Pressure float64 `yaml:"pressure"`
}

// Tenant is a park company taking steam and power from the shared plant.
type Tenant struct {
	Name   string `yaml:"name"`
	Header string `yaml:"header"`
	// SteamMeter meters the steam the tenant takes (required).
	SteamMeter Meter `yaml:"steam_meter"`
	// PowerMeter meters the tenant's electricity, optional.
	PowerMeter *Meter `yaml:"power_meter"`
	// OwnSteamMeter meters the steam of the tenant's own boilers, if any
	// still run; it enters the shared plant's coverage.
	OwnSteamMeter *Meter `yaml:"own_steam_meter"`
}

// CHPUnit is the shared cogeneration unit.
type CHPUnit struct {
	Device  string `yaml:"device"`
	Gateway string `yaml:"gateway"`
	// RatedPower is the rated electrical output, MW.
	RatedPower float64 `yaml:"rated_power"`
	// FeedwaterPressure is the feedwater pressure at the HRSG inlet, MPa
	// absolute, for its IF97 enthalpy (the temperature is measured).
	FeedwaterPressure float64 `yaml:"feedwater_pressure"`
	// Fuels maps each fuel-flow point of the device to a fuel. Each fuel
	// burned by the CHP gives its harmonised reference efficiencies
	// (fuels[].ref_electrical_efficiency, ref_heat_efficiency); PES weights
	// them by the fuels' shares of the fuel energy.
	Fuels []FuelPoint `yaml:"fuels"`
	// OverallThreshold is the overall efficiency (fraction) at or above
	// which the unit's whole output counts as cogeneration (Directive
	// 2012/27/EU Annex I(a): 0.80 for combined-cycle gas turbines with heat
	// recovery and extraction condensing steam turbines, 0.75 for the other
	// types); default 0.75.
	OverallThreshold float64 `yaml:"overall_efficiency_threshold"`
	// HeatTolerance is the tolerance (fraction of the supplier meter's
	// heat) of the consistency check heat produced ≥ heat supplied while
	// the CHP is the only source; default 0.02.
	HeatTolerance float64 `yaml:"heat_tolerance"`
}

// FuelPoint says which fuel a device's flow point measures.
type FuelPoint struct {
	Point string `yaml:"point"`
	Fuel  string `yaml:"fuel"`
}

// BoilerUnit is a standby boiler of the shared plant.
type BoilerUnit struct {
	Device            string  `yaml:"device"`
	Gateway           string  `yaml:"gateway"`
	Fuel              string  `yaml:"fuel"`
	FeedwaterPressure float64 `yaml:"feedwater_pressure"`
}

// CEMSUnit is the stack analyser on the CHP stack.
type CEMSUnit struct {
	Device  string `yaml:"device"`
	Gateway string `yaml:"gateway"`
	// O2Reference is the reference O₂ (%, dry) of the SO₂ limit.
	O2Reference float64 `yaml:"o2_reference"`
	// O2Max is the highest measured O₂ (%, dry) that is normalised; above
	// it the unit is taken as off (or the probe as drawing air) and the
	// sample is refused (default 19, a project default).
	O2Max float64 `yaml:"o2_max"`
}

// BDSUnit is the biodesulfurisation reactor feeding the CHP's biogas.
type BDSUnit struct {
	Device  string `yaml:"device"`
	Gateway string `yaml:"gateway"`
	// BedVolume is the packed bed (reactor) volume, m³.
	BedVolume float64 `yaml:"bed_volume"`
}

// Cascade is a link where one tenant's waste heat serves another.
type Cascade struct {
	Name string `yaml:"name"`
	// From is the tenant whose steam (condensate) is reused; To the tenant
	// that reuses it.
	From      string `yaml:"from"`
	To        string `yaml:"to"`
	HeatMeter Meter  `yaml:"heat_meter"`
}

// Fuel is a fuel's heating value, emission factor and sulphur.
type Fuel struct {
	Name string `yaml:"name"`
	// Basis is "volume" (flows in Nm3/h, NCV in MJ/Nm³) or "mass" (flows
	// in kg/h, NCV in MJ/kg).
	Basis string `yaml:"basis"`
	// NCV is the net calorific value, MJ/Nm³ or MJ/kg.
	NCV float64 `yaml:"ncv"`
	// CO2Factor is the CO₂ emission factor, kg/GJ on an NCV basis (0 for a
	// biogenic fuel whose CO₂ the methodology does not count).
	CO2Factor float64 `yaml:"co2_factor"`
	// Sulfur is the sulphur mass fraction of a mass-basis fuel.
	Sulfur float64 `yaml:"sulfur"`
	// SulfurMgPerNm3 is the sulphur content of a volume-basis fuel, mg/Nm³.
	SulfurMgPerNm3 float64 `yaml:"sulfur_mg_per_nm3"`
	// SulfurFromBDS takes the sulphur of this gas from the BDS reactor's
	// measured outlet H₂S instead (biogas).
	SulfurFromBDS bool `yaml:"sulfur_from_bds"`
	// SulfurToSO2 is the fraction k of the sulphur emitted as SO₂ (default 1).
	SulfurToSO2 *float64 `yaml:"sulfur_to_so2"`
	// Source documents where the values come from (table, version).
	Source string `yaml:"source"`
	// RefElectrical and RefHeat are the harmonised reference efficiencies
	// (fractions) of separate production of electricity and heat from this
	// fuel (Regulation (EU) 2015/2402 Annexes I and II, corrected as its
	// Annexes III and IV require); required for every fuel the CHP burns.
	RefElectrical float64 `yaml:"ref_electrical_efficiency"`
	RefHeat       float64 `yaml:"ref_heat_efficiency"`
	// RefSource says where the reference efficiencies come from, and
	// whether they were checked against the official text.
	RefSource string `yaml:"ref_source"`
}

// Fuel bases.
const (
	BasisVolume = "volume"
	BasisMass   = "mass"
)

// Baseline is what the park emitted before the shared plant: the heat the
// tenants take came from replaced boilers and the CHP's electricity from the
// grid (docs/metrics.md#reductions).
type Baseline struct {
	// Boilers are the replaced boilers, each of one company (tenant). A
	// tenant without boilers is not credited with any baseline.
	Boilers []ReplacedBoiler `yaml:"boilers"`
	// GridCO2Factor is the grid emission factor, t CO₂/MWh.
	GridCO2Factor float64 `yaml:"grid_co2_factor"`
	// Source documents the baseline's records.
	Source string `yaml:"source"`
}

// ReplacedBoiler is one boiler a company ran before the shared plant. The
// baseline applies a company's boilers to its metered heat, sharing the
// load in proportion to capacity and crediting no more than their total
// capacity.
type ReplacedBoiler struct {
	Name   string `yaml:"name"`
	Tenant string `yaml:"tenant"`
	// Fuel is the boiler's fuel, a mass-basis fuel of fuels.
	Fuel string `yaml:"fuel"`
	// Capacity is the rated heat output, MW.
	Capacity float64 `yaml:"capacity"`
	// Efficiency is the efficiency at every load (fraction, NCV basis, heat
	// on the contract reference basis); required without a curve.
	Efficiency float64 `yaml:"efficiency"`
	// EfficiencyCurve is the part-load efficiency, interpolated linearly
	// and held at its end values; replaces Efficiency.
	EfficiencyCurve []LoadEfficiency `yaml:"efficiency_curve"`
	// Sulfur overrides the fuel's sulphur mass fraction for this boiler
	// (the oil the company bought).
	Sulfur *float64 `yaml:"sulfur"`
	// Source documents the boiler's record.
	Source string `yaml:"source"`
}

// LoadEfficiency is one point of a part-load efficiency curve.
type LoadEfficiency struct {
	// Load is the heat output as a fraction of capacity.
	Load float64 `yaml:"load"`
	// Efficiency is the efficiency at that load, fraction.
	Efficiency float64 `yaml:"efficiency"`
}

// Park engine defaults.
const (
	DefaultParkInterval  = 10 * time.Second
	DefaultParkLiveDelay = 2 * time.Second
	DefaultParkGrace     = 2 * time.Minute
	DefaultMinFraction   = 0.75
	DefaultRefPressure   = 0.101325
	DefaultRefTemp       = 20.0
	// DefaultOverallThreshold is Directive 2012/27/EU Annex I(a)'s overall
	// efficiency threshold for gas turbines with heat recovery and internal
	// combustion engines.
	DefaultOverallThreshold = 0.75
	DefaultHeatTolerance    = 0.02
	DefaultO2Max            = 19.0
)

// DefaultParkMaxHold bounds how long an hour waits for the batches of a
// broker outage or of an offline gateway.
const DefaultParkMaxHold = time.Hour

// The park engine's bound on the batches of one device in an hour: by
// default one every 100 ms, at most one every 10 ms (the edge's shortest
// interval).
const (
	DefaultMaxBatchesPerDeviceHour = 36000
	BatchesPerDeviceHourCeiling    = 360000
)

// applyDefaults fills the section's unset keys; s tells a zero written in
// the file, which stays where zero is a valid setting, from a key left out.
func (p *ParkEngine) applyDefaults(s *Source) {
	setDur(&p.Interval, DefaultParkInterval)
	setDur(&p.LiveDelay, DefaultParkLiveDelay)
	setDur(&p.Grace, DefaultParkGrace)
	if p.MaxHold == 0 && !s.Written(parkRoot+".max_hold") {
		p.MaxHold = DefaultParkMaxHold
	}
	if p.MaxBatchesPerDeviceHour == 0 {
		p.MaxBatchesPerDeviceHour = DefaultMaxBatchesPerDeviceHour
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if p.Reference.Convention == "" {
		p.Reference.Convention = "fixed"
	}
	if p.Reference.Pressure == 0 {
		p.Reference.Pressure = DefaultRefPressure
	}
	if p.Reference.Temperature == 0 && !s.Written(parkRoot+".reference.temperature") {
		// 0 °C is a reference some contracts use.
		p.Reference.Temperature = DefaultRefTemp
	}
	if p.Validity.Rule == "" {
		p.Validity.Rule = ValidityFraction
	}
	if p.Validity.Rule == ValidityFraction && p.Validity.MinFraction == 0 {
		p.Validity.MinFraction = DefaultMinFraction
	}
	if db := p.InfluxDB; db != nil {
		setDur(&db.Timeout, DefaultWriteTimeout)
	}
	if c := p.CHP; c != nil {
		if c.OverallThreshold == 0 {
			c.OverallThreshold = DefaultOverallThreshold
		}
		if c.HeatTolerance == 0 && !s.Written(parkRoot+".chp.heat_tolerance") {
			c.HeatTolerance = DefaultHeatTolerance
		}
	}
	if c := p.CEMS; c != nil && c.O2Max == 0 {
		c.O2Max = DefaultO2Max
	}
	for i := range p.Fuels {
		if p.Fuels[i].SulfurToSO2 == nil {
			k := 1.0
			p.Fuels[i].SulfurToSO2 = &k
		}
	}
}

// validateParkEngine applies the park engine's defaults, validates the
// section and resolves its secret. It is a no-op without the section.
func (f *File) validateParkEngine() Errors {
	p := f.ParkEngine
	if p == nil {
		return nil
	}
	p.applyDefaults(f.Source)
	v := &parkValidator{s: f.Source, devices: map[string]string{}}
	v.check(p)
	if db := p.InfluxDB; db != nil {
		tok, err := secret(db.TokenEnv, db.TokenFile)
		if err != nil {
			v.add(secretPath("park_engine.influxdb.token", db.TokenEnv), "%v", err)
		}
		db.Token = tok
	}
	return v.errs
}

// parkRoot is the park engine's section in the file.
const parkRoot = "park_engine"

type parkValidator struct {
	s       *Source
	errs    Errors
	devices map[string]string // gateway/device -> path of first use

	// Names defined by the sections checked so far, for the references
	// of later sections.
	headerNames map[string]bool
	tenantNames map[string]bool
	fuelsByName map[string]Fuel
}

func (v *parkValidator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.s.Errorf(path, format, args...))
}

func (v *parkValidator) ident(path, val string, required bool) {
	switch {
	case val == "" && required:
		v.add(path, "required field is missing")
	case val != "" && !ValidName(val):
		v.add(path, "%q is not a valid name: use letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit", val)
	}
}

// device checks a device reference and that no two roles share a device.
func (v *parkValidator) device(path, device, gateway string) {
	v.ident(path+".device", device, true)
	v.ident(path+".gateway", gateway, false)
	if device == "" {
		return
	}
	key := gateway + "/" + device
	if first, ok := v.devices[key]; ok {
		v.add(path+".device", "device %q is already used by %s", device, first)
		return
	}
	v.devices[key] = path
}

// rng checks lo <= x <= hi (or lo < x when open).
func (v *parkValidator) rng(path string, x, lo, hi float64, openLo bool, unit string) {
	if x < lo || x > hi || (openLo && x == lo) {
		left := "["
		if openLo {
			left = "("
		}
		v.add(path, "%g out of range %s%g, %g] %s", x, left, lo, hi, unit)
	}
}

func (v *parkValidator) meter(path string, m Meter, required bool) {
	if m.Device == "" && !required {
		return
	}
	v.device(path, m.Device, m.Gateway)
	v.rng(path+".uncertainty", m.Uncertainty, 0, 0.5, false, "(fraction of reading, k = 2)")
}

// check validates every section of p, in the order of the file.
func (v *parkValidator) check(p *ParkEngine) {
	v.schedule(p)
	v.influxDB(p.InfluxDB)
	v.reference(p.Reference)
	v.validity(p.Validity)
	v.supplier(p)
	v.headers(p.Headers)
	v.tenants(p.Tenants)
	v.fuels(p.Fuels, p.BDS != nil)
	v.chp(p.CHP)
	v.boilers(p.Boilers)
	v.cems(p.CEMS)
	v.bds(p.BDS)
	v.cascades(p.Cascades)
	v.flowLinks(p.FlowLinks)
	v.baseline(p.Baseline, p.CHP != nil)
}

// schedule checks the interval, delays, time zone and client id; it sets
// p.Location.
func (v *parkValidator) schedule(p *ParkEngine) {
	if p.Interval < time.Second || p.Interval > time.Hour || time.Hour%p.Interval != 0 {
		v.add(parkRoot+".interval", "%s must be between 1s and 1h and divide an hour", p.Interval)
	}
	if p.LiveDelay > time.Hour {
		v.add(parkRoot+".live_delay", "%s is longer than an hour", p.LiveDelay)
	}
	if p.Grace > 24*time.Hour {
		v.add(parkRoot+".grace", "%s is longer than 24h", p.Grace)
	}
	if p.MaxHold < 0 || p.MaxHold > 24*time.Hour {
		v.add(parkRoot+".max_hold", "%s must be between 0s and 24h", p.MaxHold)
	}
	if n := p.MaxBatchesPerDeviceHour; n < 1 || n > BatchesPerDeviceHourCeiling {
		v.add(parkRoot+".max_batches_per_device_hour", "%d must be between 1 and %d (one batch every 10 ms)", n, BatchesPerDeviceHourCeiling)
	}
	if p.AuditLog != "" && (strings.TrimSpace(p.AuditLog) != p.AuditLog || strings.ContainsRune(p.AuditLog, 0)) {
		v.add(parkRoot+".audit_log", "%q is not a usable directory path (leading or trailing spaces, or a NUL)", p.AuditLog)
	} else if st, err := os.Stat(p.AuditLog); p.AuditLog != "" && err == nil && !st.IsDir() {
		// Missing, it is created at start; a file there would stop the
		// engine at start instead.
		v.add(parkRoot+".audit_log", "%s is a file, not a directory", p.AuditLog)
	}
	if loc, err := time.LoadLocation(p.Timezone); err != nil {
		v.add(parkRoot+".timezone", "unknown time zone %q (use an IANA name such as Asia/Shanghai)", p.Timezone)
	} else if off, at, ok := partHourOffset(loc); ok {
		v.add(parkRoot+".timezone", "%s is %s from UTC on %s: the engine's hours are UTC clock hours, so its days and months must begin on a whole UTC hour; a zone with offsets of whole hours only is needed",
			p.Timezone, off, at.Format("2006-01-02"))
	} else {
		p.Location = loc
	}
	if strings.ContainsAny(p.ClientID, "/+#") {
		v.add(parkRoot+".client_id", "%q must not contain '/', '+' or '#'", p.ClientID)
	}
}

func (v *parkValidator) influxDB(db *InfluxDB) {
	if db == nil {
		v.add(parkRoot+".influxdb", "required section is missing")
		return
	}
	v.errs = append(v.errs, validateInfluxDB(v.s, parkRoot+".influxdb", db)...)
}

func (v *parkValidator) reference(r SteamReference) {
	if r.Convention != "fixed" {
		v.add(parkRoot+".reference.convention", "unsupported convention %q (supported: fixed)", r.Convention)
	}
	v.rng(parkRoot+".reference.pressure", r.Pressure, 0, 16.5, true, "MPa abs")
	v.rng(parkRoot+".reference.temperature", r.Temperature, 0, 200, false, "degC")
}

func (v *parkValidator) validity(val Validity) {
	switch val.Rule {
	case ValidityFraction:
		v.rng(parkRoot+".validity.min_fraction", val.MinFraction, 0, 1, true, "")
	case ValidityQuadrants:
		if val.MinFraction != 0 {
			v.add(parkRoot+".validity.min_fraction", "only the fraction rule takes min_fraction")
		}
	default:
		v.add(parkRoot+".validity.rule", "unknown rule %q (known: fraction, quadrants)", val.Rule)
	}
}

// supplier checks the supplier's meter and the balance it anchors.
func (v *parkValidator) supplier(p *ParkEngine) {
	v.device(parkRoot+".supplier", p.Supplier.Device, p.Supplier.Gateway)
	v.rng(parkRoot+".supplier.uncertainty", p.Supplier.Uncertainty, 0, 0.5, false, "(fraction of reading, k = 2)")
	v.rng(parkRoot+".supplier.rated_flow", p.Supplier.RatedFlow, 0, 1e5, false, "t/h")
	v.rng(parkRoot+".balance.expected_loss", p.Balance.ExpectedLoss, 0, 0.5, false, "(fraction of the supplier's mass)")
}

// headers checks the steam headers and records their names for tenants.
func (v *parkValidator) headers(hs []Header) {
	v.headerNames = map[string]bool{}
	for i, h := range hs {
		path := fmt.Sprintf("%s.headers[%d]", parkRoot, i)
		v.ident(path+".name", h.Name, true)
		if v.headerNames[h.Name] {
			v.add(path+".name", "header %q is defined twice", h.Name)
		}
		v.headerNames[h.Name] = true
		v.rng(path+".pressure", h.Pressure, 0, 16.5, true, "MPa abs")
	}
}

// tenants checks the tenants and their meters and records their names for
// cascades and the baseline.
func (v *parkValidator) tenants(ts []Tenant) {
	v.tenantNames = map[string]bool{}
	if len(ts) == 0 {
		v.add(parkRoot+".tenants", "no tenants configured")
	}
	for i, t := range ts {
		path := fmt.Sprintf("%s.tenants[%d]", parkRoot, i)
		v.ident(path+".name", t.Name, true)
		if v.tenantNames[t.Name] {
			v.add(path+".name", "tenant %q is defined twice", t.Name)
		}
		v.tenantNames[t.Name] = true
		if t.Header != "" && !v.headerNames[t.Header] {
			v.add(path+".header", "header %q is not defined in park_engine.headers", t.Header)
		}
		v.meter(path+".steam_meter", t.SteamMeter, true)
		if t.PowerMeter != nil {
			v.meter(path+".power_meter", *t.PowerMeter, true)
		}
		if t.OwnSteamMeter != nil {
			v.meter(path+".own_steam_meter", *t.OwnSteamMeter, true)
		}
	}
}

// fuels checks the fuels and records them for the sections that burn them;
// hasBDS tells whether a biogas desulphurisation section exists.
func (v *parkValidator) fuels(fs []Fuel, hasBDS bool) {
	v.fuelsByName = map[string]Fuel{}
	for i, fu := range fs {
		path := fmt.Sprintf("%s.fuels[%d]", parkRoot, i)
		v.ident(path+".name", fu.Name, true)
		if _, dup := v.fuelsByName[fu.Name]; dup {
			v.add(path+".name", "fuel %q is defined twice", fu.Name)
		}
		v.fuelsByName[fu.Name] = fu
		v.fuelSulfur(path, fu, hasBDS)
		v.rng(path+".ncv", fu.NCV, 0, 150, true, "MJ/Nm3 or MJ/kg")
		v.rng(path+".co2_factor", fu.CO2Factor, 0, 200, false, "kg/GJ")
		if fu.SulfurToSO2 != nil {
			v.rng(path+".sulfur_to_so2", *fu.SulfurToSO2, 0, 1, false, "(fraction)")
		}
		if fu.RefElectrical != 0 {
			v.rng(path+".ref_electrical_efficiency", fu.RefElectrical, 0, 1, true, "(fraction)")
		}
		if fu.RefHeat != 0 {
			v.rng(path+".ref_heat_efficiency", fu.RefHeat, 0, 1, true, "(fraction)")
		}
	}
}

// fuelSulfur checks a fuel's basis and the sulphur content that basis takes.
func (v *parkValidator) fuelSulfur(path string, fu Fuel, hasBDS bool) {
	switch fu.Basis {
	case BasisVolume:
		if fu.Sulfur != 0 {
			v.add(path+".sulfur", "a volume-basis fuel gives its sulphur as sulfur_mg_per_nm3")
		}
		v.rng(path+".sulfur_mg_per_nm3", fu.SulfurMgPerNm3, 0, 1e5, false, "mg/Nm3")
		if fu.SulfurFromBDS && !hasBDS {
			v.add(path+".sulfur_from_bds", "needs a park_engine.bds section")
		}
		if fu.SulfurFromBDS && fu.SulfurMgPerNm3 != 0 {
			v.add(path+".sulfur_mg_per_nm3", "set sulfur_mg_per_nm3 or sulfur_from_bds, not both")
		}
	case BasisMass:
		if fu.SulfurMgPerNm3 != 0 || fu.SulfurFromBDS {
			v.add(path+".basis", "a mass-basis fuel gives its sulphur as the mass fraction sulfur")
		}
		v.rng(path+".sulfur", fu.Sulfur, 0, 0.2, false, "(mass fraction, not %)")
	default:
		v.add(path+".basis", "unknown basis %q (known: volume, mass)", fu.Basis)
	}
}

// fuelRef checks a reference to a fuel of park_engine.fuels and returns the
// fuel when it is defined.
func (v *parkValidator) fuelRef(path, name string) (Fuel, bool) {
	fu, ok := v.fuelsByName[name]
	switch {
	case name == "":
		v.add(path, "required field is missing")
	case !ok:
		v.add(path, "fuel %q is not defined in park_engine.fuels", name)
	}
	return fu, ok
}

func (v *parkValidator) chp(c *CHPUnit) {
	if c == nil {
		return
	}
	path := parkRoot + ".chp"
	v.device(path, c.Device, c.Gateway)
	v.rng(path+".rated_power", c.RatedPower, 0, 5000, true, "MW")
	v.rng(path+".feedwater_pressure", c.FeedwaterPressure, 0, 16.5, true, "MPa abs")
	v.rng(path+".overall_efficiency_threshold", c.OverallThreshold, 0, 1, true, "(fraction)")
	v.rng(path+".heat_tolerance", c.HeatTolerance, 0, 0.5, false, "(fraction of the supplier's heat)")
	if len(c.Fuels) == 0 {
		v.add(path+".fuels", "no fuel points configured")
	}
	points := map[string]bool{}
	for i, fp := range c.Fuels {
		fpath := fmt.Sprintf("%s.fuels[%d]", path, i)
		if fp.Point == "" {
			v.add(fpath+".point", "required field is missing")
		} else if points[fp.Point] {
			v.add(fpath+".point", "point %q is mapped twice", fp.Point)
		}
		points[fp.Point] = true
		if fu, ok := v.fuelRef(fpath+".fuel", fp.Fuel); ok && (fu.RefElectrical == 0 || fu.RefHeat == 0) {
			v.add(fpath+".fuel", "fuel %q burned by the CHP needs ref_electrical_efficiency and ref_heat_efficiency (Regulation (EU) 2015/2402) for PES", fp.Fuel)
		}
	}
}

func (v *parkValidator) boilers(bs []BoilerUnit) {
	for i, b := range bs {
		path := fmt.Sprintf("%s.boilers[%d]", parkRoot, i)
		v.device(path, b.Device, b.Gateway)
		if fu, ok := v.fuelRef(path+".fuel", b.Fuel); ok && fu.Basis != BasisMass {
			v.add(path+".fuel", "boiler fuel %q must be mass-basis (the boiler reports fuel_flow in kg/h)", b.Fuel)
		}
		v.rng(path+".feedwater_pressure", b.FeedwaterPressure, 0, 16.5, true, "MPa abs")
	}
}

func (v *parkValidator) cems(c *CEMSUnit) {
	if c == nil {
		return
	}
	v.device(parkRoot+".cems", c.Device, c.Gateway)
	v.rng(parkRoot+".cems.o2_reference", c.O2Reference, 0, 20.9, false, "% dry")
	v.rng(parkRoot+".cems.o2_max", c.O2Max, c.O2Reference, 20.9, true, "% dry (above o2_reference, below air)")
}

func (v *parkValidator) bds(b *BDSUnit) {
	if b == nil {
		return
	}
	v.device(parkRoot+".bds", b.Device, b.Gateway)
	v.rng(parkRoot+".bds.bed_volume", b.BedVolume, 0, 1e5, true, "m3")
}

func (v *parkValidator) cascades(cs []Cascade) {
	links := map[string]bool{}
	for i, c := range cs {
		path := fmt.Sprintf("%s.cascades[%d]", parkRoot, i)
		v.ident(path+".name", c.Name, true)
		if links[c.Name] {
			v.add(path+".name", "cascade %q is defined twice", c.Name)
		}
		links[c.Name] = true
		v.tenantRef(path+".from", c.From)
		v.tenantRef(path+".to", c.To)
		if c.From != "" && c.From == c.To {
			v.add(path+".to", "a cascade link joins two different tenants")
		}
		v.meter(path+".heat_meter", c.HeatMeter, true)
	}
}

// tenantRef checks a reference to a tenant of park_engine.tenants.
func (v *parkValidator) tenantRef(path, name string) {
	switch {
	case name == "":
		v.add(path, "required field is missing")
	case !v.tenantNames[name]:
		v.add(path, "tenant %q is not defined in park_engine.tenants", name)
	}
}

// baseline checks the replaced boilers; hasCHP tells whether the project
// they are compared with is configured.
func (v *parkValidator) baseline(b *Baseline, hasCHP bool) {
	if b == nil {
		return
	}
	path := parkRoot + ".baseline"
	if len(b.Boilers) == 0 {
		v.add(path+".boilers", "no replaced boilers listed (one entry per boiler: name, tenant, fuel, capacity, efficiency or efficiency_curve)")
	}
	names := map[string]bool{}
	for i, bo := range b.Boilers {
		bp := fmt.Sprintf("%s.boilers[%d]", path, i)
		v.ident(bp+".name", bo.Name, true)
		if names[bo.Name] {
			v.add(bp+".name", "boiler %q is listed twice", bo.Name)
		}
		names[bo.Name] = true
		v.replacedBoiler(bp, bo)
	}
	v.rng(path+".grid_co2_factor", b.GridCO2Factor, 0, 2, false, "t/MWh")
	if !hasCHP {
		v.add(path, "a baseline needs the chp section (the project whose emissions it is compared with)")
	}
}

// replacedBoiler checks one baseline boiler after its name.
func (v *parkValidator) replacedBoiler(bp string, bo ReplacedBoiler) {
	v.tenantRef(bp+".tenant", bo.Tenant)
	if fu, ok := v.fuelRef(bp+".fuel", bo.Fuel); ok && fu.Basis != BasisMass {
		v.add(bp+".fuel", "baseline fuel %q must be mass-basis (NCV in MJ/kg, sulphur as a mass fraction)", bo.Fuel)
	}
	v.rng(bp+".capacity", bo.Capacity, 0, 1000, true, "MW heat output")
	switch {
	case len(bo.EfficiencyCurve) > 0 && bo.Efficiency != 0:
		v.add(bp+".efficiency", "set efficiency or efficiency_curve, not both")
	case len(bo.EfficiencyCurve) == 0:
		v.rng(bp+".efficiency", bo.Efficiency, 0, 1, true, "(fraction)")
	}
	loads := map[float64]bool{}
	for j, pt := range bo.EfficiencyCurve {
		cp := fmt.Sprintf("%s.efficiency_curve[%d]", bp, j)
		v.rng(cp+".load", pt.Load, 0, 1, false, "(fraction of capacity)")
		v.rng(cp+".efficiency", pt.Efficiency, 0, 1, true, "(fraction)")
		if loads[pt.Load] {
			v.add(cp+".load", "load %g is given twice", pt.Load)
		}
		loads[pt.Load] = true
	}
	if bo.Sulfur != nil {
		v.rng(bp+".sulfur", *bo.Sulfur, 0, 0.2, false, "(mass fraction, not %)")
	}
}

// partHourOffset finds a day from 2000 to 2049 on which loc's offset from
// UTC is not a whole number of hours (India's +05:30, Nepal's +05:45, Lord
// Howe Island's +10:30 in its winter).
func partHourOffset(loc *time.Location) (off time.Duration, at time.Time, found bool) {
	for t := time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC); t.Year() < 2050; t = t.AddDate(0, 0, 1) {
		if _, s := t.In(loc).Zone(); s%3600 != 0 {
			return time.Duration(s) * time.Second, t, true
		}
	}
	return 0, time.Time{}, false
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestParkExampleValues loads the reference park's commented example and
// checks what the park engine relies on, defaults included.
func TestParkExampleValues(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	t.Setenv("EIPGW_INFLUX_TOKEN", "user:password")
	f, err := Load("examples/park.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := f.ParkEngine
	if p == nil {
		t.Fatal("no park_engine section")
	}
	if p.Interval != 10*time.Second || p.Grace != 2*time.Minute || p.LiveDelay != 2*time.Second {
		t.Errorf("interval %s grace %s live_delay %s", p.Interval, p.Grace, p.LiveDelay)
	}
	if p.Location == nil || p.Location.String() != "Asia/Shanghai" {
		t.Errorf("location %v", p.Location)
	}
	if len(p.Tenants) != 18 || p.Tenants[12].Header != "lp" || p.Tenants[0].SteamMeter.Uncertainty != 0.025 {
		t.Errorf("tenants: %d, t13 header %q", len(p.Tenants), p.Tenants[12].Header)
	}
	if p.Supplier.Device != "steam-supply" || p.Supplier.Uncertainty != 0.015 || p.Balance.ExpectedLoss != 0.03 {
		t.Errorf("supplier %+v balance %+v", p.Supplier, p.Balance)
	}
	if p.Validity.Rule != ValidityFraction || p.Validity.MinFraction != 0.75 {
		t.Errorf("validity %+v", p.Validity)
	}
	if p.InfluxDB.Token != "user:password" || f.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("token %q metrics %+v", p.InfluxDB.Token, f.Metrics)
	}
	for _, fu := range p.Fuels {
		if fu.SulfurToSO2 == nil || *fu.SulfurToSO2 != 1 {
			t.Errorf("fuel %s: sulfur_to_so2 default not applied", fu.Name)
		}
	}
	if p.Reference.Temperature != 20 || p.Reference.Pressure != 0.101325 {
		t.Errorf("reference %+v", p.Reference)
	}
	if p.CHP.OverallThreshold != 0.75 || p.CHP.HeatTolerance != 0.02 || p.CEMS.O2Max != 19 {
		t.Errorf("chp %+v cems %+v", p.CHP, p.CEMS)
	}
	// The reference park's record: 36 boilers of 18 companies, two each.
	if p.Baseline == nil || len(p.Baseline.Boilers) != 36 {
		t.Fatalf("baseline %+v", p.Baseline)
	}
	per := map[string]int{}
	for _, b := range p.Baseline.Boilers {
		per[b.Tenant]++
	}
	for _, tn := range p.Tenants {
		if per[tn.Name] != 2 {
			t.Errorf("tenant %s has %d replaced boilers, want 2", tn.Name, per[tn.Name])
		}
	}
	for _, fu := range p.Fuels {
		if (fu.Name == "natural_gas" || fu.Name == "biogas") && (fu.RefElectrical == 0 || fu.RefHeat == 0 || fu.RefSource == "") {
			t.Errorf("fuel %s without sourced reference efficiencies: %+v", fu.Name, fu)
		}
	}
}

// minimalPark is a valid park-only file; the broken cases below each change
// one thing in it.
const minimalPark = `park: p
mqtt: {broker: "tcp://127.0.0.1:1883"}
park_engine:
  influxdb: {url: "http://127.0.0.1:8086", bucket: eipgw/autogen}
  supplier: {device: s, uncertainty: 0.015}
  balance: {expected_loss: 0.03}
  headers: [{name: hp, pressure: 1.6}]
  tenants:
    - {name: t01, header: hp, steam_meter: {device: m1, uncertainty: 0.02}}
    - {name: t02, header: hp, steam_meter: {device: m2, uncertainty: 0.02}}
  fuels:
    - {name: gas, basis: volume, ncv: 35.9, co2_factor: 56.1, ref_electrical_efficiency: 0.53, ref_heat_efficiency: 0.87}
    - {name: oil, basis: mass, ncv: 40.4, co2_factor: 77.4, sulfur: 0.02}
  chp: {device: chp, rated_power: 30, feedwater_pressure: 1.6, fuels: [{point: ng_flow, fuel: gas}]}
`

func TestParkMinimalDefaults(t *testing.T) {
	f, err := Parse("park.yaml", []byte(minimalPark), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := f.ParkEngine
	if p.AuditLog != "" {
		t.Errorf("audit_log %q by default, want none", p.AuditLog)
	}
	if p.Interval != DefaultParkInterval || p.Validity.Rule != "fraction" || p.Validity.MinFraction != 0.75 ||
		p.Location != time.UTC || p.Reference.Convention != "fixed" || p.InfluxDB.Timeout != DefaultWriteTimeout ||
		p.MaxBatchesPerDeviceHour != 36000 {
		t.Errorf("defaults not applied: %+v", p)
	}
}

// TestParkErrors: each mistake is reported at its line with its field path.
func TestParkErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"interval", "park_engine:\n", "park_engine:\n  interval: 7s\n", "park.yaml:4: park_engine.interval: 7s must be between 1s and 1h and divide an hour"},
		{"unknown key", "park_engine:\n", "park_engine:\n  intervall: 10s\n", `park.yaml:4: park_engine.intervall: unknown field "intervall"`},
		{"timezone", "park_engine:\n", "park_engine:\n  timezone: Mars/Olympus\n", `park.yaml:4: park_engine.timezone: unknown time zone "Mars/Olympus"`},
		{"half-hour zone", "park_engine:\n", "park_engine:\n  timezone: Asia/Kolkata\n", `park.yaml:4: park_engine.timezone: Asia/Kolkata is 5h30m0s from UTC on 2000-01-01: the engine's hours are UTC clock hours`},
		{"half-hour winter", "park_engine:\n", "park_engine:\n  timezone: Australia/Lord_Howe\n", `park.yaml:4: park_engine.timezone: Australia/Lord_Howe is 10h30m0s from UTC on 2000-03-26`},
		{"rule", "park_engine:\n", "park_engine:\n  validity: {rule: most}\n", `park.yaml:4: park_engine.validity.rule: unknown rule "most"`},
		{"header", "{name: t02, header: hp,", "{name: t02, header: mp,", `park.yaml:10: park_engine.tenants[1].header: header "mp" is not defined`},
		{"duplicate device", "steam_meter: {device: m2,", "steam_meter: {device: m1,", `park.yaml:10: park_engine.tenants[1].steam_meter.device: device "m1" is already used by park_engine.tenants[0].steam_meter`},
		{"uncertainty", "{device: m2, uncertainty: 0.02}", "{device: m2, uncertainty: 2.5}", "park.yaml:10: park_engine.tenants[1].steam_meter.uncertainty: 2.5 out of range [0, 0.5]"},
		{"fuel ref", "fuel: gas}]", "fuel: coal}]", `park.yaml:14: park_engine.chp.fuels[0].fuel: fuel "coal" is not defined`},
		{"chp fuel without references", "fuel: gas}]", "fuel: oil}]", `park.yaml:14: park_engine.chp.fuels[0].fuel: fuel "oil" burned by the CHP needs ref_electrical_efficiency and ref_heat_efficiency`},
		{"percent efficiency", "ref_heat_efficiency: 0.87", "ref_heat_efficiency: 87", "park.yaml:12: park_engine.fuels[0].ref_heat_efficiency: 87 out of range (0, 1]"},
		{"threshold", "fuel: gas}]}", "fuel: gas}], overall_efficiency_threshold: 75}", "park.yaml:14: park_engine.chp.overall_efficiency_threshold: 75 out of range (0, 1]"},
		{"basis", "basis: volume", "basis: energy", `park.yaml:12: park_engine.fuels[0].basis: unknown basis "energy"`},
		{"no influx", "  influxdb: {url: \"http://127.0.0.1:8086\", bucket: eipgw/autogen}\n", "", "park.yaml:3: park_engine.influxdb: required section is missing"},
		{"cascade", "  fuels:\n", "  cascades: [{name: c1, from: t01, to: t09, heat_meter: {device: h1}}]\n  fuels:\n", `park.yaml:11: park_engine.cascades[0].to: tenant "t09" is not defined`},
		{"baseline fuel", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: coal, capacity: 2, efficiency: 0.8}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].fuel: fuel "coal" is not defined`},
		{"baseline count", "  fuels:\n", "  baseline: {boilers: 36, grid_co2_factor: 0.58}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers`},
		{"baseline empty", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers: no replaced boilers listed`},
		{"baseline tenant", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t07, fuel: oil, capacity: 2, efficiency: 0.8}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].tenant: tenant "t07" is not defined`},
		{"baseline gas fuel", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: gas, capacity: 2, efficiency: 0.8}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].fuel: baseline fuel "gas" must be mass-basis`},
		{"baseline percent", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: oil, capacity: 2, efficiency: 80}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].efficiency: 80 out of range (0, 1]`},
		{"baseline capacity", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: oil, efficiency: 0.8}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].capacity: 0 out of range (0, 1000] MW heat output`},
		{"baseline curve and efficiency", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: oil, capacity: 2, efficiency: 0.8, efficiency_curve: [{load: 0.5, efficiency: 0.8}]}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].efficiency: set efficiency or efficiency_curve, not both`},
		{"baseline curve", "  fuels:\n", "  baseline: {grid_co2_factor: 0.58, boilers: [{name: b1, tenant: t01, fuel: oil, capacity: 2, efficiency_curve: [{load: 50, efficiency: 0.8}]}]}\n  fuels:\n", `park.yaml:11: park_engine.baseline.boilers[0].efficiency_curve[0].load: 50 out of range [0, 1]`},
		{"o2 max", "park_engine:\n", "park_engine:\n  cems: {device: c1, o2_reference: 15, o2_max: 21}\n", "park.yaml:4: park_engine.cems.o2_max: 21 out of range (15, 20.9]"},
		{"batches per hour", "park_engine:\n", "park_engine:\n  max_batches_per_device_hour: 360001\n", "park.yaml:4: park_engine.max_batches_per_device_hour: 360001 must be between 1 and 360000 (one batch every 10 ms)"},
		{"batches per hour negative", "park_engine:\n", "park_engine:\n  max_batches_per_device_hour: -5\n", "park.yaml:4: park_engine.max_batches_per_device_hour: -5 must be between 1 and 360000"},
		{"batches per hour zero", "park_engine:\n", "park_engine:\n  max_batches_per_device_hour: 0\n", "park.yaml:4: park_engine.max_batches_per_device_hour: 0 is not a valid setting (it would run as the default, 36000)"},
		{"audit log a file", "park_engine:\n", "park_engine:\n  audit_log: park_test.go\n", "park.yaml:4: park_engine.audit_log: park_test.go is a file, not a directory"},
		{"audit log", "park_engine:\n", "park_engine:\n  audit_log: \" /var/lib/eipgw/audit\"\n", `park.yaml:4: park_engine.audit_log: " /var/lib/eipgw/audit" is not a usable directory path`},
		{"bds sulfur", "co2_factor: 56.1, ref_", "co2_factor: 56.1, sulfur_from_bds: true, ref_", "park.yaml:12: park_engine.fuels[0].sulfur_from_bds: needs a park_engine.bds section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(minimalPark, tc.old) {
				t.Fatalf("case does not apply: %q", tc.old)
			}
			data := strings.Replace(minimalPark, tc.old, tc.new, 1)
			_, err := Parse("park.yaml", []byte(data), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestParkWrittenZeros: a zero written in the file stays where the key's
// range holds it (a 0 °C contract reference, a CHP heat balance with no
// tolerance) and is an error where the default would replace it.
func TestParkWrittenZeros(t *testing.T) {
	data := strings.Replace(minimalPark, "park_engine:\n", "park_engine:\n  reference: {temperature: 0}\n", 1)
	data = strings.Replace(data, "fuel: gas}]}", "fuel: gas}], heat_tolerance: 0}", 1)
	f, err := Parse("park.yaml", []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.ParkEngine; p.Reference.Temperature != 0 || p.CHP.HeatTolerance != 0 {
		t.Errorf("written zeros replaced: reference %+v, heat_tolerance %g", p.Reference, p.CHP.HeatTolerance)
	}
	// Left out, they take their defaults.
	f, err = Parse("park.yaml", []byte(minimalPark), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.ParkEngine; p.Reference.Temperature != DefaultRefTemp || p.CHP.HeatTolerance != DefaultHeatTolerance {
		t.Errorf("defaults: reference %+v, heat_tolerance %g", p.Reference, p.CHP.HeatTolerance)
	}
	// A null is the key left out.
	data = strings.Replace(minimalPark, "park_engine:\n", "park_engine:\n  reference: {temperature: null}\n", 1)
	if f, err = Parse("park.yaml", []byte(data), nil); err != nil || f.ParkEngine.Reference.Temperature != DefaultRefTemp {
		t.Errorf("temperature: null gave %v, %v", f.ParkEngine.Reference, err)
	}
	for _, tc := range []struct{ key, want string }{
		{"validity: {min_fraction: 0}", "park.yaml:4: park_engine.validity.min_fraction: 0 is not a valid setting (it would run as the default, 0.75)"},
		{"reference: {pressure: 0}", "park.yaml:4: park_engine.reference.pressure: 0 is not a valid setting (it would run as the default, 0.101325)"},
		{"interval: 0s", "park.yaml:4: park_engine.interval: 0s is not a valid setting (it would run as the default, 10s)"},
	} {
		data := strings.Replace(minimalPark, "park_engine:\n", "park_engine:\n  "+tc.key+"\n", 1)
		_, err := Parse("park.yaml", []byte(data), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.key, err, tc.want)
		}
	}
}

package sim

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// profileDir holds the device register maps whose points the model serves.
const profileDir = "../../../drivers/modbus/profiles"

type profilePoint struct {
	Name  string   `yaml:"name"`
	Unit  string   `yaml:"unit"`
	Type  string   `yaml:"type"`
	Scale float64  `yaml:"scale"`
	Min   *float64 `yaml:"min"`
	Max   *float64 `yaml:"max"`
}

// registerMax is the largest raw value of an unsigned register type.
var registerMax = map[string]float64{"uint16": math.MaxUint16, "uint32": math.MaxUint32}

// loadProfiles reads every profile YAML, keyed by kind.
func loadProfiles(t *testing.T) map[string][]profilePoint {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(profileDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no profiles in %s: %v", profileDir, err)
	}
	out := map[string][]profilePoint{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var prof struct {
			Kind   string         `yaml:"kind"`
			Points []profilePoint `yaml:"points"`
		}
		if err := yaml.Unmarshal(b, &prof); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if prof.Kind == "" || len(prof.Points) == 0 {
			t.Fatalf("%s: no kind or no points", f)
		}
		out[prof.Kind] = prof.Points
	}
	return out
}

// TestPointsMatchProfiles: each kind produces exactly its profile's points,
// in the profile's units.
func TestPointsMatchProfiles(t *testing.T) {
	profiles := loadProfiles(t)
	for kind, spec := range kindSpecs {
		prof, ok := profiles[kind]
		if !ok {
			t.Errorf("no profile for kind %s", kind)
			continue
		}
		var names []string
		for _, pp := range prof {
			names = append(names, pp.Name)
			i := slices.IndexFunc(spec.points, func(p point) bool { return p.name == pp.Name })
			if i < 0 {
				t.Errorf("%s.%s: in the profile, not in the model", kind, pp.Name)
			} else if spec.points[i].unit != pp.Unit {
				t.Errorf("%s.%s: model unit %q, profile unit %q", kind, pp.Name, spec.points[i].unit, pp.Unit)
			}
		}
		for _, p := range spec.points {
			if !slices.Contains(names, p.name) {
				t.Errorf("%s.%s: in the model, not in the profile", kind, p.name)
			}
		}
	}
}

// TestValuesWithinProfiles runs 48 simulated hours at 1-minute steps in
// several scenarios (faults included) and checks that every device produces
// exactly its profile's point names and every value is finite, non-negative
// unless the profile allows it (orp), within the profile's min/max and, for
// unsigned registers such as the uint32 totalisers, within the register.
func TestValuesWithinProfiles(t *testing.T) {
	profiles := loadProfiles(t)
	type event struct {
		at time.Duration
		do func(p *Park) error
	}
	trip := func(on bool) func(p *Park) error { return func(p *Park) error { p.SetCHPTrip(on); return nil } }
	drift := func(dev string, f float64) func(p *Park) error {
		return func(p *Park) error { return p.SetMeterDrift(dev, f) }
	}
	scenarios := []struct {
		name   string
		cfg    Config
		events []event
	}{
		{"default", Config{Seed: 1}, []event{
			{10 * time.Hour, drift("steam-t05", 1.08)},
			{11 * time.Hour, drift("power-t02", 1.05)},
			{12 * time.Hour, drift("heat-1", 0.95)},
			{20 * time.Hour, trip(true)},
			{26 * time.Hour, trip(false)},
		}},
		{"high demand", Config{Seed: 7, SteamDemandScale: 1.5}, []event{
			{30 * time.Hour, trip(true)},
			{34 * time.Hour, trip(false)},
			{40 * time.Hour, drift("steam-supply", 1.08)},
		}},
		{"low demand", Config{Seed: 42, SteamDemandScale: 0.5, LossFraction: 0.1, Location: time.UTC}, nil},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			p := newPark(t, sc.cfg)
			m := map[string]float64{}
			check := func(now time.Time) {
				for _, d := range p.Devices() {
					clear(m)
					if err := p.Values(d.Name, m); err != nil {
						t.Fatal(err)
					}
					prof := profiles[d.Kind]
					if len(m) != len(prof) {
						t.Fatalf("%s: %d values, profile %s has %d points", d.Name, len(m), d.Kind, len(prof))
					}
					for _, pp := range prof {
						v, ok := m[pp.Name]
						switch {
						case !ok:
							t.Fatalf("%s: no %s", d.Name, pp.Name)
						case math.IsNaN(v) || math.IsInf(v, 0):
							t.Fatalf("%v %s.%s = %v", now, d.Name, pp.Name, v)
						case v < 0 && (pp.Min == nil || *pp.Min >= 0):
							t.Fatalf("%v %s.%s = %v %s is negative", now, d.Name, pp.Name, v, pp.Unit)
						case pp.Min != nil && v < *pp.Min, pp.Max != nil && v > *pp.Max:
							t.Fatalf("%v %s.%s = %v %s outside the profile's [%v, %v]", now, d.Name, pp.Name, v, pp.Unit, deref(pp.Min), deref(pp.Max))
						}
						scale := pp.Scale
						if scale == 0 {
							scale = 1
						}
						if top, ok := registerMax[pp.Type]; ok && v/scale > top {
							t.Fatalf("%v %s.%s = %v %s overflows its %s register (scale %v)", now, d.Name, pp.Name, v, pp.Unit, pp.Type, scale)
						}
					}
				}
			}
			check(testStart)
			next := 0
			for el := time.Minute; el <= 48*time.Hour; el += time.Minute {
				for next < len(sc.events) && sc.events[next].at <= el {
					if err := sc.events[next].do(p); err != nil {
						t.Fatal(err)
					}
					next++
				}
				p.Step(testStart.Add(el))
				check(testStart.Add(el))
			}
		})
	}
}

func deref(f *float64) any {
	if f == nil {
		return "none"
	}
	return *f
}

package sim

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"
)

// cst is the default park time zone, so test times read as local hours.
var cst = time.FixedZone("UTC+8", 8*3600)

// testStart is local midnight in the park.
var testStart = time.Date(2026, 11, 26, 0, 0, 0, 0, cst)

func newPark(t *testing.T, cfg Config) *Park {
	t.Helper()
	p, err := NewPark(cfg, testStart)
	if err != nil {
		t.Fatalf("NewPark(%+v): %v", cfg, err)
	}
	return p
}

// vals returns a fresh map of the device's values.
func vals(t *testing.T, p *Park, device string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	if err := p.Values(device, m); err != nil {
		t.Fatalf("Values(%q): %v", device, err)
	}
	return m
}

// snapshot returns every device's values.
func snapshot(t *testing.T, p *Park) map[string]map[string]float64 {
	t.Helper()
	all := map[string]map[string]float64{}
	for _, d := range p.Devices() {
		all[d.Name] = vals(t, p, d.Name)
	}
	return all
}

// near reports whether a and b agree to a relative tolerance rel (absolute
// near zero).
func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func steamName(i int) string { return fmt.Sprintf("steam-t%02d", i+1) }
func powerName(i int) string { return fmt.Sprintf("power-t%02d", i+1) }

// run steps p every step for the duration d after testStart, calling check
// after each step with the step's time.
func run(p *Park, d, step time.Duration, check func(t time.Time)) {
	for el := step; el <= d; el += step {
		now := testStart.Add(el)
		p.Step(now)
		check(now)
	}
}

func TestDevices(t *testing.T) {
	p := newPark(t, Config{})
	devs := p.Devices()
	want := []Device{
		{"chp-1", "chp", ""}, {"cems-1", "cems", ""}, {"bds-1", "bds", ""},
		{"boiler-1", "boiler", ""}, {"boiler-2", "boiler", ""}, {"steam-supply", "steam_meter", ""},
	}
	for i := range 18 {
		want = append(want, Device{steamName(i), "steam_meter", fmt.Sprintf("t%02d", i+1)})
	}
	for i := range 18 {
		want = append(want, Device{powerName(i), "power_meter", fmt.Sprintf("t%02d", i+1)})
	}
	want = append(want, Device{"heat-1", "heat_meter", "t14"})
	if !reflect.DeepEqual(devs, want) {
		t.Fatalf("Devices() =\n%v\nwant\n%v", devs, want)
	}
	devs[0].Name = "changed"
	if p.Devices()[0].Name != "chp-1" {
		t.Fatal("Devices returns the park's own slice")
	}
}

func TestValuesErrors(t *testing.T) {
	p := newPark(t, Config{})
	if err := p.Values("chp-9", map[string]float64{}); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("unknown device: err = %v, want ErrUnknownDevice", err)
	}
	if err := p.Values("chp-1", nil); err == nil {
		t.Error("nil map: no error")
	}
	m := map[string]float64{"keep": 7}
	if err := p.Values("chp-1", m); err != nil || m["keep"] != 7 || len(m) != 10 {
		t.Errorf("Values into a used map: err %v, map %v", err, m)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{LossFraction: -0.01},
		{LossFraction: 0.5},
		{LossFraction: math.NaN()},
		{SteamDemandScale: 0.4},
		{SteamDemandScale: 1.6},
		{SteamDemandScale: -1},
		{SteamDemandScale: math.NaN()},
	}
	for _, cfg := range bad {
		if _, err := NewPark(cfg, testStart); err == nil {
			t.Errorf("NewPark(%+v): no error", cfg)
		}
	}
	for _, cfg := range []Config{{}, {LossFraction: 0.1, SteamDemandScale: 0.5}, {SteamDemandScale: 1.5, Location: time.UTC}} {
		if _, err := NewPark(cfg, testStart); err != nil {
			t.Errorf("NewPark(%+v): %v", cfg, err)
		}
	}
}

func TestDeterminism(t *testing.T) {
	steps := []time.Duration{time.Second, 7 * time.Minute, 3 * time.Hour, 3*time.Hour + time.Millisecond, 20 * time.Hour}
	play := func(seed int64) map[string]map[string]float64 {
		p := newPark(t, Config{Seed: seed})
		for _, d := range steps {
			p.Step(testStart.Add(d))
		}
		return snapshot(t, p)
	}
	a, b := play(11), play(11)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and steps gave different values")
	}
	c := play(12)
	differ := 0
	for dev, m := range a {
		for k, v := range m {
			if c[dev][k] != v {
				differ++
			}
		}
	}
	// Constants (standby boiler, running flags, grid voltage class) may
	// match; the loads, noise and totals must not.
	if differ < 150 {
		t.Errorf("seeds 11 and 12 differ in only %d values", differ)
	}
}

func TestValuesDependOnTimeNotPath(t *testing.T) {
	a, b := newPark(t, Config{Seed: 3}), newPark(t, Config{Seed: 3})
	end := testStart.Add(13*time.Hour + 17*time.Minute)
	a.Step(end)
	run(b, 13*time.Hour+17*time.Minute, time.Minute, func(time.Time) {})
	va, vb := snapshot(t, a), snapshot(t, b)
	for dev, m := range va {
		for k, v := range m {
			total := k == "mass_total" || k == "energy_import" || k == "energy_total" || k == "electric_energy"
			if !total && v != vb[dev][k] {
				t.Errorf("%s.%s = %v after one step, %v after many", dev, k, v, vb[dev][k])
			}
		}
	}
}

func TestStepBackwardsIgnored(t *testing.T) {
	p := newPark(t, Config{})
	t1 := testStart.Add(5 * time.Hour)
	p.Step(t1)
	before := snapshot(t, p)
	p.Step(t1.Add(-time.Minute))
	if after := snapshot(t, p); !reflect.DeepEqual(before, after) {
		t.Fatal("a step back in time changed the values")
	}
	p.Step(t1) // zero elapsed time
	if after := snapshot(t, p); !reflect.DeepEqual(before, after) {
		t.Fatal("a step to the same time changed the values")
	}
}

func TestConcurrentUse(t *testing.T) {
	p := newPark(t, Config{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 500 {
			p.Step(testStart.Add(time.Duration(i) * time.Second))
		}
	})
	wg.Go(func() {
		for i := range 100 {
			p.SetCHPTrip(i%2 == 0)
			if err := p.SetMeterDrift("steam-t01", 1+float64(i%3)/100); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for _, d := range p.Devices() {
		wg.Go(func() {
			m := map[string]float64{}
			for range 50 {
				if err := p.Values(d.Name, m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

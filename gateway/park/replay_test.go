package park

import (
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// loadExample loads the reference park's example configuration, the one
// the documentation shows.
func loadExample(t testing.TB) *config.File {
	t.Helper()
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "x")
	f, err := config.Load("../../config/examples/park.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeClock is the engine's clock in replays.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// replay drives an engine with batches built from a simulated park, as the
// edge would publish them, without any network.
type replay struct {
	t        testing.TB
	park     *sim.Park
	eng      *Engine
	clock    *fakeClock
	profiles modbus.Profiles
	devices  []sim.Device
	seq      uint64
	vals     map[string]float64
	// mutate, when set, may change a device's batch before it is added.
	mutate func(dev string, b *batch.Batch)
	// sink, when set, sees every batch added.
	sink func(b *batch.Batch)
	out  Output
}

func newReplay(t testing.TB, cfg *config.File, start time.Time, seed int64) *replay {
	t.Helper()
	park, err := sim.NewPark(sim.Config{Seed: seed}, start)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: start}
	eng, err := New(cfg.ParkEngine, Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &replay{t: t, park: park, eng: eng, clock: clock, profiles: profiles, devices: park.Devices(), vals: map[string]float64{}}
}

// batchOf builds the batch a poll of dev at ts would publish.
func (r *replay) batchOf(d sim.Device, ts time.Time) *batch.Batch {
	if err := r.park.Values(d.Name, r.vals); err != nil {
		r.t.Fatal(err)
	}
	p := r.profiles[d.Kind]
	r.seq++
	b := &batch.Batch{Gateway: "gw-1", Seq: r.seq, Device: d.Name, Kind: d.Kind, Site: "plant", Tenant: d.Tenant, Time: ts}
	b.Points = make([]batch.Point, len(p.Points))
	for i := range p.Points {
		pt := &p.Points[i]
		b.Points[i] = batch.Point{Name: pt.Name, Unit: pt.Unit, Value: r.vals[pt.Name], HasValue: true, Quality: batch.Good}
	}
	return b
}

// run steps the park from its current time to end every step, adding a
// batch of every device at each step and advancing the engine.
func (r *replay) run(from, end time.Time, step time.Duration) {
	for ts := from; ts.Before(end); ts = ts.Add(step) {
		r.park.Step(ts)
		r.clock.now = ts
		for _, d := range r.devices {
			b := r.batchOf(d, ts)
			if r.mutate != nil {
				r.mutate(d.Name, b)
			}
			if r.sink != nil {
				r.sink(b)
			}
			if res := r.eng.Add("gw-1", b); res != Accepted {
				r.t.Fatalf("%s at %s: %s", d.Name, ts, res)
			}
		}
		r.collect()
	}
}

// finish moves the clock past the last hour's grace and collects.
func (r *replay) finish(end time.Time) {
	r.clock.now = end.Add(time.Hour)
	r.collect()
}

func (r *replay) collect() {
	o := r.eng.Advance()
	r.out.Live = append(r.out.Live, o.Live...)
	r.out.Hours = append(r.out.Hours, o.Hours...)
	r.out.Statements = append(r.out.Statements, o.Statements...)
}

// metric finds a metric of a record.
func metric(ms []Metric, name, entity string) (Metric, bool) {
	for _, m := range ms {
		if m.Name == name && m.Entity == entity {
			return m, true
		}
	}
	return Metric{}, false
}

func mustMetric(t testing.TB, ms []Metric, name, entity string) Metric {
	t.Helper()
	m, ok := metric(ms, name, entity)
	if !ok {
		t.Fatalf("no metric %s %s", name, entity)
	}
	return m
}

// day0 is the replays' start: midnight in the park's time zone.
var day0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))

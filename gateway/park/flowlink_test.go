package park

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// withFlowLinks is the reference park with three flow links: the
// cascade's hot water, metered by its heat meter's volume flow, as two
// condensate links (a test of the per-material sum; the device also
// serves the cascade), and the BDS's elemental sulphur to a fertiliser
// maker.
func withFlowLinks(t *testing.T) *config.File {
	cfg := loadExample(t)
	cfg.ParkEngine.FlowLinks = []config.FlowLink{
		{Name: "cond-a", Material: "condensate", Source: "t03", Sink: "t14", Meter: config.FlowMeter{Device: "heat-1", Point: "volume_flow", Unit: "m3/h"}},
		{Name: "cond-b", Material: "condensate", Source: "t03", Sink: "t15", Meter: config.FlowMeter{Device: "heat-1", Point: "volume_flow", Unit: "m3/h"}},
		{Name: "sulphur", Material: "sulphur", Source: "bds", Sink: "fertiliser-co", Meter: config.FlowMeter{Device: "bds-1", Point: "sulfur_produced", Unit: "kg/h"}},
	}
	return cfg
}

// TestFlowLinksReportReuse: an hour of the simulated park at 1-minute
// polls. Each link's hourly quantity is the mean of its meter's rate
// samples × 1 h, recomputed here from the batches; the condensate sum is
// both links', the park's m3 the same and its kg the sulphur link's.
func TestFlowLinksReportReuse(t *testing.T) {
	r := newReplay(t, withFlowLinks(t), day0, 1)
	var water, sulphur []float64
	r.sink = func(b *batch.Batch) {
		for _, p := range b.Points {
			switch {
			case b.Device == "heat-1" && p.Name == "volume_flow":
				water = append(water, p.Value)
			case b.Device == "bds-1" && p.Name == "sulfur_produced":
				sulphur = append(sulphur, p.Value)
			}
		}
	}
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	if len(r.out.Hours) != 1 || len(water) != 60 {
		t.Fatalf("%d hours, %d water samples", len(r.out.Hours), len(water))
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	w, s := mean(water), mean(sulphur) // m3/h, kg/h over 1 h
	h := r.out.Hours[0].Metrics
	for _, tc := range []struct {
		name, entity string
		want         float64
	}{
		{"flow_reused_m3", "cond-a", w},
		{"flow_reused_m3", "cond-b", w},
		{"flow_reused_kg", "sulphur", s},
		{"flow_material_reused_m3", "condensate", 2 * w},
		{"flow_material_reused_kg", "sulphur", s},
		{"flow_park_reused_m3", "", 2 * w},
		{"flow_park_reused_kg", "", s},
	} {
		m := mustMetric(t, h, tc.name, tc.entity)
		if m.Flag != Valid || math.Abs(m.Value-tc.want) > 1e-9*tc.want || tc.want <= 0 {
			t.Errorf("%s %s: %s %g, want %g", tc.name, tc.entity, m.Flag, m.Value, tc.want)
		}
	}
	if m := mustMetric(t, h, "flow_material_reused_m3", "condensate"); m.EntityKey != "material" || m.Unit != "m3" {
		t.Errorf("material sum keyed %q in %q", m.EntityKey, m.Unit)
	}
	lines := string(Lines("suzhou-eip", Output{Hours: r.out.Hours}))
	if !strings.Contains(lines, "park_hourly,material=condensate,metric=flow_material_reused_m3,park=suzhou-eip value=") {
		t.Error("no park_hourly record of the condensate sum")
	}
	var live bool
	for _, iv := range r.out.Live {
		if m, ok := metric(iv.Metrics, "flow_rate_m3_h", "cond-a"); ok && m.Flag == Valid && m.Unit == "m3/h" {
			live = true
		}
	}
	if !live {
		t.Error("no valid live flow_rate_m3_h of cond-a")
	}
	if n, f := promName("flow_rate_m3_h", "m3/h"); n != "eipgw_park_flow_rate_cubic_metres_per_second" || math.Abs(f-1.0/3600) > 1e-18 {
		t.Errorf("prometheus name %s factor %g", n, f)
	}
}

// TestFlowLinkBadReadings: the heat meter times out for 20 minutes (40
// valid minutes < 45) and the sulphur rate reads negative: both links are
// invalid with their reasons, and so are their sums.
func TestFlowLinkBadReadings(t *testing.T) {
	r := newReplay(t, withFlowLinks(t), day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		for i := range b.Points {
			p := &b.Points[i]
			switch {
			case dev == "heat-1" && p.Name == "volume_flow" && b.Time.Minute() < 20:
				p.Quality, p.HasValue, p.Value = batch.Timeout, false, 0
			case dev == "bds-1" && p.Name == "sulfur_produced":
				p.Value = -1
			}
		}
	}
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	h := r.out.Hours[0].Metrics
	for _, tc := range []struct{ name, entity, reason string }{
		{"flow_reused_m3", "cond-a", "timeout"},
		{"flow_material_reused_m3", "condensate", "timeout"},
		{"flow_park_reused_m3", "", "timeout"},
		{"flow_reused_kg", "sulphur", "sulfur_produced: negative flow"},
		{"flow_park_reused_kg", "", "negative flow"},
	} {
		m := mustMetric(t, h, tc.name, tc.entity)
		if m.Flag != Invalid || !strings.Contains(m.Reason, tc.reason) {
			t.Errorf("%s %s: %s %q, want invalid with %q", tc.name, tc.entity, m.Flag, m.Reason, tc.reason)
		}
	}
	// The cascade on the same heat meter is judged on its own point.
	if m := mustMetric(t, h, "cascade_reused_gj", "t03-t14"); m.Flag != Valid {
		t.Errorf("cascade on the shared heat meter: %s %s", m.Flag, m.Reason)
	}
}

// TestNegativePowerRefused: the CHP's gross electric power, a tenant's
// power meter and a cascade's heat meter read negative for the hour. None
// is credited: the hour's CHP electricity, the grid baseline built on it,
// the tenant's electricity and the cascade's heat are invalid with the
// point's reason, where a negative generator power used to enter the
// baseline as zero and a tenant's as energy given back.
func TestNegativePowerRefused(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		for i := range b.Points {
			p := &b.Points[i]
			switch {
			case dev == "chp-1" && p.Name == "electric_power",
				dev == "power-t05" && p.Name == "active_power",
				dev == "heat-1" && p.Name == "thermal_power":
				p.Value = -20
			}
		}
	}
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	h := r.out.Hours[0].Metrics
	for _, tc := range []struct{ name, entity, reason string }{
		{"chp_electric_energy_mwh", "", "electric_power: negative"},
		{"baseline_co2_t", "", "electric_power: negative"},
		{"electric_energy_mwh", "t05", "active_power: negative"},
		{"cascade_reused_gj", "t03-t14", "thermal_power: negative"},
	} {
		m := mustMetric(t, h, tc.name, tc.entity)
		if m.Flag != Invalid || !strings.Contains(m.Reason, tc.reason) {
			t.Errorf("%s %s: %s %q (%g), want invalid with %q", tc.name, tc.entity, m.Flag, m.Reason, m.Value, tc.reason)
		}
	}
	if m := mustMetric(t, h, "electric_energy_mwh", "t06"); m.Flag != Valid || !(m.Value > 0) {
		t.Errorf("t06's electricity, its meter unharmed: %s %q %g", m.Flag, m.Reason, m.Value)
	}
}

package edge

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// stateSource reports fixed device states.
type stateSource struct {
	fakeSource
	states []drivers.DeviceState
}

func (s *stateSource) States() []drivers.DeviceState { return s.states }

// lineSource is a stateSource on a serial line.
type lineSource struct {
	*stateSource
	line drivers.LineStats
}

func (s lineSource) Line() (drivers.LineStats, bool) { return s.line, true }

// tcpSource is a stateSource that can report a line but has none.
type tcpSource struct{ *stateSource }

func (tcpSource) Line() (drivers.LineStats, bool) { return drivers.LineStats{}, false }

// Pipeline: the bus sends four reads before their answers, as configured.
func (tcpSource) Pipeline() (int, string, bool) { return 4, "fixed", true }

type sourcesDriver []drivers.Source

func (d sourcesDriver) Sources([]config.Bus, []config.Device, *slog.Logger) ([]drivers.Source, error) {
	return d, nil
}

// The drivers' device states become per-device back-off and failure
// gauges and per-bus poll counters at each scrape.
func TestStateMetrics(t *testing.T) {
	src := &stateSource{fakeSource: fakeSource{name: "rs485"}, states: []drivers.DeviceState{
		{Device: "m1", Up: true, Polls: 10, Answered: 10},
		{Device: "m2", Up: false, Failures: 3, BackoffUntil: time.Now().Add(time.Minute), Polls: 10, Answered: 4, Skipped: 3, Missed: 2},
	}}
	src.devs = []*drivers.Device{{Name: "m1", Source: "rs485"}, {Name: "m2", Source: "rs485"}}
	got := gatheredFrom(t, src)
	expectSeries(t, got, map[string]float64{
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=answered":           14,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=skipped":            3,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=unanswered":         3,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=missed":             2,
		"eipgw_edge_device_consecutive_failures,bus=rs485,device=m1":      0,
		"eipgw_edge_device_consecutive_failures,bus=rs485,device=m2":      3,
		"eipgw_edge_bus_devices_up,bus=rs485":                             1,
		"eipgw_edge_bus_devices,bus=rs485":                                2,
		"eipgw_edge_device_backoff_remaining_seconds,bus=rs485,device=m1": 0,
	})
	if v := got["eipgw_edge_device_backoff_remaining_seconds,bus=rs485,device=m2"]; v < 55 || v > 60 {
		t.Errorf("m2 backoff remaining %v, want about 60", v)
	}
}

// A serial bus's line figures become per-bus counters; a bus without a
// line of its own has none.
func TestLineMetrics(t *testing.T) {
	rs485 := &stateSource{fakeSource: fakeSource{name: "rs485"}, states: []drivers.DeviceState{{Device: "m1", Up: true, Polls: 4, Answered: 4}}}
	rs485.devs = []*drivers.Device{{Name: "m1", Source: "rs485"}}
	plant := &stateSource{fakeSource: fakeSource{name: "plant"}, states: []drivers.DeviceState{{Device: "chp", Up: true, Polls: 4, Answered: 4}}}
	plant.devs = []*drivers.Device{{Name: "chp", Source: "plant"}}
	line := drivers.LineStats{Baud: 19200, Frames: 1500 * time.Millisecond, Busy: 2 * time.Second, Exchanges: 40, Timeouts: 3}
	got := gatheredFrom(t, lineSource{rs485, line}, tcpSource{plant})
	expectSeries(t, got, map[string]float64{
		"eipgw_edge_bus_line_seconds_total,bus=rs485": 1.5,
		"eipgw_edge_bus_busy_seconds_total,bus=rs485": 2,
		"eipgw_edge_bus_requests_total,bus=rs485":     40,
		"eipgw_edge_bus_timeouts_total,bus=rs485":     3,
		"eipgw_edge_bus_baud,bus=rs485":               19200,
		"eipgw_edge_bus_pipeline,bus=plant":           4,
	})
	if _, ok := got["eipgw_edge_bus_pipeline,bus=rs485"]; ok {
		t.Error("a serial bus reports requests in flight")
	}
	for key := range got {
		if strings.Contains(key, "bus=plant") && !strings.HasPrefix(key, "eipgw_edge_bus_polls_total") &&
			!strings.HasPrefix(key, "eipgw_edge_bus_devices") && !strings.HasPrefix(key, "eipgw_edge_device_") &&
			!strings.HasPrefix(key, "eipgw_edge_bus_pipeline") {
			t.Errorf("a bus without a serial line reports %s", key)
		}
	}
	if _, ok := got["eipgw_edge_bus_polls_total,bus=plant,outcome=answered"]; !ok {
		t.Error("the bus without a line lost its poll counters")
	}
}

// edgeOver builds an edge over srcs, one bus each (named as the source),
// registering its metrics in reg.
func edgeOver(t *testing.T, reg *prometheus.Registry, srcs ...drivers.Source) *Edge {
	t.Helper()
	cfg := config.EdgeRole{Park: "p", Site: "s", MQTT: &config.MQTT{Broker: "tcp://127.0.0.1:1"},
		Edge: &config.Edge{Gateway: "gw", StateDir: t.TempDir()}}
	for _, s := range srcs {
		cfg.Edge.Buses = append(cfg.Edge.Buses, config.Bus{Name: s.Name(), Protocol: "state"})
	}
	e, err := New(cfg, drivers.Registry{"state": sourcesDriver(srcs)}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// gatheredFrom builds an edge over srcs (edgeOver) and returns its
// registry's gauges and counters by name and labels
// ("name,label=value,...").
func gatheredFrom(t *testing.T, srcs ...drivers.Source) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	edgeOver(t, reg, srcs...)
	return gathered(t, reg)
}

// gathered returns reg's gauges and counters by name and labels.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				got[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// expectSeries checks that got holds each series of want with its value.
func expectSeries(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for key, w := range want {
		if v, ok := got[key]; !ok || v != w {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, w)
		}
	}
}

// TestBusCountersSurviveAReload: a reload that restarts a bus replaces its
// source, whose counts start again from zero; the bus's counters go on
// from the replaced source's, never back.
func TestBusCountersSurviveAReload(t *testing.T) {
	old := lineSource{stateSource: &stateSource{fakeSource: fakeSource{name: "rs485"}, states: []drivers.DeviceState{
		{Device: "m1", Up: true, Polls: 100, Answered: 90, Skipped: 4, Missed: 1},
	}}, line: drivers.LineStats{Baud: 19200, Frames: 3 * time.Second, Busy: 4 * time.Second, Exchanges: 100, Timeouts: 6}}
	old.devs = []*drivers.Device{{Name: "m1", Source: "rs485"}}
	reg := prometheus.NewRegistry()
	e := edgeOver(t, reg, old)
	nu := lineSource{stateSource: &stateSource{fakeSource: fakeSource{name: "rs485"}, states: []drivers.DeviceState{
		{Device: "m1", Up: true, Polls: 3, Answered: 3},
	}}, line: drivers.LineStats{Baud: 9600, Frames: time.Second / 10, Busy: time.Second / 5, Exchanges: 3}}
	nu.devs = old.devs
	e.srcMu.Lock()
	e.retireLocked([]drivers.Source{old})
	e.sources = []drivers.Source{nu}
	e.srcMu.Unlock()
	expectSeries(t, gathered(t, reg), map[string]float64{
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=answered":   93,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=unanswered": 6,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=skipped":    4,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=missed":     1,
		"eipgw_edge_bus_requests_total,bus=rs485":                 103,
		"eipgw_edge_bus_timeouts_total,bus=rs485":                 6,
		"eipgw_edge_bus_line_seconds_total,bus=rs485":             3.1,
		"eipgw_edge_bus_baud,bus=rs485":                           9600,
	})
}

// The status view shows a Modbus TCP bus's pipeline, and none for a bus
// on a serial line.
func TestViewShowsPipeline(t *testing.T) {
	rs485 := &stateSource{fakeSource: fakeSource{name: "rs485"}}
	plant := &stateSource{fakeSource: fakeSource{name: "plant"}}
	e := edgeOver(t, prometheus.NewRegistry(), lineSource{rs485, drivers.LineStats{Baud: 9600}}, tcpSource{plant})
	got := map[string]*PipelineView{}
	for _, b := range e.View().Buses {
		got[b.Name] = b.Pipeline
	}
	if p := got["plant"]; p == nil || *p != (PipelineView{InFlight: 4, Mode: "fixed"}) {
		t.Errorf("plant's pipeline %+v, want 4 fixed", p)
	}
	if p, ok := got["rs485"]; !ok || p != nil {
		t.Errorf("rs485 (present %v) shown with a pipeline %+v", ok, p)
	}
}

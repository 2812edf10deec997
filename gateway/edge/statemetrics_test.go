package edge

import (
	"log/slog"
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

type stateDriver struct{ src *stateSource }

func (d stateDriver) Sources([]config.Bus, []config.Device, *slog.Logger) ([]drivers.Source, error) {
	return []drivers.Source{d.src}, nil
}

// The drivers' device states become per-device back-off and failure
// gauges and per-bus poll counters at each scrape.
func TestStateMetrics(t *testing.T) {
	src := &stateSource{fakeSource: fakeSource{name: "rs485"}, states: []drivers.DeviceState{
		{Device: "m1", Up: true, Polls: 10, Answered: 10},
		{Device: "m2", Up: false, Failures: 3, BackoffUntil: time.Now().Add(time.Minute), Polls: 10, Answered: 4, Skipped: 3, Missed: 2},
	}}
	src.devs = []*drivers.Device{{Name: "m1", Source: "rs485"}, {Name: "m2", Source: "rs485"}}
	cfg := config.EdgeRole{Park: "p", Site: "s", MQTT: &config.MQTT{Broker: "tcp://127.0.0.1:1"},
		Edge: &config.Edge{Gateway: "gw", StateDir: t.TempDir(), Buses: []config.Bus{{Name: "rs485", Protocol: "state"}}}}
	reg := prometheus.NewRegistry()
	if _, err := New(cfg, drivers.Registry{"state": stateDriver{src}}, slog.New(slog.DiscardHandler), reg); err != nil {
		t.Fatal(err)
	}
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
	for key, want := range map[string]float64{
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=answered":           14,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=skipped":            3,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=unanswered":         3,
		"eipgw_edge_bus_polls_total,bus=rs485,outcome=missed":             2,
		"eipgw_edge_device_consecutive_failures,bus=rs485,device=m1":      0,
		"eipgw_edge_device_consecutive_failures,bus=rs485,device=m2":      3,
		"eipgw_edge_bus_devices_up,bus=rs485":                             1,
		"eipgw_edge_bus_devices,bus=rs485":                                2,
		"eipgw_edge_device_backoff_remaining_seconds,bus=rs485,device=m1": 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if v := got["eipgw_edge_device_backoff_remaining_seconds,bus=rs485,device=m2"]; v < 55 || v > 60 {
		t.Errorf("m2 backoff remaining %v, want about 60", v)
	}
}

package edge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestReloadKeepsDevicesStates: a device joins a Modbus bus by a reload,
// which restarts the bus. The devices already on it keep their states —
// up since their first answer, not since the reload — and a device that
// was down stays down since it went down, with its error.
func TestReloadKeepsDevicesStates(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	_, simAddr := testenv.StartSim(t, 1, time.Second)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	drv, hasProfile := testenv.Drivers(t)
	stateDir := t.TempDir()
	parse := func(extra string) *config.File {
		cfg, err := config.Parse("edge.yaml", []byte(fmt.Sprintf(`park: p
site: plant
mqtt: {broker: "%s", client_id: carry-edge, connect_timeout: 2s}
edge:
  gateway: gw-1
  state_dir: %s
  publish_timeout: 1s
  buses:
    - {name: sim, address: "%s", timeout: 500ms}
    - {name: closed, address: "%s", timeout: 200ms}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: 100ms}
    - {name: boiler-1, profile: boiler, bus: closed, unit: 1, interval: 100ms}
%s`, mq.URL, stateDir, simAddr, closed, extra)), hasProfile)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	r := startEdge(t, parse(""), drv)
	state := func(dev string) drivers.DeviceState {
		r.e.srcMu.RLock()
		defer r.e.srcMu.RUnlock()
		for _, src := range r.e.sources {
			for _, st := range src.States() {
				if st.Device == dev {
					return st
				}
			}
		}
		return drivers.DeviceState{}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !state("chp-1").Up || state("boiler-1").Since.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("chp-1 %+v, boiler-1 %+v", state("chp-1"), state("boiler-1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	chp, boiler := state("chp-1"), state("boiler-1")
	time.Sleep(300 * time.Millisecond)
	res, err := r.e.Reload(context.Background(), edgeRole(t, parse(`    - {name: cems-1, profile: cems, bus: sim, unit: 2, interval: 100ms}
    - {name: boiler-2, profile: boiler, bus: closed, unit: 2, interval: 100ms}
`)), drv)
	if err != nil || len(res.Restarted) != 2 {
		t.Fatalf("reload: %+v, %v; want both buses restarted", res, err)
	}
	for state("cems-1").LastPoll.IsZero() || state("chp-1").LastPoll.Before(chp.LastPoll.Add(200*time.Millisecond)) {
		if time.Now().After(deadline) {
			t.Fatalf("not polled after the reload: cems-1 %+v, chp-1 %+v", state("cems-1"), state("chp-1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := state("chp-1"); !st.Up || !st.Since.Equal(chp.Since) {
		t.Errorf("chp-1 after the reload: up %v since %s; want up since %s", st.Up, st.Since, chp.Since)
	}
	if st := state("boiler-1"); st.Up || !st.Since.Equal(boiler.Since) || st.LastError == "" {
		t.Errorf("boiler-1 after the reload: up %v since %s, error %q; want down since %s with its error", st.Up, st.Since, st.LastError, boiler.Since)
	}
}

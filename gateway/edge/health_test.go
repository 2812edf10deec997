package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// checkOf returns the check named name, failing the test if there is none.
func checkOf(t *testing.T, checks []telemetry.Check, name string) telemetry.Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, checks)
	return telemetry.Check{}
}

// waitCheck waits until check name of checks() has state ok.
func waitCheck(t *testing.T, within time.Duration, checks func() []telemetry.Check, name string, ok bool) telemetry.Check {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c := checkOf(t, checks(), name)
		if c.OK == ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("check %s not ok=%t within %s: %+v", name, ok, within, checks())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// smallDisk mounts a 2 MB tmpfs (needs root; under CI a failure, never a
// skip).
func smallDisk(t *testing.T) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// TestReadiness runs an edge with three buses against a real Mosquitto:
// a simulator that answers, a TCP bus to a closed port and an RTU bus
// whose serial device does not exist. The two dead buses keep their
// owners running (the edge is ready; their devices are down in the
// detail and in eipgw_edge_device_up). Stopping the broker makes the
// edge unready until it is back; a full disk under the write-ahead log
// makes it unready until space returns.
func TestReadiness(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	_, simAddr := testenv.StartSim(t, 1, time.Second)
	stateDir := smallDisk(t)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	drv, hasProfile := testenv.Drivers(t)
	cfg, err := config.Parse("edge.yaml", []byte(fmt.Sprintf(`park: p
site: plant
mqtt: {broker: "%s", client_id: health-edge, connect_timeout: 2s}
edge:
  gateway: gw-1
  state_dir: %s
  publish_timeout: 1s
  wal: {retain: 0s}
  buses:
    - {name: sim, address: "%s", timeout: 500ms}
    - {name: closed, address: "%s", timeout: 200ms}
    - {name: serial, transport: rtu, device: /dev/eipgw-no-such-port, baud: 19200, timeout: 200ms}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: 100ms}
    - {name: boiler-1, profile: boiler, bus: closed, unit: 1, interval: 100ms}
    - {name: bds-1, profile: bds, bus: serial, unit: 1, interval: 100ms}
`, mq.URL, stateDir, simAddr, closed)), hasProfile)
	if err != nil {
		t.Fatal(err)
	}
	r := startEdge(t, cfg, drv)
	e := r.e

	for _, name := range []string{"bus_owner:sim", "bus_owner:closed", "bus_owner:serial", "wal", "broker"} {
		waitCheck(t, 20*time.Second, e.Ready, name, true)
	}
	// Every device has been polled (eipgw_edge_device_up is set by every
	// poll, failed or not): the dead ones are down.
	deadline := time.Now().Add(20 * time.Second)
	for _, dev := range []string{"chp-1", "boiler-1", "bds-1"} {
		for !polled(r, dev) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never polled", dev)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ready := e.Ready()
	if !telemetry.AllOK(ready) {
		t.Fatalf("not ready with the broker up and dead devices: %+v", ready)
	}
	for bus, want := range map[string]string{"sim": "answering 1 of 1", "closed": "answering 0 of 1", "serial": "answering 0 of 1"} {
		if c := checkOf(t, ready, "bus_owner:"+bus); !strings.Contains(c.Detail, want) {
			t.Errorf("bus %s: detail %q, want %q", bus, c.Detail, want)
		}
	}
	for _, dev := range []string{"boiler-1", "bds-1"} {
		if up := r.value(t, "eipgw_edge_device_up", "device", dev); up != 0 {
			t.Errorf("%s: eipgw_edge_device_up %v, want 0", dev, up)
		}
	}
	if live := e.Live(); len(live) != 3 || !telemetry.AllOK(live) {
		t.Errorf("live: %+v, want three turning poll loops", live)
	}

	// Broker down: not ready, the rest unchanged; back: ready again.
	mq.Stop()
	lost := waitCheck(t, 20*time.Second, e.Ready, "broker", false)
	if !strings.Contains(lost.Detail, "connection lost") && !strings.Contains(lost.Detail, "not connected: "+mqttconn.CauseRefused) {
		t.Errorf("broker check detail %q", lost.Detail)
	}
	if telemetry.AllOK(e.Ready()) {
		t.Error("ready without a broker")
	}
	if !telemetry.AllOK(e.Live()) {
		t.Errorf("the broker's outage stalled a poll loop: %+v", e.Live())
	}
	mq.Restart()
	back := waitCheck(t, 30*time.Second, e.Ready, "broker", true)
	if !back.Since.After(lost.Since) {
		t.Errorf("broker ok since %s, lost since %s", back.Since, lost.Since)
	}

	// Disk full under the log: not ready; space back: ready again.
	filler := filepath.Join(stateDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(f, io.LimitReader(zeros{}, 2<<20)) // stops at ENOSPC
	f.Close()
	full := waitCheck(t, 30*time.Second, e.Ready, "wal", false)
	t.Logf("disk full: %s", full.Detail)
	if telemetry.AllOK(e.Ready()) {
		t.Error("ready while the log cannot append")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitCheck(t, 30*time.Second, e.Ready, "wal", true)
	deadline = time.Now().Add(20 * time.Second)
	for !telemetry.AllOK(e.Ready()) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready again after the disk emptied: %+v", e.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	for _, bus := range []string{"sim", "closed", "serial"} {
		if c := checkOf(t, e.Ready(), "bus_owner:"+bus); c.OK {
			t.Errorf("bus %s: owner still running after the edge stopped: %+v", bus, c)
		}
	}
}

// polled reports whether the edge has counted a poll of dev.
func polled(r *runningEdge, dev string) bool {
	mfs, err := r.reg.Gather()
	if err != nil {
		return false
	}
	for _, mf := range mfs {
		if mf.GetName() != "eipgw_edge_device_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "device" && lp.GetValue() == dev {
					return true
				}
			}
		}
	}
	return false
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// stuckSource hands one poll to the edge, then hangs (a transport without
// a timeout) until its context ends.
type stuckSource struct {
	dev *drivers.Device
}

type stuckDriver struct{}

func (stuckDriver) Sources(buses []config.Bus, devices []config.Device, _ *slog.Logger) ([]drivers.Source, error) {
	return []drivers.Source{&stuckSource{dev: &drivers.Device{Name: devices[0].Name, Kind: "fake_meter", Source: buses[0].Name}}}, nil
}

func (s *stuckSource) Name() string               { return s.dev.Source }
func (s *stuckSource) Devices() []*drivers.Device { return []*drivers.Device{s.dev} }
func (s *stuckSource) States() []drivers.DeviceState {
	return []drivers.DeviceState{{Device: s.dev.Name, Up: true}}
}

func (s *stuckSource) Run(ctx context.Context, sink drivers.Sink) {
	sink(s.dev, time.Now(), []drivers.Reading{{Name: "power", Unit: "kW", Quality: drivers.Good, HasValue: true, Float: 1}})
	<-ctx.Done()
}

// TestLivenessStuckBus: a bus owner that stops handing over polls while
// its goroutine is alive fails /healthz (its loop stalled) but still
// counts as running for /readyz.
func TestLivenessStuckBus(t *testing.T) {
	retain := time.Duration(0)
	cfg := &config.File{Park: "p",
		MQTT: &config.MQTT{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)), ClientID: "edge-stuck", KeepAlive: 30 * time.Second, ConnectTimeout: time.Second},
		Edge: &config.Edge{Gateway: "gw", StateDir: t.TempDir(), PublishTimeout: time.Second, MaxInflight: 16, MaxBatchPoints: 2000,
			WAL:     &config.WAL{Sync: "interval", SyncInterval: 50 * time.Millisecond, MaxMB: 64, SegmentMB: 1, Full: "drop_oldest", Retain: &retain},
			Buses:   []config.Bus{{Name: "stuck", Protocol: "fake"}},
			Devices: []config.Device{{Name: "m-1", Bus: "stuck", Interval: 100 * time.Millisecond}}}}
	e, err := New(edgeRole(t, cfg), drivers.Registry{"fake": stuckDriver{}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := e.health.buses[0].loop.Window(); w != minLoopWindow {
		t.Errorf("window of a 100ms bus: %s, want the minimum %s", w, minLoopWindow)
	}
	const window = 300 * time.Millisecond
	e.health.buses[0].loop = telemetry.NewHeartbeat(window)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitCheck(t, 10*time.Second, e.Ready, "bus_owner:stuck", true)
	if c := checkOf(t, e.Live(), "poll_loop:stuck"); !c.OK {
		t.Fatalf("poll loop stalled at once: %+v", c)
	}
	stalled := waitCheck(t, 10*time.Second, e.Live, "poll_loop:stuck", false)
	if !strings.Contains(stalled.Detail, "stalled") {
		t.Errorf("detail %q", stalled.Detail)
	}
	if c := checkOf(t, e.Ready(), "bus_owner:stuck"); !c.OK {
		t.Errorf("a stalled owner whose goroutine runs: %+v, want running", c)
	}
}

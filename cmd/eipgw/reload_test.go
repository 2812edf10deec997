package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// deviceWatcher records, per sequence number, the device of each batch a
// gateway published.
type deviceWatcher struct {
	mu  sync.Mutex
	dev map[uint64]string
}

func watchDevices(t *testing.T, broker, filter string) *deviceWatcher {
	t.Helper()
	w := &deviceWatcher{dev: map[uint64]string{}}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("test-reload-watcher").
		SetCleanSession(false).SetAutoReconnect(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			if tp, err := topic.Parse(m.Topic()); err == nil && tp.Kind == topic.KindStatus {
				return
			}
			b, err := batch.Decode(m.Payload())
			if err != nil {
				t.Errorf("watcher: %v", err)
				return
			}
			w.mu.Lock()
			w.dev[b.Seq] = b.Device
			w.mu.Unlock()
		}).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(filter, 1, nil).Wait() })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return w
}

// counts returns the batches received per device.
func (w *deviceWatcher) counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for _, d := range w.dev {
		out[d]++
	}
	return out
}

// missing returns the numbers in 1..n not received.
func (w *deviceWatcher) missing(n uint64) []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var miss []uint64
	for s := uint64(1); s <= n; s++ {
		if _, ok := w.dev[s]; !ok {
			miss = append(miss, s)
		}
	}
	return miss
}

// waitCount waits until text was printed n times.
func waitCount(t *testing.T, p *testenv.Proc, text string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(p.Output(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q printed %d times within %s, want %d:\n%s", text, strings.Count(p.Output(), text), within, n, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEdgeSIGHUPReload: a device added by SIGHUP is polled, a device
// removed is no longer polled, a broken file and a file changing a setting
// that needs a restart change nothing; the devices on the unchanged bus
// never stop, and every batch polled across the reloads reaches the broker
// (sequence 1..n without a gap).
func TestEdgeSIGHUPReload(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	simAddr := startSim(t)
	w := watchDevices(t, mq.URL, topic.GatewayFilter("hup", "gw-1"))
	state := t.TempDir()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	write := func(gateway, extra string, devices ...string) {
		t.Helper()
		cfg := fmt.Sprintf(`park: hup
site: plant
mqtt:
  broker: %s
  client_id: reload-edge
  connect_timeout: 2s
edge:
  gateway: %s
  state_dir: %s
  publish_timeout: 1s
%s  buses:
    - {name: sim, address: "%s", timeout: 500ms}
    - {name: sim-2, address: "%s", timeout: 500ms}
  devices:
`, mq.URL, gateway, state, extra, simAddr, simAddr)
		for _, d := range devices {
			cfg += "    - " + d + "\n"
		}
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	chp := "{name: chp-1, profile: chp, bus: sim, unit: 1, interval: 200ms}"
	cems := "{name: cems-1, profile: cems, bus: sim-2, unit: 2, interval: 200ms}"
	steam := "{name: steam-supply, profile: steam_meter, bus: sim-2, unit: 6, interval: 200ms}"
	write("gw-1", "", chp, cems)

	e := start(t, "edge", "-config", path)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(e.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func(map[string]int) bool) map[string]int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := w.counts()
			if cond(c) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: batches per device %v\n%s", what, c, e.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("first polls", func(c map[string]int) bool { return c["chp-1"] >= 3 && c["cems-1"] >= 3 })

	// Add a device.
	write("gw-1", "", chp, cems, steam)
	hup()
	waitCount(t, e, "configuration reloaded", 1, 10*time.Second)
	if !strings.Contains(e.Output(), "devices_added=[steam-supply]") || !strings.Contains(e.Output(), "buses_restarted=[sim-2]") {
		t.Errorf("reload log does not name what changed:\n%s", e.Output())
	}
	before := w.counts()
	waitFor("added device polled", func(c map[string]int) bool {
		return c["steam-supply"] >= 3 && c["chp-1"] > before["chp-1"]+3
	})

	// Remove a device.
	write("gw-1", "", chp, steam)
	hup()
	waitCount(t, e, "configuration reloaded", 2, 10*time.Second)
	if !strings.Contains(e.Output(), "devices_removed=[cems-1]") {
		t.Errorf("reload log does not name the removed device:\n%s", e.Output())
	}
	afterRemove := waitFor("polling goes on", func(c map[string]int) bool { return c["steam-supply"] >= before["steam-supply"]+3 })

	// A broken file, then one changing a setting only a restart applies:
	// each is refused with its reason and changes nothing.
	if err := os.WriteFile(path, []byte("park: hup\nedge:\n  gateway: gw-1\n  bogus_key: 1\n  devices: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	waitCount(t, e, "configuration reload refused", 1, 10*time.Second)
	write("gw-2", "", chp)
	hup()
	waitCount(t, e, "configuration reload refused", 2, 10*time.Second)
	if !strings.Contains(e.Output(), "edge.gateway") {
		t.Errorf("refusal does not name the setting that needs a restart:\n%s", e.Output())
	}
	write("gw-1", "  procs: 2\n", chp, steam)
	hup()
	waitCount(t, e, "configuration reload refused", 3, 10*time.Second)
	if !strings.Contains(e.Output(), "edge.procs changed (1 to 2)") {
		t.Errorf("refusal does not name edge.procs:\n%s", e.Output())
	}
	final := waitFor("polling after refused reloads", func(c map[string]int) bool {
		return c["chp-1"] >= afterRemove["chp-1"]+5 && c["steam-supply"] >= afterRemove["steam-supply"]+5
	})
	// cems-1 was removed two reloads ago: at most the batches in flight
	// at that moment arrived since.
	if final["cems-1"] > afterRemove["cems-1"]+1 {
		t.Errorf("removed device still polled: %d batches then %d", afterRemove["cems-1"], final["cems-1"])
	}

	e.Term(t, 10*time.Second)
	n := readSeq(t, state)
	deadline := time.Now().Add(10 * time.Second)
	for len(w.missing(n)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if miss := w.missing(n); len(miss) > 0 {
		t.Fatalf("%d of %d batches polled across the reloads never arrived: %v", len(miss), n, miss)
	}
	t.Logf("%d batches, sequence 1..%d complete across 5 reloads; per device %v", n, n, w.counts())
}

// TestSIGHUPWithoutReload: a role that does not reload (ingest, park)
// logs a SIGHUP once, naming its configuration file, and runs on.
func TestSIGHUPWithoutReload(t *testing.T) {
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- noReload(log, "/etc/eipgw/ingest.yaml", func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return nil
		})(ctx)
	}()
	<-started // the signal is caught from here on
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "SIGHUP ignored"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the SIGHUP:\n%s", logs.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "file=/etc/eipgw/ingest.yaml") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "restart it to apply changes") {
		t.Errorf("log:\n%s", out)
	}
}

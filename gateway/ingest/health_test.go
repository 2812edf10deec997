package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

func checkNamed(t *testing.T, checks []telemetry.Check, name string) telemetry.Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, checks)
	return telemetry.Check{}
}

// awaitCheck waits until check name of in.Ready() has state ok.
func awaitCheck(t *testing.T, in *Ingest, within time.Duration, name string, ok bool) telemetry.Check {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c := checkNamed(t, in.Ready(), name)
		if c.OK == ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("check %s not ok=%t within %s: %+v", name, ok, within, in.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadiness runs an ingest worker against a real Mosquitto and
// InfluxDB 1.8: ready once subscribed and InfluxDB answers; the broker
// stopped makes it unready (not subscribed) until it is back and the
// subscription acknowledged again; InfluxDB stopped makes it unready
// (pings fail) until it is back. The main loop turns throughout.
func TestReadiness(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	cfg, err := config.Parse("ingest.yaml", []byte(fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: health-ingest, connect_timeout: 2s}
ingest:
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen, timeout: 1s}
  completeness: {disabled: true}
`, mq.URL, ifx.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(ingestRole(t, cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	in.health.pingEvery = 100 * time.Millisecond
	if got := checkNamed(t, in.Ready(), "subscribed"); got.OK {
		t.Fatalf("subscribed before running: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() { cancel(); <-done }()

	awaitCheck(t, in, 20*time.Second, "subscribed", true)
	if c := awaitCheck(t, in, 20*time.Second, "influxdb", true); !strings.Contains(c.Detail, "ping ok") {
		t.Errorf("influxdb detail %q, want ping ok (nothing written yet)", c.Detail)
	}
	if !telemetry.AllOK(in.Ready()) || !telemetry.AllOK(in.Live()) {
		t.Fatalf("ready %+v live %+v", in.Ready(), in.Live())
	}

	mq.Stop()
	lost := awaitCheck(t, in, 20*time.Second, "subscribed", false)
	if !strings.Contains(lost.Detail, "connection lost") && !strings.Contains(lost.Detail, "not connected: ") {
		t.Errorf("subscribed detail %q", lost.Detail)
	}
	if telemetry.AllOK(in.Ready()) {
		t.Error("ready without a broker")
	}
	// The attempts to connect again fail, and the check says why.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c := checkNamed(t, in.Ready(), "subscribed"); strings.Contains(c.Detail, "not connected: "+mqttconn.CauseRefused) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribed check does not say why it is not connected: %+v", in.Ready())
		}
	}
	mq.Restart()
	awaitCheck(t, in, 30*time.Second, "subscribed", true)

	ifx.Stop()
	down := awaitCheck(t, in, 20*time.Second, "influxdb", false)
	t.Logf("influxdb down: %s", down.Detail)
	if telemetry.AllOK(in.Ready()) {
		t.Error("ready without InfluxDB")
	}
	if live := in.Live(); !telemetry.AllOK(live) {
		t.Errorf("the outages stalled the main loop: %+v", live)
	}
	ifx.Restart()
	awaitCheck(t, in, 30*time.Second, "influxdb", true)
	if !telemetry.AllOK(in.Ready()) {
		t.Errorf("not ready after both came back: %+v", in.Ready())
	}
}

// TestReadinessWindow: a last success older than the window is not
// ready, whatever the last outcome said.
func TestReadinessWindow(t *testing.T) {
	h := newHealth(&config.Ingest{InfluxDB: &config.InfluxDB{Timeout: time.Second}})
	in := &Ingest{health: h}
	h.wrote(nil)
	if c := checkNamed(t, in.Ready(), "influxdb"); !c.OK {
		t.Fatalf("after a write: %+v", c)
	}
	h.lastOK.Store(time.Now().Add(-h.window - time.Second).UnixNano())
	c := checkNamed(t, in.Ready(), "influxdb")
	if c.OK || !strings.Contains(c.Detail, "no write or ping succeeded") {
		t.Errorf("last success older than the window: %+v", c)
	}
	h.wrote(fmt.Errorf("connection refused"))
	if c := checkNamed(t, in.Ready(), "influxdb"); c.OK || !strings.Contains(c.Detail, "connection refused") {
		t.Errorf("after a failed write: %+v", c)
	}
}

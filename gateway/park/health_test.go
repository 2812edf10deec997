package park

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

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

func awaitCheck(t *testing.T, s *Service, within time.Duration, name string, ok bool) telemetry.Check {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c := checkNamed(t, s.Ready(), name)
		if c.OK == ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("check %s not ok=%t within %s: %+v", name, ok, within, s.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadiness runs the park engine against a real Mosquitto and
// InfluxDB 1.8: ready once subscribed; not ready while the broker is
// down, ready again once it is back. Its InfluxDB writes decide the
// influxdb_write check: ok after a write InfluxDB took, not ok after one
// that failed because InfluxDB was stopped.
func TestReadiness(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	data, err := os.ReadFile("../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(data)
	y = strings.Replace(y, "tcp://127.0.0.1:1883", mq.URL, 1)
	y = strings.Replace(y, "http://127.0.0.1:8086", ifx.URL, 1)
	y = strings.Replace(y, "  listen: 127.0.0.1:9464", "  listen: \"\"", 1)
	path := filepath.Join(t.TempDir(), "park.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EIPGW_MQTT_PASSWORD", "")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(parkRole(t, cfg), slog.New(slog.DiscardHandler), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := checkNamed(t, s.Ready(), "influxdb_write"); !c.OK || c.Detail != "no write yet" {
		t.Errorf("before any write: %+v, want ok, no write yet", c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	awaitCheck(t, s, 20*time.Second, "subscribed", true)
	if !telemetry.AllOK(s.Ready()) || !telemetry.AllOK(s.Live()) {
		t.Fatalf("ready %+v live %+v", s.Ready(), s.Live())
	}
	mq.Stop()
	if c := awaitCheck(t, s, 20*time.Second, "subscribed", false); !strings.Contains(c.Detail, "connection lost") && !strings.Contains(c.Detail, "not connected: "+mqttconn.CauseRefused) {
		t.Errorf("subscribed detail %q", c.Detail)
	}
	mq.Restart()
	awaitCheck(t, s, 30*time.Second, "subscribed", true)

	// Writes through the same observer the sink writes through.
	ic := influxdb2.NewClient(ifx.URL, "")
	defer ic.Close()
	w := s.health.observe(ic.WriteAPIBlocking("", "eipgw/autogen"))
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := w.WriteRecord(wctx, "park_health_probe v=1"); err != nil {
		t.Fatal(err)
	}
	if c := checkNamed(t, s.Ready(), "influxdb_write"); !c.OK || c.Detail != "last write ok" {
		t.Errorf("after a write: %+v", c)
	}
	ifx.Stop()
	if err := w.WriteRecord(wctx, "park_health_probe v=2"); err == nil {
		t.Fatal("write to a stopped InfluxDB succeeded")
	}
	c := checkNamed(t, s.Ready(), "influxdb_write")
	if c.OK || !strings.Contains(c.Detail, "last write failed") {
		t.Errorf("after a failed write: %+v", c)
	}
	if telemetry.AllOK(s.Ready()) {
		t.Error("ready after a failed write")
	}
	ifx.Restart()
	if err := w.WriteRecord(wctx, "park_health_probe v=3"); err != nil {
		t.Fatal(err)
	}
	if !telemetry.AllOK(s.Ready()) {
		t.Errorf("not ready after a write succeeded again: %+v", s.Ready())
	}
}

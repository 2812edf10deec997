package demo

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestEndToEndOPCUA runs the demo with the CEMS served over OPC UA: the
// edge reads it with the OPC UA driver by subscription, beside the Modbus
// devices, and InfluxDB stores its readings like theirs. It also runs
// without the RS-485 line: every Modbus device on the TCP bus.
func TestEndToEndOPCUA(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uaAddr := l.Addr().String()
	l.Close()
	state := t.TempDir()
	ready := make(chan struct{})
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Park: "ua", Seed: 7, ModbusListen: "127.0.0.1:0", Broker: mq.URL, OPCUAListen: uaAddr, RS485Baud: -1,
			InfluxURL: ifx.URL, Bucket: "eipgw/autogen", StateDir: state,
			Interval: 500 * time.Millisecond, Step: 200 * time.Millisecond, Report: -1,
			Out: &out, Ready: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready after 30s")
	}
	cfg, err := os.ReadFile(filepath.Join(state, "demo-edge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "protocol: opcua") || !strings.Contains(string(cfg), `node_id: "ns=1;s=cems-1.so2"`) {
		t.Fatalf("generated edge configuration reads no CEMS over OPC UA:\n%s", cfg)
	}
	var rows, chpRows []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rows = query(t, ifx, `SELECT * FROM "cems" WHERE "device"='cems-1'`)
		chpRows = query(t, ifx, `SELECT * FROM "chp" WHERE "device"='chp-1'`)
		if len(rows) >= 5 && len(chpRows) >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if len(rows) < 5 || len(chpRows) < 3 {
		t.Fatalf("%d cems rows (over OPC UA), %d chp rows (over Modbus)", len(rows), len(chpRows))
	}
	good := 0
	for _, r := range rows {
		if v, ok := r["so2"]; ok && v != nil && num(t, v) >= 0 {
			good++
		}
		if r["park"] != "ua" || r["gateway"] != "gw-1" {
			t.Errorf("row tags %v", r)
		}
	}
	if good == 0 {
		t.Errorf("no so2 value among %d cems rows: %v", len(rows), rows[0])
	}
	if !strings.Contains(out.String(), "OPC UA: the cems devices are also served at opc.tcp://"+uaAddr) {
		t.Errorf("banner does not name the OPC UA endpoint:\n%s", out.String())
	}
	if strings.Contains(out.String(), "RS-485") {
		t.Errorf("the banner names an RS-485 line the demo was asked not to have:\n%s", out.String())
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	park, err := sim.NewPark(sim.Config{Seed: 7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkRS485(t, state, park, profiles, 0)
	t.Logf("%d cems rows over OPC UA, %d with so2", len(rows), good)
}

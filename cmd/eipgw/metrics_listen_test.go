package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMetricsAddressTaken: a role whose metrics.listen address another
// process holds stops at once with an error naming the key and the
// address, before it does anything else. It ran on before, without its
// health endpoints, while the other process answered them, and said so
// only when it was stopped.
func TestMetricsAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	dir := t.TempDir()
	for role, section := range map[string]string{
		"edge":   "edge:\n  gateway: gw-1\n  state_dir: " + filepath.Join(dir, "state") + "\n  buses: [{name: b, address: \"127.0.0.1:1\"}]\n  devices: [{name: m1, profile: power_meter, bus: b, unit: 1}]\n",
		"ingest": "ingest:\n  influxdb: {url: \"http://127.0.0.1:1\", bucket: eipgw/autogen}\n",
	} {
		t.Run(role, func(t *testing.T) {
			cfg := filepath.Join(dir, role+".yaml")
			body := fmt.Sprintf("park: p\nsite: s\nmqtt: {broker: \"tcp://127.0.0.1:1\"}\nmetrics: {listen: %q}\n%s", addr, section)
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(t.Context(), &env{stdout: &out, stderr: &out}, []string{role, "-config", cfg}) }()
			select {
			case code := <-done:
				if code == 0 || !strings.Contains(out.String(), "metrics.listen "+addr) || !strings.Contains(out.String(), "address already in use") {
					t.Errorf("exit %d:\n%s", code, out.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s still running with its metrics address taken", role)
			}
		})
	}
}

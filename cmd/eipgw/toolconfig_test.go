package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestToolsNeedNoBrokerSecret: statement, audit and read load the example
// park and ingest files without the broker's password (they connect to no
// broker), while the roles still need it, and the secrets the tools do use
// are still required.
func TestToolsNeedNoBrokerSecret(t *testing.T) {
	root := testenv.RepoRoot(t)
	park := filepath.Join(root, "config", "examples", "park.yaml")
	t.Setenv("EIPGW_MQTT_PASSWORD", "")
	os.Unsetenv("EIPGW_MQTT_PASSWORD") // restored by t.Setenv
	t.Setenv("EIPGW_INFLUX_TOKEN", "user:password")
	if _, _, err := loadToolConfig(park); err != nil {
		t.Errorf("a tool loading %s without EIPGW_MQTT_PASSWORD: %v", park, err)
	}
	if _, _, err := loadConfig(park); err == nil || !strings.Contains(err.Error(), "mqtt.password_env: environment variable EIPGW_MQTT_PASSWORD is not set") {
		t.Errorf("the role loading %s without EIPGW_MQTT_PASSWORD: %v", park, err)
	}
	ingest := filepath.Join(root, "config", "examples", "ingest.yaml")
	if _, _, err := loadToolConfig(ingest); err != nil && strings.Contains(err.Error(), "mqtt.password") {
		t.Errorf("a tool loading %s: %v", ingest, err)
	}
	// The InfluxDB token the tools read with is still required.
	os.Unsetenv("EIPGW_INFLUX_TOKEN") // restored by t.Setenv
	if _, _, err := loadToolConfig(park); err == nil || !strings.Contains(err.Error(), "EIPGW_INFLUX_TOKEN is not set") {
		t.Errorf("a tool loading %s without its InfluxDB token: %v", park, err)
	}
}

// TestReadNeedsOnlyItsBusLogin: read -config of a device on one OPC UA bus
// does not need the login secret of another bus, but does need its own.
func TestReadNeedsOnlyItsBusLogin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := `park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1883", password_env: EIPGW_TEST_UNSET_MQTT}
edge:
  gateway: gw
  state_dir: /tmp/x
  buses:
    - {name: a, protocol: opcua, opcua: {endpoint: "opc.tcp://127.0.0.1:4840"}}
    - {name: b, protocol: opcua, opcua: {endpoint: "opc.tcp://127.0.0.1:4841", username: u, password_env: EIPGW_TEST_UNSET_OPC}}
  devices:
    - {name: d1, bus: a, interval: 1s, opcua: {kind: k, nodes: [{name: x, node_id: "ns=1;s=X"}]}}
    - {name: d2, bus: b, interval: 1s, opcua: {kind: k, nodes: [{name: x, node_id: "ns=1;s=X"}]}}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadToolConfigFor(path, otherBusLogin("d1")); err != nil {
		t.Errorf("reading d1 (bus a, no login): %v", err)
	}
	if _, _, err := loadToolConfigFor(path, otherBusLogin("d2")); err == nil || !strings.Contains(err.Error(), "EIPGW_TEST_UNSET_OPC") {
		t.Errorf("reading d2 (bus b, its login unset): %v", err)
	}
}

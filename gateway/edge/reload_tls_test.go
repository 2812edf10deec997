package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestReloadWithBrokerTLS: an edge whose broker connection has a tls block
// reloads the same file as unchanged settings (the TLS configuration Load
// builds is new each time); a changed tls setting is one only a restart
// applies, named mqtt.tls.
func TestReloadWithBrokerTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	dir := t.TempDir()
	load := func(serverName string) config.EdgeRole {
		t.Helper()
		path := filepath.Join(dir, "edge.yaml")
		yaml := fmt.Sprintf(`park: p
site: plant
mqtt:
  broker: ssl://127.0.0.1:8883
  client_id: gw-1
  tls: {ca_file: %s, cert_file: %s, key_file: %s, server_name: %s}
edge:
  gateway: gw-1
  state_dir: %s
  buses:
    - {name: sim, transport: tcp, address: "127.0.0.1:1502"}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: 1s}
`, pki.CA, pki.Client.Cert, pki.Client.Key, serverName, filepath.Join(dir, "state"))
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return edgeRole(t, f)
	}
	e := &Edge{cfg: load("localhost")}
	if fixed := e.fixedChanges(load("localhost")); len(fixed) != 0 {
		t.Errorf("the same file: %v changed, want nothing", fixed)
	}
	if fixed := e.fixedChanges(load("broker.example")); !slices.Equal(fixed, []string{"mqtt.tls"}) {
		t.Errorf("another server_name: %v changed, want [mqtt.tls]", fixed)
	}
}

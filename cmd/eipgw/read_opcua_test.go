package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// eipgw read -endpoint browses node-opcua's address space with values;
// -config -device reads a configured OPC UA device once, over
// Basic256Sha256.
func TestReadOPCUA(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, p.ClientDER, "")
	code, out, errOut := runCLI(t, "read", "-endpoint", srv.Endpoint(), "-depth", "2")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{
		"1:Plant  ns=1;i=1000  Object\n",
		"  1:Plant/1:UInt64  ns=1;s=UInt64  Variable  good 18446744073709551615\n",
		"  1:Plant/1:Float  ns=1;s=Float  Variable  good 28.4\n",
		"  1:Plant/1:Text  ns=1;s=Text  Variable  out_of_range  (string \"running\" is not a number)\n",
		"  1:Plant/1:SensorFailure  ns=1;s=SensorFailure  Variable  comm_error  (BadSensorFailure (0x808C0000))\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A node the server does not have is an error, not an empty folder.
	code, out, errOut = runCLI(t, "read", "-endpoint", srv.Endpoint(), "-browse", "ns=1;s=NoSuch")
	if code != 1 || !strings.Contains(errOut, "node ns=1;s=NoSuch: BadNodeIdUnknown") {
		t.Errorf("browse of a node the server lacks: code %d, %s%s", code, errOut, out)
	}
	code, out, errOut = runCLI(t, "read", "-endpoint", srv.Endpoint(), "-browse", "ns=1;i=1000", "-depth", "1")
	if code != 0 || !strings.Contains(out, "1:UInt64  ns=1;s=UInt64") {
		t.Errorf("browse from 1:Plant: code %d, %s\n%s", code, errOut, out)
	}

	dir := t.TempDir()
	cfg := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: " + dir + "\n  buses:\n" +
		"    - name: ua\n      protocol: opcua\n      timeout: 5s\n      opcua:\n        endpoint: " + srv.Endpoint() +
		"\n        security_policy: Basic256Sha256\n        certificate: " + p.ClientCert + "\n        private_key: " + p.ClientKey + "\n" +
		"  devices:\n    - name: chp-2\n      bus: ua\n      opcua:\n        kind: chp\n        mode: subscription\n        nodes:\n" +
		"          - {name: int64, node_id: \"ns=1;s=Int64\"}\n" +
		"          - {name: power, browse_path: \"1:Plant/1:Power\", unit: MW}\n" +
		"          - {name: gone, node_id: \"ns=1;s=NoSuchNode\"}\n"
	path := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "read", "-config", path, "-device", "chp-2")
	if code != 0 {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
	var res struct {
		Device, Kind, Endpoint string
		Error                  string `json:"last_error"`
		Points                 []struct {
			N, U, Q    string
			V          json.Number
			BrowsePath string `json:"browse_path"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.Device != "chp-2" || res.Kind != "chp" || res.Endpoint != srv.Endpoint() || len(res.Points) != 3 {
		t.Fatalf("result %+v", res)
	}
	if pt := res.Points[0]; pt.N != "int64" || pt.Q != "good" || pt.V != "-9223372036854775807" {
		t.Errorf("int64 %+v", pt)
	}
	if pt := res.Points[1]; pt.N != "power" || pt.Q != "good" || pt.V != "28.4" || pt.U != "MW" || pt.BrowsePath != "1:Plant/1:Power" {
		t.Errorf("power %+v", pt)
	}
	if pt := res.Points[2]; pt.Q != "comm_error" || pt.V != "" || !strings.Contains(res.Error, "node ns=1;s=NoSuchNode (gone): BadNodeIdUnknown (0x80340000)") {
		t.Errorf("gone %+v, error %q", pt, res.Error)
	}

	// A device none of whose points reads good: the JSON, and exit 1.
	lost := filepath.Join(dir, "lost.yaml")
	if err := os.WriteFile(lost, []byte(strings.Split(cfg, "          - {name: int64")[0]+"          - {name: gone, node_id: \"ns=1;s=NoSuchNode\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "read", "-config", lost, "-device", "chp-2"); code != 1 || !strings.Contains(errOut, "no point read good") || !strings.Contains(out, `"comm_error"`) {
		t.Errorf("a device with nothing read: code %d, %s\n%s", code, errOut, out)
	}
}

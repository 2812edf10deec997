package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestHelpOfEveryCommandHasAnExample(t *testing.T) {
	for _, c := range commands {
		code, out, _ := runCLI(t, c.name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: eipgw "+c.name) || !strings.Contains(out, "Example:") {
			t.Errorf("%s --help: code %d, output:\n%s", c.name, code, out)
		}
	}
	code, out, _ := runCLI(t, "help")
	if code != 0 || !strings.Contains(out, "validate") {
		t.Errorf("help: %d %s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"edge"}, "-config is required"},
		{[]string{"edge", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"sim", "-step", "0s"}, "-step 0s must be positive"},
		{[]string{"sim", "-drift", "steam-t03"}, "want DEVICE=FACTOR"},
		{[]string{"validate"}, "no files given"},
		{[]string{"edge", "-config", "x.yaml", "-log-level", "loud"}, `-log-level "loud"`},
		// A stray word after the flags is refused, never ignored.
		{[]string{"ingest", "-config", "x.yaml", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"edge", "-config", "a.yaml", "b.yaml"}, `unexpected arguments ["b.yaml"]`},
		{[]string{"park", "-config", "x.yaml", "-", "y"}, `unexpected arguments ["-" "y"]`},
		{[]string{"keygen", "-out", "k", "more"}, `unexpected arguments ["more"]`},
		{[]string{"version", "now"}, `unexpected arguments ["now"]`},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestValidateReportsEveryErrorWithFileLine(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "x")
	broken := filepath.Join("..", "..", "config", "testdata", "broken", "dangling.yaml")
	good := filepath.Join("..", "..", "config", "examples", "edge.yaml")
	code, out, _ := runCLI(t, "validate", good, broken)
	if code != 1 {
		t.Fatalf("code %d, want 1\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != good+": ok" {
		t.Errorf("first line %q", lines[0])
	}
	// dangling.yaml has five errors, each reported with file:line.
	want := []string{":14: edge.devices[0].bus", ":17: edge.devices[1].profile", ":19: edge.devices[1].unit", ":20: edge.devices[2].name", ":24: edge.devices[2].interval"}
	if len(lines) != 1+len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), 1+len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[1+i], broken+w) {
			t.Errorf("line %d = %q, want prefix %q", 1+i, lines[1+i], broken+w)
		}
	}
}

func TestValidateUserProfiles(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "profiles"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles", "flowmeter.yaml"), []byte("kind: flow\npoints:\n  - {name: q, address: 0, type: float32, unit: m3/h}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "profiles", "broken.yaml"), []byte("kind: x\npoints:\n  - {name: q, address: 0, type: float33, unit: m3/h}\n"), 0o644)
	cfg := `park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1883"}
edge:
  gateway: gw
  state_dir: ` + dir + `
  profile_dirs: [profiles]
  buses: [{name: b, address: "127.0.0.1:502"}]
  devices:
    - {name: f1, profile: flowmeter, bus: b, unit: 1}
    - {name: f2, profile: broken, bus: b, unit: 2}
`
	path := filepath.Join(dir, "edge.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	code, out, _ := runCLI(t, "validate", path)
	// The broken profile's own error, and no claim that it does not exist.
	if code != 1 || !strings.Contains(out, "broken.yaml:3: points[0].type: unknown type \"float33\"") ||
		strings.Contains(out, "is not defined") {
		t.Fatalf("code %d, output:\n%s", code, out)
	}

	// A wrong type does not hide the profile's other errors; a missing
	// profile directory is named at its line.
	os.WriteFile(filepath.Join(dir, "profiles", "broken.yaml"), []byte("kind: x\npoints:\n  - {name: q, address: zero, type: float32, unit: m3/h}\n  - {name: q, address: 2, type: float32, unit: m3/h}\n"), 0o644)
	os.WriteFile(path, []byte(strings.Replace(cfg, "[profiles]", "[profiles, ../nowhere]", 1)), 0o644)
	code, out, _ = runCLI(t, "validate", path)
	for _, want := range []string{
		`broken.yaml:3: points[0].address: expected an integer`,
		`broken.yaml:4: points[1].name: point "q" is defined twice`,
		`edge.yaml:7: edge.profile_dirs[1]: profile directory: stat ` + filepath.Join(dir, "..", "nowhere") + `: no such file or directory`,
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("code %d, want %q in:\n%s", code, want, out)
		}
	}
	if strings.Count(out, "nowhere") != 1 || strings.Contains(out, "is not defined") {
		t.Errorf("the missing directory reported more than once, or a profile said to be undefined:\n%s", out)
	}
}

// TestValidateReadsTheEdgeFiles: eipgw validate reads the edge's signing
// key and its OPC UA buses' certificate and key as the edge would, and
// reports a wrong one at its line, where the edge used to start and then
// fail (the key) or retry for ever (the certificate).
func TestValidateReadsTheEdgeFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "gw.key")
	if _, err := evidence.Generate(key); err != nil {
		t.Fatal(err)
	}
	write := func(name, keyFile, cert string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf(`park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1883"}
edge:
  gateway: gw
  state_dir: %s
  evidence: {key_file: %s}
  buses:
    - name: ua
      protocol: opcua
      opcua:
        endpoint: opc.tcp://127.0.0.1:4840
        security_policy: Basic256Sha256
        security_mode: SignAndEncrypt
        certificate: %s
        private_key: %s
  devices:
    - name: chp-2
      bus: ua
      opcua:
        kind: chp
        nodes:
          - {name: power, node_id: "ns=1;s=Power"}
`, dir, keyFile, cert, filepath.Join(dir, "ua.key"))
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := write("missing.yaml", filepath.Join(dir, "nosuch.key"), filepath.Join(dir, "nosuch.der"))
	code, out, _ := runCLI(t, "validate", missing)
	if code != 1 || !strings.Contains(out, missing+":7: edge.evidence.key_file: private key: ") ||
		!strings.Contains(out, missing+":15: edge.buses[0].opcua.certificate: ") || !strings.Contains(out, missing+":16: edge.buses[0].opcua.private_key: ") {
		t.Errorf("missing files: code %d\n%s", code, out)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	open := write("open.yaml", key, filepath.Join(dir, "nosuch.der"))
	if code, out, _ := runCLI(t, "validate", open); code != 1 || !strings.Contains(out, "readable by group or others") {
		t.Errorf("key readable by others: code %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "edge", "-config", open); code != 1 || !strings.Contains(errOut, open+":7: edge.evidence.key_file") {
		t.Errorf("edge with a key readable by others: code %d\n%s", code, errOut)
	}
	// With another error in the file, every one is still reported.
	b, err := os.ReadFile(open)
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both.yaml")
	if err := os.WriteFile(both, []byte(strings.Replace(string(b), "tcp://127.0.0.1:1883", "tcp://127.0.0.1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "validate", both); code != 1 || !strings.Contains(out, "has no port") || !strings.Contains(out, "readable by group or others") ||
		!strings.Contains(out, "edge.buses[0].opcua.certificate") {
		t.Errorf("three errors in one file: code %d\n%s", code, out)
	}
}

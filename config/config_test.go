package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden .errors files")

func knownProfile(name string) bool {
	switch name {
	case "chp", "cems", "bds", "boiler", "steam_meter", "power_meter", "heat_meter":
		return true
	}
	return false
}

// TestExamples loads every commented example: they must stay valid.
func TestExamples(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	t.Setenv("EIPGW_INFLUX_TOKEN", "user:password")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("expected at least an edge and an ingest example, found %v", files)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The ingest example reads its password from a file that exists on
		// a real host only; point it at a temporary one.
		data = []byte(strings.ReplaceAll(string(data), "/run/secrets/mqtt-password", filepath.Join(dir, "pw")))
		f, err := Parse(path, data, knownProfile)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if f.MQTT.Password == "" {
			t.Errorf("%s: password not resolved", path)
		}
	}
}

func TestEdgeExampleValues(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	f, err := Load("examples/edge.yaml", knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	if f.Park != "suzhou-eip" || f.Edge.Gateway != "gw-1" || f.MQTT.Password != "secret" {
		t.Errorf("park %q gateway %q password %q", f.Park, f.Edge.Gateway, f.MQTT.Password)
	}
	if got := len(f.Edge.Devices); got != 6 {
		t.Fatalf("devices = %d, want 6", got)
	}
	d := f.Edge.Devices[1] // cems-1 takes the default interval
	if d.Interval != DefaultInterval || d.Unit != 2 {
		t.Errorf("cems-1 interval %s unit %d", d.Interval, d.Unit)
	}
	if f.Edge.Buses[1].Timeout != 500*time.Millisecond || f.Edge.Buses[1].Delay != 20*time.Millisecond {
		t.Errorf("tenant-gateway timeout %s delay %s", f.Edge.Buses[1].Timeout, f.Edge.Buses[1].Delay)
	}
	if f.Edge.Devices[3].Tenant != "t01" {
		t.Errorf("steam-t01 tenant %q", f.Edge.Devices[3].Tenant)
	}
}

// TestBroken checks every error reported for each broken file against its
// golden list (testdata/broken/NAME.errors; -update rewrites them).
func TestBroken(t *testing.T) {
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	if len(files) == 0 {
		t.Fatal("no broken configs")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := Load(path, knownProfile)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".yaml") + ".errors"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, path+":") {
					t.Errorf("error without file:line: %q", line)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	base := "park: p\nmqtt:\n  broker: tcp://h:1\n  %s\ningest:\n  influxdb:\n    url: http://h:8086\n    bucket: b\n"
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EIPGW_TEST_PW", "from-env")
	for _, tc := range []struct {
		line, want, wantErr string
	}{
		{"password_env: EIPGW_TEST_PW", "from-env", ""},
		{"password_file: " + pw, "s3cret", ""},
		{"password_env: EIPGW_TEST_NOT_SET_ANYWHERE", "", "x.yaml:4: mqtt.password_env: environment variable EIPGW_TEST_NOT_SET_ANYWHERE is not set"},
		{"password_file: " + filepath.Join(dir, "absent"), "", "x.yaml:4: mqtt.password_file: reading secret"},
		{"password: inline", "", "x.yaml:4: mqtt.password: unknown field \"password\""},
	} {
		f, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", tc.line, 1)), nil)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want prefix %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if f.MQTT.Password != tc.want {
			t.Errorf("%s: password %q, want %q", tc.line, f.MQTT.Password, tc.want)
		}
	}
}

func TestSourceLineFallsBackToParent(t *testing.T) {
	src, errs := Decode("f.yaml", []byte("a:\n  b:\n    c: 1\n"), &struct {
		A struct {
			B struct {
				C int `yaml:"c"`
				D int `yaml:"d"`
			} `yaml:"b"`
		} `yaml:"a"`
	}{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for path, want := range map[string]int{"a.b.c": 3, "a.b.d": 2, "a.x[3].y": 1, "a": 1} {
		if got := src.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"examples/edge.yaml", "examples/ingest.yaml", "testdata/broken/dangling.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Must never panic; errors are fine.
		Parse("fuzz.yaml", data, knownProfile)
	})
}

// TestSerialLineAliases: udev names a serial line by symbolic links
// (/dev/serial/by-id/..., a rule's alias); two buses on the line under two
// names would open it twice and garble each other's frames.
func TestSerialLineAliases(t *testing.T) {
	dir := t.TempDir()
	line := filepath.Join(dir, "ttyUSB0")
	alias := filepath.Join(dir, "usb-FTDI_FT232R-if00-port0")
	if err := os.WriteFile(line, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(line, alias); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1883"}
edge:
  gateway: gw
  state_dir: %s
  buses:
    - {name: rs485, transport: rtu, device: %s}
    - {name: meters, transport: rtu, device: %s}
  devices:
    - {name: d1, profile: chp, bus: rs485, unit: 1, interval: 1s}
    - {name: d2, profile: chp, bus: meters, unit: 2, interval: 1s}
`, dir, line, alias)
	_, err := Parse("aliases.yaml", []byte(yaml), nil)
	want := fmt.Sprintf(`edge.buses[1].device: %s (%s) is bus "rs485"'s too: one bus owns a serial line`, alias, line)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("two buses on one line by two names: %v; want %q", err, want)
	}
}

// TestHugeValueNotEchoed: an error about a value of megabytes quotes its
// start and says how long it is, not the whole value.
func TestHugeValueNotEchoed(t *testing.T) {
	huge := strings.Repeat("x", 3<<20)
	_, err := Parse("huge.yaml", []byte("park: "+huge+"\nsite: s\nmqtt: {broker: \"tcp://127.0.0.1:1883\"}\n"), nil)
	if err == nil || len(err.Error()) > 2000 || !strings.Contains(err.Error(), fmt.Sprintf("... (%d bytes)", len(huge))) {
		t.Fatalf("error of %d bytes: %.300s", len(fmt.Sprint(err)), fmt.Sprint(err))
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// readSim serves the simulated park over Modbus TCP until the test ends.
func readSim(t *testing.T) (*sim.Server, string) {
	t.Helper()
	return testenv.StartSim(t, 5, time.Hour)
}

func TestReadBlockEveryTypeAndOrder(t *testing.T) {
	_, addr := readSim(t)
	// chp-1 (unit 1): running (uint16) at 0, electric_power (float32 ABCD)
	// at 2, electric_energy (uint32 CDAB) at 16.
	code, out, errOut := runCLI(t, "read", "-address", addr, "-unit", "1", "-register", "0", "-count", "18")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{
		"unit 1, holding registers 0-17",
		"register  hex     uint16",
		"32-bit values starting at each register",
		"64-bit values starting at each register",
		"string ABCD:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every 32-bit start register is printed in all four orders.
	for _, order := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
		if n := strings.Count(out, "  "+order+"  "); n != 17+15 {
			t.Errorf("%s rows: %d, want 17 (32-bit) + 15 (64-bit)", order, n)
		}
	}
	// The running flag of a running CHP is 1.
	if !strings.Contains(out, "\n0         0x0001  1       1") {
		t.Errorf("register 0 row missing or wrong:\n%s", out)
	}
}

// A manual's zero-padded register is decimal: 0016 is register 16.
func TestReadBlockZeroPadded(t *testing.T) {
	_, addr := readSim(t)
	code, out, errOut := runCLI(t, "read", "-address", addr, "-unit", "01", "-register", "0016", "-count", "02")
	if code != 0 || !strings.Contains(out, "unit 1, holding registers 16-17") {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
}

func TestReadBlockException(t *testing.T) {
	_, addr := readSim(t)
	code, _, errOut := runCLI(t, "read", "-address", addr, "-unit", "1", "-register", "900", "-count", "2")
	if code != 1 || !strings.Contains(errOut, "unit 1 holding 900+2") || !strings.Contains(errOut, "exception '2'") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestReadConfiguredDevice(t *testing.T) {
	srv, addr := readSim(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1"}
edge:
  gateway: gw
  state_dir: %s
  buses:
    - {name: lan, address: "%s", timeout: 300ms}
  devices:
    - {name: chp-1, profile: chp, bus: lan, unit: 1}
    - {name: bds-1, profile: bds, bus: lan, unit: 3, timeout: 100ms}
`, dir, addr)), 0o600)

	var res struct {
		Device string `json:"device"`
		Points []struct {
			N string   `json:"n"`
			V *float64 `json:"v"`
			U string   `json:"u"`
			Q string   `json:"q"`
		} `json:"points"`
		LastError string `json:"last_error"`
	}
	code, out, errOut := runCLI(t, "read", "-config", cfg, "-device", "chp-1")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.Device != "chp-1" || len(res.Points) != 9 {
		t.Fatalf("device %s, %d points:\n%s", res.Device, len(res.Points), out)
	}
	for _, p := range res.Points {
		if p.Q != "good" || p.V == nil || p.U == "" {
			t.Errorf("point %+v", p)
		}
	}
	// A device answering busy: every point says so, with no value.
	if err := srv.SetFault("bds-1", modbusserver.Fault{Exception: modbus.ExBusy}); err != nil {
		t.Fatal(err)
	}
	// Nothing read: exit status 1, the JSON printed all the same.
	code, out, errOut = runCLI(t, "read", "-config", cfg, "-device", "bds-1")
	if code != 1 || !strings.Contains(errOut, "device bds-1 did not answer") {
		t.Fatalf("code %d: %s", code, errOut)
	}
	res.Points = nil
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Points {
		if p.Q != "exception:6" || p.V != nil {
			t.Errorf("busy device point %+v", p)
		}
	}
	if !strings.Contains(res.LastError, "device bds-1 unit 3 holding register 0-17") {
		t.Errorf("last error %q", res.LastError)
	}
	if code, _, errOut := runCLI(t, "read", "-config", cfg, "-device", "nosuch"); code != 2 || !strings.Contains(errOut, "chp-1, bds-1") {
		t.Errorf("unknown device: code %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "read", "-config", cfg, "-device", "chp-1", "-address", "10.0.0.1:502"); code != 2 || !strings.Contains(errOut, "-address not used with -config") {
		t.Errorf("-address with -config: code %d, %s", code, errOut)
	}
	// A device that does not answer at all: nothing listens on its port.
	gone := filepath.Join(dir, "gone.yaml")
	os.WriteFile(gone, []byte(fmt.Sprintf(`park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1"}
edge:
  gateway: gw
  state_dir: %s
  buses:
    - {name: lan, address: "127.0.0.1:1", timeout: 300ms}
  devices:
    - {name: chp-1, profile: chp, bus: lan, unit: 1}
`, dir)), 0o600)
	if code, out, errOut := runCLI(t, "read", "-config", gone, "-device", "chp-1"); code != 1 || !strings.Contains(errOut, "did not answer") || !strings.Contains(out, `"chp-1"`) {
		t.Errorf("unreachable device: code %d, %s\n%s", code, errOut, out)
	}
}

func TestReadUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"read"}, "-address: required field is missing"},
		{[]string{"read", "-config", "x.yaml"}, "-config needs -device"},
		{[]string{"read", "-transport", "rtu"}, "-device: required field is missing"},
		{[]string{"read", "-transport", "rtu", "-device", "/dev/ttyS9", "-parity", "X"}, `-parity: "X"`},
		{[]string{"read", "-address", "h:1", "-table", "coils"}, `-table "coils"`},
		{[]string{"read", "-address", "h:1", "-count", "0"}, "out of range"},
		{[]string{"read", "-address", "h:1", "-count", "126"}, "at most 125"},
		{[]string{"read", "-address", "h:1", "-count", "0126"}, "at most 125"}, // decimal, not octal 86
		{[]string{"read", "-address", "h:1", "-unit", "0x1F8"}, "-unit 504"},
		{[]string{"read", "-address", "h:1", "-register", "1_0"}, `"1_0" is not a number`},
		{[]string{"read", "-address", "h:1", "-table", "coil", "-count", "2001"}, "at most 2000"},
		{[]string{"read", "-address", "h:1", "-timeout", "0s"}, "-timeout 0s is below 1ms"},
		{[]string{"read", "-address", "h:1", "-timeout", "-1s"}, "-timeout -1s is below 1ms"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// fixedRegisters serves fixed holding registers.
type fixedRegisters []uint16

func (r fixedRegisters) ReadRegisters(_ byte, _ modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if int(address)+len(dst) > len(r) {
		return 2, true
	}
	copy(dst, r[address:])
	return 0, true
}

// read -config prints 64-bit integers exactly, and floats as before.
func TestReadConfiguredExactIntegers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	// total -(2^53+1), counter 2^64-1, power float32 28.4.
	regs := fixedRegisters{0xFFDF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x41E3, 0x3333}
	go func() { (&modbusserver.Server{Registers: regs}).Serve(ctx, ln); close(served) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-served })
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "profiles"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles", "totaliser.yaml"), []byte(`kind: totaliser
points:
  - {name: total, address: 0, type: int64, unit: Wh}
  - {name: counter, address: 4, type: uint64, unit: "1"}
  - {name: power, address: 8, type: float32, unit: kW}
`), 0o600)
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`park: p
site: s
mqtt: {broker: "tcp://127.0.0.1:1"}
edge:
  gateway: gw
  state_dir: %s
  profile_dirs: [profiles]
  buses:
    - {name: lan, address: "%s", timeout: 1s}
  devices:
    - {name: t-1, profile: totaliser, bus: lan, unit: 1}
`, dir, ln.Addr())), 0o600)
	code, out, errOut := runCLI(t, "read", "-config", cfg, "-device", "t-1")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{`"v": -9007199254740993,`, `"v": 18446744073709551615,`, `"v": 28.4,`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

package modbus

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

// Interoperability with a Modbus implementation nobody on this project
// wrote: pymodbus (Debian's python3-pymodbus) serving the register layout of
// testdata/pymodbus_server.py, over Modbus TCP, RTU over TCP and RTU through
// a socat pseudo-terminal pair.

// requireTool skips the test when a tool is missing, or fails it under CI
// (CI=true), where every tool must be installed (make tools).
func requireTool(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " is not installed; run `make tools` to install it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

const pymodbusPython = "/usr/bin/python3"

func requirePymodbus(t *testing.T) {
	t.Helper()
	err := exec.Command(pymodbusPython, "-c", "import pymodbus, serial").Run()
	requireTool(t, "python3-pymodbus (with python3-serial)", err == nil)
}

// startPymodbus runs the scripted server with args until the test ends.
func startPymodbus(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(pymodbusPython, append([]string{"testdata/pymodbus_server.py"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-waited
		if t.Failed() {
			t.Logf("pymodbus server log:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		ready <- s.Scan() && s.Text() == "ready"
		for s.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("pymodbus server did not start")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pymodbus server not ready after 30 s")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// socatPair makes a pseudo-terminal pair and returns the paths of its ends.
func socatPair(t *testing.T) (server, client string) {
	t.Helper()
	socat, err := exec.LookPath("socat")
	requireTool(t, "socat", err == nil)
	dir := t.TempDir()
	server, client = filepath.Join(dir, "server"), filepath.Join(dir, "client")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+server, "pty,raw,echo=0,link="+client)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-waited })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, e1 := os.Stat(server)
		_, e2 := os.Stat(client)
		if e1 == nil && e2 == nil {
			return server, client
		}
		if time.Now().After(deadline) {
			t.Fatal("socat did not create its pseudo-terminals")
		}
	}
}

var interopOrders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

// interopProfile names every type in every byte order after the layout of
// testdata/pymodbus_server.py, with coils, discrete inputs and input
// registers.
func interopProfile(t *testing.T) (*Profile, map[string]result) {
	t.Helper()
	var b strings.Builder
	want := map[string]result{}
	b.WriteString("kind: interop\npoints:\n")
	for k, order := range interopOrders {
		for i, v := range decodeVectors {
			name := v.typ + "_" + order
			fmt.Fprintf(&b, "  - {name: %s, address: %d, type: %s, order: %s, unit: \"1\"}\n", name, 100*k+10*i, v.typ, order)
			want[name] = result{v.want, Good}
		}
	}
	for a := range 4 {
		fmt.Fprintf(&b, "  - {name: coil_%d, table: coil, address: %d, type: bool, unit: \"1\"}\n", a, a)
		fmt.Fprintf(&b, "  - {name: di_%d, table: discrete, address: %d, type: bool, unit: \"1\"}\n", a, a)
		fmt.Fprintf(&b, "  - {name: in_%d, table: input, address: %d, type: uint16, unit: \"1\"}\n", a, a)
		want[fmt.Sprint("coil_", a)] = result{float64(boolInt(a%3 == 0)), Good}
		want[fmt.Sprint("di_", a)] = result{float64(boolInt(a%2 == 1)), Good}
		want[fmt.Sprint("in_", a)] = result{float64(1000 + a), Good}
	}
	// Beyond the server's tables: an exception, not a value.
	b.WriteString("  - {name: missing, address: 700, type: uint16, unit: \"1\"}\n")
	want["missing"] = result{0, ExceptionQuality(ExIllegalAddress)}
	return mustParse(t, b.String()), want
}

func TestInteropPymodbus(t *testing.T) {
	requirePymodbus(t)
	type setup func(t *testing.T) config.Bus
	for _, tc := range []struct {
		name  string
		setup setup
	}{
		{"tcp", func(t *testing.T) config.Bus {
			port := freePort(t)
			startPymodbus(t, "--mode", "tcp", "--port", strconv.Itoa(port))
			return config.Bus{Transport: config.TransportTCP, Address: fmt.Sprintf("127.0.0.1:%d", port)}
		}},
		// Eight requests in flight: pymodbus reads them from the stream
		// one frame at a time and answers each.
		{"tcp-pipelined", func(t *testing.T) config.Bus {
			port := freePort(t)
			startPymodbus(t, "--mode", "tcp", "--port", strconv.Itoa(port))
			return config.Bus{Transport: config.TransportTCP, Address: fmt.Sprintf("127.0.0.1:%d", port), Pipeline: 8}
		}},
		{"rtu-over-tcp", func(t *testing.T) config.Bus {
			port := freePort(t)
			startPymodbus(t, "--mode", "rtu-over-tcp", "--port", strconv.Itoa(port))
			return config.Bus{Transport: config.TransportRTUOverTCP, Address: fmt.Sprintf("127.0.0.1:%d", port)}
		}},
		{"rtu-pty", func(t *testing.T) config.Bus {
			server, client := socatPair(t)
			startPymodbus(t, "--mode", "rtu", "--serial", server, "--baud", "115200")
			line := serialBus(client, 115200)
			line.Parity = "N"
			return line
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.setup(t)
			cfg.Name, cfg.Timeout = "interop", 300*time.Millisecond
			p, want := interopProfile(t)
			dc := config.Device{Name: "peer", Unit: 1, Interval: time.Second}
			d := NewDevice(dc, p)
			late := NewDevice(config.Device{Name: "late", Unit: 1, Interval: time.Second},
				mustParse(t, "kind: late\npoints:\n  - {name: slow, address: 500, type: uint16, unit: \"1\"}\n"))
			b, err := NewBus(cfg, []*Device{d, late}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			waitAnswering(t, b)
			checkReadings(t, "poll", b.Poll(d), want)
			// A late reply: the read times out, and the very next poll
			// reads every point right.
			checkReadings(t, "late", b.Poll(late), map[string]result{"slow": {0, Timeout}})
			// Polled again at once, before its late reply is out: that
			// reply must not be taken for this poll's answer (on RTU,
			// where nothing but timing tells them apart).
			checkReadings(t, "late again", b.Poll(late), map[string]result{"slow": {0, Timeout}})
			// The server is a single thread, busy until its late replies
			// are out; the next poll cycle finds it free again.
			time.Sleep(2 * d.Interval)
			checkReadings(t, "after the late reply", b.Poll(d), want)
			checkReadings(t, "again", b.Poll(d), want)
		})
	}
}

// pymodbus encodes 64-bit integers that a float64 cannot hold (2^53+1,
// the extremes); the driver reads them exactly in every byte order, and
// compares them with a range exactly.
func TestInteropPymodbusExact64(t *testing.T) {
	requirePymodbus(t)
	port := freePort(t)
	startPymodbus(t, "--mode", "tcp", "--port", strconv.Itoa(port))
	// EXACT of testdata/pymodbus_server.py, at 400 + 24*order + 4*i.
	exact := []struct {
		typ string
		i   int64
		u   uint64
	}{
		{"int64", math.MinInt64, 0},
		{"int64", math.MaxInt64, 0},
		{"int64", 1<<53 + 1, 0},
		{"int64", -(1<<53 + 1), 0},
		{"uint64", 0, math.MaxUint64},
		{"uint64", 0, 9007199254740993},
	}
	var y strings.Builder
	y.WriteString("kind: interop\npoints:\n")
	for k, order := range interopOrders {
		for i, e := range exact {
			fmt.Fprintf(&y, "  - {name: x%d_%s, address: %d, type: %s, order: %s, unit: Wh}\n", i, order, 400+24*k+4*i, e.typ, order)
		}
	}
	// A float64 max of 2^53 would let 2^53+1 through.
	y.WriteString("  - {name: capped, address: 408, type: int64, max: 9007199254740992, unit: Wh}\n")
	y.WriteString("  - {name: capped_u, address: 420, type: uint64, max: 9007199254740992, unit: Wh}\n")
	d := NewDevice(config.Device{Name: "peer", Unit: 1, Interval: time.Second}, mustParse(t, y.String()))
	b, err := NewBus(config.Bus{Name: "interop", Transport: config.TransportTCP, Address: fmt.Sprintf("127.0.0.1:%d", port), Timeout: 300 * time.Millisecond},
		[]*Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	waitAnswering(t, b)
	got := map[string]Reading{}
	for _, r := range b.Poll(d) {
		got[r.Point.Name] = r
	}
	for _, order := range interopOrders {
		for i, e := range exact {
			r := got[fmt.Sprintf("x%d_%s", i, order)]
			if e.typ == "int64" && (r.Quality != Good || r.Kind != IntValue || r.Int != e.i || r.Value != float64(e.i)) {
				t.Errorf("%s int64: got %+v, want %d", order, r, e.i)
			}
			if e.typ == "uint64" && (r.Quality != Good || r.Kind != UintValue || r.Uint != e.u || r.Value != float64(e.u)) {
				t.Errorf("%s uint64: got %+v, want %d", order, r, e.u)
			}
		}
	}
	if q := got["capped"].Quality; q != OutOfRange {
		t.Errorf("int64 2^53+1 with max 2^53: %s", q)
	}
	if q := got["capped_u"].Quality; q != OutOfRange {
		t.Errorf("uint64 2^53+1 with max 2^53: %s", q)
	}
}

// TestInteropPymodbusAuto: at the default pipeline (auto) a bus polls
// pymodbus one request at a time, finds after the first poll that it
// answers reads sent together (it reads requests from the stream one
// frame at a time), and sends every read of a poll together from then
// on; every poll reads every point right, the refused one included.
func TestInteropPymodbusAuto(t *testing.T) {
	requirePymodbus(t)
	port := freePort(t)
	startPymodbus(t, "--mode", "tcp", "--port", strconv.Itoa(port))
	p, want := interopProfile(t)
	d := NewDevice(config.Device{Name: "peer", Unit: 1, Interval: 500 * time.Millisecond}, p)
	b, err := NewBus(config.Bus{Name: "interop", Transport: config.TransportTCP, Address: fmt.Sprintf("127.0.0.1:%d", port),
		Timeout: time.Second, Pipeline: config.PipelineAuto}, []*Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	waitAnswering(t, b)
	if got := b.InFlight(); got != 1 {
		t.Fatalf("in flight before the first poll: %d, want 1", got)
	}
	for i, rs := range runPolls(t, b, 3) {
		checkContract(t, fmt.Sprint("poll ", i+1), rs, want)
	}
	if got, reads := b.InFlight(), min(len(d.plan), maxPipeline); got != reads || reads < 2 {
		t.Errorf("in flight after the trial: %d, want %d (the device's reads)", got, reads)
	}
	if st := d.State(); st.Missed != 0 {
		t.Errorf("%d polls missed", st.Missed)
	}
}

// waitAnswering waits until the server of b answers a read of unit 1 (it
// may take a moment to open its port).
func waitAnswering(t *testing.T, b *Bus) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := b.ReadBlock(1, Holding, 0, 1); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("server not answering: %v", err)
		}
	}
}

package modbus_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// The client against the in-process server, over loopback TCP and
// pseudo-terminals.

// testRegisters serves 0x1000+address (holding, coils) or 0x2000+address
// (input), exception 2 from address 1000 on.
type testRegisters struct{}

func (testRegisters) ReadRegisters(_ byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if int(address)+len(dst) > 1000 {
		return modbus.ExIllegalAddress, true
	}
	base := uint16(0x1000)
	if table == modbus.Input {
		base = 0x2000
	}
	for i := range dst {
		dst[i] = base + address + uint16(i)
	}
	return 0, true
}

// imageRegisters serves an image, by table, as every unit's registers.
type imageRegisters [2][]uint16

func (r imageRegisters) ReadRegisters(_ byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if table.Bits() || int(address)+len(dst) > len(r[table]) {
		return modbus.ExIllegalAddress, true
	}
	copy(dst, r[table][address:])
	return 0, true
}

// startServer serves regs over Modbus TCP on a loopback port until the test
// ends, and checks that Serve then returns nil.
func startServer(t testing.TB, regs modbusserver.Registers) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&modbusserver.Server{Registers: regs}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return ln.Addr().String()
}

// serveRTU serves regs with RTU framing on port until the test ends.
func serveRTU(t testing.TB, port io.ReadWriteCloser, regs modbusserver.Registers, line modbusserver.Line) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&modbusserver.Server{Registers: regs}).ServeRTU(ctx, port, line)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// rtuOverTCPServer serves regs with RTU framing on every connection to a
// loopback port, as a serial device server would pass a line through.
func rtuOverTCPServer(t testing.TB, regs modbusserver.Registers) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				(&modbusserver.Server{Registers: regs}).ServeRTU(ctx, c, modbusserver.Line{})
			}()
		}
	}()
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func TestPollReadsOverRTU(t *testing.T) {
	pty, err := modbusserver.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	serveRTU(t, pty, imageRegisters(modbus.WireImage()), modbusserver.Line{Baud: 115200})
	t.Cleanup(func() { pty.Close() })
	addr := rtuOverTCPServer(t, imageRegisters(modbus.WireImage()))
	for name, cfg := range map[string]config.Bus{
		"serial":       modbus.SerialBus(pty.SlavePath, 115200),
		"rtu-over-tcp": {Transport: config.TransportRTUOverTCP, Address: addr},
	} {
		t.Run(name, func(t *testing.T) {
			d := modbus.NewDevice(modbus.DeviceConfig("dev", 7), modbus.MustParse(t, modbus.WireProfile))
			b := modbus.NewRTUBus(t, cfg, d)
			modbus.CheckReadings(t, "poll 1", b.Poll(d), modbus.WireWant())
			modbus.CheckReadings(t, "poll 2", b.Poll(d), modbus.WireWant())
		})
	}
}

// bitRegisters serves coils and discrete inputs: bit i is set when i%3 == 0
// (coils) or i%2 == 1 (discrete), holding register i holds 0x0100+i.
type bitRegisters struct{}

func (bitRegisters) ReadRegisters(_ byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	for i := range dst {
		a := int(address) + i
		switch table {
		case modbus.Coil:
			dst[i] = uint16(modbus.BoolInt(a%3 == 0))
		case modbus.Discrete:
			dst[i] = uint16(modbus.BoolInt(a%2 == 1))
		default:
			dst[i] = 0x0100 + uint16(a)
		}
	}
	return 0, true
}

func TestPollBitsOverTCPAndRTU(t *testing.T) {
	p := modbus.MustParse(t, `kind: test
points:
  - {name: c0, table: coil, address: 0, type: bool, unit: "1"}
  - {name: c1, table: coil, address: 1, type: bool, unit: "1"}
  - {name: c1998, table: coil, address: 1998, type: bool, unit: "1"}
  - {name: d9, table: discrete, address: 9, type: bool, unit: "1"}
  - {name: d10, table: discrete, address: 10, type: bool, unit: "1"}
  - {name: h8, address: 2, type: bool, bit: 8, unit: "1"}
  - {name: h0, address: 2, type: bool, bit: 0, unit: "1"}
`)
	one, zero := modbus.Want{Value: 1, Quality: modbus.Good}, modbus.Want{Value: 0, Quality: modbus.Good}
	want := map[string]modbus.Want{"c0": one, "c1": zero, "c1998": one, "d9": one, "d10": zero, "h8": one, "h0": zero}
	if n := len(p.Plan()); n != 4 {
		t.Errorf("%d reads, want 4 (coils 0-1, coil 1998, discrete 9-10, holding 2)", n)
	}
	addr := startServer(t, bitRegisters{})
	d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), p)
	modbus.CheckReadings(t, "tcp", modbus.NewTestBus(t, addr, time.Second, d).Poll(d), want)
	rtuAddr := rtuOverTCPServer(t, bitRegisters{})
	d2 := modbus.NewDevice(modbus.DeviceConfig("dev", 1), p)
	modbus.CheckReadings(t, "rtu", modbus.NewRTUBus(t, config.Bus{Transport: config.TransportRTUOverTCP, Address: rtuAddr}, d2).Poll(d2), want)
}

// deadUnitRegisters serves an image to every unit but dead, which never
// answers, and counts the requests each unit got.
type deadUnitRegisters struct {
	imageRegisters
	dead byte
	mu   sync.Mutex
	got  map[byte]int
}

func (r *deadUnitRegisters) ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	r.mu.Lock()
	r.got[unit]++
	r.mu.Unlock()
	if unit == r.dead {
		return 0, false
	}
	return r.imageRegisters.ReadRegisters(unit, table, address, dst)
}

func (r *deadUnitRegisters) requests(unit byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[unit]
}

// TestDeadUnitOnRTULine: on one RS-485 line (a pseudo-terminal served at
// 115200 baud), unit 9 is gone and its profile takes three reads. After
// its first silent poll, each of its polls costs the line one unanswered
// request, not one for each read plus a late-reply check before each (five
// or six timeouts before), so the live unit beside it keeps its interval;
// its points all read as timeouts, and the live unit reads every value.
func TestDeadUnitOnRTULine(t *testing.T) {
	pty, err := modbusserver.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	regs := &deadUnitRegisters{imageRegisters: imageRegisters(modbus.WireImage()), dead: 9, got: map[byte]int{}}
	serveRTU(t, pty, regs, modbusserver.Line{Baud: 115200})
	three := modbus.MustParse(t, "kind: test\npoints:\n"+
		"  - {name: a, address: 0, type: uint16, unit: \"1\"}\n"+
		"  - {name: b, address: 200, type: uint16, unit: \"1\"}\n"+
		"  - {name: c, address: 400, type: uint16, unit: \"1\"}\n")
	live := modbus.NewDevice(modbus.DeviceConfig("live", 1), modbus.MustParse(t, modbus.WireProfile))
	dead := modbus.NewDevice(modbus.DeviceConfig("dead", 9), three)
	cfg := modbus.SerialBus(pty.SlavePath, 115200)
	cfg.Timeout = 100 * time.Millisecond
	b := modbus.NewRTUBus(t, cfg, live, dead)
	for i := 1; i <= 3; i++ {
		before := regs.requests(9)
		for _, r := range b.Poll(dead) {
			if r.Quality != modbus.Timeout {
				t.Fatalf("poll %d of the dead unit: %s reads %v", i, r.Point.Name, r.Quality)
			}
		}
		// Its first silent poll sends every read; the next ones stop at
		// the first.
		want := 1
		if i == 1 {
			want = 3
		}
		if n := regs.requests(9) - before; n != want {
			t.Errorf("poll %d of the dead unit sent %d requests on the line, want %d", i, n, want)
		}
		modbus.CheckReadings(t, fmt.Sprintf("live unit after poll %d", i), b.Poll(live), modbus.WireWant())
	}
}

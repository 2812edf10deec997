package modbus_test

import (
	"context"
	"log/slog"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

func sourceTestProfile(t *testing.T) *modbus.Profile {
	t.Helper()
	p, errs := modbus.ParseProfile("p.yaml", []byte(`kind: meter
points:
  - {name: total, address: 0, type: int64, unit: Wh}
  - {name: counter, address: 4, type: uint64, unit: "1"}
  - {name: power, address: 8, type: float32, unit: kW}
  - {name: scaled, address: 10, type: uint32, scale: 0.1, unit: kWh}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return p
}

// fixedRegs serves fixed holding registers.
type fixedRegs []uint16

func (r fixedRegs) ReadRegisters(_ byte, _ modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if int(address)+len(dst) > len(r) {
		return 2, true
	}
	copy(dst, r[address:])
	return 0, true
}

// The driver, run through the contract, hands over every reading with its
// exact value: integers a float64 cannot hold stay exact, a float32
// register is marked, a scaled integer is a float.
func TestSourceRunsThroughContract(t *testing.T) {
	// total 2^53+1, counter 2^64-1, power 28.4, scaled raw 2500.
	regs := fixedRegs{0x0020, 0, 0, 1, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x41E3, 0x3333, 0, 2500}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { (&modbusserver.Server{Registers: regs}).Serve(ctx, ln); close(served) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-served })

	reg := drivers.Registry{config.ProtocolModbus: modbus.Driver{Profiles: modbus.Profiles{"meter": sourceTestProfile(t)}}}
	sources, err := reg.Sources(&config.Edge{
		Buses:   []config.Bus{{Name: "lan", Transport: config.TransportTCP, Address: ln.Addr().String(), Timeout: time.Second}},
		Devices: []config.Device{{Name: "m1", Profile: "meter", Bus: "lan", Unit: 1, Interval: 100 * time.Millisecond, Tenant: "t01"}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Name() != "lan" || len(sources[0].Devices()) != 1 {
		t.Fatalf("sources %+v", sources)
	}
	d := sources[0].Devices()[0]
	if *d != (drivers.Device{Name: "m1", Kind: "meter", Tenant: "t01", Source: "lan"}) {
		t.Fatalf("device %+v", *d)
	}
	var mu sync.Mutex
	var got []drivers.Reading
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sources[0].Run(runCtx, func(dev *drivers.Device, _ time.Time, rs []drivers.Reading) {
			mu.Lock()
			defer mu.Unlock()
			if dev == d && got == nil {
				got = append([]drivers.Reading(nil), rs...)
				stop()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		stop()
		t.Fatal("no poll within 5s")
	}
	want := []drivers.Reading{
		{Name: "total", Unit: "Wh", Quality: drivers.Good, HasValue: true, Kind: drivers.Int, Int: 1<<53 + 1, Float: 1 << 53},
		{Name: "counter", Unit: "1", Quality: drivers.Good, HasValue: true, Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64},
		{Name: "power", Unit: "kW", Quality: drivers.Good, HasValue: true, Float32: true, Float: float64(float32(28.4))},
		{Name: "scaled", Unit: "kWh", Quality: drivers.Good, HasValue: true, Float: 250},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reading %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	st := sources[0].States()
	if len(st) != 1 || st[0].Device != "m1" || !st[0].Up || st[0].Answered == 0 {
		t.Errorf("states %+v", st)
	}
}

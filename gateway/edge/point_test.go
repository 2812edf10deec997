package edge

import (
	"context"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/batch"
)

func pointTestProfile(t *testing.T) *modbus.Profile {
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

func TestPointOf(t *testing.T) {
	p := pointTestProfile(t)
	pt := func(i int) *modbus.Point { return &p.Points[i] }
	tests := []struct {
		r    modbus.Reading
		want batch.Point
		json string
	}{
		{modbus.Reading{Point: pt(0), Kind: modbus.IntValue, Int: -(1<<53 + 1), Value: -(1 << 53), Quality: modbus.Good},
			batch.Point{Name: "total", Unit: "Wh", Quality: "good", HasValue: true, Kind: batch.IntValue, Int: -(1<<53 + 1), Value: -(1 << 53)},
			`{"n":"total","v":-9007199254740993,"u":"Wh","q":"good"}`},
		{modbus.Reading{Point: pt(1), Kind: modbus.UintValue, Uint: math.MaxUint64, Value: 1 << 64, Quality: modbus.Good},
			batch.Point{Name: "counter", Unit: "1", Quality: "good", HasValue: true, Kind: batch.UintValue, Uint: math.MaxUint64, Value: 1 << 64},
			`{"n":"counter","v":18446744073709551615,"u":"1","q":"good"}`},
		{modbus.Reading{Point: pt(2), Value: float64(float32(28.4)), Quality: modbus.Good},
			batch.Point{Name: "power", Unit: "kW", Quality: "good", HasValue: true, Float32: true, Value: float64(float32(28.4))},
			`{"n":"power","v":28.4,"u":"kW","q":"good"}`},
		{modbus.Reading{Point: pt(3), Value: 250, Quality: modbus.Good},
			batch.Point{Name: "scaled", Unit: "kWh", Quality: "good", HasValue: true, Value: 250},
			`{"n":"scaled","v":250.0,"u":"kWh","q":"good"}`},
		{modbus.Reading{Point: pt(0), Kind: modbus.IntValue, Quality: modbus.Timeout},
			batch.Point{Name: "total", Unit: "Wh", Quality: "timeout"},
			`{"n":"total","u":"Wh","q":"timeout"}`},
		{modbus.Reading{Point: pt(1), Kind: modbus.UintValue, Quality: modbus.OutOfRange},
			batch.Point{Name: "counter", Unit: "1", Quality: "out_of_range"},
			`{"n":"counter","u":"1","q":"out_of_range"}`},
	}
	for _, tt := range tests {
		got := pointOf(tt.r)
		if got != tt.want {
			t.Errorf("pointOf(%+v)\n = %+v\nwant %+v", tt.r, got, tt.want)
		}
		b := batch.Batch{Gateway: "g", Seq: 1, Device: "d", Kind: "meter", Time: time.Unix(0, 0), Points: []batch.Point{got}}
		if enc := string(b.AppendJSON(nil)); !strings.Contains(enc, tt.json) {
			t.Errorf("encoded %s, want %s in it", enc, tt.json)
		}
	}
}

// regTable serves fixed holding registers.
type regTable []uint16

func (r regTable) ReadRegisters(_ byte, _ modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if int(address)+len(dst) > len(r) {
		return 2, true
	}
	copy(dst, r[address:])
	return 0, true
}

// A poll of a device serving integers a float64 cannot hold reaches the
// payload, and the payload decoded, exactly.
func TestPointOfPolledExact(t *testing.T) {
	p := pointTestProfile(t)
	// total 2^53+1, counter 2^64-1, power 28.4, scaled raw 2500.
	regs := regTable{0x0020, 0, 0, 1, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x41E3, 0x3333, 0, 2500}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { (&modbus.Server{Registers: regs}).Serve(ctx, ln); close(served) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-served })
	d := modbus.NewDevice(config.Device{Name: "m1", Unit: 1, Interval: time.Second}, p)
	bus, err := modbus.NewBus(config.Bus{Name: "lan", Transport: config.TransportTCP, Address: ln.Addr().String(), Timeout: time.Second},
		[]*modbus.Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	b := batch.Batch{Gateway: "g", Seq: 1, Device: "m1", Kind: "meter", Time: time.Unix(0, 0)}
	for _, r := range bus.Poll(d) {
		b.Points = append(b.Points, pointOf(r))
	}
	enc := string(b.AppendJSON(nil))
	want := `"points":[{"n":"total","v":9007199254740993,"u":"Wh","q":"good"},{"n":"counter","v":18446744073709551615,"u":"1","q":"good"},` +
		`{"n":"power","v":28.4,"u":"kW","q":"good"},{"n":"scaled","v":250.0,"u":"kWh","q":"good"}]}`
	if !strings.HasSuffix(enc, want) {
		t.Fatalf("payload %s\nwant points %s", enc, want)
	}
	back, err := batch.Decode([]byte(enc))
	if err != nil {
		t.Fatal(err)
	}
	if p0, p1 := back.Points[0], back.Points[1]; p0.Kind != batch.IntValue || p0.Int != 1<<53+1 || p1.Kind != batch.UintValue || p1.Uint != math.MaxUint64 {
		t.Errorf("decoded %+v %+v", p0, p1)
	}
}

func TestPointOfDoesNotAllocate(t *testing.T) {
	p := pointTestProfile(t)
	r := modbus.Reading{Point: &p.Points[0], Kind: modbus.IntValue, Int: 7, Value: 7, Quality: modbus.Good}
	var sink batch.Point
	if n := testing.AllocsPerRun(100, func() { sink = pointOf(r) }); n != 0 {
		t.Errorf("%v allocations per point", n)
	}
	_ = sink
}

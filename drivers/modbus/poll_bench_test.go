package modbus_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// BenchmarkPollTCP1000 polls one device of 1000 float32 points (16 reads
// of 125 registers) from the in-process server over loopback TCP: request
// planning, the transport and decoding into the contract's readings (what
// Run hands to its sink), per value.
func BenchmarkPollTCP1000(b *testing.B) {
	p, errs := modbus.ParseProfile("bench.yaml", []byte(modbus.Float32Profile(1000)))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := &modbusserver.Server{Registers: constRegisters{}}
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	d := modbus.NewDevice(config.Device{Name: "bench", Unit: 1, Interval: time.Second}, p)
	bus, err := modbus.NewBus(config.Bus{Name: "b", Transport: "tcp", Address: ln.Addr().String(), Timeout: time.Second}, []*modbus.Device{d}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var rs []drivers.Reading
	for b.Loop() {
		rs = bus.PollContract(d, rs)
		if rs[999].Quality != modbus.Good {
			b.Fatalf("quality %s", rs[999].Quality)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/value")
}

type constRegisters struct{}

func (constRegisters) ReadRegisters(_ byte, _ modbus.Table, address uint16, dst []uint16) (byte, bool) {
	for i := range dst {
		if (int(address)+i)%2 == 0 {
			dst[i] = 0x42F6 // 123.456 as float32, ABCD
		} else {
			dst[i] = 0xE979
		}
	}
	return 0, true
}

package modbus_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// BenchmarkRTURead125 polls a device of 125 holding registers (one read)
// over RTU through a pseudo-terminal pair from a server that paces its
// bytes at the line's baud rate (8E1, 11 bits per character), and reports
// the achieved fraction of the wire limit: request (8 bytes) and response
// (255 bytes) at 11 bits per character plus the 3.5-character silence after
// each.
func BenchmarkRTURead125(b *testing.B) {
	p := registers125(b)
	if n := len(p.Plan()); n != 1 {
		b.Fatalf("%d reads, want 1", n)
	}
	for _, baud := range []int{19200, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			line := modbusserver.Line{Baud: baud, BitsPerChar: 11}
			path := servedLine(b, testRegisters{}, line)
			d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), p)
			bus := modbus.NewRTUBus(b, modbus.SerialBus(path, baud), d)
			poll := func() {
				rs := bus.Poll(d)
				if rs[124].Quality != modbus.Good || rs[124].Value != 0x1000+124 {
					b.Fatalf("register 124: %+v", rs[124])
				}
			}
			poll()
			const chars = 8 + 5 + 2*125 + 2*7/2.0
			limit := time.Duration(chars * float64(line.CharTime()))
			n := 0
			for b.Loop() {
				poll()
				n++
			}
			per := b.Elapsed() / time.Duration(n)
			b.ReportMetric(100*float64(limit)/float64(per), "%wire")
			b.ReportMetric(float64(limit.Microseconds())/1000, "ms-wire/op")
		})
	}
}

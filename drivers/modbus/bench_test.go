package modbus

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRTURead125 reads 125 holding registers over RTU through a
// pseudo-terminal pair from a server that paces its bytes at the line's
// baud rate (8E1, 11 bits per character), and reports the achieved
// fraction of the wire limit: request (8 bytes) and response (255 bytes)
// at 11 bits per character plus the 3.5-character silence after each.
func BenchmarkRTURead125(b *testing.B) {
	for _, baud := range []int{19200, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			pty, err := OpenPTY()
			if err != nil {
				b.Skipf("no pseudo-terminals here: %v", err)
			}
			b.Cleanup(func() { pty.Close() })
			line := Line{Baud: baud, BitsPerChar: 11}
			serveRTU(b, pty, testRegisters{}, line)
			bus := newRTUBus(b, serialBus(pty.SlavePath, baud))
			bus.setUnit(1)
			if _, err := bus.client.ReadHoldingRegisters(0, 125); err != nil {
				b.Fatal(err)
			}
			const chars = 8 + 5 + 2*125 + 2*7/2.0
			limit := time.Duration(chars * float64(line.CharTime()))
			n := 0
			for b.Loop() {
				data, err := bus.client.ReadHoldingRegisters(0, 125)
				if err != nil || len(data) != 250 {
					b.Fatalf("read %d bytes: %v", len(data), err)
				}
				n++
			}
			per := b.Elapsed() / time.Duration(n)
			b.ReportMetric(100*float64(limit)/float64(per), "%wire")
			b.ReportMetric(float64(limit.Microseconds())/1000, "ms-wire/op")
		})
	}
}

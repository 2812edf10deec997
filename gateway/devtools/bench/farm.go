// Package bench measures eipgw end to end on the machine it runs on: a
// register farm of N devices of M float32 values, one device per Modbus TCP
// bus, polled by `eipgw edge`, published over MQTT QoS 1 through Mosquitto
// and written by `eipgw ingest` into InfluxDB 1.8. It reports the values
// per second, the CPU time per value and the peak resident memory of the
// edge and ingest processes (from /proc), the poll-to-stored latency (from
// ingest's histogram) and what was lost; and runs Telegraf on the same
// load for comparison. `make bench` runs the full loads; a short load runs
// with the tests.
package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// Farm serves N devices over Modbus TCP, each on its own listener (its own
// bus): M float32 values, big-endian word order (ABCD), in holding
// registers from address 0, that change every second.
type Farm struct {
	// Addrs are the listeners' host:port, one per device.
	Addrs []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartFarm starts n listeners on loopback serving m values each. Stop
// ends them.
func StartFarm(n, m int) (*Farm, error) {
	if m < 1 || 2*m > math.MaxUint16 {
		return nil, fmt.Errorf("bench farm: %d values per device out of range 1-%d", m, math.MaxUint16/2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Farm{cancel: cancel}
	srv := &modbusserver.Server{Registers: wave{}}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("bench farm: %w", err)
		}
		f.Addrs = append(f.Addrs, ln.Addr().String())
		f.wg.Add(1)
		go func() { defer f.wg.Done(); srv.Serve(ctx, ln) }()
	}
	return f, nil
}

// StartLines serves the farm's values on a pseudo-terminal for each line,
// with Modbus RTU framing at the line's baud rate (8E1, 11 bits a
// character), every unit alike, and returns the terminals' paths (the
// edge's side). Stop ends them.
func (f *Farm) StartLines(lines []SerialLine) ([]string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	prev := f.cancel
	f.cancel = func() { cancel(); prev() }
	srv := &modbusserver.Server{Registers: wave{}}
	var paths []string
	for _, l := range lines {
		pty, err := modbusserver.OpenPTY()
		if err != nil {
			return nil, fmt.Errorf("bench farm: serial line: %w", err)
		}
		paths = append(paths, pty.SlavePath)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer pty.Close()
			srv.ServeRTU(ctx, pty, modbusserver.Line{Baud: l.Baud, BitsPerChar: 11})
		}()
	}
	return paths, nil
}

// Stop closes the listeners and serial lines and waits for their servers
// to return.
func (f *Farm) Stop() {
	f.cancel()
	f.wg.Wait()
}

// wave answers every holding register read: value i of a device is
// i/4 + the current second modulo 60, as float32, so that every poll
// carries new numbers with a varied count of digits.
type wave struct{}

func (wave) ReadRegisters(_ byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if table != modbus.Holding {
		return 2, true // illegal data address
	}
	sec := float32(time.Now().Unix() % 60)
	for i := range dst {
		a := int(address) + i
		bits := math.Float32bits(float32(a/2)/4 + sec)
		if a%2 == 0 {
			dst[i] = uint16(bits >> 16)
		} else {
			dst[i] = uint16(bits)
		}
	}
	return 0, true
}

// WriteProfile writes the device profile of the farm's devices (kind
// "bench", m float32 points named v0000, v0001, ...) as bench.yaml into
// dir.
func WriteProfile(dir string, m int) error { return writeProfile(dir, "bench", m) }

// writeProfile writes a profile of kind with the farm's first m values as
// kind.yaml into dir.
func writeProfile(dir, kind string, m int) error {
	var y strings.Builder
	fmt.Fprintf(&y, "kind: %s\ndescription: register farm of the benchmark\ntable: holding\npoints:\n", kind)
	for i := range m {
		fmt.Fprintf(&y, "  - {name: %s, address: %d, type: float32, unit: kW}\n", FieldName(i), 2*i)
	}
	return os.WriteFile(filepath.Join(dir, kind+".yaml"), []byte(y.String()), 0o644)
}

// FieldName is the name of value i of a farm device.
func FieldName(i int) string { return fmt.Sprintf("v%04d", i) }

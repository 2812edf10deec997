package modbus

import (
	"testing"

	"github.com/eipgw/eipgw/drivers"
)

// Helpers of the internal tests that the external ones (package
// modbus_test) share. The external tests read from the in-process server
// of drivers/modbus/modbusserver, which imports this package: only an
// external test package can use both.

var (
	MustParse    = mustParse
	DeviceConfig = deviceConfig
	NewTestBus   = newTestBus
	NewRTUBus    = newRTUBus
	SerialBus    = serialBus
	BoolInt      = boolInt
	// Float32Profile is the benchmarks' profile of n float32 points.
	Float32Profile = float32Profile
)

const (
	CounterProfile = counterProfile
	WireProfile    = wireProfile
)

// WireImage is a device's registers for WireProfile, by Table (Holding,
// Input).
func WireImage() [2][]uint16 { return *wireImage() }

// Want is the value and quality a point should read.
type Want struct {
	Value   float64
	Quality Quality
}

// WireWant is what WireProfile's points read from WireImage.
func WireWant() map[string]Want {
	w := make(map[string]Want, len(wireWant))
	for name, r := range wireWant {
		w[name] = Want{r.value, r.quality}
	}
	return w
}

// CheckReadings checks a poll's readings against want, by point name.
func CheckReadings(t *testing.T, what string, rs []Reading, want map[string]Want) {
	t.Helper()
	w := make(map[string]result, len(want))
	for name, x := range want {
		w[name] = result{x.Value, x.Quality}
	}
	checkReadings(t, what, rs, w)
}

// PollContract polls d as Poll does and returns its numeric points'
// readings in the contract's form, as Run hands them to its sink: in dst
// when it is large enough.
func (b *Bus) PollContract(d *Device, dst []drivers.Reading) []drivers.Reading {
	b.pollNow(d)
	if cap(dst) < d.numeric {
		dst = make([]drivers.Reading, d.numeric)
	}
	dst = dst[:d.numeric]
	d.fill(dst)
	return dst
}

// SerialReads is how many reads brought bytes from the bus's serial line
// since it was opened; 0 when the bus has none open.
func (b *Bus) SerialReads() uint64 {
	t, ok := b.transport.(*rtuTransport)
	if !ok {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rx == nil {
		return 0
	}
	t.rx.mu.Lock()
	defer t.rx.mu.Unlock()
	return t.rx.puts
}

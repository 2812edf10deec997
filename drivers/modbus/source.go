package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// Driver is the Modbus driver of the contract in package drivers: one bus
// owner per configured bus, its devices read with the register maps of
// Profiles.
type Driver struct {
	Profiles Profiles
}

var _ drivers.Driver = Driver{}

// Sources builds a bus owner for each bus, with its devices; no I/O.
func (dr Driver) Sources(buses []config.Bus, devices []config.Device, log *slog.Logger) ([]drivers.Source, error) {
	byBus := map[string][]*Device{}
	for _, d := range devices {
		p, ok := dr.Profiles[d.Profile]
		if !ok {
			return nil, fmt.Errorf("device %s: unknown profile %q", d.Name, d.Profile)
		}
		byBus[d.Bus] = append(byBus[d.Bus], NewDevice(d, p))
	}
	out := make([]drivers.Source, 0, len(buses))
	for _, b := range buses {
		bus, err := NewBus(b, byBus[b.Name], log)
		if err != nil {
			return nil, err
		}
		out = append(out, NewSource(bus))
	}
	return out, nil
}

// Source is a bus owner seen through the driver contract. Its devices
// keep their latest readings compactly; the sink receives them in the
// contract's form in a lent buffer (it copies what it keeps before it
// returns).
type Source struct {
	bus   *Bus
	devs  []*drivers.Device
	index map[*Device]int
}

var (
	_ drivers.Source       = (*Source)(nil)
	_ drivers.LineReporter = (*Source)(nil)
	_ drivers.Resumer      = (*Source)(nil)
)

// NewSource wraps a bus owner.
func NewSource(b *Bus) *Source {
	s := &Source{bus: b, index: map[*Device]int{}}
	for i, d := range b.devices {
		s.devs = append(s.devs, &drivers.Device{Name: d.Name, Kind: d.Kind, Tenant: d.Tenant, Source: b.Name})
		s.index[d] = i
	}
	return s
}

// Name is the bus's name.
func (s *Source) Name() string { return s.bus.Name }

// Devices are the bus's devices in configuration order.
func (s *Source) Devices() []*drivers.Device { return s.devs }

// Run polls until ctx ends (see Bus.Run).
func (s *Source) Run(ctx context.Context, sink drivers.Sink) {
	s.bus.Run(ctx, func(d *Device, polled time.Time, rs []drivers.Reading) {
		sink(s.devs[s.index[d]], polled, rs)
	})
}

// Slots are the poll slots the devices were due at when Run returned.
func (s *Source) Slots() map[string]time.Time { return s.bus.slots }

// Resume makes Run start the named devices from the given slots.
func (s *Source) Resume(slots map[string]time.Time) { s.bus.resume = slots }

// Carry starts the devices from the states of the source this one
// replaces (drivers.Carrier).
func (s *Source) Carry(states []drivers.DeviceState) {
	for _, d := range s.bus.devices {
		for _, st := range states {
			if st.Device == d.Name && !st.Since.IsZero() {
				d.mu.Lock()
				d.state.Up, d.state.Since, d.state.LastError = st.Up, st.Since, st.LastError
				d.mu.Unlock()
			}
		}
	}
}

// States reports each device's state.
func (s *Source) States() []drivers.DeviceState {
	out := make([]drivers.DeviceState, len(s.bus.devices))
	for i, d := range s.bus.devices {
		st := d.State()
		out[i] = drivers.DeviceState{
			Device: d.Name, Up: st.Up, Since: st.Since, LastPoll: st.LastPoll, LastError: st.LastError,
			Failures: st.Failures, BackoffUntil: st.BackoffUntil, Polls: st.Polls, Answered: st.Answered, Skipped: st.Skipped, Missed: st.Missed,
		}
	}
	return out
}

// Line reports what the bus's exchanges put on its serial line (see
// Bus.Line).
func (s *Source) Line() (drivers.LineStats, bool) { return s.bus.Line() }

// Pipeline reports how many reads the bus sends before their answers and
// where that comes from (Bus.InFlight, Bus.PipelineMode); ok is false
// unless the bus is Modbus TCP.
func (s *Source) Pipeline() (inFlight int, mode string, ok bool) {
	_, ok = s.bus.transport.(*tcpTransport)
	return s.bus.InFlight(), s.bus.PipelineMode(), ok
}

package edge

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

var _ telemetry.Health = (*Edge)(nil)

// minLoopWindow is the shortest time a bus owner's loop may go without
// handing a poll to the stamper before /healthz calls it stalled.
const minLoopWindow = 30 * time.Second

// requestsPerDevice is how many requests one poll of a device is assumed
// to take when every one of them times out (a profile's merged reads; the
// driver alone knows the exact count).
const requestsPerDevice = 8

// health is what the edge reports on /healthz and /readyz. Readiness is
// about the gateway's own machinery (bus owners, log, broker): a device
// that does not answer leaves its bus owner running and the edge ready;
// device state is in eipgw_edge_device_up and the check's detail.
type health struct {
	mu     sync.RWMutex // guards buses, replaced by a reload
	buses  []*busHealth
	wal    *telemetry.Condition
	broker *telemetry.Condition
}

type busHealth struct {
	name   string
	source drivers.Source
	owner  *telemetry.Condition
	loop   *telemetry.Heartbeat // nil: no devices, nothing to turn
	// line is the bus's serial line, nil for a bus without one; window
	// samples its totals as the bus polls.
	line   drivers.LineReporter
	window lineWindow
}

func newHealth(cfg *config.Edge, sources []drivers.Source) *health {
	h := &health{
		wal:    telemetry.NewCondition(true, "no batch appended yet"),
		broker: telemetry.NewCondition(false, "not connected yet"),
	}
	for _, src := range sources {
		bh := &busHealth{name: src.Name(), source: src, owner: telemetry.NewCondition(false, "not started")}
		if w := loopWindow(cfg, src.Name()); w > 0 {
			bh.loop = telemetry.NewHeartbeat(w)
		}
		if lr, ok := src.(drivers.LineReporter); ok {
			if s, ok := lr.Line(); ok {
				bh.line = lr
				bh.window.add(time.Now(), s)
			}
		}
		h.buses = append(h.buses, bh)
	}
	return h
}

// loopWindow bounds the time between two polls bus hands over: three times
// its longest device interval plus twice the time a poll of each of its
// devices takes when every request times out, and at least minLoopWindow.
// It is 0 for a bus without devices (its owner only waits).
func loopWindow(cfg *config.Edge, bus string) time.Duration {
	var b config.Bus
	for _, c := range cfg.Buses {
		if c.Name == bus {
			b = c
		}
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = config.DefaultTimeout
	}
	var longest, requests time.Duration
	n := 0
	for _, d := range cfg.Devices {
		if d.Bus != bus {
			continue
		}
		n++
		longest = max(longest, d.Interval)
		t := d.Timeout
		if t <= 0 {
			t = timeout
		}
		requests += requestsPerDevice * (t + b.Delay)
	}
	if n == 0 {
		return 0
	}
	return max(minLoopWindow, 3*longest+2*requests)
}

// setBuses makes sources the buses checked after a reload: a bus whose
// source is unchanged keeps its state; the others start afresh.
func (h *health) setBuses(cfg *config.Edge, sources []drivers.Source) {
	fresh := newHealth(cfg, sources)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, nb := range fresh.buses {
		for _, ob := range h.buses {
			if ob.source == nb.source {
				fresh.buses[i] = ob
			}
		}
	}
	h.buses = fresh.buses
}

// list returns the buses checked now.
func (h *health) list() []*busHealth {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.buses
}

func (h *health) bus(name string) *busHealth {
	for _, b := range h.list() {
		if b.name == name {
			return b
		}
	}
	return nil
}

// ownerRunning marks bus name's owner running and returns the function
// that marks it returned.
func (h *health) ownerRunning(name string) func() {
	b := h.bus(name)
	if b == nil {
		return func() {}
	}
	b.owner.Set(true, "running")
	return func() { b.owner.Set(false, "returned: no longer polling") }
}

// polled records that bus name's owner handed over a poll, and samples
// its line's totals.
func (h *health) polled(name string) {
	b := h.bus(name)
	if b == nil {
		return
	}
	if b.loop != nil {
		b.loop.Beat()
	}
	if b.line != nil {
		if s, ok := b.line.Line(); ok {
			b.window.add(time.Now(), s)
		}
	}
}

// appended records the outcome of a write-ahead log append. A batch larger
// than a segment says nothing about the log.
func (h *health) appended(err error) {
	switch {
	case err == nil, errors.Is(err, wal.ErrTooLarge):
		h.wal.Set(true, "last append ok")
	case errors.Is(err, wal.ErrFull):
		h.wal.Set(false, "full: last batch dropped ("+err.Error()+")")
	default:
		h.wal.Set(false, "last append failed: "+err.Error())
	}
}

// connected records the broker connection's state.
func (h *health) connected(up bool, detail string) { h.broker.Set(up, detail) }

// Live reports whether each bus owner's loop has handed a poll to the
// stamper within its window: a loop stuck (in a transport without
// timeout, or behind a log append that never returns) fails it.
func (e *Edge) Live() []telemetry.Check {
	now := time.Now()
	var out []telemetry.Check
	for _, b := range e.health.list() {
		if b.loop != nil {
			out = append(out, b.loop.Check("poll_loop:"+b.name, now))
		}
	}
	return out
}

// Ready reports the edge's machinery: every bus owner running, the
// write-ahead log's last append ok, the broker connected. Devices that do
// not answer do not make the edge unready; each bus's detail counts them.
func (e *Edge) Ready() []telemetry.Check {
	var out []telemetry.Check
	for _, b := range e.health.list() {
		c := b.owner.Check("bus_owner:" + b.name)
		states := b.source.States()
		up := 0
		for _, st := range states {
			if st.Up {
				up++
			}
		}
		c.Detail += fmt.Sprintf("; devices answering %d of %d (eipgw_edge_device_up)", up, len(states))
		out = append(out, c)
	}
	return append(out, e.health.wal.Check("wal"), e.health.broker.Check("broker"))
}

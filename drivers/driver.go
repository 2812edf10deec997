// Package drivers is the southbound contract of eipgw: what every protocol
// driver provides and the edge alone depends on. Read this file first.
//
// A driver (Modbus in drivers/modbus; OPC UA next) turns the buses and
// devices of the edge configuration into Sources. A Source owns one bus,
// line or server connection: it alone talks to it, and it runs until its
// context ends, handing each set of readings of one device to the edge's
// Sink — after a poll for a protocol that is polled, or when the device
// pushes a change for one that pushes (source timestamps kept in
// Reading.Time). It reports how each of its devices has been answering
// through States, for status pages and alerts.
//
// Every reading carries a Quality from the one vocabulary below (the MQTT
// payload carries the same strings) and, when good, a value: exact for an
// integer point, float64 otherwise; a non-good reading carries no value,
// never a made-up one.
//
// Adding a protocol: implement Driver and Source in a package under
// drivers/, give its buses a `protocol:` name in the configuration, and
// add it to the Registry the command builds (cmd/eipgw). No role changes:
// the edge sees only this contract.
package drivers

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
)

// Quality says whether a reading's value can be used, and if not, why.
type Quality string

// The qualities of the contract. A protocol's exception codes use
// Exception(code).
const (
	Good        Quality = "good"
	CommError   Quality = "comm_error"   // the request or connection failed
	Timeout     Quality = "timeout"      // the device did not answer in time
	OutOfRange  Quality = "out_of_range" // outside the point's configured range, or not representable
	Stale       Quality = "stale"        // a last good value, repeated and marked as such
	Substituted Quality = "substituted"  // a value not read from the device
)

var exceptions [256]Quality

func init() {
	for i := range exceptions {
		exceptions[i] = Quality("exception:" + strconv.Itoa(i))
	}
}

// Exception is the quality of a reading refused by the device with
// protocol exception code (Modbus 1-255). It does not allocate.
func Exception(code byte) Quality { return exceptions[code] }

// Valid reports whether q is one of the contract's qualities.
func (q Quality) Valid() bool {
	switch q {
	case Good, CommError, Timeout, OutOfRange, Stale, Substituted:
		return true
	}
	code, ok := strings.CutPrefix(string(q), "exception:")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(code)
	return err == nil && n >= 1 && n <= 255 && strconv.Itoa(n) == code
}

// ValueKind says which field of a Reading holds its exact value.
type ValueKind uint8

const (
	// Float: Float is the value.
	Float ValueKind = iota
	// Int: Int is the exact value; Float holds the nearest float64.
	Int
	// Uint: Uint is the exact value; Float holds the nearest float64.
	Uint
)

// Reading is one point of one device at one time.
type Reading struct {
	Name    string
	Unit    string
	Quality Quality
	// The value, meaningful when Quality is Good (or Stale or
	// Substituted): Float always (the nearest float64 for an integer),
	// Int or Uint exactly as Kind says. (Kind sits beside the flags below:
	// 80 bytes a reading instead of 88.)
	Float float64
	Int   int64
	Uint  uint64
	Kind  ValueKind
	// Float32 marks a value read as IEEE float32: published with float32
	// precision (28.4, not 28.399999618530273).
	Float32 bool
	// HasValue is true when the reading carries a value.
	HasValue bool
}

// Device is a device's identity as the edge publishes it.
type Device struct {
	Name   string // unique per gateway: topic level and InfluxDB device tag
	Kind   string // device kind: the InfluxDB measurement (chp, cems, ...)
	Tenant string // park tenant, or empty
	Source string // the bus, line or endpoint that reads it
}

// Sink receives one set of readings of one device, taken at one time (the
// poll's start, or the device's source timestamp). The slice is reused:
// the sink must copy or encode what it keeps before it returns. Sources
// call it from their own goroutine, one call at a time per source.
type Sink func(d *Device, at time.Time, readings []Reading)

// DeviceState is how a device has been answering.
type DeviceState struct {
	Device string
	// Up is true while the device answers (with data or exceptions).
	Up bool
	// Since is when Up last changed.
	Since time.Time
	// LastPoll is the start of the latest request that went to the device.
	LastPoll time.Time
	// LastError describes the latest failure; empty once the device
	// answered fully.
	LastError string
	// Failures counts consecutive polls without an answer.
	Failures int
	// BackoffUntil is set while the device is left alone after failures.
	BackoffUntil time.Time
	// Polls, Answered and Skipped count polls: all, answered, skipped by
	// the back-off.
	Polls, Answered, Skipped uint64
	// Missed counts poll slots that passed while an earlier poll of the
	// source still ran: polls never made.
	Missed uint64
}

// LineStats is what a serial line carried since its source was built.
type LineStats struct {
	// Baud is the line's speed in bits per second.
	Baud int
	// Frames is the time the frames of the exchanges take on the line at
	// its baud rate and character framing, each frame followed by the
	// 3.5-character silence that ends it (Modbus over Serial Line v1.02,
	// 2.5.1.1): every request sent, and every answer taken (exceptions
	// included). Its rate is the line's utilisation: 1 when the line
	// never rests.
	Frames time.Duration
	// Busy is the wall time of the exchanges, from the start of each
	// request (the silence waited before it included) to its answer or
	// timeout. Frames / Busy is how near the exchanges come to the line's
	// limit; the rest is the devices' turnaround, the serial link's
	// latency and the gateway's own handling.
	Busy time.Duration
	// Exchanges counts the requests sent; Timeouts those left unanswered.
	Exchanges, Timeouts uint64
}

// LineReporter is implemented by sources that can read a serial line; ok
// is false when theirs is not one (Modbus TCP, RTU over TCP).
type LineReporter interface {
	Line() (stats LineStats, ok bool)
}

// Source is one bus, serial line or server connection of a driver.
type Source interface {
	// Name is the bus's configured name.
	Name() string
	// Devices are the devices it reads, in configuration order.
	Devices() []*Device
	// Run reads the devices and hands their readings to sink until ctx
	// ends; a read in progress then completes and reaches the sink before
	// Run returns. Errors of devices are qualities and states, not
	// returned: Run returns only when ctx ended.
	Run(ctx context.Context, sink Sink)
	// States reports each device's state; safe while Run runs.
	States() []DeviceState
}

// Resumer is implemented by sources whose polling schedule carries over
// a restart of their bus (a reload that changed it): Slots, after Run
// returned, are the poll slots each device (by name) was due at next;
// Resume, before Run, starts those devices from them instead of from the
// next interval boundary, so that slots that passed while the old source
// finished its last poll are polled late or counted as missed, not
// skipped without a trace.
type Resumer interface {
	Slots() map[string]time.Time
	Resume(slots map[string]time.Time)
}

// Carrier is implemented by sources whose devices' states carry over a
// restart of their bus (a reload that changed it): Carry, before Run,
// starts the devices (by name) from the states the old source reported —
// up or down, since when, the last error — so that a device answering for
// months does not look newly up because another device joined its bus.
// Counters are not carried (the edge keeps the old source's).
type Carrier interface {
	Carry(states []DeviceState)
}

// Driver turns configuration into Sources.
type Driver interface {
	// Sources builds the sources of the given buses (all of this
	// driver's protocol) and devices (those on these buses). It does no
	// I/O: connections are opened by Run.
	Sources(buses []config.Bus, devices []config.Device, log *slog.Logger) ([]Source, error)
}

// Registry names the drivers a binary carries by protocol.
type Registry map[string]Driver

// Sources builds the sources of every bus of an edge configuration, each
// by the driver of its protocol, in the configuration's bus order.
func (r Registry) Sources(e *config.Edge, log *slog.Logger) ([]Source, error) {
	buses := map[string][]config.Bus{}
	devices := map[string][]config.Device{}
	protoOf := map[string]string{}
	var order []string
	for _, b := range e.Buses {
		p := b.ProtocolName()
		if _, ok := r[p]; !ok {
			return nil, fmt.Errorf("bus %s: no driver for protocol %q in this binary", b.Name, p)
		}
		if _, seen := buses[p]; !seen {
			order = append(order, p)
		}
		buses[p] = append(buses[p], b)
		protoOf[b.Name] = p
	}
	for _, d := range e.Devices {
		p, ok := protoOf[d.Bus]
		if !ok {
			return nil, fmt.Errorf("device %s: unknown bus %q", d.Name, d.Bus)
		}
		devices[p] = append(devices[p], d)
	}
	byName := map[string]Source{}
	for _, p := range order {
		ss, err := r[p].Sources(buses[p], devices[p], log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, s := range ss {
			byName[s.Name()] = s
		}
	}
	out := make([]Source, 0, len(e.Buses))
	for _, b := range e.Buses {
		s, ok := byName[b.Name]
		if !ok {
			return nil, fmt.Errorf("bus %s: driver %q built no source for it", b.Name, protoOf[b.Name])
		}
		out = append(out, s)
	}
	return out, nil
}

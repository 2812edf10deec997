package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/eipgw/eipgw/config"
)

// Quality says whether a reading's value can be used, and if not, why. The
// strings are part of the MQTT payload contract.
type Quality string

const (
	Good       Quality = "good"
	Timeout    Quality = "timeout"
	CommError  Quality = "comm_error"
	OutOfRange Quality = "out_of_range"
)

var exceptionQualities [256]Quality

func init() {
	for i := range exceptionQualities {
		exceptionQualities[i] = Quality("exception:" + strconv.Itoa(i))
	}
}

// ExceptionQuality is the quality of a point whose read got Modbus exception
// code.
func ExceptionQuality(code byte) Quality { return exceptionQualities[code] }

// Reading is one point of one poll. Value is meaningful only when Quality is
// Good.
type Reading struct {
	Point   *Point
	Value   float64
	Quality Quality
}

// Device is one configured device with its profile and request plan.
type Device struct {
	Name     string
	Kind     string
	Tenant   string
	Unit     byte
	Interval time.Duration
	Profile  *Profile

	plan     []Read
	readings []Reading
	regs     []uint16
}

// NewDevice binds a device's configuration to its profile and plans its
// reads.
func NewDevice(cfg config.Device, p *Profile) *Device {
	d := &Device{
		Name: cfg.Name, Kind: p.Kind, Tenant: cfg.Tenant, Unit: byte(cfg.Unit),
		Interval: cfg.Interval, Profile: p, plan: p.Plan(),
		readings: make([]Reading, len(p.Points)),
		regs:     make([]uint16, 125),
	}
	for i := range d.readings {
		d.readings[i].Point = &p.Points[i]
	}
	return d
}

// Sink receives each poll's readings. The slice is reused by the next poll
// of the same device: the sink must copy or encode what it keeps before it
// returns.
type Sink func(d *Device, polled time.Time, readings []Reading)

// Bus owns one physical bus (here a Modbus TCP endpoint): it alone talks to
// it, serialising the requests of every unit on it, with an idle delay
// between requests.
type Bus struct {
	Name      string
	delay     time.Duration
	transport *tcpTransport
	packager  *gmodbus.TCPClientHandler
	client    gmodbus.Client
	devices   []*Device
	log       *slog.Logger
}

// NewBus prepares a bus owner for devices; it does no I/O.
func NewBus(cfg config.Bus, devices []*Device, log *slog.Logger) (*Bus, error) {
	if cfg.Transport != "tcp" {
		return nil, fmt.Errorf("bus %s: unsupported transport %q", cfg.Name, cfg.Transport)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	t := newTCPTransport(cfg.Address, cfg.Timeout)
	// goburrow's TCP handler serves only as the packager (MBAP framing);
	// all I/O goes through our transport.
	p := gmodbus.NewTCPClientHandler(cfg.Address)
	return &Bus{
		Name: cfg.Name, delay: cfg.Delay, transport: t, packager: p,
		client: gmodbus.NewClient2(p, t), devices: devices,
		log: log.With("bus", cfg.Name),
	}, nil
}

// Run polls every device on its interval, aligned to multiples of the
// interval, until ctx is done. A poll in progress when ctx ends completes
// and reaches the sink before Run returns.
func (b *Bus) Run(ctx context.Context, sink Sink) error {
	defer b.transport.Close()
	if len(b.devices) == 0 {
		<-ctx.Done()
		return nil
	}
	next := make([]time.Time, len(b.devices))
	now := time.Now()
	for i, d := range b.devices {
		next[i] = now.Truncate(d.Interval).Add(d.Interval)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		i := 0
		for j := range next {
			if next[j].Before(next[i]) {
				i = j
			}
		}
		if wait := time.Until(next[i]); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		d := b.devices[i]
		polled := time.Now()
		sink(d, polled, b.Poll(d))
		next[i] = next[i].Add(d.Interval)
		if now := time.Now(); !next[i].After(now) {
			missed := now.Sub(next[i])/d.Interval + 1
			b.log.Warn("poll overran its interval", "device", d.Name, "missed", int(missed))
			next[i] = now.Truncate(d.Interval).Add(d.Interval)
		}
		if b.delay > 0 {
			time.Sleep(b.delay)
		}
	}
}

// Poll reads every point of d once. Every point gets a reading: a value
// with quality good, or the reason it has none.
func (b *Bus) Poll(d *Device) []Reading {
	b.packager.SlaveId = d.Unit
	for ri := range d.plan {
		r := &d.plan[ri]
		if ri > 0 && b.delay > 0 {
			time.Sleep(b.delay)
		}
		var data []byte
		var err error
		if r.Table == Input {
			data, err = b.client.ReadInputRegisters(r.Address, r.Quantity)
		} else {
			data, err = b.client.ReadHoldingRegisters(r.Address, r.Quantity)
		}
		if err == nil && len(data) != 2*int(r.Quantity) {
			err = fmt.Errorf("modbus: %d data bytes for %d registers", len(data), r.Quantity)
		}
		if err != nil {
			q := classify(err)
			if q != Timeout {
				b.log.Debug("read failed", "device", d.Name, "unit", d.Unit, "table", r.Table.String(), "address", r.Address, "quantity", r.Quantity, "err", err)
			}
			if q == CommError {
				// A frame we could not make sense of: start afresh.
				b.transport.Close()
			}
			for _, pi := range r.Points {
				d.readings[pi].Value, d.readings[pi].Quality = 0, q
			}
			continue
		}
		regs := d.regs[:r.Quantity]
		for i := range regs {
			regs[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		for k, pi := range r.Points {
			rd := &d.readings[pi]
			v, ok := rd.Point.Decode(regs[r.Offsets[k]:])
			if ok {
				rd.Value, rd.Quality = v, Good
			} else {
				rd.Value, rd.Quality = 0, OutOfRange
			}
		}
	}
	return d.readings
}

func classify(err error) Quality {
	var mbErr *gmodbus.ModbusError
	// goburrow reports any function code other than the request's as a
	// ModbusError; only an exception response (0x80 flag) is an exception.
	if errors.As(err, &mbErr) && mbErr.FunctionCode&0x80 != 0 {
		return ExceptionQuality(mbErr.ExceptionCode)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Timeout
	}
	return CommError
}

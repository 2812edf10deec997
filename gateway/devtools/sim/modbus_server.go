package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// Unit ids of the simulated park on its one Modbus TCP endpoint. Plant
// devices have fixed ids; tenant meters are numbered from the tenant:
// steam-tNN at 10+NN, power-tNN at 30+NN.
var plantUnits = map[string]byte{
	"chp-1": 1, "cems-1": 2, "bds-1": 3, "boiler-1": 4, "boiler-2": 5,
	"steam-supply": 6, "heat-1": 7,
}

// UnitOf returns the Modbus unit id the simulator serves device at.
func UnitOf(device string) (byte, error) {
	if u, ok := plantUnits[device]; ok {
		return u, nil
	}
	for prefix, base := range map[string]int{"steam-t": 10, "power-t": 30} {
		if n, ok := strings.CutPrefix(device, prefix); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= 18 {
				return byte(base + i), nil
			}
		}
	}
	return 0, fmt.Errorf("sim: no unit id for device %q", device)
}

// Served is one register read the simulator answered, for tests that
// compare what was stored with what was served.
type Served struct {
	Time    time.Time
	Unit    byte
	Device  string
	Table   modbus.Table
	Address uint16
	Regs    []uint16
}

// Server serves a Park over Modbus TCP and RTU, each device at its unit id
// with the register map of its kind's profile (the same profiles the edge
// decodes with). The model is stepped on a fixed period; between steps
// every read returns the same registers. Faults can be injected per device
// while it runs (SetFault).
type Server struct {
	park *Park
	log  *slog.Logger
	// OnServe, when set before Run, is called with each answered read.
	OnServe func(Served)

	mu     sync.Mutex
	units  map[byte]*bank
	vals   map[string]float64
	faults map[byte]modbusserver.Fault
}

type bank struct {
	device  Device
	profile *modbus.Profile
	regs    [4][]uint16 // by modbus.Table; one element per bit in the bit tables
}

// NewServer prepares the register banks of every device of park.
func NewServer(park *Park, profiles modbus.Profiles, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{park: park, log: log, units: map[byte]*bank{}, vals: map[string]float64{}, faults: map[byte]modbusserver.Fault{}}
	for _, d := range park.Devices() {
		p, ok := profiles[d.Kind]
		if !ok {
			return nil, fmt.Errorf("sim: no profile for kind %q of device %s", d.Kind, d.Name)
		}
		u, err := UnitOf(d.Name)
		if err != nil {
			return nil, err
		}
		b := &bank{device: d, profile: p}
		for _, pt := range p.Points {
			t := pt.TableID()
			if need := pt.Register() + pt.Words(); need > len(b.regs[t]) {
				grown := make([]uint16, need)
				copy(grown, b.regs[t])
				b.regs[t] = grown
			}
		}
		s.units[u] = b
	}
	return s, nil
}

// Refresh steps the model to t and re-encodes every device's registers.
func (s *Server) Refresh(t time.Time) error {
	s.park.Step(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.units {
		if err := s.park.Values(b.device.Name, s.vals); err != nil {
			return err
		}
		for i := range b.profile.Points {
			pt := &b.profile.Points[i]
			if pt.Text() {
				continue // the model has numbers only
			}
			v, ok := s.vals[pt.Name]
			if !ok {
				return fmt.Errorf("sim: device %s has no value for point %s", b.device.Name, pt.Name)
			}
			regs := b.regs[pt.TableID()][pt.Register() : pt.Register()+pt.Words()]
			if err := pt.Encode(regs, v); err != nil {
				return fmt.Errorf("sim: device %s: %w", b.device.Name, err)
			}
		}
	}
	return nil
}

// ReadRegisters implements modbusserver.Registers.
func (s *Server) ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.units[unit]
	if !ok {
		// What a TCP gateway answers for a unit that is not on its line.
		return modbus.ExGatewayNoResponse, true
	}
	regs := b.regs[table]
	if int(address)+len(dst) > len(regs) {
		return modbus.ExIllegalAddress, true
	}
	copy(dst, regs[address:])
	if s.OnServe != nil {
		s.OnServe(Served{Time: time.Now(), Unit: unit, Device: b.device.Name, Table: table, Address: address, Regs: append([]uint16(nil), dst...)})
	}
	return 0, true
}

// RTUPort is a serial line (or one side of a pseudo-terminal) the simulator
// serves RTU on, pacing its bytes at the line's baud rate.
type RTUPort struct {
	Port io.ReadWriteCloser
	Line modbusserver.Line
}

// Run steps the model every step and serves Modbus TCP on ln (unless nil)
// and RTU on each of rtu until ctx is done; it returns after every server
// it started returned.
func (s *Server) Run(ctx context.Context, ln net.Listener, step time.Duration, rtu ...RTUPort) error {
	if err := s.Refresh(time.Now()); err != nil {
		return err
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(step)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := s.Refresh(now); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}
	}()
	srv := &modbusserver.Server{Registers: s, Log: s.log}
	errs := make(chan error, len(rtu))
	for _, p := range rtu {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := srv.ServeRTU(ctx, p.Port, p.Line)
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("sim: rtu: %w", err)
				cancel()
			}
		}()
	}
	var err error
	if ln != nil {
		err = srv.Serve(ctx, ln)
	} else {
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	select {
	case rerr := <-errs:
		return rerr
	default:
	}
	select {
	case rerr := <-errc:
		return rerr
	default:
	}
	return err
}

// EdgeDevices returns the edge configuration that polls every device of
// park on bus at interval.
func EdgeDevices(park *Park, bus string, interval time.Duration) ([]config.Device, error) {
	var out []config.Device
	for _, d := range park.Devices() {
		u, err := UnitOf(d.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, config.Device{
			Name: d.Name, Profile: d.Kind, Bus: bus, Unit: int(u), Interval: interval, Tenant: d.Tenant,
		})
	}
	return out, nil
}

// Park is the model the server answers from, for changing the plant while
// it runs (SetCHPTrip, SetMeterDrift).
func (s *Server) Park() *Park { return s.park }

// SetFault injects f into every answer of device (modbusserver.Fault{} clears
// it). It takes effect with the next request.
func (s *Server) SetFault(device string, f modbusserver.Fault) error {
	u, err := UnitOf(device)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (modbusserver.Fault{}) {
		delete(s.faults, u)
	} else {
		s.faults[u] = f
	}
	return nil
}

// Fault implements modbusserver.Faulty.
func (s *Server) Fault(unit byte) modbusserver.Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[unit]
}

// Faults returns the injected faults by device name, in FormatFault form.
func (s *Server) Faults() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for u, f := range s.faults {
		name := fmt.Sprintf("unit-%d", u)
		if b, ok := s.units[u]; ok {
			name = b.device.Name
		}
		out[name] = FormatFault(f)
	}
	return out
}

// ParseFault reads a fault: "none", or one or more of "timeout",
// "exception:CODE", "late:DURATION" and "garbage" joined by '+', e.g.
// "late:1.5s+garbage".
func ParseFault(spec string) (modbusserver.Fault, error) {
	var f modbusserver.Fault
	if spec == "none" || spec == "" {
		return f, nil
	}
	for part := range strings.SplitSeq(spec, "+") {
		kind, arg, _ := strings.Cut(part, ":")
		switch kind {
		case "timeout":
			f.NoAnswer = true
		case "garbage":
			f.Garbage = true
		case "exception":
			code, err := strconv.ParseUint(arg, 0, 8)
			if err != nil || code == 0 {
				return f, fmt.Errorf("fault %q: exception needs a code 1-255, e.g. exception:6", spec)
			}
			f.Exception = byte(code)
		case "late":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				return f, fmt.Errorf("fault %q: late needs a duration, e.g. late:1.5s", spec)
			}
			f.Delay = d
		default:
			return f, fmt.Errorf("fault %q: unknown %q (want none, timeout, exception:CODE, late:DURATION or garbage, joined by +)", spec, part)
		}
	}
	return f, nil
}

// FormatFault is the inverse of ParseFault.
func FormatFault(f modbusserver.Fault) string {
	var parts []string
	if f.NoAnswer {
		parts = append(parts, "timeout")
	}
	if f.Exception != 0 {
		parts = append(parts, fmt.Sprintf("exception:%d", f.Exception))
	}
	if f.Delay > 0 {
		parts = append(parts, "late:"+f.Delay.String())
	}
	if f.Garbage {
		parts = append(parts, "garbage")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

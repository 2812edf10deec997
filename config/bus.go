package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Bus transports.
const (
	// TransportTCP is Modbus TCP (MBAP framing) to host:port.
	TransportTCP = "tcp"
	// TransportRTU is Modbus RTU on a local serial line (RS-485/RS-232).
	TransportRTU = "rtu"
	// TransportRTUOverTCP is RTU framing through a TCP connection to a
	// serial device server that passes bytes through unchanged.
	TransportRTUOverTCP = "rtu-over-tcp"
)

// Serial line defaults: the Modbus over serial line specification's 19200
// baud, 8 data bits, even parity, 1 stop bit.
const (
	DefaultBaud       = 19200
	DefaultDataBits   = 8
	DefaultParity     = "E"
	DefaultStopBits   = 1
	DefaultBackoffMax = time.Minute
	// MaxPipeline bounds bus.pipeline: requests in flight on one Modbus
	// TCP connection.
	MaxPipeline = 16
)

// Pipeline is a bus's pipeline setting: requests sent before their
// answers, 1 to MaxPipeline, or PipelineAuto, written "auto".
type Pipeline int

// PipelineAuto lets the driver find out whether the server queues
// requests (drivers/modbus/README.md, "Pipelined requests").
const PipelineAuto Pipeline = -1

func (p Pipeline) String() string {
	if p == PipelineAuto {
		return "auto"
	}
	return strconv.Itoa(int(p))
}

// baudRates are the rates a serial line may be set to.
var baudRates = map[int]bool{
	1200: true, 2400: true, 4800: true, 9600: true, 19200: true, 38400: true,
	57600: true, 115200: true, 230400: true, 460800: true, 921600: true,
}

// ProtocolModbus is the protocol of a bus without a protocol key.
const ProtocolModbus = "modbus"

// ProtocolName is the bus's protocol, the default filled in.
func (b *Bus) ProtocolName() string {
	if b.Protocol == "" {
		return ProtocolModbus
	}
	return b.Protocol
}

// BitsPerChar is the number of bits one character takes on the line: start
// bit, data bits, parity bit (if any) and stop bits. 11 for 8E1.
func (b *Bus) BitsPerChar() int {
	n := 1 + b.DataBits + b.StopBits
	if b.Parity != "N" {
		n++
	}
	return n
}

// applyDefaults fills the bus's unset keys.
func (b *Bus) applyDefaults() {
	if b.IsOPCUA() {
		b.opcuaDefaults()
		return
	}
	if b.Transport == "" {
		b.Transport = TransportTCP
	}
	setDur(&b.Timeout, DefaultTimeout)
	setDur(&b.BackoffMax, DefaultBackoffMax)
	if b.Pipeline == 0 {
		// auto where requests may be sent together: a serial line
		// carries one at a time, and a delay asks for idle time
		// between them.
		b.Pipeline = 1
		if b.Transport == TransportTCP && b.Delay <= 0 {
			b.Pipeline = PipelineAuto
		}
	}
	if b.Transport == TransportRTU {
		if b.Baud == 0 {
			b.Baud = DefaultBaud
		}
		if b.DataBits == 0 {
			b.DataBits = DefaultDataBits
		}
		if b.Parity == "" {
			b.Parity = DefaultParity
		}
		if b.StopBits == 0 {
			b.StopBits = DefaultStopBits
		}
	}
}

// validate checks one bus at path p.
func (b *Bus) validate(s *Source, p string) Errors {
	var errs Errors
	if b.IsOPCUA() {
		return b.validateOPCUA(s, p)
	}
	if b.ProtocolName() != ProtocolModbus {
		return append(errs, s.Errorf(p+".protocol", "unsupported protocol %q (modbus or opcua)", b.Protocol))
	}
	if b.OPCUA != nil {
		errs = append(errs, s.Errorf(p+".opcua", "applies to protocol opcua only, not %s", b.ProtocolName()))
	}
	hostPort := func() {
		if b.Address == "" {
			errs = append(errs, s.Errorf(p+".address", "required field is missing (host:port)"))
		} else if _, port, err := net.SplitHostPort(b.Address); err != nil {
			errs = append(errs, s.Errorf(p+".address", "%q must be host:port", b.Address))
		} else if err := checkPort(port); err != nil {
			errs = append(errs, s.Errorf(p+".address", "%q: %v", b.Address, err))
		}
	}
	serialKey := func(key string, set bool) {
		if set {
			errs = append(errs, s.Errorf(p+"."+key, "applies to transport rtu only, not %s", b.Transport))
		}
	}
	switch b.Transport {
	case TransportTCP, TransportRTUOverTCP:
		hostPort()
		serialKey("device", b.Device != "")
		serialKey("baud", b.Baud != 0)
		serialKey("data_bits", b.DataBits != 0)
		serialKey("parity", b.Parity != "")
		serialKey("stop_bits", b.StopBits != 0)
	case TransportRTU:
		if b.Device == "" {
			errs = append(errs, s.Errorf(p+".device", "required field is missing (serial device such as /dev/ttyUSB0)"))
		}
		if b.Address != "" {
			errs = append(errs, s.Errorf(p+".address", "transport rtu takes device, not address (for a serial device server use rtu-over-tcp)"))
		}
		if !baudRates[b.Baud] {
			errs = append(errs, s.Errorf(p+".baud", "unsupported baud rate %d (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)", b.Baud))
		}
		if b.DataBits != 7 && b.DataBits != 8 {
			errs = append(errs, s.Errorf(p+".data_bits", "%d: want 7 or 8", b.DataBits))
		}
		if b.Parity != "N" && b.Parity != "E" && b.Parity != "O" {
			errs = append(errs, s.Errorf(p+".parity", "%q: want N (none), E (even) or O (odd)", b.Parity))
		}
		if b.StopBits != 1 && b.StopBits != 2 {
			errs = append(errs, s.Errorf(p+".stop_bits", "%d: want 1 or 2", b.StopBits))
		}
	default:
		errs = append(errs, s.Errorf(p+".transport", "unsupported transport %q (tcp, rtu or rtu-over-tcp)", b.Transport))
	}
	if b.Timeout < time.Millisecond {
		errs = append(errs, s.Errorf(p+".timeout", "timeout %s is below 1ms", b.Timeout))
	}
	switch {
	case b.Pipeline == 1:
	case b.Transport != TransportTCP:
		// A serial line carries one request at a time.
		errs = append(errs, s.Errorf(p+".pipeline", "applies to transport tcp only, not %s (a serial line answers one request at a time)", b.Transport))
	case b.Pipeline == PipelineAuto && b.Delay > 0:
		errs = append(errs, s.Errorf(p+".pipeline", "auto may send requests together, which leaves no idle time between them: remove delay (%s), or write pipeline: 1", b.Delay))
	case b.Pipeline == PipelineAuto:
	case b.Pipeline < 1 || b.Pipeline > MaxPipeline:
		errs = append(errs, s.Errorf(p+".pipeline", "%d requests in flight: want auto or 1 to %d", int(b.Pipeline), MaxPipeline))
	case b.Delay > 0:
		errs = append(errs, s.Errorf(p+".pipeline", "%d requests in flight leave no idle time between requests: remove delay (%s) or the pipeline", int(b.Pipeline), b.Delay))
	}
	return errs
}

// validateDeviceOnBus checks what a device's settings must satisfy on its
// bus (path p is the device's).
func validateDeviceOnBus(s *Source, p string, d Device, buses []Bus) Errors {
	var errs Errors
	for _, b := range buses {
		if b.Name != d.Bus {
			continue
		}
		if (b.Transport == TransportRTU || b.Transport == TransportRTUOverTCP) && d.Unit == 0 {
			errs = append(errs, s.Errorf(p+".unit", "unit 0 is the RTU broadcast address, which no device answers: set the device's unit id 1-247"))
		}
		if b.Delay > 0 && d.Interval > 0 && b.Delay >= d.Interval {
			errs = append(errs, s.Errorf(p+".interval", "%s is not above the delay of bus %s between requests (%s): every poll would overrun it", d.Interval, b.Name, b.Delay))
		}
	}
	if d.Timeout != 0 && d.Timeout < time.Millisecond {
		errs = append(errs, s.Errorf(p+".timeout", "timeout %s is below 1ms", d.Timeout))
	}
	return errs
}

// String describes the bus's link for logs and errors.
func (b *Bus) String() string {
	if b.IsOPCUA() && b.OPCUA != nil {
		return b.OPCUA.String()
	}
	if b.Transport == TransportRTU {
		return fmt.Sprintf("rtu %s %d %d%s%d", b.Device, b.Baud, b.DataBits, b.Parity, b.StopBits)
	}
	return b.Transport + " " + b.Address
}

// endpointKey names the line or the Modbus TCP endpoint b owns, and the
// key that sets it: "device /dev/ttyUSB0" (rtu) or "address
// host:port" (tcp, rtu-over-tcp; the host in lower case). "" for an OPC UA
// bus, whose server takes several sessions.
func (b Bus) endpointKey() (string, string) {
	switch {
	case b.IsOPCUA():
		return "", ""
	case b.Transport == TransportRTU && b.Device != "":
		// udev's names (/dev/serial/by-id/..., a rule's alias) are
		// symbolic links to the line's device node: one line, however
		// named.
		if real, err := filepath.EvalSymlinks(b.Device); err == nil {
			return "device " + real, "device"
		}
		return "device " + filepath.Clean(b.Device), "device"
	case b.Address != "":
		if h, port, err := net.SplitHostPort(b.Address); err == nil {
			return "address " + net.JoinHostPort(strings.ToLower(h), port), "address"
		}
	}
	return "", ""
}

// ValidateBus applies the defaults to a bus built outside a file (from
// command-line flags, say) and checks it; error paths start with "bus.".
func ValidateBus(b Bus) Errors {
	b.applyDefaults()
	return b.validate(nil, "bus")
}

package modbusserver

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/goburrow/serial"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/internal/linetime"
)

// Line is the timing of a serial line.
type Line struct {
	// Baud is the line speed in bit/s; 0 sends as fast as the port takes
	// bytes.
	Baud int
	// BitsPerChar counts start, data, parity and stop bits of one
	// character: 11 for Modbus's 8E1 (the default when 0), 10 for 8N1.
	BitsPerChar int
}

// CharTime is the time one character takes on the wire.
func (l Line) CharTime() time.Duration {
	if l.Baud <= 0 {
		return 0
	}
	bits := l.BitsPerChar
	if bits == 0 {
		bits = 11
	}
	return time.Duration(bits) * time.Second / time.Duration(l.Baud)
}

// frameSilence is the pause after which a server drops an incomplete
// request: far above 3.5 characters, so that scheduling delays of the
// sender never split a frame.
const frameSilence = 50 * time.Millisecond

// frameStatus says what the bytes received so far hold.
type frameStatus uint8

const (
	frameInvalid  frameStatus = iota // they cannot start a request
	frameNeedMore                    // they may start one; more bytes needed
	frameComplete                    // they start with a whole request
)

// requestLen returns the length of the RTU request that b starts with, or
// the status that it is not one or needs more bytes.
func requestLen(b []byte) (int, frameStatus) {
	if len(b) < 2 {
		return 0, frameNeedMore
	}
	n := 0
	switch b[1] {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06:
		n = 8
	case 0x0F, 0x10:
		if len(b) < 7 {
			return 0, frameNeedMore
		}
		n = 7 + int(b[6]) + 2
	default:
		return 0, frameInvalid
	}
	if n > rtuMaxADU {
		return 0, frameInvalid
	}
	if len(b) < n {
		return 0, frameNeedMore
	}
	if !modbus.ValidCRC(b[:n]) {
		return 0, frameInvalid
	}
	return n, frameComplete
}

// ServeRTU serves Modbus RTU on a serial port (or one side of a
// pseudo-terminal) until ctx is done or the port fails; it closes port when
// ctx is done. Like a device on a real line it answers one request at a
// time, starts its answer no earlier than 3.5 characters after the request
// would have left the wire, and sends its bytes no faster than line's baud
// rate. A unit that Registers reports absent (exception 0x0B) stays silent,
// as does the broadcast unit 0.
func (s *Server) ServeRTU(ctx context.Context, port io.ReadWriteCloser, line Line) error {
	log := s.log()
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	c := line.CharTime()
	buf := make([]byte, 0, 2*rtuMaxADU)
	var tmp [512]byte
	var resp [rtuMaxADU]byte
	regs := make([]uint16, maxBits)
	var first, last time.Time // arrival of the first and latest pending bytes
	for {
		n, err := port.Read(tmp[:])
		now := time.Now()
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			if len(buf) > 0 && now.Sub(last) > max(7*c, frameSilence) {
				// Silence inside a frame ends it: what came before was
				// an incomplete frame.
				log.Debug("rtu server: dropping incomplete frame", "bytes", len(buf))
				buf = buf[:0]
			}
			if len(buf) == 0 {
				first = now
			}
			buf = append(buf, tmp[:n]...)
			last = now
		}
		switch {
		case errors.Is(err, serial.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		for len(buf) > 0 {
			size, st := requestLen(buf)
			if st == frameNeedMore {
				break
			}
			if st == frameInvalid {
				buf = buf[:copy(buf, buf[1:])]
				continue
			}
			// The request's bytes would have taken this long on the wire.
			arrived := first.Add(time.Duration(size) * c)
			out := s.answerRTU(buf[:size], resp[:], regs)
			buf = buf[:copy(buf, buf[size:])]
			first = now
			if out == nil {
				continue
			}
			f := s.fault(resp[0])
			if !linetime.WaitUntil(ctx, arrived.Add(c*7/2+f.Delay)) {
				return nil
			}
			if f.Garbage {
				if err := writePaced(ctx, port, garbage, c); err != nil {
					return err
				}
			}
			if err := writePaced(ctx, port, out, c); err != nil {
				return err
			}
			// The line is ours until the answer left it; a request
			// that arrived meanwhile waited on the wire.
			first = time.Now()
		}
	}
}

// answerRTU returns the response frame to req (built in resp), or nil for
// none.
func (s *Server) answerRTU(req, resp []byte, regs []uint16) []byte {
	unit, fc := req[0], req[1]
	if unit == 0 {
		return nil
	}
	resp[0] = unit
	out := s.handle(unit, fc, req[2:len(req)-2], resp[1:], regs, s.fault(unit))
	if out < 0 {
		return nil
	}
	if out == 2 && resp[1] == fc|exceptionFlag && resp[2] == modbus.ExGatewayNoResponse {
		return nil
	}
	return modbus.AppendCRC(resp[:1+out])
}

// writePaced writes b no faster than one character per c.
func writePaced(ctx context.Context, w io.Writer, b []byte, c time.Duration) error {
	if c <= 0 {
		_, err := w.Write(b)
		return err
	}
	start := time.Now()
	sent := 0
	for sent < len(b) {
		due := min(int(time.Since(start)/c), len(b))
		if due > sent {
			if _, err := w.Write(b[sent:due]); err != nil {
				return err
			}
			sent = due
			continue
		}
		// Bytes go out in bursts at the timer's resolution; the last
		// one leaves on time.
		next := start.Add(time.Duration(sent+1) * c)
		if end := start.Add(time.Duration(len(b)) * c); time.Until(end) > 2*linetime.SpinBelow {
			if !linetime.Sleep(ctx, time.Until(next)) {
				return ctx.Err()
			}
		} else if !linetime.WaitUntil(ctx, next) {
			return ctx.Err()
		}
	}
	return nil
}

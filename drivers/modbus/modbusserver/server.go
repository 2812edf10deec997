// Package modbusserver is the server (slave) side of Modbus: function codes
// 1 to 4 over Modbus TCP, RTU on a serial line and RTU over TCP, with
// faults a misbehaving device shows. The simulator and the tests serve
// register images with it; the gateway itself never imports it.
package modbusserver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/internal/linetime"
)

// Frame sizes and request limits (Modbus Application Protocol v1.1b3,
// sections 4.1 and 6.1 to 6.4; Modbus Messaging on TCP/IP v1.0b, 3.1.3).
const (
	mbapHeader    = 7   // transaction, protocol, length, unit
	tcpMaxADU     = 260 // header + function code + 252 data bytes
	rtuMaxADU     = 256 // unit + function code + 252 data bytes + CRC
	maxRegisters  = 125 // per read of holding or input registers
	maxBits       = 2000
	exceptionFlag = 0x80
	noException   = 0
)

// Registers serves reads for a Modbus server. For the coil and discrete
// tables each element of dst is one bit (0 or 1). It returns an exception
// code (0 for none) and whether to answer at all: a false answer makes the
// request time out, as a dead device behind a gateway would.
type Registers interface {
	ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (exception byte, answer bool)
}

// Fault is what a misbehaving device does with a request. The zero Fault
// answers normally.
type Fault struct {
	// NoAnswer drops the request: the client times out.
	NoAnswer bool
	// Exception answers with this exception code instead of the data.
	Exception byte
	// Delay answers this late.
	Delay time.Duration
	// Garbage sends noise before the answer.
	Garbage bool
}

// Faulty is an optional interface of Registers: the fault currently
// injected for a unit.
type Faulty interface {
	Fault(unit byte) Fault
}

// garbage is the noise a Fault{Garbage: true} sends before its answer: it
// looks like the start of frames without being one.
var garbage = []byte{0x00, 0xFF, 0x03, 0x55, 0xAA, 0x01, 0x83, 0x7E}

// Server is a Modbus server (function codes 1 to 4) over Registers, speaking
// Modbus TCP (Serve) or RTU on a serial line (ServeRTU). The simulator and
// the tests use it.
type Server struct {
	Registers Registers
	Log       *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) fault(unit byte) Fault {
	if f, ok := s.Registers.(Faulty); ok {
		return f.Fault(unit)
	}
	return Fault{}
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every open connection and returns after all handlers have returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.log()
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			// Accepted as the shutdown began: the shutdown may already
			// have closed the connections it knew of, so close this one.
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, log)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, log *slog.Logger) {
	var req [tcpMaxADU]byte
	var resp [tcpMaxADU]byte
	regs := make([]uint16, maxBits)
	for {
		if _, err := io.ReadFull(c, req[:mbapHeader]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("modbus server read", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		length := int(binary.BigEndian.Uint16(req[4:6]))
		if length < 2 || length > tcpMaxADU-mbapHeader+1 || binary.BigEndian.Uint16(req[2:4]) != 0 {
			log.Debug("modbus server: bad MBAP header, closing", "remote", c.RemoteAddr().String())
			return
		}
		n := mbapHeader - 1 + length
		if _, err := io.ReadFull(c, req[mbapHeader:n]); err != nil {
			return
		}
		unit, fc, pdu := req[6], req[7], req[8:n]
		copy(resp[:mbapHeader], req[:mbapHeader])
		f := s.fault(unit)
		out := s.handle(unit, fc, pdu, resp[mbapHeader:], regs, f)
		if out < 0 {
			continue // no answer: the client times out
		}
		if !linetime.Sleep(ctx, f.Delay) {
			return
		}
		binary.BigEndian.PutUint16(resp[4:6], uint16(out+1))
		if f.Garbage {
			if _, err := c.Write(garbage); err != nil {
				return
			}
		}
		if _, err := c.Write(resp[:mbapHeader+out]); err != nil {
			return
		}
	}
}

// handle writes the response PDU into out and returns its length, or -1 for
// no response.
func (s *Server) handle(unit, fc byte, pdu, out []byte, regs []uint16, f Fault) int {
	exception := func(code byte) int {
		out[0], out[1] = fc|exceptionFlag, code
		return 2
	}
	var table modbus.Table
	limit := maxRegisters
	switch fc {
	case modbus.Holding.FunctionCode():
		table = modbus.Holding
	case modbus.Input.FunctionCode():
		table = modbus.Input
	case modbus.Coil.FunctionCode():
		table, limit = modbus.Coil, maxBits
	case modbus.Discrete.FunctionCode():
		table, limit = modbus.Discrete, maxBits
	default:
		return exception(modbus.ExIllegalFunction)
	}
	if f.NoAnswer {
		return -1
	}
	if f.Exception != noException {
		return exception(f.Exception)
	}
	if len(pdu) != 4 {
		return exception(modbus.ExIllegalValue)
	}
	addr := binary.BigEndian.Uint16(pdu[0:2])
	qty := binary.BigEndian.Uint16(pdu[2:4])
	if qty < 1 || int(qty) > limit {
		return exception(modbus.ExIllegalValue)
	}
	if int(addr)+int(qty) > 65536 {
		return exception(modbus.ExIllegalAddress)
	}
	code, answer := s.Registers.ReadRegisters(unit, table, addr, regs[:qty])
	if !answer {
		return -1
	}
	if code != noException {
		return exception(code)
	}
	out[0] = fc
	if table.Bits() {
		nb := (int(qty) + 7) / 8
		out[1] = byte(nb)
		clear(out[2 : 2+nb])
		for i, r := range regs[:qty] {
			if r != 0 {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		return 2 + nb
	}
	out[1] = byte(2 * qty)
	for i, r := range regs[:qty] {
		binary.BigEndian.PutUint16(out[2+2*i:], r)
	}
	return 2 + 2*int(qty)
}

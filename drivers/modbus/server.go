package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Modbus exception codes (Modbus Application Protocol v1.1b3, section 7).
const (
	ExIllegalFunction   byte = 0x01
	ExIllegalAddress    byte = 0x02
	ExIllegalValue      byte = 0x03
	ExDeviceFailure     byte = 0x04
	ExBusy              byte = 0x06
	ExGatewayNoResponse byte = 0x0B
	fcReadHolding       byte = 0x03
	fcReadInput         byte = 0x04
	maxRegistersPerRead      = 125
	exceptionFlag       byte = 0x80
	noException         byte = 0
)

// Registers serves register reads for a Modbus server. It returns an
// exception code (0 for none) and whether to answer at all: a false answer
// makes the request time out, as a dead device behind a gateway would.
type Registers interface {
	ReadRegisters(unit byte, table Table, address uint16, dst []uint16) (exception byte, answer bool)
}

// Server is a Modbus TCP server (function codes 3 and 4) over Registers. The
// simulator and the tests use it.
type Server struct {
	Registers Registers
	Log       *slog.Logger
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every open connection and returns after all handlers have returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
			s.serveConn(c, log)
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

func (s *Server) serveConn(c net.Conn, log *slog.Logger) {
	var req [tcpMaxADU]byte
	var resp [tcpMaxADU]byte
	regs := make([]uint16, maxRegistersPerRead)
	for {
		if _, err := io.ReadFull(c, req[:tcpHeader]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("modbus server read", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		length := int(binary.BigEndian.Uint16(req[4:6]))
		if length < 2 || length > tcpMaxADU-tcpHeader+1 || binary.BigEndian.Uint16(req[2:4]) != 0 {
			log.Debug("modbus server: bad MBAP header, closing", "remote", c.RemoteAddr().String())
			return
		}
		n := tcpHeader - 1 + length
		if _, err := io.ReadFull(c, req[tcpHeader:n]); err != nil {
			return
		}
		unit, fc, pdu := req[6], req[7], req[8:n]
		copy(resp[:tcpHeader], req[:tcpHeader])
		out := s.handle(unit, fc, pdu, resp[tcpHeader:], regs)
		if out < 0 {
			continue // no answer: the client times out
		}
		binary.BigEndian.PutUint16(resp[4:6], uint16(out+1))
		if _, err := c.Write(resp[:tcpHeader+out]); err != nil {
			return
		}
	}
}

// handle writes the response PDU into out and returns its length, or -1 for
// no response.
func (s *Server) handle(unit, fc byte, pdu, out []byte, regs []uint16) int {
	exception := func(code byte) int {
		out[0], out[1] = fc|exceptionFlag, code
		return 2
	}
	var table Table
	switch fc {
	case fcReadHolding:
		table = Holding
	case fcReadInput:
		table = Input
	default:
		return exception(ExIllegalFunction)
	}
	if len(pdu) != 4 {
		return exception(ExIllegalValue)
	}
	addr := binary.BigEndian.Uint16(pdu[0:2])
	qty := binary.BigEndian.Uint16(pdu[2:4])
	if qty < 1 || qty > maxRegistersPerRead {
		return exception(ExIllegalValue)
	}
	if int(addr)+int(qty) > 65536 {
		return exception(ExIllegalAddress)
	}
	code, answer := s.Registers.ReadRegisters(unit, table, addr, regs[:qty])
	if !answer {
		return -1
	}
	if code != noException {
		return exception(code)
	}
	out[0], out[1] = fc, byte(2*qty)
	for i, r := range regs[:qty] {
		binary.BigEndian.PutUint16(out[2+2*i:], r)
	}
	return 2 + 2*int(qty)
}

package modbusserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/eipgw/eipgw/drivers/modbus"
)

// Units of testRegisters with special behaviour.
const (
	unitSilent = 9 // never answers
	unitFailed = 8 // answers exception 4
)

// testRegisters serves 0x1000+address (holding) or 0x2000+address (input),
// exception 2 from address 1000 on.
type testRegisters struct{}

func (testRegisters) ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	switch unit {
	case unitSilent:
		return 0, false
	case unitFailed:
		return modbus.ExDeviceFailure, true
	}
	if int(address)+len(dst) > 1000 {
		return modbus.ExIllegalAddress, true
	}
	base := uint16(0x1000)
	if table == modbus.Input {
		base = 0x2000
	}
	for i := range dst {
		dst[i] = base + address + uint16(i)
	}
	return 0, true
}

// startServer serves regs on a loopback port until the test ends, and
// checks that Serve then returns nil.
func startServer(t testing.TB, regs Registers) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Registers: regs}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return ln.Addr().String()
}

func newClient(t testing.TB, addr string, unit byte, timeout time.Duration) (*gmodbus.TCPClientHandler, gmodbus.Client) {
	h := gmodbus.NewTCPClientHandler(addr)
	h.SlaveId = unit
	h.Timeout = timeout
	t.Cleanup(func() { h.Close() })
	return h, gmodbus.NewClient(h)
}

// regBytes is the response data for registers first, first+1, ...
func regBytes(first uint16, n int) []byte {
	var b []byte
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, first+uint16(i))
	}
	return b
}

func wantException(t *testing.T, what string, err error, fc, code byte) {
	t.Helper()
	var mbErr *gmodbus.ModbusError
	if !errors.As(err, &mbErr) {
		t.Errorf("%s: error %v, want exception %d", what, err, code)
		return
	}
	if mbErr.FunctionCode != fc|0x80 || mbErr.ExceptionCode != code {
		t.Errorf("%s: function 0x%02X exception %d, want 0x%02X, %d", what, mbErr.FunctionCode, mbErr.ExceptionCode, fc|0x80, code)
	}
}

func TestServerReads(t *testing.T) {
	addr := startServer(t, testRegisters{})
	_, c := newClient(t, addr, 1, time.Second)

	got, err := c.ReadHoldingRegisters(10, 3)
	if err != nil || !bytes.Equal(got, []byte{0x10, 0x0A, 0x10, 0x0B, 0x10, 0x0C}) {
		t.Errorf("FC3 10+3 = % X, %v", got, err)
	}
	got, err = c.ReadInputRegisters(0, 2)
	if err != nil || !bytes.Equal(got, []byte{0x20, 0x00, 0x20, 0x01}) {
		t.Errorf("FC4 0+2 = % X, %v", got, err)
	}
	got, err = c.ReadHoldingRegisters(500, 125)
	if err != nil || !bytes.Equal(got, regBytes(0x1000+500, 125)) {
		t.Errorf("FC3 500+125 = % X, %v", got, err)
	}
	got, err = c.ReadInputRegisters(999, 1)
	if err != nil || !bytes.Equal(got, []byte{0x23, 0xE7}) {
		t.Errorf("FC4 999+1 = % X, %v", got, err)
	}
}

func TestServerExceptions(t *testing.T) {
	addr := startServer(t, testRegisters{})
	h, c := newClient(t, addr, 1, time.Second)

	_, err := c.WriteSingleCoil(0, 0xFF00)
	wantException(t, "FC5", err, 5, modbus.ExIllegalFunction)
	_, err = c.WriteSingleRegister(0, 1)
	wantException(t, "FC6", err, 6, modbus.ExIllegalFunction)
	_, err = c.WriteMultipleRegisters(0, 1, []byte{0, 1})
	wantException(t, "FC16", err, 16, modbus.ExIllegalFunction)

	// Registers' own exception, for holding and input.
	_, err = c.ReadHoldingRegisters(999, 2)
	wantException(t, "FC3 999+2", err, 3, modbus.ExIllegalAddress)
	_, err = c.ReadInputRegisters(1000, 1)
	wantException(t, "FC4 1000+1", err, 4, modbus.ExIllegalAddress)
	// The server's range check: past register 65535.
	_, err = c.ReadHoldingRegisters(65535, 2)
	wantException(t, "FC3 65535+2", err, 3, modbus.ExIllegalAddress)

	h.SlaveId = unitFailed
	_, err = c.ReadHoldingRegisters(0, 1)
	wantException(t, "unit 8", err, 3, modbus.ExDeviceFailure)

	// The server still answers on the same connection.
	h.SlaveId = 1
	if got, err := c.ReadHoldingRegisters(1, 1); err != nil || !bytes.Equal(got, []byte{0x10, 0x01}) {
		t.Errorf("FC3 after exceptions = % X, %v", got, err)
	}
}

// sendPDU sends a request PDU that goburrow's Client refuses to build (it
// checks quantities itself) through the handler's packager and transporter.
func sendPDU(t *testing.T, h *gmodbus.TCPClientHandler, fc byte, data []byte) *gmodbus.ProtocolDataUnit {
	t.Helper()
	adu, err := h.Encode(&gmodbus.ProtocolDataUnit{FunctionCode: fc, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Send(adu)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := h.Verify(adu, resp); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return pdu
}

func TestServerIllegalValue(t *testing.T) {
	addr := startServer(t, testRegisters{})
	h, _ := newClient(t, addr, 1, time.Second)
	illegal := []byte{modbus.ExIllegalValue}
	tests := []struct {
		name   string
		fc     byte
		data   []byte
		wantFC byte
		want   []byte // response PDU data
	}{
		{"quantity 0", 3, []byte{0, 0, 0, 0}, 0x83, illegal},
		{"quantity 126", 3, []byte{0, 0, 0, 126}, 0x83, illegal},
		{"input quantity 0", 4, []byte{0, 0, 0, 0}, 0x84, illegal},
		{"input quantity 126", 4, []byte{0, 0, 0, 126}, 0x84, illegal},
		{"quantity 65535", 3, []byte{0, 0, 0xFF, 0xFF}, 0x83, illegal},
		{"short request", 3, []byte{0, 0, 0}, 0x83, illegal},
		{"long request", 4, []byte{0, 0, 0, 1, 0}, 0x84, illegal},
		{"no data", 3, nil, 0x83, illegal},
		{"unknown function first", 0x2B, []byte{0, 0, 0, 0}, 0xAB, []byte{modbus.ExIllegalFunction}},
		{"quantity 125", 3, []byte{0, 0, 0, 125}, 3, append([]byte{250}, regBytes(0x1000, 125)...)},
		{"quantity 1", 4, []byte{0, 7, 0, 1}, 4, []byte{2, 0x20, 0x07}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdu := sendPDU(t, h, tt.fc, tt.data)
			if wantFC := tt.wantFC; pdu.FunctionCode != wantFC || !bytes.Equal(pdu.Data, tt.want) {
				t.Errorf("response %02X % X, want %02X % X", pdu.FunctionCode, pdu.Data, wantFC, tt.want)
			}
		})
	}
}

func TestServerNoAnswer(t *testing.T) {
	addr := startServer(t, testRegisters{})
	h, c := newClient(t, addr, unitSilent, 150*time.Millisecond)
	_, err := c.ReadHoldingRegisters(0, 1)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("unit %d: error %v, want a timeout", unitSilent, err)
	}
	// The connection is still served: the next request gets its answer
	// (goburrow keeps the connection, so a late reply would show here).
	h.SlaveId = 1
	if got, err := c.ReadInputRegisters(4, 1); err != nil || !bytes.Equal(got, []byte{0x20, 0x04}) {
		t.Errorf("after the timeout: % X, %v", got, err)
	}
}

// rawExchange writes req on a fresh connection and returns what the server
// sends until it closes the connection or goes quiet for quiet.
func rawExchange(t *testing.T, addr string, req []byte, quiet time.Duration) (resp []byte, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(quiet))
	resp, err = io.ReadAll(c)
	return resp, !errors.Is(err, os.ErrDeadlineExceeded)
}

// adu builds a request or response frame.
func adu(tid, proto, length uint16, rest ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, tid)
	b = binary.BigEndian.AppendUint16(b, proto)
	b = binary.BigEndian.AppendUint16(b, length)
	return append(b, rest...)
}

func TestServerFrames(t *testing.T) {
	addr := startServer(t, testRegisters{})
	tests := []struct {
		name   string
		req    []byte
		resp   []byte
		closed bool
	}{
		{"read holding", adu(0x1234, 0, 6, 5, 3, 0, 2, 0, 1),
			adu(0x1234, 0, 5, 5, 3, 2, 0x10, 0x02), false},
		{"two requests in one segment", append(adu(1, 0, 6, 1, 4, 0, 0, 0, 1), adu(2, 0, 6, 1, 3, 0, 1, 0, 1)...),
			append(adu(1, 0, 5, 1, 4, 2, 0x20, 0x00), adu(2, 0, 5, 1, 3, 2, 0x10, 0x01)...), false},
		{"exception keeps transaction and unit", adu(0xBEEF, 0, 6, 0xF7, 5, 0, 0, 0xFF, 0),
			adu(0xBEEF, 0, 3, 0xF7, 0x85, 1), false},
		{"no answer, then an answer", append(adu(1, 0, 6, unitSilent, 3, 0, 0, 0, 1), adu(2, 0, 6, 1, 3, 0, 0, 0, 1)...),
			adu(2, 0, 5, 1, 3, 2, 0x10, 0x00), false},
		{"unit id only", adu(3, 0, 1, 1), nil, true},
		{"bad protocol id", adu(4, 1, 6, 1, 3, 0, 0, 0, 1), nil, true},
		{"length 0", adu(5, 0, 0, 1), nil, true},
		{"header cut short", adu(5, 0, 6), nil, false},
		{"length 255", adu(6, 0, 255, 1, 3), nil, true},
		{"function code only", adu(7, 0, 2, 1, 3), adu(7, 0, 3, 1, 0x83, 3), false},
		{"answer, then a bad header", append(adu(8, 0, 6, 1, 3, 0, 9, 0, 1), adu(9, 2, 6, 1, 3, 0, 0, 0, 1)...),
			adu(8, 0, 5, 1, 3, 2, 0x10, 0x09), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, closed := rawExchange(t, addr, tt.req, 150*time.Millisecond)
			if !bytes.Equal(resp, tt.resp) || closed != tt.closed {
				t.Errorf("response % X (closed %v), want % X (closed %v)", resp, closed, tt.resp, tt.closed)
			}
		})
	}
}

func TestServerShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- (&Server{Registers: testRegisters{}}).Serve(ctx, ln) }()

	// Two idle clients, one of them having been served.
	_, c := newClient(t, ln.Addr().String(), 1, time.Second)
	if _, err := c.ReadHoldingRegisters(0, 1); err != nil {
		t.Fatal(err)
	}
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle connection after shutdown: read %d, %v; want it closed", n, err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after shutdown")
	}
}

func TestServerListenerError(t *testing.T) {
	// A listener failing for another reason than shutdown is reported.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := (&Server{Registers: testRegisters{}}).Serve(t.Context(), ln); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve on a closed listener = %v, want net.ErrClosed", err)
	}
}

// cancelListener hands out one connection, cancelling the server's context
// just before Accept returns it, after the server has begun shutting down:
// the connection arrives when the shutdown has already closed the others.
type cancelListener struct {
	conn   net.Conn
	cancel context.CancelFunc
	once   sync.Once
	closed chan struct{}
	served bool
}

func (l *cancelListener) Accept() (net.Conn, error) {
	if l.served {
		<-l.closed
		return nil, net.ErrClosed
	}
	l.served = true
	l.cancel()
	<-l.closed
	// Let the shutdown finish closing the connections it knows of.
	time.Sleep(20 * time.Millisecond)
	return l.conn, nil
}

func (l *cancelListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *cancelListener) Addr() net.Addr { return l.conn.LocalAddr() }

// TestServerShutdownRace guards a connection accepted while Serve shuts down:
// it was never closed, so its handler, and Serve, waited for the client.
func TestServerShutdownRace(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln := &cancelListener{conn: srv, cancel: cancel, closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- (&Server{Registers: testRegisters{}}).Serve(ctx, ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(2 * time.Second):
		cli.Close() // unblock the handler
		t.Fatal("Serve did not return: the connection accepted during shutdown stayed open")
	}
	cli.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := cli.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("client end: %v, want EOF", err)
	}
}

// checkResponses checks that resp is a sequence of well-formed responses
// of testRegisters: a trailing partial frame is allowed only if the read was
// cut short by a reset.
func checkResponses(t *testing.T, resp []byte, cut bool) {
	t.Helper()
	for len(resp) > 0 {
		if len(resp) < 9 {
			if !cut {
				t.Fatalf("trailing % X", resp)
			}
			return
		}
		length := int(binary.BigEndian.Uint16(resp[4:]))
		if proto := binary.BigEndian.Uint16(resp[2:]); proto != 0 || length < 3 || length > 253 {
			t.Fatalf("bad response header % X", resp[:7])
		}
		if len(resp) < 6+length {
			if !cut {
				t.Fatalf("short frame % X", resp)
			}
			return
		}
		f := resp[:6+length]
		resp = resp[6+length:]
		fc := f[7]
		switch {
		case fc&0x80 != 0:
			if length != 3 || !slices.Contains([]byte{1, 2, 3, 4}, f[8]) {
				t.Fatalf("bad exception % X", f)
			}
		case fc == 3 || fc == 4:
			if n := int(f[8]); n != length-3 || n == 0 || n%2 != 0 {
				t.Fatalf("byte count %d in % X", n, f)
			}
		case fc == 1 || fc == 2:
			if n := int(f[8]); n != length-3 || n == 0 {
				t.Fatalf("byte count %d in % X", n, f)
			}
		default:
			t.Fatalf("function code %d in % X", fc, f)
		}
	}
}

func FuzzServerFrame(f *testing.F) {
	f.Add(adu(1, 0, 6, 1, 3, 0, 0, 0, 10))
	f.Add(adu(2, 0, 6, 1, 4, 0xFF, 0xFF, 0, 1))
	f.Add(adu(3, 0, 6, 1, 1, 0, 0, 0, 8))
	f.Add(adu(4, 0, 6, 1, 3, 0, 0, 0, 0))
	f.Add(adu(5, 0, 6, unitSilent, 3, 0, 0, 0, 1))
	f.Add(adu(6, 0, 254, 1, 3, 0))
	f.Add(adu(7, 1, 6, 1, 3, 0, 0, 0, 1))
	f.Add(append(adu(8, 0, 6, unitFailed, 3, 0, 0, 0, 1), adu(9, 0, 2, 1, 4)...))
	f.Add([]byte{})
	addr := startServer(f, testRegisters{})
	// A client on its own connection must be served whatever the others
	// send.
	_, other := newClient(f, addr, 1, 2*time.Second)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Read while writing: a long run of requests has responses that
		// outgrow the socket buffers.
		type readResult struct {
			b   []byte
			err error
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		read := make(chan readResult, 1)
		go func() {
			b, err := io.ReadAll(c)
			read <- readResult{b, err}
		}()
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		r := <-read
		resp, err := r.b, r.err
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server neither answered nor closed after % X", data)
		}
		checkResponses(t, resp, err != nil)
		got, err := other.ReadHoldingRegisters(7, 2)
		if err != nil || !bytes.Equal(got, []byte{0x10, 0x07, 0x10, 0x08}) {
			t.Fatalf("other connection: % X, %v", got, err)
		}
	})
}

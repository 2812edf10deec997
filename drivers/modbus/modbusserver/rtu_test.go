package modbusserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
)

// rtuRead builds the RTU request to read qty from addr with function fc.
func rtuRead(unit, fc byte, addr, qty uint16) []byte {
	b := []byte{unit, fc}
	b = binary.BigEndian.AppendUint16(b, addr)
	b = binary.BigEndian.AppendUint16(b, qty)
	return modbus.AppendCRC(b)
}

// serveRTU serves regs with RTU framing on port until the test ends.
func serveRTU(t testing.TB, port io.ReadWriteCloser, regs Registers, line Line) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Server{Registers: regs}).ServeRTU(ctx, port, line)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestCharTime(t *testing.T) {
	for _, tt := range []struct {
		line Line
		want time.Duration
	}{
		{Line{Baud: 9600}, 11 * time.Second / 9600},
		{Line{Baud: 9600, BitsPerChar: 10}, 10 * time.Second / 9600},
		{Line{Baud: 115200, BitsPerChar: 11}, 11 * time.Second / 115200},
		{Line{}, 0},
	} {
		if got := tt.line.CharTime(); got != tt.want {
			t.Errorf("%+v.CharTime() = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestRequestLen(t *testing.T) {
	read := rtuRead(1, 3, 0, 10)
	write := modbus.AppendCRC([]byte{1, 0x10, 0, 0, 0, 1, 2, 0, 1})
	corrupt := bytes.Clone(read)
	corrupt[7] ^= 1
	for _, tt := range []struct {
		name string
		b    []byte
		n    int
		st   frameStatus
	}{
		{"read", read, 8, frameComplete},
		{"read and more", append(bytes.Clone(read), 1, 3), 8, frameComplete},
		{"write multiple", write, len(write), frameComplete},
		{"write multiple, count not yet in", write[:6], 0, frameNeedMore},
		{"half a read", read[:5], 0, frameNeedMore},
		{"one byte", read[:1], 0, frameNeedMore},
		{"bad CRC", corrupt, 0, frameInvalid},
		{"unknown function", []byte{1, 0x2B, 0, 0, 0, 0, 0, 0}, 0, frameInvalid},
		{"byte count beyond a frame", []byte{1, 0x10, 0, 0, 0, 1, 250}, 0, frameInvalid},
	} {
		n, st := requestLen(tt.b)
		if n != tt.n || st != tt.st {
			t.Errorf("%s: requestLen(% X) = %d, %d; want %d, %d", tt.name, tt.b, n, st, tt.n, tt.st)
		}
	}
}

// TestServeRTUPacesAtBaudRate reads through the gateway's own RTU client.
func TestServeRTUPacesAtBaudRate(t *testing.T) {
	// 125 registers at 9600 baud, 11 bits per character: the 255-byte
	// answer cannot arrive in less than 255 x 11 / 9600 s (292 ms).
	pty, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	serveRTU(t, pty, testRegisters{}, Line{Baud: 9600})
	p, errs := modbus.ParseProfile("test.yaml", []byte("kind: test\nmax_gap: 200\npoints:\n"+
		"  - {name: first, address: 0, type: uint16, unit: \"1\"}\n"+
		"  - {name: last, address: 124, type: uint16, unit: \"1\"}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	d := modbus.NewDevice(config.Device{Name: "dev", Profile: "test", Bus: "b", Unit: 1, Interval: time.Second}, p)
	b, err := modbus.NewBus(config.Bus{Name: "b", Transport: config.TransportRTU, Device: pty.SlavePath, Baud: 9600,
		DataBits: 8, Parity: "E", StopBits: 1, Timeout: time.Second}, []*modbus.Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	start := time.Now()
	rs := b.Poll(d)
	el := time.Since(start)
	if len(rs) != 2 || rs[0].Quality != modbus.Good || rs[0].Value != 0x1000 || rs[1].Quality != modbus.Good || rs[1].Value != 0x1000+124 {
		t.Fatalf("readings %+v", rs)
	}
	if min := 255 * 11 * time.Second / 9600; el < min {
		t.Errorf("answer took %v, faster than the line allows (%v)", el, min)
	}
}

// scriptedPort is a link that delivers data, then fails with io.EOF; what
// is written to it is kept.
type scriptedPort struct {
	mu      sync.Mutex
	data    []byte
	written bytes.Buffer
}

func (p *scriptedPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	// Deliver in small pieces, as a serial line does.
	n := copy(b[:min(len(b), 7)], p.data)
	p.data = p.data[n:]
	return n, nil
}

func (p *scriptedPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written.Write(b)
}

func (p *scriptedPort) Close() error { return nil }

// An answer on a scripted line: requests in one delivery are answered in
// order, a bad CRC and the silent units get none.
func TestServeRTUAnswers(t *testing.T) {
	bad := rtuRead(1, 3, 0, 1)
	bad[7] ^= 1
	in := bytes.Join([][]byte{rtuRead(1, 3, 5, 2), bad, rtuRead(unitSilent, 3, 0, 1), rtuRead(0, 3, 0, 1),
		rtuRead(2, 4, 999, 2), rtuRead(3, 1, 0, 10)}, nil)
	port := &scriptedPort{data: in}
	if err := (&Server{Registers: testRegisters{}}).ServeRTU(context.Background(), port, Line{}); err != io.EOF {
		t.Errorf("ServeRTU at the end of the line = %v, want io.EOF", err)
	}
	want := bytes.Join([][]byte{
		modbus.AppendCRC([]byte{1, 3, 4, 0x10, 0x05, 0x10, 0x06}),
		modbus.AppendCRC([]byte{2, 0x84, modbus.ExIllegalAddress}),
		modbus.AppendCRC([]byte{3, 1, 2, 0xFF, 0x03}),
	}, nil)
	if got := port.written.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("answers\n% X\nwant\n% X", got, want)
	}
}

// FuzzServeRTU feeds arbitrary bytes to the RTU server: it never panics and
// answers only with well-formed frames.
func FuzzServeRTU(f *testing.F) {
	f.Add(rtuRead(1, 3, 0, 10))
	f.Add(append([]byte{0, 0xFF}, rtuRead(1, 4, 999, 1)...))
	f.Add(rtuRead(1, 1, 0, 2000))
	f.Add(rtuRead(unitSilent, 3, 0, 1))
	f.Add(modbus.AppendCRC([]byte{1, 0x10, 0, 0, 0, 1, 2, 0, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		port := &scriptedPort{data: bytes.Clone(data)}
		(&Server{Registers: testRegisters{}}).ServeRTU(context.Background(), port, Line{})
		out := port.written.Bytes()
		for len(out) > 0 {
			if len(out) < 5 {
				t.Fatalf("trailing % X", out)
			}
			n := 5
			if out[1]&0x80 == 0 {
				switch out[1] {
				case 1, 2, 3, 4:
					n = 3 + int(out[2]) + 2
				default:
					t.Fatalf("function %d in % X", out[1], out)
				}
			}
			if n > len(out) || !modbus.ValidCRC(out[:n]) {
				t.Fatalf("bad frame in % X", out)
			}
			out = out[n:]
		}
	})
}

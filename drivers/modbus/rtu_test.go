package modbus

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

func TestCRC16(t *testing.T) {
	// Read holding registers 0+10 of unit 1: a frame quoted in countless
	// manuals, CRC C5 CD.
	req := []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}
	if got := AppendCRC(req); !bytes.Equal(got[6:], []byte{0xC5, 0xCD}) {
		t.Errorf("CRC % X, want C5 CD", got[6:])
	}
	if !ValidCRC([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}) || ValidCRC([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCE}) {
		t.Error("ValidCRC")
	}
}

// rtuRead builds the RTU request to read qty of table at addr.
func rtuRead(unit, fc byte, addr, qty uint16) []byte {
	b := []byte{unit, fc}
	b = binary.BigEndian.AppendUint16(b, addr)
	b = binary.BigEndian.AppendUint16(b, qty)
	return AppendCRC(b)
}

func TestFindFrame(t *testing.T) {
	req := rtuRead(7, 3, 0, 2)
	good := AppendCRC([]byte{7, 3, 4, 0x12, 0x34, 0x56, 0x78})
	exc := AppendCRC([]byte{7, 0x83, 2})
	other := AppendCRC([]byte{8, 3, 4, 1, 2, 3, 4})
	corrupt := bytes.Clone(good)
	corrupt[4] ^= 0xFF
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name       string
		buf        []byte
		found      bool
		start, end int
		keep       int
	}{
		{"response", good, true, 0, len(good), 0},
		{"exception is five bytes", cat(exc, good), true, 0, 5, 0},
		{"noise first", cat([]byte{0xFF, 0x00, 0x07}, good), true, 3, 3 + len(good), 3},
		{"other unit first", cat(other, good), true, len(other), len(other) + len(good), len(other)},
		{"corrupt frame first", cat(corrupt, good), true, len(corrupt), 2 * len(good), len(corrupt)},
		{"incomplete", good[:5], false, 0, 0, 0},
		{"wrong byte count", AppendCRC([]byte{7, 3, 2, 0, 1}), false, 0, 0, 7},
		{"noise only", []byte{1, 2, 3}, false, 0, 0, 3},
		{"noise then a start", []byte{1, 2, 7}, false, 0, 0, 2},
		{"empty", nil, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end, found, keep := findFrame(tt.buf, shapeOf(req))
			if found != tt.found || start != tt.start || end != tt.end || keep != tt.keep {
				t.Errorf("findFrame(% X) = %d, %d, %v, keep %d; want %d, %d, %v, keep %d",
					tt.buf, start, end, found, keep, tt.start, tt.end, tt.found, tt.keep)
			}
		})
	}
}

func newRTUBus(t testing.TB, cfg config.Bus, devices ...*Device) *Bus {
	t.Helper()
	cfg.Name = "b"
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	b, err := NewBus(cfg, devices, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func serialBus(path string, baud int) config.Bus {
	return config.Bus{Transport: config.TransportRTU, Device: path, Baud: baud, DataBits: 8, Parity: "E", StopBits: 1}
}

// fakeRTU is a scripted RTU device behind a serial device server: every
// request (8 bytes, numbered from 1) goes to reply, which writes whatever it
// likes.
func fakeRTU(t *testing.T, reply func(n int, req []byte, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := make([]byte, 8)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					mu.Lock()
					n++
					k := n
					mu.Unlock()
					reply(k, bytes.Clone(req), c)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// rtuCounter is the response to an RTU read of registers, as many as it
// asks, the first n, the others 0.
func rtuCounter(req []byte, n int) []byte {
	regs := make([]uint16, binary.BigEndian.Uint16(req[4:6]))
	regs[0] = uint16(n)
	return rtuRegs(req, regs...)
}

// rtuRegs is the response to an RTU read request carrying regs.
func rtuRegs(req []byte, regs ...uint16) []byte {
	b := []byte{req[0], req[1], byte(2 * len(regs))}
	for _, r := range regs {
		b = binary.BigEndian.AppendUint16(b, r)
	}
	return AppendCRC(b)
}

func TestRTUFraming(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name  string
		reply func(n int, req []byte, c net.Conn)
		want  []Quality // per poll
		vals  []float64
	}{
		{"exception frame, then data",
			func(n int, req []byte, c net.Conn) {
				if n == 1 {
					c.Write(AppendCRC([]byte{req[0], req[1] | 0x80, 4}))
					return
				}
				c.Write(rtuCounter(req, n))
			}, []Quality{"exception:4", Good, Good}, []float64{0, 2, 3}},
		{"noise before the reply",
			func(n int, req []byte, c net.Conn) {
				c.Write(append([]byte{0x00, 0xFF, req[0], 0x83}, rtuCounter(req, n)...))
			}, []Quality{Good, Good}, []float64{1, 2}},
		{"corrupt CRC, then the real reply",
			func(n int, req []byte, c net.Conn) {
				bad := rtuRegs(req, 999)
				bad[len(bad)-1] ^= 1
				c.Write(append(bad, rtuCounter(req, n)...))
			}, []Quality{Good, Good}, []float64{1, 2}},
		{"reply of another unit first",
			func(n int, req []byte, c net.Conn) {
				other := bytes.Clone(req)
				other[0]++
				c.Write(append(rtuRegs(other, 999), rtuCounter(req, n)...))
			}, []Quality{Good, Good}, []float64{1, 2}},
		{"corrupt only: timeout, then recovered",
			func(n int, req []byte, c net.Conn) {
				r := rtuCounter(req, n)
				if n == 1 {
					r[3] ^= 0x40
				}
				c.Write(r)
			}, []Quality{Timeout, Good}, []float64{0, 3}}, // 2 is the fence
		{"late reply is not taken for the next one",
			func(n int, req []byte, c net.Conn) {
				if n == 1 {
					// Late, but within the half timeout of quiet the
					// transport waits for before its next request.
					time.Sleep(timeout + timeout/4)
				}
				c.Write(rtuCounter(req, n))
			}, []Quality{Timeout, Good, Good}, []float64{0, 3, 4}}, // 2 is the fence
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeRTU(t, tt.reply)
			d := NewDevice(deviceConfig("dev", 5), mustParse(t, counterProfile))
			b := newRTUBus(t, config.Bus{Transport: config.TransportRTUOverTCP, Address: addr, Timeout: timeout}, d)
			for i, q := range tt.want {
				checkReadings(t, "poll", b.Poll(d), map[string]result{"n": {tt.vals[i], q}})
			}
		})
	}
}

// A device that answers later than the next poll, as a busy one does: its
// reply to a request arrives after the master sent the next, identical one.
// No poll may take it for the answer to its own request; once the device
// is quick again, polls read the current value.
func TestRTUReplyLaterThanNextPoll(t *testing.T) {
	const (
		timeout = 200 * time.Millisecond
		every   = 400 * time.Millisecond // the poll interval
		lag     = 500 * time.Millisecond // between a request and its reply while slow
	)
	var slow atomic.Bool
	slow.Store(true)
	var last atomic.Int64 // the number of the last request of one register
	ctx := t.Context()
	addr := fakeRTU(t, func(n int, req []byte, c net.Conn) {
		if binary.BigEndian.Uint16(req[4:6]) == 1 {
			last.Store(int64(n))
		}
		if slow.Load() {
			// One request at a time: the next waits in the socket.
			select {
			case <-time.After(lag):
			case <-ctx.Done():
				return
			}
		}
		c.Write(rtuCounter(req, n))
	})
	d := NewDevice(deviceConfig("dev", 5), mustParse(t, counterProfile))
	b := newRTUBus(t, config.Bus{Transport: config.TransportRTUOverTCP, Address: addr, Timeout: timeout}, d)
	start := time.Now()
	poll := func(i int) result {
		time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
		return byName(b.Poll(d))["n"]
	}
	i := 0
	for ; i < 8; i++ {
		if r := poll(i); r.quality != Timeout {
			t.Fatalf("poll %d while every reply comes after the next poll: %+v, want timeout", i, r)
		}
	}
	slow.Store(false)
	good := 0
	for end := i + 8; i < end; i++ {
		r := poll(i)
		if r.quality != Good {
			continue
		}
		good++
		if want := float64(last.Load()); r.value != want {
			t.Fatalf("poll %d read %v, the answer to request %v; the last request was %v", i, r.value, r.value, want)
		}
	}
	// The replies owed are flushed in the first quick poll or two.
	if good < 5 {
		t.Errorf("%d good polls of 8 after the device became quick", good)
	}
}

func TestRTUBroadcastRefused(t *testing.T) {
	tr := newRTUOverTCP("127.0.0.1:1", time.Second)
	if _, err := tr.Send(rtuRead(0, 3, 0, 1)); err == nil {
		t.Error("Send to unit 0 succeeded")
	}
}

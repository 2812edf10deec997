package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// mbRequest is one read request as the fake device received it.
type mbRequest struct {
	tid       uint16
	unit, fc  byte
	addr, qty uint16
	conn      int // connection number, from 1
}

// fakeDevice is a scripted Modbus TCP peer on the loopback interface. Every
// request, numbered from 1 across connections, goes to reply, which writes
// whatever it likes to the connection (or nothing). Like a single-threaded
// device it handles one request at a time, whatever the connection.
type fakeDevice struct {
	addr  string
	ln    net.Listener
	reply func(n int, req mbRequest, c net.Conn)

	wg     sync.WaitGroup
	serial sync.Mutex
	mu     sync.Mutex
	reqs   []mbRequest
	conns  []net.Conn
}

func startFakeDevice(t *testing.T, reply func(n int, req mbRequest, c net.Conn)) *fakeDevice {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDevice{addr: ln.Addr().String(), ln: ln, reply: reply}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeDevice) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		id := len(f.conns)
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(c, id)
	}
}

func (f *fakeDevice) serve(c net.Conn, id int) {
	defer f.wg.Done()
	defer c.Close()
	var b [12]byte // MBAP header, function code, address, quantity
	for {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		req := mbRequest{
			tid: binary.BigEndian.Uint16(b[0:]), unit: b[6], fc: b[7],
			addr: binary.BigEndian.Uint16(b[8:]), qty: binary.BigEndian.Uint16(b[10:]), conn: id,
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		n := len(f.reqs)
		f.mu.Unlock()
		f.serial.Lock()
		f.reply(n, req, c)
		f.serial.Unlock()
	}
}

func (f *fakeDevice) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeDevice) requests() []mbRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mbRequest(nil), f.reqs...)
}

// frame builds a response ADU: MBAP header with the request's transaction
// and unit id, then the PDU.
func frame(req mbRequest, pdu ...byte) []byte {
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b[0:], req.tid)
	binary.BigEndian.PutUint16(b[4:], uint16(1+len(pdu)))
	b[6] = req.unit
	return append(b, pdu...)
}

// regsFrame is the normal response to req carrying regs.
func regsFrame(req mbRequest, regs []uint16) []byte {
	pdu := []byte{req.fc, byte(2 * len(regs))}
	for _, r := range regs {
		pdu = binary.BigEndian.AppendUint16(pdu, r)
	}
	return frame(req, pdu...)
}

// image is a device's register tables, by Table.
type image [2][]uint16

// serve answers req from the image, or with exception 2 outside it.
func (im *image) serve(req mbRequest, c net.Conn) {
	t := Holding
	if req.fc == 4 {
		t = Input
	}
	if int(req.addr)+int(req.qty) > len(im[t]) {
		c.Write(frame(req, req.fc|0x80, 2))
		return
	}
	c.Write(regsFrame(req, im[t][req.addr:req.addr+req.qty]))
}

func deviceConfig(name string, unit int) config.Device {
	return config.Device{Name: name, Profile: "test", Bus: "b", Unit: unit, Interval: 20 * time.Millisecond, Tenant: "t1"}
}

func newTestBus(t *testing.T, addr string, timeout time.Duration, devices ...*Device) *Bus {
	t.Helper()
	return newPipelinedBus(t, addr, timeout, 1, devices...)
}

// newPipelinedBus is newTestBus with pipeline requests in flight.
func newPipelinedBus(t *testing.T, addr string, timeout time.Duration, pipeline config.Pipeline, devices ...*Device) *Bus {
	t.Helper()
	b, err := NewBus(config.Bus{Name: "b", Transport: "tcp", Address: addr, Timeout: timeout, Pipeline: pipeline}, devices, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.transport.Close() })
	return b
}

type result struct {
	value   float64
	quality Quality
}

// byName copies a poll's readings.
func byName(rs []Reading) map[string]result {
	m := map[string]result{}
	for _, r := range rs {
		m[r.Point.Name] = result{r.Value, r.Quality}
	}
	return m
}

// checkContract checks readings of the contract's form as checkReadings
// does.
func checkContract(t *testing.T, what string, rs []drivers.Reading, want map[string]result) {
	t.Helper()
	got := map[string]result{}
	for _, r := range rs {
		if r.HasValue != (r.Quality == Good) {
			t.Errorf("%s: %s has a value %v with quality %s", what, r.Name, r.HasValue, r.Quality)
		}
		got[r.Name] = result{r.Float, r.Quality}
	}
	compareReadings(t, what, got, want)
}

func checkReadings(t *testing.T, what string, rs []Reading, want map[string]result) {
	t.Helper()
	compareReadings(t, what, byName(rs), want)
}

func compareReadings(t *testing.T, what string, got, want map[string]result) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d readings, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: %s = %+v, want %+v", what, name, g, w)
		}
	}
}

// wireProfile mixes types, orders and both tables. The device's registers
// for it are written out by hand below, from the same values as
// decodeVectors.
const wireProfile = `kind: test
points:
  - {name: status, address: 0, type: uint16, unit: "1"}
  - {name: power, address: 1, type: float32, unit: kW}
  - {name: energy, address: 3, type: uint32, order: CDAB, scale: 0.5, unit: kWh}
  - {name: temp, address: 5, type: int16, scale: 0.5, offset: 10, unit: degC}
  - {name: count, address: 6, type: int64, order: DCBA, unit: "1"}
  - {name: limited, address: 10, type: uint16, max: 100, unit: "%"}
  - {name: flow, table: input, address: 0, type: float64, order: BADC, unit: m3/h}
  - {name: level, table: input, address: 4, type: int32, order: BADC, unit: mm}
`

func wireImage() *image {
	return &image{
		Holding: {
			0x0001,         // status 1
			0x42F6, 0xE979, // power float32(123.456)
			0x5E00, 0xB2D0, // energy 3000000000 * 0.5
			0xFF38,                         // temp -200 * 0.5 + 10
			0x35FB, 0x048E, 0xE0FE, 0xFFFF, // count -1234567890123
			101, // limited, above its max of 100
		},
		Input: {
			0x5E40, 0x2FDD, 0x9F1A, 0x77BE, // flow 123.456
			0xA4F8, 0xEB32, // level -123456789
		},
	}
}

var wireWant = map[string]result{
	"status":  {1, Good},
	"power":   {float64(float32(123.456)), Good},
	"energy":  {1.5e9, Good},
	"temp":    {-90, Good},
	"count":   {-1234567890123, Good},
	"limited": {0, OutOfRange},
	"flow":    {123.456, Good},
	"level":   {-123456789, Good},
}

func TestPollReadsOverTCP(t *testing.T) {
	im := wireImage()
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) { im.serve(req, c) })
	p := mustParse(t, wireProfile)
	d := NewDevice(deviceConfig("dev", 7), p)
	b := newTestBus(t, f.addr, time.Second, d)

	checkReadings(t, "poll 1", b.Poll(d), wireWant)
	checkReadings(t, "poll 2", b.Poll(d), wireWant)

	reqs := f.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4: %+v", len(reqs), reqs)
	}
	want := []mbRequest{
		{unit: 7, fc: 3, addr: 0, qty: 11, conn: 1},
		{unit: 7, fc: 4, addr: 0, qty: 6, conn: 1},
	}
	for i, r := range reqs {
		w := want[i%2]
		w.tid = r.tid
		if r != w {
			t.Errorf("request %d = %+v, want %+v", i+1, r, w)
		}
		if i > 0 && r.tid == reqs[i-1].tid {
			t.Errorf("request %d reuses transaction id %d", i+1, r.tid)
		}
	}
}

// TestPollDeviceClosesConnection: a device that closes the connection
// after the last read of each poll, as devices and serial gateways that
// drop an idle connection do by the next poll. The next poll's first read
// meets the close at once; it is sent again on a new connection, and
// every poll reads good values, one request at a time and pipelined.
// (Before, that read was comm_error every time: every other poll lost
// with an idle timeout shorter than the interval.)
func TestPollDeviceClosesConnection(t *testing.T) {
	for _, pipeline := range []config.Pipeline{1, 2} {
		t.Run(fmt.Sprintf("pipeline %d", pipeline), func(t *testing.T) {
			im := wireImage()
			f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
				im.serve(req, c)
				if req.fc == 4 { // the poll's last read
					c.Close()
				}
			})
			d := NewDevice(deviceConfig("dev", 7), mustParse(t, wireProfile))
			b := newPipelinedBus(t, f.addr, time.Second, pipeline, d)
			const polls = 4
			for i := range polls {
				checkReadings(t, fmt.Sprintf("poll %d", i+1), b.Poll(d), wireWant)
			}
			if reqs := f.requests(); len(reqs) != 2*polls || reqs[len(reqs)-1].conn != polls {
				t.Errorf("the device saw %d requests, the last on connection %d; want %d on %d", len(reqs), reqs[len(reqs)-1].conn, 2*polls, polls)
			}
			if n := b.transport.(*tcpTransport).reopened; n != polls-1 {
				t.Errorf("%d requests sent again on a new connection, want %d", n, polls-1)
			}
		})
	}
}

func TestPollTwoDevicesOnOneBus(t *testing.T) {
	// Each unit's registers hold its unit id.
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
		c.Write(regsFrame(req, []uint16{uint16(req.unit)}))
	})
	p := mustParse(t, "kind: test\npoints:\n  - {name: id, address: 0, type: uint16, unit: \"1\"}\n")
	d1, d2 := NewDevice(deviceConfig("d1", 1), p), NewDevice(deviceConfig("d2", 2), p)
	b := newTestBus(t, f.addr, time.Second, d1, d2)
	for range 2 {
		checkReadings(t, "d1", b.Poll(d1), map[string]result{"id": {1, Good}})
		checkReadings(t, "d2", b.Poll(d2), map[string]result{"id": {2, Good}})
	}
}

// counterProfile is one register that the scripted devices below set to the
// request number, so that a reading tells which request it answers.
const counterProfile = "kind: test\npoints:\n  - {name: n, address: 0, type: uint16, unit: \"1\"}\n"

func TestPollLateReply(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ctx := t.Context()
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if n == 1 {
			// The device answers request 1 only after the client gave up;
			// request 2, on whatever connection, waits behind it.
			select {
			case <-time.After(timeout + timeout/2):
			case <-ctx.Done():
				return
			}
		}
		c.Write(regsFrame(req, []uint16{uint16(n)}))
	})
	d := NewDevice(deviceConfig("dev", 1), mustParse(t, counterProfile))
	b := newTestBus(t, f.addr, timeout, d)

	checkReadings(t, "poll 1", b.Poll(d), map[string]result{"n": {0, Timeout}})
	checkReadings(t, "poll 2", b.Poll(d), map[string]result{"n": {2, Good}})
	checkReadings(t, "poll 3", b.Poll(d), map[string]result{"n": {3, Good}})
}

func TestPollSkipsStaleFrames(t *testing.T) {
	tests := []struct {
		name  string
		reply func(n int, req mbRequest, c net.Conn)
		stale uint64
	}{
		{
			// A reply that belongs to an earlier request precedes ours.
			"stale frame before the reply",
			func(n int, req mbRequest, c net.Conn) {
				old := req
				old.tid--
				c.Write(append(regsFrame(old, []uint16{999}), regsFrame(req, []uint16{uint16(n)})...))
			},
			2, // one per request
		},
		{
			// The device answers request 1 twice: the duplicate sits in the
			// socket when request 2 is sent.
			"duplicate reply",
			func(n int, req mbRequest, c net.Conn) {
				c.Write(regsFrame(req, []uint16{uint16(n)}))
				if n == 1 {
					c.Write(regsFrame(req, []uint16{999}))
				}
			},
			1,
		},
		{
			// A stale exception must not be taken for ours either.
			"stale exception",
			func(n int, req mbRequest, c net.Conn) {
				old := req
				old.tid -= 7
				c.Write(frame(old, req.fc|0x80, 4))
				c.Write(regsFrame(req, []uint16{uint16(n)}))
			},
			2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeDevice(t, tt.reply)
			d := NewDevice(deviceConfig("dev", 1), mustParse(t, counterProfile))
			b := newTestBus(t, f.addr, time.Second, d)
			checkReadings(t, "poll 1", b.Poll(d), map[string]result{"n": {1, Good}})
			checkReadings(t, "poll 2", b.Poll(d), map[string]result{"n": {2, Good}})
			if st := b.transport.(*tcpTransport).stale; st != tt.stale {
				t.Errorf("stale frames = %d, want %d", st, tt.stale)
			}
			for _, r := range f.requests() {
				if r.conn != 1 {
					t.Errorf("request %+v on a new connection: stale frames should not reset it", r)
				}
			}
		})
	}
}

// exceptionProfile plans three reads: holding 0-2, holding 20-21, input 0-2.
const exceptionProfile = `kind: test
max_gap: 4
points:
  - {name: h_a, address: 0, type: uint16, unit: "1"}
  - {name: h_b, address: 1, type: uint16, unit: "1"}
  - {name: h_c, address: 2, type: uint16, unit: "1"}
  - {name: h_far, address: 20, type: int32, unit: "1"}
  - {name: i_a, table: input, address: 0, type: uint16, unit: "1"}
  - {name: i_b, table: input, address: 1, type: float32, unit: "1"}
`

func TestPollException(t *testing.T) {
	im := &image{Holding: make([]uint16, 30), Input: make([]uint16, 3)}
	im[Holding][0], im[Holding][1], im[Holding][2] = 10, 11, 12
	im[Holding][20], im[Holding][21] = 0xFFFF, 0xFFFD            // -3
	im[Input][0], im[Input][1], im[Input][2] = 5, 0x3FC0, 0x0000 // 1.5
	tests := []struct {
		name string
		fail func(req mbRequest) bool
		code byte
		reqs int // requests of two polls
		want map[string]result
	}{
		{"second holding read", func(r mbRequest) bool { return r.fc == 3 && r.addr == 20 }, 2, 6, map[string]result{
			"h_a": {10, Good}, "h_b": {11, Good}, "h_c": {12, Good}, "h_far": {0, ExceptionQuality(2)},
			"i_a": {5, Good}, "i_b": {1.5, Good},
		}},
		// A merged read refused with "illegal address" is split into one
		// read per point, for good: 3+2 requests, then 4.
		{"input read", func(r mbRequest) bool { return r.fc == 4 }, 2, 9, map[string]result{
			"h_a": {10, Good}, "h_b": {11, Good}, "h_c": {12, Good}, "h_far": {-3, Good},
			"i_a": {0, "exception:2"}, "i_b": {0, "exception:2"},
		}},
		// Busy is retried three times per poll before it stands.
		{"first read, busy", func(r mbRequest) bool { return r.fc == 3 && r.addr == 0 }, 6, 12, map[string]result{
			"h_a": {0, "exception:6"}, "h_b": {0, "exception:6"}, "h_c": {0, "exception:6"}, "h_far": {-3, Good},
			"i_a": {5, Good}, "i_b": {1.5, Good},
		}},
	}
	// The same with requests sent one at a time and in windows of 4.
	for _, tt := range tests {
		for _, pipeline := range []config.Pipeline{1, 4} {
			t.Run(fmt.Sprintf("%s/pipeline %d", tt.name, pipeline), func(t *testing.T) {
				f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
					if tt.fail(req) {
						c.Write(frame(req, req.fc|0x80, tt.code))
						return
					}
					im.serve(req, c)
				})
				d := NewDevice(deviceConfig("dev", 3), mustParse(t, exceptionProfile))
				b := newPipelinedBus(t, f.addr, time.Second, pipeline, d)
				checkReadings(t, "poll 1", b.Poll(d), tt.want)
				// An exception is an answer: the connection stays up.
				checkReadings(t, "poll 2", b.Poll(d), tt.want)
				reqs := f.requests()
				if len(reqs) != tt.reqs || reqs[len(reqs)-1].conn != 1 {
					t.Errorf("requests %+v: want %d on one connection", reqs, tt.reqs)
				}
			})
		}
	}
}

// TestPollDeviceNeverAnswers: a device that stops answering has every
// read of its first silent poll sent, and then costs the bus one timeout
// a poll: once the first read of a poll after a silent one goes
// unanswered, its other reads are not sent and read as timeouts too (a
// dead unit on a shared line made the other units miss polls before).
// Each timeout resets the connection; once the device answers again,
// every read is sent.
func TestPollDeviceNeverAnswers(t *testing.T) {
	const timeout = 100 * time.Millisecond
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if n <= 3 {
			return // silence, connection left open
		}
		regs := make([]uint16, req.qty)
		for i := range regs {
			regs[i] = uint16(n)
		}
		c.Write(regsFrame(req, regs))
	})
	// Two reads (the gap is too wide to merge).
	p := mustParse(t, "kind: test\npoints:\n"+
		"  - {name: a, address: 0, type: uint16, unit: \"1\"}\n"+
		"  - {name: b, address: 100, type: uint16, unit: \"1\"}\n")
	d := NewDevice(deviceConfig("dev", 1), p)
	b := newTestBus(t, f.addr, timeout, d)

	for i, sent := range []int{2, 3} { // requests the device got after polls 1 and 2
		checkReadings(t, fmt.Sprintf("poll %d", i+1), b.Poll(d), map[string]result{"a": {0, Timeout}, "b": {0, Timeout}})
		if n := len(f.requests()); n != sent {
			t.Fatalf("after poll %d the device got %d requests, want %d", i+1, n, sent)
		}
	}
	checkReadings(t, "poll 3", b.Poll(d), map[string]result{"a": {4, Good}, "b": {5, Good}})
	var conns []int
	for _, r := range f.requests() {
		conns = append(conns, r.conn)
	}
	if fmt.Sprint(conns) != "[1 2 3 4 4]" {
		t.Errorf("requests on connections %v, want [1 2 3 4 4]", conns)
	}
}

// TestPollOneFrameLost: a device that answers, then loses the first
// request of a poll (noise on the line, say), loses that read only: the
// poll's other reads are sent.
func TestPollOneFrameLost(t *testing.T) {
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if n == 3 {
			return // the second poll's first request lost
		}
		c.Write(regsFrame(req, []uint16{uint16(n)}))
	})
	p := mustParse(t, "kind: test\npoints:\n"+
		"  - {name: a, address: 0, type: uint16, unit: \"1\"}\n"+
		"  - {name: b, address: 100, type: uint16, unit: \"1\"}\n")
	d := NewDevice(deviceConfig("dev", 1), p)
	b := newTestBus(t, f.addr, 100*time.Millisecond, d)
	checkReadings(t, "poll 1", b.Poll(d), map[string]result{"a": {1, Good}, "b": {2, Good}})
	checkReadings(t, "poll 2", b.Poll(d), map[string]result{"a": {0, Timeout}, "b": {4, Good}})
}

func TestPollDeviceDown(t *testing.T) {
	// Nothing listens: every point is a comm_error, quickly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := NewDevice(deviceConfig("dev", 1), mustParse(t, exceptionProfile))
	b := newTestBus(t, addr, time.Second, d)
	for _, r := range b.Poll(d) {
		if r.Quality != CommError {
			t.Errorf("%s: quality %s, want comm_error", r.Point.Name, r.Quality)
		}
	}
}

func TestPollGarbage(t *testing.T) {
	tests := []struct {
		name string
		// garbage is the reply to request 1; nil closes the connection
		// after partial bytes.
		garbage func(req mbRequest) []byte
	}{
		{"bad protocol id", func(r mbRequest) []byte {
			b := regsFrame(r, []uint16{1, 2, 3})
			b[3] = 1
			return b
		}},
		{"zero length", func(r mbRequest) []byte {
			b := regsFrame(r, []uint16{1, 2, 3})
			b[4], b[5] = 0, 0
			return b
		}},
		{"length one", func(r mbRequest) []byte {
			b := regsFrame(r, []uint16{1, 2, 3})
			b[4], b[5] = 0, 1
			return b
		}},
		{"length above 254", func(r mbRequest) []byte {
			b := regsFrame(r, []uint16{1, 2, 3})
			b[4], b[5] = 0x01, 0x00
			return b
		}},
		{"all ones", func(mbRequest) []byte {
			return []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
		}},
		{"wrong unit id", func(r mbRequest) []byte {
			r.unit++
			return regsFrame(r, []uint16{1, 2, 3})
		}},
		{"byte count disagrees with data", func(r mbRequest) []byte {
			b := regsFrame(r, []uint16{1, 2, 3})
			b[8] = 4
			return b
		}},
		{"too few registers", func(r mbRequest) []byte {
			return regsFrame(r, []uint16{1})
		}},
		{"wrong function code", func(r mbRequest) []byte {
			r.fc = 4
			return regsFrame(r, []uint16{1, 2, 3})
		}},
		{"exception to another function code", func(r mbRequest) []byte {
			return frame(r, 0x81, 0x02) // read coils' illegal address, to a 0x03 read
		}},
		{"empty PDU data", func(r mbRequest) []byte {
			return frame(r, r.fc)
		}},
		{"closed mid-frame", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
				switch {
				case n > 1:
					c.Write(regsFrame(req, []uint16{0x42F6, 0xE979, uint16(n)}))
				case tt.garbage == nil:
					c.Write(regsFrame(req, []uint16{1, 2, 3})[:5])
					c.Close()
				default:
					c.Write(tt.garbage(req))
				}
			})
			p := mustParse(t, "kind: test\npoints:\n"+
				"  - {name: f, address: 0, type: float32, unit: \"1\"}\n"+
				"  - {name: n, address: 2, type: uint16, unit: \"1\"}\n")
			d := NewDevice(deviceConfig("dev", 1), p)
			b := newTestBus(t, f.addr, time.Second, d)
			checkReadings(t, "poll 1", b.Poll(d), map[string]result{"f": {0, CommError}, "n": {0, CommError}})
			checkReadings(t, "poll 2", b.Poll(d), map[string]result{"f": {float64(float32(123.456)), Good}, "n": {2, Good}})
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests %+v, want 2", reqs)
			}
			// A frame that made no sense leaves the connection in an
			// unknown state: the next request goes on a fresh one.
			if reqs[1].conn == reqs[0].conn {
				t.Errorf("both requests on connection %d: want a reset after garbage", reqs[0].conn)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	timeoutErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		err  error
		want Quality
	}{
		{&gmodbus.ModbusError{FunctionCode: 0x83, ExceptionCode: 2}, "exception:2"},
		{fmt.Errorf("read: %w", &gmodbus.ModbusError{FunctionCode: 0x84, ExceptionCode: 11}), "exception:11"},
		{timeoutErr, Timeout},
		{fmt.Errorf("poll: %w", timeoutErr), Timeout},
		{io.ErrUnexpectedEOF, CommError},
		{errors.New("modbus: invalid length 0 in response header"), CommError},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, CommError},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	for code, want := range map[byte]Quality{0: "exception:0", 1: "exception:1", 255: "exception:255"} {
		if got := ExceptionQuality(code); got != want {
			t.Errorf("ExceptionQuality(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestNewBus(t *testing.T) {
	if _, err := NewBus(config.Bus{Name: "rs485", Transport: "rtu", Device: "/dev/ttyS0"}, nil, nil); err == nil {
		t.Error("NewBus accepted transport rtu without line settings")
	}
	if _, err := NewBus(config.Bus{Name: "x", Transport: "x25", Address: "a:1"}, nil, nil); err == nil {
		t.Error("NewBus accepted transport x25")
	}
	// No I/O: a serial device that does not exist is opened at the first
	// request only.
	for _, c := range []config.Bus{
		{Name: "rs485", Transport: "rtu", Device: "/dev/nonexistent", Baud: 9600, DataBits: 8, Parity: "N", StopBits: 2},
		{Name: "gw", Transport: "rtu-over-tcp", Address: "192.0.2.1:4001"},
	} {
		if _, err := NewBus(c, nil, nil); err != nil {
			t.Errorf("NewBus(%+v) = %v", c, err)
		}
	}
	// No I/O: a bus to an address nobody serves is made without error.
	b, err := NewBus(config.Bus{Name: "b", Transport: "tcp", Address: "192.0.2.1:502", Timeout: time.Second}, nil, nil)
	if err != nil || b.Name != "b" || b.log == nil {
		t.Errorf("NewBus = %+v, %v", b, err)
	}
}

func TestRun(t *testing.T) {
	im := wireImage()
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) { im.serve(req, c) })
	d := NewDevice(deviceConfig("dev", 1), mustParse(t, wireProfile))
	b := newTestBus(t, f.addr, time.Second, d)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var polls []time.Time
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(got *Device, polled time.Time, rs []drivers.Reading) {
			if got != d {
				t.Errorf("sink got device %s", got.Name)
			}
			checkContract(t, "Run", rs, wireWant)
			polls = append(polls, polled)
			if len(polls) == 3 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if len(polls) != 3 {
		t.Fatalf("%d polls, want 3", len(polls))
	}
	// Polls start at the interval's boundaries, each in a slot of its
	// own; a poll started late on a busy machine may come nearer to the
	// next one than an interval.
	for i := 1; i < len(polls); i++ {
		if prev, slot := polls[i-1].Truncate(d.Interval), polls[i].Truncate(d.Interval); !slot.After(prev) {
			t.Errorf("polls %d and %d in the same slot of %v: at %v and %v", i, i+1, d.Interval,
				polls[i-1].Format("15:04:05.000000"), polls[i].Format("15:04:05.000000"))
		}
	}
}

func TestRunWithoutDevices(t *testing.T) {
	b := newTestBus(t, "127.0.0.1:1", time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, func(*Device, time.Time, []drivers.Reading) { t.Error("sink called") }) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestRunCountsMissedPolls: a poll that outlasts its device's interval
// makes the slots it covered missed polls, counted in the device's state
// (the edge's eipgw_edge_bus_polls_total{outcome="missed"}).
func TestRunCountsMissedPolls(t *testing.T) {
	// deviceConfig polls every 20 ms; the first request is answered after
	// 110 ms, which covers at least four more slots.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if n == 1 {
			select {
			case <-time.After(110 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		c.Write(regsFrame(req, []uint16{uint16(n)}))
	})
	d := NewDevice(deviceConfig("dev", 1), mustParse(t, counterProfile))
	b := newTestBus(t, f.addr, time.Second, d)
	polls := 0
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(*Device, time.Time, []drivers.Reading) {
			if polls++; polls == 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// At least the four slots within the slow answer; a loaded machine
	// may add more.
	if st := d.State(); st.Missed < 4 {
		t.Errorf("%d missed polls after a 110 ms poll at 20 ms, want at least 4 (state %+v)", st.Missed, st)
	}
}

// TestRunBusyRetryKeepsItsUnit: a device that answers busy is retried
// later in its slot, and other devices on the bus may be polled before
// the retry. The retry must go to the busy device's own unit: sent to the
// unit polled last, its answer would be stored as the busy device's
// readings, with quality good.
func TestRunBusyRetryKeepsItsUnit(t *testing.T) {
	for _, pipeline := range []config.Pipeline{1, 4} {
		t.Run(fmt.Sprintf("pipeline %d", pipeline), func(t *testing.T) {
			im := &image{Holding: []uint16{111, 222, 333}, Input: []uint16{0}}
			f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
				if req.unit == 2 {
					c.Write(frame(req, req.fc|0x80, ExBusy))
					return
				}
				im.serve(req, c)
			})
			p := mustParse(t, "kind: test\npoints:\n  - {name: a, address: 0, type: uint16, unit: \"1\"}\n  - {name: c, address: 2, type: uint16, unit: \"1\"}\n")
			quick := NewDevice(deviceConfig("quick", 1), p)
			quick.Interval = 20 * time.Millisecond
			busy := NewDevice(deviceConfig("busy", 2), p)
			busy.Interval = 400 * time.Millisecond // retries 50 ms apart, quick polled between
			b := newPipelinedBus(t, f.addr, time.Second, pipeline, quick, busy)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			busyPolls := 0
			done := make(chan error, 1)
			go func() {
				done <- b.Run(ctx, func(d *Device, _ time.Time, rs []drivers.Reading) {
					want := map[string]result{"a": {111, Good}, "c": {333, Good}}
					if d == busy {
						want = map[string]result{"a": {0, "exception:6"}, "c": {0, "exception:6"}}
						if busyPolls++; busyPolls == 2 {
							cancel()
						}
					}
					checkContract(t, d.Name, rs, want)
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			// Each poll of busy: one request and three retries, all to unit 2.
			toBusy, quickPolls := 0, 0
			for _, r := range f.requests() {
				if r.unit == 2 {
					toBusy++
				}
			}
			quickPolls = len(f.requests()) - toBusy
			if toBusy != 2*(1+maxBusyRetries) {
				t.Errorf("%d requests to unit 2 in 2 polls, want %d", toBusy, 2*(1+maxBusyRetries))
			}
			if quickPolls < 2*maxBusyRetries {
				t.Errorf("only %d requests to unit 1: the retries were not interleaved with its polls", quickPolls)
			}
		})
	}
}

// A reload that changes a device's interval resumes it from the slot the
// old interval left: that slot is polled, then the device is back on the
// new interval's grid (multiples of it), not on the old one's phase.
func TestRunResumeRealignsToNewInterval(t *testing.T) {
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) { c.Write(regsFrame(req, []uint16{7})) })
	const every = 200 * time.Millisecond
	d := NewDevice(deviceConfig("dev", 1), mustParse(t, counterProfile))
	d.Interval = every
	src := NewSource(newTestBus(t, f.addr, time.Second, d))
	// The old interval was 100 ms: its next slot lies between two of the
	// new grid's, before the first.
	boundary := time.Now().Truncate(every).Add(every)
	time.Sleep(time.Until(boundary.Add(10 * time.Millisecond)))
	off := boundary.Add(every / 2)
	src.Resume(map[string]time.Time{"dev": off})
	polls := make(chan time.Time, 8)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx, func(_ *drivers.Device, at time.Time, _ []drivers.Reading) {
			select {
			case polls <- at:
			default:
			}
		})
	}()
	var got []time.Time
	for len(got) < 4 {
		select {
		case at := <-polls:
			got = append(got, at)
		case <-time.After(5 * time.Second):
			t.Fatalf("polls %v", got)
		}
	}
	cancel()
	<-done
	// A poll's time is when it started, a little after its slot.
	const late = every / 4
	if d := got[0].Sub(off); d < 0 || d > late {
		t.Errorf("first poll at %v, want the resumed slot %v", got[0], off)
	}
	for _, at := range got[1:] {
		if at.Sub(at.Truncate(every)) > late {
			t.Errorf("polls at %v: not on the %v grid after the resumed slot", got, every)
			break
		}
	}
}

// TestRunResumesSlotsAfterRestart: a reload restarts a bus while a slow
// device's poll is in progress; the old owner finishes that poll, and the
// slots its other device passed meanwhile must not vanish. The new owner,
// resumed from the old one's slots, polls that device at once, late, and
// counts the slots before as missed.
func TestRunResumesSlotsAfterRestart(t *testing.T) {
	slowAsked := make(chan struct{}, 1)
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
		if req.unit == 2 {
			select {
			case slowAsked <- struct{}{}:
			default:
			}
			time.Sleep(450 * time.Millisecond)
		}
		c.Write(regsFrame(req, []uint16{7}))
	})
	p := mustParse(t, counterProfile)
	newSource := func() (*Source, *Device) {
		quick := NewDevice(deviceConfig("quick", 1), p)
		quick.Interval = 100 * time.Millisecond
		slow := NewDevice(deviceConfig("slow", 2), p)
		slow.Interval = time.Second
		return NewSource(newTestBus(t, f.addr, 2*time.Second, quick, slow)), quick
	}

	old, _ := newSource()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		old.Run(ctx, func(*drivers.Device, time.Time, []drivers.Reading) {})
	}()
	select {
	case <-slowAsked: // the reload comes while the slow device answers
	case <-time.After(5 * time.Second):
		t.Fatal("the slow device was not polled")
	}
	cancel()
	<-done
	slots := old.Slots()
	if len(slots) != 2 {
		t.Fatalf("slots after Run: %v", slots)
	}
	behind := time.Since(slots["quick"])
	if behind < 200*time.Millisecond {
		t.Fatalf("quick was due %v ago: the slow poll did not hold it up", behind)
	}

	fresh, quick := newSource()
	fresh.Resume(slots)
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	started := time.Now()
	first := make(chan time.Duration, 1)
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		fresh.Run(ctx2, func(d *drivers.Device, _ time.Time, _ []drivers.Reading) {
			if d.Name == "quick" {
				select {
				case first <- time.Since(started):
				default:
				}
			}
		})
	}()
	select {
	case d := <-first:
		if d > 80*time.Millisecond {
			t.Errorf("quick first polled %v after the restart: its overdue slot waited for the next boundary", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("quick was not polled")
	}
	cancel2()
	<-done2
	// The overdue slot is the one polled; the others it passed are missed.
	if want := uint64(behind/quick.Interval) - 1; quick.State().Missed < want || want < 1 {
		t.Errorf("quick: %d missed polls, want at least %d (due %v before the restart)", quick.State().Missed, want, behind)
	}
}

// TestNegativeZero: a float register holding -0.0 is read as -0.0, through
// the plain float32 path, a float64 in another order, and a scaled float
// (no offset); with an offset it is the offset.
func TestNegativeZero(t *testing.T) {
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) {
		c.Write(regsFrame(req, []uint16{0x8000, 0, 0, 0, 0, 0x0080, 0x8000, 0, 0x8000, 0}))
	})
	p := mustParse(t, "kind: test\npoints:\n"+
		"  - {name: f32, address: 0, type: float32, unit: \"1\"}\n"+
		"  - {name: f64, address: 2, type: float64, order: DCBA, unit: \"1\"}\n"+
		"  - {name: scaled, address: 6, type: float32, scale: 0.5, unit: \"1\"}\n"+
		"  - {name: offset, address: 8, type: float32, offset: 2.5, unit: \"1\"}\n")
	d := NewDevice(deviceConfig("dev", 1), p)
	b := newTestBus(t, f.addr, time.Second, d)
	for _, r := range b.Poll(d) {
		name := r.Point.Name
		wantNeg := name != "offset"
		if r.Quality != Good || (r.Value == 0 && math.Signbit(r.Value)) != wantNeg || (!wantNeg && r.Value != 2.5) {
			t.Errorf("%s: %v %s (sign bit %v), want -0 (2.5 with the offset)", name, r.Value, r.Quality, math.Signbit(r.Value))
		}
	}
}

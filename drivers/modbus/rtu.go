package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goburrow/serial"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus/internal/linetime"
)

// ErrTimeout is returned when a device did not answer within its timeout.
var ErrTimeout = errors.New("no response within the timeout")

const (
	rtuMaxADU       = 256 // unit + function code + 252 data bytes + CRC
	rtuExceptionLen = 5   // unit, function code | 0x80, exception code, CRC
	// rxBufferSize bounds the bytes received but not yet examined; beyond
	// it the oldest are dropped (they can only be noise by then).
	rxBufferSize = 4096
)

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 is the Modbus RTU CRC-16 (reflected polynomial 0xA001, initial value
// 0xFFFF). It travels low byte first.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^c]
	}
	return crc
}

// AppendCRC appends the Modbus RTU CRC of b, low byte first.
func AppendCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// ValidCRC reports whether an RTU frame (CRC included) carries a correct
// CRC.
func ValidCRC(frame []byte) bool {
	n := len(frame)
	return n >= 4 && crc16(frame[:n-2]) == uint16(frame[n-2])|uint16(frame[n-1])<<8
}

// rtuShape says what the response to one request looks like, so that a
// reader can tell where it ends without waiting for the line to go quiet.
type rtuShape struct {
	unit, fc byte
	// fixed is the total length of a normal response, or 0 when a byte
	// count in the response gives it.
	fixed int
	// count is the byte count a normal response must carry, -1 for any.
	count int
	// fifo marks function 0x18, whose byte count takes two bytes.
	fifo bool
}

func shapeOf(req []byte) rtuShape {
	sh := rtuShape{unit: req[0], fc: req[1], count: -1}
	qty := 0
	if len(req) >= 6 {
		qty = int(binary.BigEndian.Uint16(req[4:6]))
	}
	switch sh.fc {
	case 0x01, 0x02:
		sh.count = (qty + 7) / 8
	case 0x03, 0x04:
		sh.count = 2 * qty
	case 0x17: // read/write multiple registers: read quantity first
		sh.count = 2 * qty
	case 0x05, 0x06, 0x0F, 0x10:
		sh.fixed = 8
	case 0x16:
		sh.fixed = 10
	case 0x18:
		sh.fifo = true
	}
	return sh
}

type frameStatus uint8

const (
	frameInvalid  frameStatus = iota // b cannot start the response
	frameNeedMore                    // b may start it; more bytes needed
	frameComplete                    // b starts with the response
)

// check examines whether b starts with the response of this shape and
// returns its length when complete.
func (sh rtuShape) check(b []byte) (int, frameStatus) {
	if len(b) < 2 {
		if len(b) == 1 && b[0] != sh.unit {
			return 0, frameInvalid
		}
		return 0, frameNeedMore
	}
	if b[0] != sh.unit {
		return 0, frameInvalid
	}
	var n int
	switch {
	case b[1] == sh.fc|exceptionFlag:
		n = rtuExceptionLen
	case b[1] != sh.fc:
		return 0, frameInvalid
	case sh.fixed > 0:
		n = sh.fixed
	case sh.fifo:
		if len(b) < 4 {
			return 0, frameNeedMore
		}
		n = 4 + int(binary.BigEndian.Uint16(b[2:4])) + 2
	default:
		if len(b) < 3 {
			return 0, frameNeedMore
		}
		c := int(b[2])
		if sh.count >= 0 && c != sh.count {
			return 0, frameInvalid
		}
		n = 3 + c + 2
	}
	if n > rtuMaxADU {
		return 0, frameInvalid
	}
	if len(b) < n {
		return 0, frameNeedMore
	}
	if !ValidCRC(b[:n]) {
		return 0, frameInvalid
	}
	return n, frameComplete
}

// expect is the length of the response that b starts, as far as its
// first bytes and the request tell: an exception's until the function
// code is in, which says whether it is one; 0 when they do not tell.
func (sh rtuShape) expect(b []byte) int {
	switch {
	case len(b) < 2 || b[1] == sh.fc|exceptionFlag:
		return rtuExceptionLen
	case sh.fixed > 0:
		return sh.fixed
	case sh.count >= 0:
		return 3 + sh.count + 2
	case sh.fifo && len(b) >= 4:
		return 4 + int(binary.BigEndian.Uint16(b[2:4])) + 2
	}
	return 0
}

// findFrame looks for the response in buf. It returns the frame's bounds
// when found; otherwise keep is where the earliest possible start of the
// response lies (everything before it is noise).
func findFrame(buf []byte, sh rtuShape) (start, end int, found bool, keep int) {
	keep = len(buf)
	for i := range buf {
		n, st := sh.check(buf[i:])
		switch st {
		case frameComplete:
			return i, i + n, true, i
		case frameNeedMore:
			keep = min(keep, i)
		}
	}
	return 0, 0, false, keep
}

// rxBuffer holds what a link's reader received and not yet consumed.
type rxBuffer struct {
	mu     sync.Mutex
	data   []byte
	last   time.Time // arrival of the latest byte
	err    error     // why the reader stopped
	puts   uint64    // reads that brought bytes
	notify chan struct{}
	// until, when set, is the earliest time the response being read can
	// be complete, in ns after epoch (both on the monotonic clock, which
	// a step of the wall clock does not move): the reader of a serial
	// line sleeps until then after a read instead of waking for every
	// byte (see reader).
	until atomic.Int64
	epoch time.Time
}

func newRxBuffer() *rxBuffer {
	return &rxBuffer{data: make([]byte, 0, rxBufferSize), notify: make(chan struct{}, 1), epoch: time.Now()}
}

func (rx *rxBuffer) put(b []byte, at time.Time) {
	rx.mu.Lock()
	if over := len(rx.data) + len(b) - rxBufferSize; over > 0 {
		if over >= len(rx.data) {
			b = b[over-len(rx.data):]
			rx.data = rx.data[:0]
		} else {
			rx.data = rx.data[:copy(rx.data, rx.data[over:])]
		}
	}
	rx.data = append(rx.data, b...)
	rx.last = at
	rx.puts++
	rx.mu.Unlock()
	select {
	case rx.notify <- struct{}{}:
	default:
	}
}

func (rx *rxBuffer) fail(err error) {
	rx.mu.Lock()
	rx.err = err
	rx.mu.Unlock()
	select {
	case rx.notify <- struct{}{}:
	default:
	}
}

// take appends the received bytes to dst and returns it with the reader's
// error, if it stopped.
func (rx *rxBuffer) take(dst []byte) ([]byte, time.Time, error) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	dst = append(dst, rx.data...)
	rx.data = rx.data[:0]
	return dst, rx.last, rx.err
}

// rtuTransport is a Modbus RTU transporter for goburrow's Client, over a
// serial line or a TCP connection to a serial device server. Unlike
// goburrow's own it
//   - ends the response by the length its function code and byte count
//     give, as soon as those bytes are in, instead of sleeping the whole
//     expected frame time first (on a serial line the reader lets the
//     bytes gather until they can be complete, see reader);
//   - knows an exception response (function code | 0x80) is 5 bytes long;
//   - checks unit, function code, byte count and CRC, and skips noise,
//     corrupt frames and replies to other requests to resynchronise on the
//     real response;
//   - discards whatever arrived between two requests (late replies), and
//     keeps the line silent for 3.5 characters before each request;
//   - makes sure that a reply later than its timeout, even later than
//     the next poll, is never taken for the answer to another request
//     (lateReplies).
//
// A reader goroutine owned by the open link collects incoming bytes; Close
// stops it and returns after it did. On Linux a serial line is read
// through Go's poller, woken once a wait (openSerial, ttyPort).
type rtuTransport struct {
	open     func() (io.ReadWriteCloser, error)
	charTime time.Duration // one character on the wire; 0 over TCP

	mu      sync.Mutex
	timeout time.Duration
	port    io.ReadWriteCloser
	rx      *rxBuffer
	stop    chan struct{}
	done    chan struct{}
	pending []byte
	resp    [rtuMaxADU]byte
	txEnd   time.Time // when the last request left the wire
	// timedOut is when the last request timed out (zero after a clean
	// exchange): its reply may still come.
	timedOut time.Time
	timer    *time.Timer
	// sleep is the reader's timer (see reader); only the reader uses it.
	sleep *time.Timer
	// silence keeps the 3.5 characters before each request on a serial
	// line, open with the link.
	silence *linetime.Timer
	// discarded counts bytes thrown away as noise or stale replies.
	discarded uint64
	// late holds the requests whose replies may still come, kept when
	// the link is reopened (the device does not know); fence is the
	// buffer of the request sent to make sure they have.
	late  lateReplies
	fence []byte

	// baud is the serial line's speed (0 over TCP); line counts what the
	// exchanges put on it (drivers.LineStats), read while Send runs.
	baud int
	line lineCounters
}

// lineCounters accumulates a serial line's drivers.LineStats; Send adds
// to them under the transport's lock, Line reads them without it.
type lineCounters struct {
	halfChars, busy     atomic.Int64 // frames in half characters; busy in ns
	exchanges, timeouts atomic.Uint64
}

func newRTUSerial(cfg serial.Config, timeout time.Duration, bitsPerChar int) *rtuTransport {
	t := &rtuTransport{
		open:     func() (io.ReadWriteCloser, error) { return openSerial(cfg) },
		charTime: time.Duration(bitsPerChar) * time.Second / time.Duration(cfg.BaudRate),
		timeout:  timeout,
		baud:     cfg.BaudRate,
	}
	return t
}

func newRTUOverTCP(address string, timeout time.Duration) *rtuTransport {
	return &rtuTransport{
		open: func() (io.ReadWriteCloser, error) {
			return net.DialTimeout("tcp", address, timeout)
		},
		timeout: timeout,
	}
}

func (t *rtuTransport) setTimeout(d time.Duration) {
	t.mu.Lock()
	t.timeout = d
	t.mu.Unlock()
}

func (t *rtuTransport) connectLocked() error {
	if t.charTime > 0 && t.silence == nil {
		s, err := linetime.NewTimer()
		if err != nil {
			return err
		}
		t.silence = s
	}
	p, err := t.open()
	if err != nil {
		return err
	}
	t.port, t.rx = p, newRxBuffer()
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	t.pending = t.pending[:0]
	go t.reader(p, t.rx, t.stop, t.done)
	return nil
}

// reader copies what the link receives into rx until the link fails or stop
// is closed.
func (t *rtuTransport) reader(p io.Reader, rx *rxBuffer, stop, done chan struct{}) {
	defer close(done)
	var b [512]byte
	for {
		n, err := p.Read(b[:])
		if n > 0 {
			rx.put(b[:n], time.Now())
		}
		select {
		case <-stop:
			return
		default:
		}
		switch {
		case errors.Is(err, serial.ErrTimeout):
			continue
		case err != nil:
			rx.fail(err)
			return
		case n == 0:
			rx.fail(io.EOF)
			return
		}
		// A serial line brings the response at its baud rate, often a
		// byte a wake-up: until it can be complete, let the bytes
		// gather in the terminal's buffer. They are then stamped with
		// the time they are read, later than they came, which only
		// lengthens the silence kept before the next request.
		if u := rx.until.Load(); u != 0 {
			if d := time.Until(rx.epoch.Add(time.Duration(u))); d > 0 {
				tm := rearm(&t.sleep, d)
				select {
				case <-tm.C:
				case <-stop:
					tm.Stop()
					return
				}
			}
		}
	}
}

// Send writes the request ADU and returns the response ADU, valid until the
// next Send. When the unit may still owe a reply that looks like this
// request's, a fence goes first (see lateReplies).
func (t *rtuTransport) Send(req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(req) < 4 {
		return nil, fmt.Errorf("request of %d bytes is shorter than an RTU frame", len(req))
	}
	if req[0] == 0 {
		return nil, errors.New("unit 0 is the RTU broadcast address: no device answers it")
	}
	sh := shapeOf(req)
	if len(t.late.owed) > 0 {
		t.late.expire(time.Now(), lateHorizon(t.timeout))
	}
	if fence := t.late.fence(t.fence[:0], req, sh); fence != nil {
		t.fence = fence
		fsh := shapeOf(fence)
		resp, err := t.exchange(fence, fsh)
		if err != nil {
			return nil, fmt.Errorf("%w (to a read checking that unit %d's late replies are over)", err, req[0])
		}
		if resp[1]&exceptionFlag != 0 {
			// Perhaps an owed exception, not the fence's answer: the
			// fence's own may come later.
			t.late.add(fsh, time.Now())
			return nil, fmt.Errorf("%w: unit %d may still owe a reply since an earlier timeout (a read of %d at address %d checking it answered exception %d)",
				ErrTimeout, req[0], binary.BigEndian.Uint16(fence[4:6]), binary.BigEndian.Uint16(fence[2:4]), resp[2])
		}
		t.late.settled(req[0])
	}
	resp, err := t.exchange(req, sh)
	switch {
	case err != nil:
	case resp[1]&exceptionFlag == 0:
		t.late.settled(req[0])
	case t.late.owesUnit(req[0]):
		// The exception may be an owed one, and this request's reply
		// still to come.
		t.late.add(sh, time.Now())
	}
	return resp, err
}

// exchange sends one request and waits for its response.
func (t *rtuTransport) exchange(req []byte, sh rtuShape) ([]byte, error) {
	start := time.Now()
	if t.port == nil {
		if err := t.connectLocked(); err != nil {
			return nil, err
		}
	}
	if !t.timedOut.IsZero() {
		if err := t.settle(); err != nil {
			t.closeLocked()
			return nil, err
		}
	}
	resp, err := t.send(req, sh)
	if t.charTime > 0 {
		t.line.busy.Add(int64(time.Since(start)))
	}
	switch {
	case errors.Is(err, ErrTimeout):
		t.line.timeouts.Add(1)
		t.timedOut = time.Now()
		t.late.add(sh, t.timedOut)
	case err != nil:
		// The link failed: reopen it for the next request.
		t.closeLocked()
	}
	return resp, err
}

func (t *rtuTransport) send(req []byte, sh rtuShape) ([]byte, error) {
	// Whatever arrived since the last response is noise or a late reply.
	var last time.Time
	var err error
	t.pending, last, err = t.rx.take(t.pending[:0])
	if err != nil {
		return nil, err
	}
	t.discarded += uint64(len(t.pending))
	t.pending = t.pending[:0]
	if t.charTime > 0 {
		// 3.5 characters of silence mark the end of the previous frame.
		quiet := last
		if t.txEnd.After(quiet) {
			quiet = t.txEnd
		}
		if err := t.silence.WaitUntil(quiet.Add(t.charTime * 7 / 2)); err != nil {
			return nil, err
		}
	}
	if _, err := t.port.Write(req); err != nil {
		return nil, err
	}
	// A frame and the 3.5 characters of silence after it, in half
	// characters.
	t.line.halfChars.Add(int64(2*len(req) + 7))
	t.line.exchanges.Add(1)
	now := time.Now()
	t.txEnd = now.Add(time.Duration(len(req)) * t.charTime)
	deadline := now.Add(t.timeout)
	if t.charTime > 0 {
		// The response comes after the request has left the line and
		// 3.5 characters of silence; an exception response is short,
		// so the reader waits for its length only, then for what the
		// bytes it has say (below).
		t.expectBy(t.txEnd.Add(t.charTime*7/2+rtuExceptionLen*t.charTime), deadline)
		defer t.rx.until.Store(0)
	}
	for {
		start, end, found, keep := findFrame(t.pending, sh)
		if found {
			t.discarded += uint64(start)
			n := copy(t.resp[:], t.pending[start:end])
			t.pending = t.pending[:copy(t.pending, t.pending[end:])]
			t.line.halfChars.Add(int64(2*n + 7))
			return t.resp[:n], nil
		}
		if keep > 0 {
			t.discarded += uint64(keep)
			t.pending = t.pending[:copy(t.pending, t.pending[keep:])]
		}
		if n := sh.expect(t.pending); t.charTime > 0 && len(t.pending) > 0 && n > len(t.pending) {
			t.expectBy(last.Add(time.Duration(n-len(t.pending))*t.charTime), deadline)
		}
		if err := t.wait(deadline); err != nil {
			return nil, err
		}
		t.pending, last, err = t.rx.take(t.pending)
		if err != nil {
			return nil, err
		}
	}
}

// expectBy tells the reader that the response cannot be complete before
// at (and not to sleep past the deadline, a character before which the
// sender must have it).
func (t *rtuTransport) expectBy(at, deadline time.Time) {
	if limit := deadline.Add(-t.charTime); at.After(limit) {
		at = limit
	}
	t.rx.until.Store(max(1, int64(at.Sub(t.rx.epoch))))
}

// settle waits after a timeout until the line has been quiet for half a
// timeout, discarding what arrives: a reply later than its timeout must not
// be taken for the answer to the next request, which RTU frames cannot
// tell apart (they carry no transaction id).
func (t *rtuTransport) settle() error {
	for {
		var last time.Time
		var err error
		t.pending, last, err = t.rx.take(t.pending[:0])
		if err != nil {
			return err
		}
		t.discarded += uint64(len(t.pending))
		t.pending = t.pending[:0]
		from := t.timedOut
		if last.After(from) {
			from = last
		}
		if err := t.wait(from.Add(t.timeout / 2)); errors.Is(err, ErrTimeout) {
			t.timedOut = time.Time{}
			return nil
		}
	}
}

// wait blocks until the reader signals new bytes or the deadline passes.
func (t *rtuTransport) wait(deadline time.Time) error {
	d := time.Until(deadline)
	if d <= 0 {
		return ErrTimeout
	}
	tm := rearm(&t.timer, d)
	select {
	case <-t.rx.notify:
		tm.Stop()
		return nil
	case <-tm.C:
		return ErrTimeout
	}
}

// rearm sets the timer *tm, made at its first use, to fire after d.
func rearm(tm **time.Timer, d time.Duration) *time.Timer {
	if *tm == nil {
		*tm = time.NewTimer(d)
	} else {
		(*tm).Reset(d)
	}
	return *tm
}

// lineStats reports what the exchanges put on a serial line; ok is false
// over TCP, which has no line of its own.
func (t *rtuTransport) lineStats() (drivers.LineStats, bool) {
	if t.charTime <= 0 {
		return drivers.LineStats{}, false
	}
	return drivers.LineStats{
		Baud:      t.baud,
		Frames:    time.Duration(t.line.halfChars.Load()) * t.charTime / 2,
		Busy:      time.Duration(t.line.busy.Load()),
		Exchanges: t.line.exchanges.Load(),
		Timeouts:  t.line.timeouts.Load(),
	}, true
}

// Close closes the link; the next Send reopens it.
func (t *rtuTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeLocked()
}

func (t *rtuTransport) closeLocked() error {
	if t.port == nil {
		return t.closeSilence()
	}
	close(t.stop)
	var err error
	if _, ok := t.port.(interface{ SetReadDeadline(time.Time) error }); ok {
		// Closing a connection, or a line read through Go's poller,
		// unblocks its reader.
		err = t.port.Close()
		<-t.done
	} else {
		// A serial reader wakes within serialPollPeriod; the port is
		// closed only after it stopped using it.
		<-t.done
		err = t.port.Close()
	}
	t.port, t.rx, t.timedOut = nil, nil, time.Time{}
	return errors.Join(err, t.closeSilence())
}

// closeSilence releases the silence timer; the next link makes another.
func (t *rtuTransport) closeSilence() error {
	if t.silence == nil {
		return nil
	}
	err := t.silence.Close()
	t.silence = nil
	return err
}

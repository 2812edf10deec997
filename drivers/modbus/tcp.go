package modbus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/eipgw/eipgw/config"
)

// tcpTransport is a Modbus TCP transporter for goburrow's Client that never
// lets a late or stray reply be taken for the answer to a later request.
//
// goburrow's own transporter reads whatever frame comes next: after one
// timeout, the late reply stays in the socket and every later reply is
// paired with the wrong request. This one reads frames until the one whose
// transaction id matches the request, discarding stale ones, and closes the
// connection on any timeout or I/O error, so the next request starts on a
// clean connection.
type tcpTransport struct {
	address string
	timeout time.Duration
	dial    func(network, address string, timeout time.Duration) (net.Conn, error)

	mu   sync.Mutex
	conn net.Conn
	// r reads the connection ahead: a response's header and body arrive
	// together, and one read system call takes both.
	r   *bufio.Reader
	buf [tcpMaxADU]byte
	// stale counts discarded frames whose transaction id did not match.
	stale uint64
	// reopened counts requests sent again on a new connection because
	// the device had closed the one they went out on (peerClosed).
	reopened uint64
	// tid is the next transaction id of a pipelined exchange; pipe is
	// its memory.
	tid  uint16
	pipe *pipeState
}

const (
	tcpHeader = 7   // MBAP header: transaction, protocol, length, unit
	tcpMaxADU = 260 // header + function code + 252 data bytes
)

func newTCPTransport(address string, timeout time.Duration) *tcpTransport {
	return &tcpTransport{address: address, timeout: timeout, dial: net.DialTimeout}
}

// Send writes the request ADU and returns the response ADU with the same
// transaction id. The returned slice is valid until the next Send. A read
// sent on a connection the device had closed or reset since the last
// exchange is sent once more on a new one (peerClosed).
func (t *tcpTransport) Send(req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(req) < tcpHeader+1 {
		return nil, fmt.Errorf("modbus: request of %d bytes is shorter than an MBAP header", len(req))
	}
	reused := t.conn != nil
	resp, err := t.send(req)
	if err != nil {
		t.closeLocked()
		if reused && peerClosed(err) && isRead(req[tcpHeader]) {
			t.reopened++
			if resp, err = t.send(req); err != nil {
				t.closeLocked()
			}
		}
	}
	return resp, err
}

// peerClosed reports whether err is the device having closed or reset
// the connection (end of stream, reset, broken pipe), not a timeout or a
// malformed answer. Many devices and serial gateways close a connection
// left idle for a while (often 30 s to 2 min, some after each answer);
// the next request on it meets the close at once. A read is idempotent,
// so the transport sends it again on a new connection rather than lose
// the poll.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isRead reports whether fc is one of the read function codes (1 to 4),
// which may be sent twice.
func isRead(fc byte) bool { return fc >= 1 && fc <= 4 }

func (t *tcpTransport) send(req []byte) ([]byte, error) {
	if err := t.writeLocked(req); err != nil {
		return nil, err
	}
	for {
		n, err := t.readFrameLocked()
		if err != nil {
			return nil, err
		}
		if t.buf[0] == req[0] && t.buf[1] == req[1] {
			return t.buf[:n], nil
		}
		// A reply to an earlier request that timed out: drop it and keep
		// reading until ours arrives or the deadline passes.
		t.stale++
	}
}

// writeLocked connects if need be and writes out, with the deadline of
// one timeout from now for it and the answers.
func (t *tcpTransport) writeLocked(out []byte) error {
	deadline := time.Now().Add(t.timeout)
	if t.conn == nil {
		c, err := t.dial("tcp", t.address, t.timeout)
		if err != nil {
			return err
		}
		c = rawConn(c)
		t.conn = c
		if t.r == nil {
			t.r = bufio.NewReaderSize(c, 2*tcpMaxADU)
		} else {
			t.r.Reset(c)
		}
	}
	if err := t.conn.SetDeadline(deadline); err != nil {
		return err
	}
	_, err := t.conn.Write(out)
	return err
}

// readFrameLocked reads one response ADU into t.buf and returns its
// length; a header that cannot be Modbus TCP is an error.
func (t *tcpTransport) readFrameLocked() (int, error) {
	if _, err := io.ReadFull(t.r, t.buf[:tcpHeader]); err != nil {
		return 0, err
	}
	length := int(binary.BigEndian.Uint16(t.buf[4:6]))
	if length < 2 || length > tcpMaxADU-tcpHeader+1 {
		return 0, fmt.Errorf("modbus: invalid length %d in response header", length)
	}
	if proto := binary.BigEndian.Uint16(t.buf[2:4]); proto != 0 {
		return 0, fmt.Errorf("modbus: protocol id %d in response header, want 0", proto)
	}
	n := tcpHeader - 1 + length
	if _, err := io.ReadFull(t.r, t.buf[tcpHeader:n]); err != nil {
		return 0, err
	}
	return n, nil
}

func (t *tcpTransport) setTimeout(d time.Duration) {
	t.mu.Lock()
	t.timeout = d
	t.mu.Unlock()
}

// Close closes the connection; the next Send reconnects.
func (t *tcpTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeLocked()
}

func (t *tcpTransport) closeLocked() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

// pipeReq is one read of a pipelined window: unit, function code, first
// address and quantity.
type pipeReq struct {
	unit, fc  byte
	addr, qty uint16
}

// maxPipeline is the deepest window exchange takes (config.MaxPipeline).
const maxPipeline = config.MaxPipeline

// exchange sends the reads of a window in one write and reads their
// answers, which it pairs with the reads by transaction id in whatever
// order they come (Modbus Messaging on TCP/IP Implementation Guide
// v1.0b, 3.1.3 and 4.4.1.1). answers[i] is the answer PDU to reqs[i]
// (function code onward), nil if none came; they stay valid until the
// next exchange. Every answer must come within the timeout of the write
// or of the answer before it. On any error the connection is closed and
// the reads not answered yet stay nil.
func (t *tcpTransport) exchange(reqs []pipeReq) (answers [][]byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(reqs) > maxPipeline {
		return nil, fmt.Errorf("modbus: %d requests in flight, at most %d", len(reqs), maxPipeline)
	}
	if t.pipe == nil {
		t.pipe = new(pipeState)
	}
	p := t.pipe
	p.out = p.out[:0]
	first := t.tid
	for i, r := range reqs {
		tid := first + uint16(i)
		p.out = append(p.out, byte(tid>>8), byte(tid), 0, 0, 0, 6, r.unit, r.fc,
			byte(r.addr>>8), byte(r.addr), byte(r.qty>>8), byte(r.qty))
	}
	t.tid = first + uint16(len(reqs))
	answers = p.answers[:len(reqs)]
	clear(answers)
	reused := t.conn != nil
	err = t.exchangeLocked(reqs, first, answers)
	if err != nil {
		t.closeLocked()
		// The device closed the connection before answering any: the
		// window goes again on a new one (see Send). Its transaction ids
		// are the same; nothing can be in flight on the new connection.
		if reused && peerClosed(err) && !slices.ContainsFunc(answers, func(a []byte) bool { return a != nil }) &&
			!slices.ContainsFunc(reqs, func(r pipeReq) bool { return !isRead(r.fc) }) {
			t.reopened++
			if err = t.exchangeLocked(reqs, first, answers); err != nil {
				t.closeLocked()
			}
		}
	}
	return answers, err
}

// pipeState is the memory of pipelined exchanges, made at the first.
type pipeState struct {
	out     []byte
	frames  [maxPipeline][tcpMaxADU]byte
	answers [maxPipeline][]byte
}

func (t *tcpTransport) exchangeLocked(reqs []pipeReq, first uint16, answers [][]byte) error {
	if err := t.writeLocked(t.pipe.out); err != nil {
		return err
	}
	for left := len(reqs); left > 0; {
		n, err := t.readFrameLocked()
		if err != nil {
			return err
		}
		i := int(binary.BigEndian.Uint16(t.buf[0:2]) - first)
		if i >= len(reqs) || answers[i] != nil {
			// Not one of this window's, or answered twice: a late or
			// stray frame, dropped.
			t.stale++
			continue
		}
		if unit := t.buf[6]; unit != reqs[i].unit {
			return fmt.Errorf("modbus: answer from unit %d to a request to unit %d", unit, reqs[i].unit)
		}
		f := &t.pipe.frames[i]
		answers[i] = f[:copy(f[:], t.buf[tcpHeader:n])]
		left--
		if left > 0 {
			if err := t.conn.SetDeadline(time.Now().Add(t.timeout)); err != nil {
				return err
			}
		}
	}
	return nil
}

package modbus

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
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
}

const (
	tcpHeader = 7   // MBAP header: transaction, protocol, length, unit
	tcpMaxADU = 260 // header + function code + 252 data bytes
)

func newTCPTransport(address string, timeout time.Duration) *tcpTransport {
	return &tcpTransport{address: address, timeout: timeout, dial: net.DialTimeout}
}

// Send writes the request ADU and returns the response ADU with the same
// transaction id. The returned slice is valid until the next Send.
func (t *tcpTransport) Send(req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(req) < tcpHeader+1 {
		return nil, fmt.Errorf("modbus: request of %d bytes is shorter than an MBAP header", len(req))
	}
	resp, err := t.send(req)
	if err != nil {
		t.closeLocked()
	}
	return resp, err
}

func (t *tcpTransport) send(req []byte) ([]byte, error) {
	deadline := time.Now().Add(t.timeout)
	if t.conn == nil {
		c, err := t.dial("tcp", t.address, t.timeout)
		if err != nil {
			return nil, err
		}
		t.conn = c
		if t.r == nil {
			t.r = bufio.NewReaderSize(c, 2*tcpMaxADU)
		} else {
			t.r.Reset(c)
		}
	}
	if err := t.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := t.conn.Write(req); err != nil {
		return nil, err
	}
	for {
		if _, err := io.ReadFull(t.r, t.buf[:tcpHeader]); err != nil {
			return nil, err
		}
		length := int(binary.BigEndian.Uint16(t.buf[4:6]))
		if length < 2 || length > tcpMaxADU-tcpHeader+1 {
			return nil, fmt.Errorf("modbus: invalid length %d in response header", length)
		}
		if proto := binary.BigEndian.Uint16(t.buf[2:4]); proto != 0 {
			return nil, fmt.Errorf("modbus: protocol id %d in response header, want 0", proto)
		}
		n := tcpHeader - 1 + length
		if _, err := io.ReadFull(t.r, t.buf[tcpHeader:n]); err != nil {
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

//go:build linux

package modbus

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawPair returns a loopback TCP connection read and written raw, and its
// peer.
func rawPair(t *testing.T) (raw net.Conn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	raw = rawConn(c)
	if _, ok := raw.(*rawSocket); !ok {
		t.Fatalf("a TCP connection was not wrapped: %T", raw)
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return raw, peer
}

// TestRawSocketMovesBytes: 4 MB each way, more than the socket buffers
// hold, so that writes wait for room and reads for data in the poller.
func TestRawSocketMovesBytes(t *testing.T) {
	raw, peer := rawPair(t)
	out := make([]byte, 4<<20)
	for i := range out {
		out[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(out))))
		got <- b
		peer.Write(out)
	}()
	if n, err := raw.Write(out); n != len(out) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, out) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}
	back := make([]byte, len(out))
	if _, err := io.ReadFull(raw, back); err != nil || !bytes.Equal(back, out) {
		t.Fatalf("ReadFull: %v", err)
	}
}

// TestRawSocketErrors: a passed deadline is a timeout, a closed peer is
// io.EOF, then a write fails without a signal, and Close ends a waiting
// read; each as the net package reports it.
func TestRawSocketErrors(t *testing.T) {
	raw, peer := rawPair(t)
	raw.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := raw.Read(make([]byte, 8)); !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if classify(err2(raw.Read(make([]byte, 8)))) != Timeout {
		t.Fatal("a timeout is not classified Timeout")
	}
	raw.SetReadDeadline(time.Time{})

	peer.Write([]byte("ab"))
	peer.Close()
	b := make([]byte, 8)
	if n, err := raw.Read(b); n != 2 || err != nil || string(b[:2]) != "ab" {
		t.Fatalf("Read = %d %q, %v", n, b[:n], err)
	}
	if n, err := raw.Read(b); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v, want io.EOF", n, err)
	}
	var werr error
	for range 100 { // the first writes may still be buffered
		if _, werr = raw.Write([]byte("request")); werr != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var op *net.OpError
	if !errors.As(werr, &op) || op.Op != "write" {
		t.Fatalf("write to a closed peer: %v, want a *net.OpError", werr)
	}

	raw2, _ := rawPair(t)
	done := make(chan error, 1)
	go func() { _, err := raw2.Read(make([]byte, 8)); done <- err }()
	time.Sleep(50 * time.Millisecond)
	raw2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting read")
	}
}

func err2(_ int, err error) error {
	if err == nil {
		return errors.New("no error")
	}
	return err
}

// TestRawConnLeavesOtherConnections: a connection that is not a socket
// (a test's pipe) is used as it is.
func TestRawConnLeavesOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := rawConn(a); c != a {
		t.Fatalf("a pipe was wrapped: %T", c)
	}
}

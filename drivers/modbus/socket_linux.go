//go:build linux

package modbus

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawSocket reads and writes a Modbus TCP connection's socket with raw
// system calls, in the callbacks of its syscall.RawConn, and waits in Go's
// poller as the net package does, deadlines included.
//
// The socket is non-blocking, so a read or send returns at once, and the
// scheduler's bookkeeping around a system call that may block (handing
// the processor over, and waking Go's monitor thread to watch it) is work
// for nothing. A Modbus poll makes two such calls a request, one request
// at a time: the bookkeeping, and the monitor thread's polling every
// 20 µs after each wake-up, were a tenth of the edge's CPU.
type rawSocket struct {
	net.Conn
	rc syscall.RawConn
	// The callbacks' argument and results, set and read around each
	// call; the callbacks are method values made once.
	p       []byte
	n       int
	errno   syscall.Errno
	readFn  func(uintptr) bool
	writeFn func(uintptr) bool
}

// rawConn wraps c when it is a socket it can read and write raw; any
// other connection (a test's pipe) is returned as it is.
func rawConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	s := &rawSocket{Conn: c, rc: rc}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

func (s *rawSocket) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.p))), uintptr(len(s.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // nothing yet: wait in the poller
		}
		s.n, s.errno = int(n), e
		return true
	}
}

func (s *rawSocket) write(fd uintptr) bool {
	for len(s.p) > 0 {
		// send(2) with MSG_NOSIGNAL: a peer gone is EPIPE, not a signal.
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.p))), uintptr(len(s.p)), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			s.p = s.p[n:]
			s.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the send buffer is full: wait in the poller
		default:
			s.errno = e
			return true
		}
	}
	return true
}

// Read reads as net.Conn's Read does: io.EOF when the peer closed, a
// *net.OpError otherwise (a passed deadline's is a timeout).
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.p, s.n, s.errno = p, 0, 0
	err := s.rc.Read(s.readFn)
	s.p = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case s.errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", s.errno))
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}

// Write writes all of p, or fails as net.Conn's Write does.
func (s *rawSocket) Write(p []byte) (int, error) {
	s.p, s.n, s.errno = p, 0, 0
	err := s.rc.Write(s.writeFn)
	s.p = nil
	switch {
	case err != nil:
		return s.n, s.opError("write", err)
	case s.errno != 0:
		return s.n, s.opError("write", os.NewSyscallError("write", s.errno))
	}
	return s.n, nil
}

func (s *rawSocket) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}

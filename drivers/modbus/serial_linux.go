//go:build linux

package modbus

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/goburrow/serial"
	"golang.org/x/sys/unix"
)

// openSerial opens a serial line for Modbus RTU with cfg's settings, in
// raw mode and non-blocking, so that its reads wait in Go's poller. A
// blocking read, as goburrow/serial makes, holds an OS thread per line and
// hands the processor over at every byte that arrives. The settings are
// the ones goburrow/serial makes (termios(3)): the baud rate, the
// character size, one or two stop bits, parity generated and checked
// (even by default, as Modbus over Serial Line v1.02, 2.5.1 requires),
// the receiver on and the modem lines ignored; nothing else.
func openSerial(cfg serial.Config) (io.ReadWriteCloser, error) {
	t, err := rtuTermios(cfg)
	if err != nil {
		return nil, fmt.Errorf("serial %s: %w", cfg.Address, err)
	}
	fd, err := unix.Open(cfg.Address, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: cfg.Address, Err: err}
	}
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err == nil {
		err = unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("serial %s: line settings: %w", cfg.Address, err)
	}
	p, err := newTTYPort(cfg.Address, fd, old)
	if err != nil {
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
		unix.Close(fd)
		return nil, fmt.Errorf("serial %s: %w", cfg.Address, err)
	}
	return p, nil
}

// rtuTermios is the terminal settings of cfg.
func rtuTermios(cfg serial.Config) (*unix.Termios, error) {
	speed, ok := bauds[cfg.BaudRate]
	if !ok {
		return nil, fmt.Errorf("unsupported baud rate %d", cfg.BaudRate)
	}
	t := &unix.Termios{Ispeed: speed, Ospeed: speed}
	t.Cflag = speed | unix.CREAD | unix.CLOCAL
	switch cfg.DataBits {
	case 0, 8:
		t.Cflag |= unix.CS8
	case 7:
		t.Cflag |= unix.CS7
	case 6:
		t.Cflag |= unix.CS6
	case 5:
		t.Cflag |= unix.CS5
	default:
		return nil, fmt.Errorf("unsupported data bits %d", cfg.DataBits)
	}
	switch cfg.StopBits {
	case 0, 1:
	case 2:
		t.Cflag |= unix.CSTOPB
	default:
		return nil, fmt.Errorf("unsupported stop bits %d", cfg.StopBits)
	}
	switch cfg.Parity {
	case "N":
	case "", "E":
		t.Cflag |= unix.PARENB
		t.Iflag |= unix.INPCK
	case "O":
		t.Cflag |= unix.PARENB | unix.PARODD
		t.Iflag |= unix.INPCK
	default:
		return nil, fmt.Errorf("unsupported parity %q", cfg.Parity)
	}
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return t, nil
}

var bauds = map[int]uint32{
	50: unix.B50, 75: unix.B75, 110: unix.B110, 134: unix.B134, 150: unix.B150, 200: unix.B200,
	300: unix.B300, 600: unix.B600, 1200: unix.B1200, 1800: unix.B1800, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
	460800: unix.B460800, 500000: unix.B500000, 576000: unix.B576000, 921600: unix.B921600,
	1000000: unix.B1000000, 1152000: unix.B1152000, 1500000: unix.B1500000, 2000000: unix.B2000000,
	2500000: unix.B2500000, 3000000: unix.B3000000, 3500000: unix.B3500000, 4000000: unix.B4000000,
}

// ttyPort is a serial line read through Go's poller, woken once for each
// wait instead of at every burst of bytes.
//
// A line delivers an answer in bursts (a UART's FIFO, a USB adapter's
// packets, a pseudo-terminal's writes), and Go's poller watches its
// descriptors edge-triggered for good: each burst would wake the
// scheduler, whether or not a read waits, which costs a thread switch a
// burst. So the line's descriptor stays out of the poller. A private epoll
// instance watches it instead, one-shot: armed only while a Read waits
// for input, disarmed by the event that ends the wait. That instance is
// what the poller watches; it becomes readable only while armed and the
// line has input (or hangs up). Between two waits, while the transport's
// reader lets an answer gather, bytes arrive without waking anyone.
//
// Close gives the line its settings from before Open back and ends a
// pending Read.
type ttyPort struct {
	name string
	ep   *os.File // the epoll instance, in Go's poller
	efd  int      // its descriptor (File.Fd would make it blocking)
	epc  syscall.RawConn
	// ready is the poller's callback (made once: a wait allocates
	// nothing); readyErr is what its last call failed with.
	ready    func(efd uintptr) bool
	readyErr error

	mu     sync.Mutex // guards fd against Close while a read or write uses it
	fd     int
	old    *unix.Termios
	closed bool
	events [1]unix.EpollEvent
}

func newTTYPort(name string, fd int, old *unix.Termios) (*ttyPort, error) {
	efd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Registered without input events: until a Read arms the watch
	// (EPOLL_CTL_MOD), only a hang-up or an error can be reported, once
	// (epoll always watches for those, and a one-shot report disarms).
	if err := unix.EpollCtl(efd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fd)}); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := unix.SetNonblock(efd, true); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(efd), name+" (epoll)")
	epc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &ttyPort{name: name, ep: ep, efd: efd, epc: epc, fd: fd, old: old}
	p.ready = p.collect
	return p, nil
}

// collect takes the watch's event, if any, which disarms it; it reports
// whether the wait is over (an event, or a failure in readyErr).
func (p *ttyPort) collect(efd uintptr) bool {
	n, err := unix.EpollWait(int(efd), p.events[:], 0)
	switch {
	case err == unix.EINTR:
		return false
	case err != nil:
		p.readyErr = err
		return true
	}
	return n > 0
}

// Read returns what the line has received, waiting for input when there
// is none.
func (p *ttyPort) Read(b []byte) (int, error) {
	for {
		n, err := p.io(func(fd int) (int, error) { return unix.Read(fd, b) })
		switch {
		case err == unix.EAGAIN:
		case err != nil:
			return 0, p.wrap("read", err)
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		default:
			return n, nil
		}
		if err := p.wait(unix.EPOLLIN | unix.EPOLLRDHUP); err != nil {
			return 0, err
		}
	}
}

// Write sends b whole. The line's output buffer holds kilobytes and a
// Modbus frame at most 256 bytes, so it is full only when the line does
// not send (a stuck adapter): Write then retries every millisecond for up
// to writeStall and fails, rather than wait in the poller beside Read.
func (p *ttyPort) Write(b []byte) (int, error) {
	written := 0
	var stalled time.Time
	for written < len(b) {
		n, err := p.io(func(fd int) (int, error) { return unix.Write(fd, b[written:]) })
		written += n
		switch {
		case err == unix.EAGAIN:
			if stalled.IsZero() {
				stalled = time.Now()
			} else if time.Since(stalled) > writeStall {
				return written, p.wrap("write", fmt.Errorf("output stalled for %v: the line sends nothing", writeStall))
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			return written, p.wrap("write", err)
		default:
			stalled = time.Time{}
		}
	}
	return written, nil
}

// writeStall bounds how long Write waits for room in a full output
// buffer.
const writeStall = 2 * time.Second

// io runs a read or write on the descriptor unless the port is closed;
// it never blocks (the descriptor is non-blocking), and EINTR is retried.
func (p *ttyPort) io(f func(fd int) (int, error)) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, os.ErrClosed
	}
	for {
		n, err := f(p.fd)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// wait arms the watch for events and waits in Go's poller until the line
// has one of them, hangs up, or the port is closed. Only Read waits, and
// one goroutine reads (the transport's reader).
func (p *ttyPort) wait(events uint32) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return os.ErrClosed
	}
	err := unix.EpollCtl(p.efd, unix.EPOLL_CTL_MOD, p.fd, &unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(p.fd)})
	p.mu.Unlock()
	if err != nil {
		return p.wrap("epoll", err)
	}
	p.readyErr = nil
	err = p.epc.Read(p.ready)
	if p.isClosed() {
		return os.ErrClosed
	}
	if err == nil {
		err = p.readyErr
	}
	if err != nil {
		return p.wrap("epoll", err)
	}
	return nil
}

func (p *ttyPort) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *ttyPort) wrap(op string, err error) error {
	return &os.PathError{Op: op, Path: p.name, Err: err}
}

// SetReadDeadline bounds a pending Read's wait; the transport's reader
// waits without one, and its presence tells the transport that Close ends
// a pending Read.
func (p *ttyPort) SetReadDeadline(t time.Time) error { return p.ep.SetReadDeadline(t) }

func (p *ttyPort) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return os.ErrClosed
	}
	p.closed = true
	// The settings go back first, then the descriptor is closed, under
	// the lock: no read or write can use the number after it. A failure
	// to restore the settings does not keep the line open.
	restore := unix.IoctlSetTermios(p.fd, unix.TCSETS, p.old)
	cerr := unix.Close(p.fd)
	p.mu.Unlock()
	// Closing the epoll instance ends a wait in the poller.
	eerr := p.ep.Close()
	switch {
	case cerr != nil:
		return p.wrap("close", cerr)
	case restore != nil:
		return fmt.Errorf("serial %s: restoring the line settings: %w", p.name, restore)
	case eerr != nil:
		return fmt.Errorf("serial %s: closing its epoll instance: %w", p.name, eerr)
	}
	return nil
}

package modbusserver

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/goburrow/serial"
)

// PTY is a pseudo-terminal pair: a server serves RTU on it (reading and
// writing the master side) while a client opens SlavePath as if it were a
// serial device.
type PTY struct {
	Master    *os.File
	SlavePath string
	hold      serial.Port
	once      sync.Once
	err       error
}

// Read reads from the master side.
func (p *PTY) Read(b []byte) (int, error) { return p.Master.Read(b) }

// Write writes to the master side.
func (p *PTY) Write(b []byte) (int, error) { return p.Master.Write(b) }

// OpenPTY creates a pseudo-terminal pair. It keeps the slave side open in
// raw mode, so that the master stays usable while no client has it open.
func OpenPTY() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("pseudo-terminal: %w", err)
	}
	var n uint32
	var ioErr error
	rc, err := m.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			var unlock int32
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
				ioErr = e
				return
			}
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
				ioErr = e
			}
		})
	}
	if err == nil {
		err = ioErr
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("pseudo-terminal: %w", err)
	}
	p := &PTY{Master: m, SlavePath: fmt.Sprintf("/dev/pts/%d", n)}
	// serial.Open puts the slave in raw mode (no echo, no line editing).
	p.hold, err = serial.Open(&serial.Config{Address: p.SlavePath, BaudRate: 19200, Parity: "N"})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("pseudo-terminal %s: %w", p.SlavePath, err)
	}
	return p, nil
}

// Close closes both sides; closing again does nothing.
func (p *PTY) Close() error {
	p.once.Do(func() {
		p.hold.Close()
		p.err = p.Master.Close()
	})
	return p.err
}

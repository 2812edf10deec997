//go:build linux

package modbus

import (
	"fmt"
	"io"
	"os"

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
	return &ttyPort{File: os.NewFile(uintptr(fd), cfg.Address), fd: fd, old: old}, nil
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

// ttyPort is a serial line read through Go's poller. Close gives the line
// its settings from before Open back and unblocks a pending Read.
type ttyPort struct {
	*os.File
	fd  int
	old *unix.Termios
}

func (p *ttyPort) Close() error {
	// The settings go back first: after Close the descriptor may be
	// another file's. A failure to restore them does not keep the line
	// open.
	restore := unix.IoctlSetTermios(p.fd, unix.TCSETS, p.old)
	if err := p.File.Close(); err != nil {
		return err
	}
	if restore != nil {
		return fmt.Errorf("serial %s: restoring the line settings: %w", p.Name(), restore)
	}
	return nil
}

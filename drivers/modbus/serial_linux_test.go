//go:build linux

package modbus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/serial"
	"golang.org/x/sys/unix"
)

// testPTY opens a pseudo-terminal pair and returns its master and the
// slave's path; both close when the test ends.
func testPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// The settings are the bus's: speed, character size, stop bits, parity
// generated and checked, receiver on, modem lines ignored, raw.
func TestRTUTermios(t *testing.T) {
	for _, tc := range []struct {
		cfg   serial.Config
		cflag uint32
		iflag uint32
	}{
		{serial.Config{BaudRate: 19200, DataBits: 8, StopBits: 1, Parity: "E"}, unix.B19200 | unix.CS8 | unix.PARENB, unix.INPCK},
		{serial.Config{BaudRate: 19200}, unix.B19200 | unix.CS8 | unix.PARENB, unix.INPCK}, // Modbus's default: 8E1
		{serial.Config{BaudRate: 9600, DataBits: 8, StopBits: 2, Parity: "N"}, unix.B9600 | unix.CS8 | unix.CSTOPB, 0},
		{serial.Config{BaudRate: 115200, DataBits: 7, StopBits: 1, Parity: "O"}, unix.B115200 | unix.CS7 | unix.PARENB | unix.PARODD, unix.INPCK},
	} {
		got, err := rtuTermios(tc.cfg)
		if err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
			continue
		}
		speed := tc.cflag & unix.CBAUD
		if got.Cflag != tc.cflag|unix.CREAD|unix.CLOCAL || got.Iflag != tc.iflag || got.Lflag != 0 || got.Oflag != 0 ||
			got.Ispeed != speed || got.Ospeed != speed || got.Cc[unix.VMIN] != 1 || got.Cc[unix.VTIME] != 0 {
			t.Errorf("%+v: %+v", tc.cfg, got)
		}
	}
}

// A line is set, read through Go's poller, and given its settings back
// when closed. (A pseudo-terminal keeps the speed and the raw mode; it
// sets eight bits without parity whatever it is asked.)
func TestOpenSerialSetsAndRestores(t *testing.T) {
	_, path := testPTY(t)
	hold, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0) // the slave stays open between the checks
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	before, err := unix.IoctlGetTermios(int(hold.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	p, err := openSerial(serial.Config{Address: path, BaudRate: 115200, DataBits: 8, StopBits: 1, Parity: "E"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := unix.IoctlGetTermios(int(hold.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cflag&unix.CBAUD != unix.B115200 || got.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 || got.Oflag&unix.OPOST != 0 {
		t.Errorf("settings: cflag %#o lflag %#o oflag %#o", got.Cflag, got.Lflag, got.Oflag)
	}
	if flags, err := unix.FcntlInt(uintptr(p.(*ttyPort).fd), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("the line is not read non-blocking: flags %#o, %v", flags, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := unix.IoctlGetTermios(int(hold.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Cflag != before.Cflag || after.Iflag != before.Iflag || after.Lflag != before.Lflag || after.Oflag != before.Oflag {
		t.Errorf("settings after Close: %+v, before Open %+v", after, before)
	}
}

// Close ends a read waiting for bytes that never come, as it does for a
// network connection, so that a bus is reopened without waiting.
func TestSerialCloseEndsAPendingRead(t *testing.T) {
	_, path := testPTY(t)
	p, err := openSerial(serial.Config{Address: path, BaudRate: 19200, Parity: "E"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var b [16]byte
		_, err := p.Read(b[:])
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("read after Close: %v, want %v", err, os.ErrClosed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pending read did not end when the line was closed")
	}
}

// Each wrong setting or path is refused with what was wrong and where.
func TestOpenSerialErrors(t *testing.T) {
	_, pty := testPTY(t)
	file := filepath.Join(t.TempDir(), "not-a-tty")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  serial.Config
		want string
	}{
		{serial.Config{Address: pty, BaudRate: 12345}, "serial " + pty + ": unsupported baud rate 12345"},
		{serial.Config{Address: pty, BaudRate: 9600, DataBits: 9}, "unsupported data bits 9"},
		{serial.Config{Address: pty, BaudRate: 9600, StopBits: 3}, "unsupported stop bits 3"},
		{serial.Config{Address: pty, BaudRate: 9600, Parity: "M"}, `unsupported parity "M"`},
		{serial.Config{Address: "/dev/eipgw-no-such-line", BaudRate: 9600}, "open /dev/eipgw-no-such-line: no such file or directory"},
		{serial.Config{Address: file, BaudRate: 9600}, "serial " + file + ": line settings: inappropriate ioctl for device"},
	} {
		p, err := openSerial(tc.cfg)
		if err == nil {
			p.Close()
			t.Errorf("%+v: opened", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// Bytes that arrive while no Read waits wake nothing: the line's watch is
// armed only by a Read that found no input, and the event that ends its
// wait disarms it. Whatever arrived meanwhile is read whole, and a Read
// that finds none waits for the next byte again.
func TestSerialWatchArmedOnlyWhileWaiting(t *testing.T) {
	m, path := testPTY(t)
	port, err := openSerial(serial.Config{Address: path, BaudRate: 115200, Parity: "N"})
	if err != nil {
		t.Fatal(err)
	}
	p := port.(*ttyPort)
	defer p.Close()
	ready := func() int {
		var ev [1]unix.EpollEvent
		n, err := unix.EpollWait(p.efd, ev[:], 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	got := make(chan string, 1)
	read := func() {
		var b [64]byte
		n, err := p.Read(b[:])
		if err != nil {
			t.Error(err)
		}
		got <- string(b[:n])
	}
	go read()
	time.Sleep(20 * time.Millisecond) // the Read finds nothing and waits
	if _, err := m.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "a" {
		t.Fatalf("first read %q", s)
	}
	// No Read waits: bursts arrive, and the watch stays quiet.
	for _, s := range []string{"bc", "def", "g"} {
		if _, err := m.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if n := ready(); n != 0 {
			t.Fatalf("the watch reported input while no Read waited (after %q)", s)
		}
	}
	go read()
	if s := <-got; s != "bcdefg" {
		t.Fatalf("bytes that arrived between reads: %q, want bcdefg", s)
	}
	go read()
	time.Sleep(20 * time.Millisecond)
	select {
	case s := <-got:
		t.Fatalf("a read without input returned %q", s)
	default:
	}
	if _, err := m.Write([]byte("h")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "h" {
			t.Fatalf("read after waiting again: %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting read was not woken by new input")
	}
}

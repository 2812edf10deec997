//go:build linux

package linetime

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Timer waits until a point in time to within the kernel's timer slack
// (tens of microseconds), without holding the processor: a timerfd(2)
// read through Go's poller. Go's own timers are as cheap but, when the
// process is idle, the poller waits for them in whole milliseconds, up
// to a millisecond late: ten characters at 115200 baud. One goroutine
// uses a Timer at a time.
type Timer struct {
	f  *os.File
	fd int
}

// NewTimer returns a Timer; Close releases it.
func NewTimer() (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	return &Timer{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// WaitUntil returns at t, or at once when t has passed.
func (tm *Timer) WaitUntil(t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(tm.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	// The read waits in the poller until the timer expires, then takes
	// its count of expirations (8 bytes).
	var b [8]byte
	if _, err := tm.f.Read(b[:]); err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	return nil
}

// Close releases the timer.
func (tm *Timer) Close() error { return tm.f.Close() }

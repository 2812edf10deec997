// Package linetime waits with the precision a serial line's timing needs:
// the 3.5-character silence between RTU frames and the pace of bytes at the
// line's baud rate are far finer than a timer's resolution. The Modbus
// client and server share it.
package linetime

import (
	"context"
	"runtime"
	"time"
)

// SpinBelow is how close to a deadline waiting switches from a timer to
// yielding the processor in a loop: timers wake up to about a millisecond
// late, which at 115200 baud is ten characters.
const SpinBelow = 1500 * time.Microsecond

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// WaitUntil waits until t (or ctx is done, reporting false), accurate to a
// few microseconds.
func WaitUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > SpinBelow {
		if !Sleep(ctx, d-SpinBelow) {
			return false
		}
	}
	for time.Now().Before(t) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}

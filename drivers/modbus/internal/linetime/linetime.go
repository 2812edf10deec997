package modbus

import (
	"context"
	"runtime"
	"time"
)

// spinBelow is how close to a deadline waiting switches from a timer to
// yielding the processor in a loop: timers wake up to about a millisecond
// late, which at 115200 baud is ten characters.
const spinBelow = 1500 * time.Microsecond

// waitUntil waits until t (or ctx is done, reporting false), accurate to a
// few microseconds: line timing (the 3.5-character silence, the pace of
// bytes) is far finer than a timer's resolution.
func waitUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > spinBelow {
		if !sleep(ctx, d-spinBelow) {
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

package bench

import (
	"os"
	"testing"
	"time"
)

// TestReadUsageToTheNanosecond: the CPU time read is the threads' own, not
// 10 ms ticks: 15 ms of work reads as a time that is not a whole number of
// ticks (ticks would read 0, 10 or 20 ms), and not as a second.
func TestReadUsageToTheNanosecond(t *testing.T) {
	before, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 15*time.Millisecond; {
	}
	after, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after.CPU - before.CPU; d <= 0 || d%(time.Second/clockTicks) == 0 || d > time.Second {
		t.Errorf("15 ms of work read as %v (%v then %v)", d, before.CPU, after.CPU)
	}
}

package telemetry

import (
	"sync"
	"time"
)

// Repeats decides which occurrences of a recurring failure are logged,
// so that an outage logs a few lines, not one per message per retry: the
// first failure at once, then at most one every interval, each with the
// number left unlogged since the one before; and, when an operation
// succeeds again, one line saying how long it failed and how often. The
// counters in the metrics still count every failure. Safe for concurrent
// use; the zero value logs every failure (no interval).
type Repeats struct {
	// Interval is the least time between two logged failures.
	Interval time.Duration

	mu         sync.Mutex
	failing    bool
	since      time.Time // the first failure of the current run
	lastLogged time.Time
	unlogged   int // failures not logged since lastLogged
	failures   int // failures in the current run
}

// Failure records a failure at now. It reports whether to log it and,
// if so, how many failures went unlogged since the last one logged.
func (r *Repeats) Failure(now time.Time) (log bool, unlogged int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures++
	if !r.failing {
		r.failing, r.since = true, now
	} else if now.Sub(r.lastLogged) < r.Interval {
		r.unlogged++
		return false, 0
	}
	unlogged, r.unlogged, r.lastLogged = r.unlogged, 0, now
	return true, unlogged
}

// Success records a success at now. After a run of failures it reports
// recovered with how many there were and since when (log it once);
// otherwise recovered is false.
func (r *Repeats) Success(now time.Time) (recovered bool, failures int, since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failing {
		return false, 0, time.Time{}
	}
	failures, since = r.failures, r.since
	r.failing, r.failures, r.unlogged = false, 0, 0
	return true, failures, since
}

package ingest

import (
	"sync"
	"time"
)

// holdings are the sequence numbers of the batches this worker received
// and has not finished with (stored or dead-lettered): queued, waiting out
// a back-off after a failed write, or being written by the side lane. The
// completeness check declares none of them missing, however old their
// poll times: they are late, not lost. After an InfluxDB stall, a write
// the client gave up on is retried while newer ones are stored, and a
// large message in the side lane may be stored after newer ones.
type holdings struct {
	mu sync.Mutex
	m  map[string]map[uint64]int // gateway → seq → batches held
}

func (h *holdings) add(gateway string, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]map[uint64]int{}
	}
	g := h.m[gateway]
	if g == nil {
		g = map[uint64]int{}
		h.m[gateway] = g
	}
	g[seq]++
}

func (h *holdings) done(gateway string, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.m[gateway]
	if g[seq] <= 1 {
		delete(g, seq)
		if len(g) == 0 {
			delete(h.m, gateway)
		}
		return
	}
	g[seq]--
}

// reset forgets every batch: a worker that starts again holds none.
func (h *holdings) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m = nil
}

// within reports whether a batch of gateway numbered first..last is held.
func (h *holdings) within(gateway string, first, last uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.m[gateway] {
		if s >= first && s <= last {
			return true
		}
	}
	return false
}

// outages follows the runs of failed InfluxDB writes for the completeness
// check: while writes fail, and for grace after an outage of grace or
// longer, it declares nothing. Every batch polled during such an outage
// is older than grace when it is stored, and another worker of a shared
// group may hold some of them in its own backlog, which this worker's
// holdings do not show.
type outages struct {
	mu      sync.Mutex
	failing bool
	since   time.Time // start of the current or last run of failures
	end     time.Time // end of the last run (zero while failing)
}

func (o *outages) failure(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failing {
		o.failing, o.since, o.end = true, now, time.Time{}
	}
}

func (o *outages) success(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing {
		o.failing, o.end = false, now
	}
}

// quietUntil is when gaps may be declared again; zero when they may now.
// While writes fail it is far ahead.
func (o *outages) quietUntil(now time.Time, grace time.Duration) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.failing:
		return now.Add(grace)
	case !o.end.IsZero() && o.end.Sub(o.since) >= grace && now.Before(o.end.Add(grace)):
		return o.end.Add(grace)
	}
	return time.Time{}
}

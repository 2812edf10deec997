package edge

import (
	"sync"
	"time"

	"github.com/eipgw/eipgw/drivers"
)

// A serial bus's line figures for the status page: the totals the driver
// counts, and the same over about the last minute, from samples the bus
// owner's polls take (the metrics leave rates to Prometheus; the page and
// its JSON API have no scraper to take them).

const (
	// lineSampleEvery spaces the samples of a line's totals.
	lineSampleEvery = 10 * time.Second
	// lineSamples is how many are kept: the oldest is at least a minute
	// old once the line has run that long.
	lineSamples = 7
)

// lineWindow keeps the latest samples of a line's totals, at least
// lineSampleEvery apart.
type lineWindow struct {
	mu    sync.Mutex
	at    [lineSamples]time.Time
	stats [lineSamples]drivers.LineStats
	n     int // samples kept
	next  int // where the next sample goes
}

// add records s, taken at now, unless the newest sample is more recent
// than lineSampleEvery.
func (w *lineWindow) add(now time.Time, s drivers.LineStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n > 0 && now.Sub(w.at[(w.next+lineSamples-1)%lineSamples]) < lineSampleEvery {
		return
	}
	w.at[w.next], w.stats[w.next] = now, s
	w.next = (w.next + 1) % lineSamples
	w.n = min(w.n+1, lineSamples)
}

// oldest returns the oldest sample kept; ok is false before the first.
func (w *lineWindow) oldest() (at time.Time, s drivers.LineStats, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 0 {
		return time.Time{}, drivers.LineStats{}, false
	}
	i := (w.next + lineSamples - w.n) % lineSamples
	return w.at[i], w.stats[i], true
}

// LineView is a serial bus's line (Modbus RTU on a local serial line;
// absent for Modbus TCP and RTU over TCP): what its exchanges put on the
// wire since the bus was built, and over the last WindowSeconds.
type LineView struct {
	Baud int `json:"baud"`
	// Totals, as in eipgw_edge_bus_line_seconds_total,
	// eipgw_edge_bus_busy_seconds_total, eipgw_edge_bus_requests_total
	// and eipgw_edge_bus_timeouts_total.
	LineSeconds float64 `json:"line_seconds"`
	BusySeconds float64 `json:"busy_seconds"`
	Requests    uint64  `json:"requests"`
	Timeouts    uint64  `json:"timeouts"`
	// The window: from the oldest sample kept (about a minute ago, or
	// the bus's start) to now. WindowSeconds is 0 until the bus has run.
	WindowSeconds  float64 `json:"window_seconds"`
	RecentRequests uint64  `json:"recent_requests"`
	RecentTimeouts uint64  `json:"recent_timeouts"`
	// Utilisation is the line's time carrying frames over the window: 1
	// when it never rests.
	Utilisation float64 `json:"utilisation"`
	// Efficiency is line time over busy time in the window: how near the
	// exchanges came to the line's limit. Absent without an exchange in
	// the window.
	Efficiency *float64 `json:"efficiency,omitempty"`
}

// lineView returns the view of a line whose totals are now s, against
// the window's oldest sample.
func lineView(now time.Time, s drivers.LineStats, w *lineWindow) *LineView {
	v := &LineView{Baud: s.Baud, LineSeconds: s.Frames.Seconds(), BusySeconds: s.Busy.Seconds(),
		Requests: s.Exchanges, Timeouts: s.Timeouts}
	at, old, ok := w.oldest()
	span := now.Sub(at)
	if !ok || span <= 0 || old.Exchanges > s.Exchanges {
		return v
	}
	v.WindowSeconds = span.Seconds()
	v.RecentRequests = s.Exchanges - old.Exchanges
	v.RecentTimeouts = s.Timeouts - min(old.Timeouts, s.Timeouts)
	frames := s.Frames - old.Frames
	v.Utilisation = frames.Seconds() / v.WindowSeconds
	if busy := s.Busy - old.Busy; busy > 0 && v.RecentRequests > 0 {
		e := frames.Seconds() / busy.Seconds()
		v.Efficiency = &e
	}
	return v
}

package park

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// acc accumulates one channel over a window.
type acc struct {
	sum     float64
	n       int    // valid samples
	bad     int    // invalid samples
	minutes uint64 // bit m: minute m of the hour holds a valid sample
	reasons map[string]int
}

// window is an aligned interval (a live interval or an hour) being filled.
type window struct {
	start, end time.Time
	ch         []acc
	// seen holds the poll times of the batches counted, by gateway and
	// device, so that a redelivered batch is not counted twice; counted
	// holds how many batches of each device were counted (of any gateway:
	// a device the model names without its gateway counts them all).
	seen    map[seenKey]map[int64]struct{}
	counted map[string]int
}

type seenKey struct {
	gateway, device string
}

func newWindow(start time.Time, d time.Duration, channels int, dedupe bool) *window {
	w := &window{start: start, end: start.Add(d), ch: make([]acc, channels)}
	if dedupe {
		w.seen = map[seenKey]map[int64]struct{}{}
		w.counted = map[string]int{}
	}
	return w
}

// remember records gateway's batch of device polled at ts (Unix ns) as
// counted, unless it was counted before (Duplicate) or the device has
// max batches counted in the window already (Excess): what the window
// remembers stays bounded by the devices of the model, whatever a
// publisher sends.
func (w *window) remember(gateway, device string, ts int64, max int) Result {
	k := seenKey{gateway, device}
	times := w.seen[k]
	if _, dup := times[ts]; dup {
		return Duplicate
	}
	if w.counted[device] >= max {
		return Excess
	}
	if times == nil {
		times = map[int64]struct{}{}
		w.seen[k] = times
	}
	times[ts] = struct{}{}
	w.counted[device]++
	return Accepted
}

func (w *window) add(ts time.Time, s sample) {
	a := &w.ch[s.ch]
	if s.bad != "" {
		a.bad++
		if a.reasons == nil {
			a.reasons = map[string]int{}
		}
		a.reasons[s.bad]++
		return
	}
	a.sum += s.v
	a.n++
	a.minutes |= 1 << uint(ts.Sub(w.start)/time.Minute%64)
}

// rule decides whether a channel's window is valid.
type rule struct {
	quadrants  bool
	minMinutes int  // fraction rule: valid minutes needed
	anySample  bool // live intervals: one valid sample suffices
}

// chanState is a channel's verdict over a window.
type chanState struct {
	mean         float64
	ok           bool
	why          string
	validMinutes int
	samples      int
	completeness float64 // valid minutes / minutes of the window (live: 1 or 0)
}

func (r rule) judge(name string, a *acc) chanState {
	st := chanState{validMinutes: bits.OnesCount64(a.minutes), samples: a.n}
	if a.n > 0 {
		st.mean = a.sum / float64(a.n)
	}
	if r.anySample {
		st.ok = a.n > 0
		if st.ok {
			st.completeness = 1
		}
	} else {
		st.completeness = float64(st.validMinutes) / 60
		if r.quadrants {
			st.ok = true
			for q := range 4 {
				if a.minutes>>(15*q)&(1<<15-1) == 0 {
					st.ok = false
				}
			}
		} else {
			st.ok = st.validMinutes >= r.minMinutes
		}
	}
	if st.ok {
		return st
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(": ")
	switch {
	case a.n == 0 && a.bad == 0:
		b.WriteString("no data")
	case r.anySample:
		b.WriteString("no valid sample")
	case r.quadrants:
		fmt.Fprintf(&b, "no valid sample in a 15-minute quadrant (%d valid minutes)", st.validMinutes)
	default:
		fmt.Fprintf(&b, "%d of 60 minutes valid, %d needed", st.validMinutes, r.minMinutes)
	}
	if len(a.reasons) > 0 {
		keys := make([]string, 0, len(a.reasons))
		for k := range a.reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d× %s", a.reasons[k], k)
		}
		b.WriteString(")")
	}
	st.why = b.String()
	return st
}

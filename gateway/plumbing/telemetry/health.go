package telemetry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one condition a role reports on /healthz or /readyz.
type Check struct {
	// Name says what is checked, e.g. "broker" or "bus_owner:rtu-1".
	Name string
	// OK is true when the condition holds.
	OK bool
	// Detail says what was seen: the state, the last error, the age.
	Detail string
	// Since is when OK last changed (zero: not known).
	Since time.Time
}

// MarshalJSON renders a check as {"name","ok","detail","since"}, since in
// RFC 3339 UTC with milliseconds, left out when not known.
func (c Check) MarshalJSON() ([]byte, error) {
	v := struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
		Since  string `json:"since,omitempty"`
	}{Name: c.Name, OK: c.OK, Detail: c.Detail}
	if !c.Since.IsZero() {
		v.Since = c.Since.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return json.Marshal(v)
}

// Health is what a role reports about itself: Live answers /healthz (the
// process's loops are turning), Ready answers /readyz (its machinery can
// do its job now). Each returns one check per condition.
type Health interface {
	Live() []Check
	Ready() []Check
}

// Condition is the state of one check that a role updates as it learns
// (connected, subscribed, last write ok). It is safe for concurrent use;
// Since moves only when OK changes.
type Condition struct {
	mu     sync.Mutex
	ok     bool
	detail string
	since  time.Time
}

// NewCondition returns a condition in state ok with detail, since now.
func NewCondition(ok bool, detail string) *Condition {
	return &Condition{ok: ok, detail: detail, since: time.Now()}
}

// Set records the current state; Since moves only when ok changes.
func (c *Condition) Set(ok bool, detail string) {
	c.mu.Lock()
	if ok != c.ok || c.since.IsZero() {
		c.since = time.Now()
	}
	c.ok, c.detail = ok, detail
	c.mu.Unlock()
}

// State returns the current state, its detail and since when it holds.
func (c *Condition) State() (ok bool, detail string, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, c.detail, c.since
}

// Check returns the condition as a check named name.
func (c *Condition) Check(name string) Check {
	ok, detail, since := c.State()
	return Check{Name: name, OK: ok, Detail: detail, Since: since}
}

// Heartbeat follows a loop that must turn at least once per window: the
// loop calls Beat each time round; Check is ok while the last beat is at
// most window old. Beat costs two atomic operations.
type Heartbeat struct {
	window  time.Duration
	started time.Time
	last    atomic.Int64 // Unix ns of the last beat; 0: none yet
	okSince atomic.Int64 // Unix ns of the first beat after a gap longer than window
}

// NewHeartbeat returns a heartbeat whose loop must turn once per window.
// Until the first beat, the loop counts as turning for one window from
// now (it is starting).
func NewHeartbeat(window time.Duration) *Heartbeat {
	h := &Heartbeat{window: window, started: time.Now()}
	h.okSince.Store(h.started.UnixNano())
	return h
}

// Window is the longest a turning loop may go without a beat.
func (h *Heartbeat) Window() time.Duration { return h.window }

// Beat records that the loop turned now.
func (h *Heartbeat) Beat() {
	now := time.Now().UnixNano()
	prev := h.last.Swap(now)
	if prev == 0 {
		prev = h.started.UnixNano()
	}
	if time.Duration(now-prev) > h.window {
		h.okSince.Store(now) // it had stalled
	}
}

// Check reports the loop as check name at now.
func (h *Heartbeat) Check(name string, now time.Time) Check {
	last := h.started
	beaten := false
	if ns := h.last.Load(); ns != 0 {
		last, beaten = time.Unix(0, ns), true
	}
	age := now.Sub(last)
	if age > h.window {
		what := "last turned"
		if !beaten {
			what = "never turned since the start"
		}
		return Check{Name: name, OK: false, Since: last.Add(h.window),
			Detail: fmt.Sprintf("%s %s ago (window %s): stalled", what, age.Round(time.Millisecond), h.window)}
	}
	detail := fmt.Sprintf("last turned %s ago (window %s)", age.Round(time.Millisecond), h.window)
	if !beaten {
		detail = fmt.Sprintf("starting %s ago (window %s)", age.Round(time.Millisecond), h.window)
	}
	return Check{Name: name, OK: true, Since: time.Unix(0, h.okSince.Load()), Detail: detail}
}

// report is the body of /healthz and /readyz.
type report struct {
	Status string  `json:"status"` // "ok" or "fail"
	Checks []Check `json:"checks"`
}

// AllOK reports whether every check passed (true for none).
func AllOK(checks []Check) bool {
	for _, c := range checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// serveChecks answers with checks as JSON: 200 when all pass, 503
// otherwise.
func serveChecks(w http.ResponseWriter, checks []Check) {
	r := report{Status: "ok", Checks: checks}
	code := http.StatusOK
	if !AllOK(checks) {
		r.Status, code = "fail", http.StatusServiceUnavailable
	}
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		http.Error(w, "encoding checks: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

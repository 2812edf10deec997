package edge

import (
	"math"
	"sync"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// lastReadings keeps each device's latest readings for the status page.
// A device's slice is reused from poll to poll: recording a poll copies
// the readings and allocates nothing once the slice has grown.
type lastReadings struct {
	mu  sync.Mutex
	dev map[string]*lastPoll
}

type lastPoll struct {
	at       time.Time     // poll time
	latency  time.Duration // from the poll's start to its readings
	readings []drivers.Reading
}

func newLastReadings() *lastReadings { return &lastReadings{dev: map[string]*lastPoll{}} }

func (l *lastReadings) set(device string, at time.Time, rs []drivers.Reading) {
	lat := time.Since(at)
	l.mu.Lock()
	p := l.dev[device]
	if p == nil {
		p = &lastPoll{}
		l.dev[device] = p
	}
	p.at, p.latency = at, lat
	p.readings = append(p.readings[:0], rs...)
	l.mu.Unlock()
}

func (l *lastReadings) forget(device string) {
	l.mu.Lock()
	delete(l.dev, device)
	l.mu.Unlock()
}

func (l *lastReadings) get(device string) (lastPoll, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.dev[device]
	if !ok {
		return lastPoll{}, false
	}
	return lastPoll{at: p.at, latency: p.latency, readings: append([]drivers.Reading(nil), p.readings...)}, true
}

// View is the edge's state for the status page and its JSON API
// (GET /api/status): what it polls, how each device answers, the
// write-ahead log and the broker. Times are UTC; durations are seconds.
type View struct {
	Role    string        `json:"role"` // "edge"
	Park    string        `json:"park"`
	Site    string        `json:"site"`
	Gateway string        `json:"gateway"`
	Now     time.Time     `json:"now"`
	Broker  ConditionView `json:"broker"`
	WAL     WALView       `json:"wal"`
	Counts  Stats         `json:"counts"`
	Buses   []BusView     `json:"buses"`
}

// ConditionView is one condition: whether it holds, what was seen, since
// when.
type ConditionView struct {
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

// WALView is the write-ahead log's backlog and losses.
type WALView struct {
	ConditionView
	Pending          uint64  `json:"pending_batches"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	LastSeq          uint64  `json:"last_seq"`
	Dropped          uint64  `json:"dropped_batches"`
}

// BusView is one bus and its devices.
type BusView struct {
	Name    string        `json:"name"`
	Owner   ConditionView `json:"owner"`
	Devices []DeviceView  `json:"devices"`
}

// DeviceView is one device: its state from the driver and its latest
// readings.
type DeviceView struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Tenant string `json:"tenant,omitempty"`
	// State is "up", "down", "backoff" (left alone after failures until
	// BackoffUntil) or "waiting" (not polled yet).
	State        string        `json:"state"`
	Up           bool          `json:"up"`
	Since        *time.Time    `json:"since,omitempty"`
	LastPoll     *time.Time    `json:"last_poll,omitempty"`
	LastError    string        `json:"last_error,omitempty"`
	Failures     int           `json:"failures"`
	BackoffUntil *time.Time    `json:"backoff_until,omitempty"`
	Polls        uint64        `json:"polls"`
	Answered     uint64        `json:"answered"`
	Skipped      uint64        `json:"skipped"`
	ReadAt       *time.Time    `json:"read_at,omitempty"`
	PollSeconds  float64       `json:"poll_seconds"`
	Readings     []ReadingView `json:"readings"`
}

// ReadingView is one point as published: name, value (absent unless the
// reading carries one; integers exact), unit and quality.
type ReadingView struct {
	Name    string `json:"n"`
	Value   any    `json:"v,omitempty"`
	Unit    string `json:"u,omitempty"`
	Quality string `json:"q"`
}

func condView(c *telemetry.Condition) ConditionView {
	ok, detail, since := c.State()
	return ConditionView{OK: ok, Detail: detail, Since: since.UTC()}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// View returns the edge's current state; safe while Run runs.
func (e *Edge) View() View {
	now := time.Now()
	ws := e.walStats()
	v := View{
		Role: "edge", Park: e.park, Site: e.site, Gateway: e.gateway, Now: now.UTC(),
		Broker: condView(e.health.broker), Counts: e.Stats(),
		WAL: WALView{ConditionView: condView(e.health.wal), Pending: ws.Pending, Bytes: ws.Bytes,
			LastSeq: ws.LastSeq, Dropped: ws.Dropped},
		Buses: []BusView{},
	}
	if !ws.Oldest.IsZero() {
		v.WAL.OldestAgeSeconds = now.Sub(ws.Oldest).Seconds()
	}
	for _, b := range e.health.list() {
		bv := BusView{Name: b.name, Owner: condView(b.owner), Devices: []DeviceView{}}
		states := map[string]drivers.DeviceState{}
		for _, st := range b.source.States() {
			states[st.Device] = st
		}
		for _, d := range b.source.Devices() {
			st := states[d.Name]
			dv := DeviceView{Name: d.Name, Kind: d.Kind, Tenant: d.Tenant, Up: st.Up,
				Since: timePtr(st.Since), LastPoll: timePtr(st.LastPoll), LastError: st.LastError,
				Failures: st.Failures, BackoffUntil: timePtr(st.BackoffUntil),
				Polls: st.Polls, Answered: st.Answered, Skipped: st.Skipped, Readings: []ReadingView{}}
			switch {
			case st.BackoffUntil.After(now):
				dv.State = "backoff"
			case st.Up:
				dv.State = "up"
			case st.Polls == 0:
				dv.State = "waiting"
			default:
				dv.State = "down"
			}
			if lp, ok := e.last.get(d.Name); ok {
				dv.ReadAt, dv.PollSeconds = timePtr(lp.at), lp.latency.Seconds()
				for _, r := range lp.readings {
					dv.Readings = append(dv.Readings, readingView(r))
				}
			}
			bv.Devices = append(bv.Devices, dv)
		}
		v.Buses = append(v.Buses, bv)
	}
	return v
}

func readingView(r drivers.Reading) ReadingView {
	rv := ReadingView{Name: r.Name, Unit: r.Unit, Quality: string(r.Quality)}
	if !r.HasValue {
		return rv
	}
	switch r.Kind {
	case drivers.Int:
		rv.Value = r.Int
	case drivers.Uint:
		rv.Value = r.Uint
	default:
		if !math.IsNaN(r.Float) && !math.IsInf(r.Float, 0) {
			if r.Float32 {
				rv.Value = float32(r.Float)
			} else {
				rv.Value = r.Float
			}
		}
	}
	return rv
}

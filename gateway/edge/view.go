package edge

import (
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// lastReadings keeps each device's latest readings for the status page,
// compactly: per point a 16-byte value and quality, and the names and
// units in a layout shared by every device whose readings have the same
// names and units in the same order (the devices of one profile), recorded
// again only when they change. A device's slices are reused from poll to
// poll: recording a poll allocates nothing once they have grown.
type lastReadings struct {
	mu  sync.Mutex
	dev map[string]*lastPoll
	// layouts are the names and units in use, each once.
	layouts []*layout
	// qualities numbers the qualities other than good seen so far: a
	// point's quality is an index in quality (0 is good).
	qualities map[drivers.Quality]uint16
	quality   []drivers.Quality
}

type lastPoll struct {
	at      time.Time     // poll time
	latency time.Duration // from the poll's start to its readings
	layout  *layout
	values  []lastValue
}

// layout is the names and units of a poll's readings, in order, shared
// by the devices that have them.
type layout struct {
	names, units []string
	users        int
}

// of reports whether rs have the layout's names and units.
func (y *layout) of(rs []drivers.Reading) bool {
	if len(y.names) != len(rs) {
		return false
	}
	names, units := y.names[:len(rs)], y.units[:len(rs)]
	for i := range rs {
		if !sameString(names[i], rs[i].Name) || !sameString(units[i], rs[i].Unit) {
			return false
		}
	}
	return true
}

// sameString is a == b, without comparing the bytes of the same string:
// a device's readings carry its profile's names and units at every poll.
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// use returns the layout of rs, shared if another device has it; l.mu is
// held.
func (l *lastReadings) use(rs []drivers.Reading) *layout {
	for _, y := range l.layouts {
		if y.of(rs) {
			y.users++
			return y
		}
	}
	y := &layout{names: make([]string, len(rs)), units: make([]string, len(rs)), users: 1}
	for i := range rs {
		y.names[i], y.units[i] = rs[i].Name, rs[i].Unit
	}
	l.layouts = append(l.layouts, y)
	return y
}

// release drops a device's use of y; l.mu is held.
func (l *lastReadings) release(y *layout) {
	if y == nil {
		return
	}
	if y.users--; y.users == 0 {
		i := slices.Index(l.layouts, y)
		l.layouts = slices.Delete(l.layouts, i, i+1)
	}
}

// lastValue is one point's value and quality: bits is the float64's bits,
// the int64 or the uint64, as kind says.
type lastValue struct {
	bits     uint64
	quality  uint16
	kind     drivers.ValueKind
	hasValue bool
	float32  bool
}

// maxQualities bounds the qualities lastReadings numbers: the contract's
// vocabulary has 261; a quality past the bound is shown as comm_error.
const maxQualities = 1024

func newLastReadings() *lastReadings {
	return &lastReadings{dev: map[string]*lastPoll{}, qualities: map[drivers.Quality]uint16{},
		quality: []drivers.Quality{drivers.Good}}
}

// qualityCode numbers q; l.mu is held.
func (l *lastReadings) qualityCode(q drivers.Quality) uint16 {
	if q == drivers.Good {
		return 0
	}
	if c, ok := l.qualities[q]; ok {
		return c
	}
	if len(l.quality) >= maxQualities {
		return l.qualityCode(drivers.CommError)
	}
	c := uint16(len(l.quality))
	l.quality = append(l.quality, q)
	l.qualities[q] = c
	return c
}

func (l *lastReadings) set(device string, at time.Time, rs []drivers.Reading) {
	lat := time.Since(at)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.dev[device]
	if p == nil {
		p = &lastPoll{}
		l.dev[device] = p
	}
	p.at, p.latency = at, lat
	if p.layout == nil || !p.layout.of(rs) {
		l.release(p.layout)
		p.layout = l.use(rs)
	}
	p.values = slices.Grow(p.values[:0], len(rs))[:len(rs)]
	for i := range rs {
		r := &rs[i]
		v := lastValue{kind: r.Kind, hasValue: r.HasValue, float32: r.Float32}
		if r.Quality != drivers.Good {
			v.quality = l.qualityCode(r.Quality)
		}
		switch r.Kind {
		case drivers.Int:
			v.bits = uint64(r.Int)
		case drivers.Uint:
			v.bits = r.Uint
		default:
			v.bits = math.Float64bits(r.Float)
		}
		p.values[i] = v
	}
}

func (l *lastReadings) forget(device string) {
	l.mu.Lock()
	if p, ok := l.dev[device]; ok {
		l.release(p.layout)
		delete(l.dev, device)
	}
	l.mu.Unlock()
}

// lastView is a device's latest poll as the status page shows it.
type lastView struct {
	at       time.Time
	latency  time.Duration
	readings []ReadingView
}

func (l *lastReadings) get(device string) (lastView, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.dev[device]
	if !ok {
		return lastView{}, false
	}
	out := lastView{at: p.at, latency: p.latency, readings: make([]ReadingView, len(p.values))}
	for i, v := range p.values {
		r := drivers.Reading{Name: p.layout.names[i], Unit: p.layout.units[i], Quality: l.quality[v.quality],
			Kind: v.kind, HasValue: v.hasValue, Float32: v.float32}
		switch v.kind {
		case drivers.Int:
			r.Int = int64(v.bits)
		case drivers.Uint:
			r.Uint = v.bits
		default:
			r.Float = math.Float64frombits(v.bits)
		}
		out.readings[i] = readingView(r)
	}
	return out, true
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
	Name  string        `json:"name"`
	Owner ConditionView `json:"owner"`
	// Line is the bus's serial line; absent for a bus without one.
	Line *LineView `json:"line,omitempty"`
	// Pipeline is how a Modbus TCP bus sends its reads; absent for
	// other buses.
	Pipeline *PipelineView `json:"pipeline,omitempty"`
	Devices  []DeviceView  `json:"devices"`
}

// PipelineView is how many reads of a device a Modbus TCP bus sends
// before their answers, and why: mode "fixed" (the configuration's
// pipeline), or with pipeline auto "auto-untried" (one at a time until
// a device answers every read of a poll), "auto-pipelined" (its server
// answered reads sent together) or "auto-one-at-a-time" (it did not,
// or later left some unanswered: for the life of the bus).
type PipelineView struct {
	InFlight int    `json:"in_flight"`
	Mode     string `json:"mode"`
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
		if b.line != nil {
			if s, ok := b.line.Line(); ok {
				bv.Line = lineView(now, s, &b.window)
			}
		}
		if r, ok := b.source.(pipelineReporter); ok {
			if n, mode, ok := r.Pipeline(); ok {
				bv.Pipeline = &PipelineView{InFlight: n, Mode: mode}
			}
		}
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
				dv.Readings = lp.readings
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

// Package park is the park engine: the stateful computation of a park's
// live shared-infrastructure, cascading-energy and emission metrics, its
// hourly records with validity flags, and its per-tenant daily and monthly
// statements, from the readings that edges publish.
//
// Engine is the computation alone, without I/O or goroutines: Add feeds it
// batches, Advance closes the windows whose time has come and returns their
// records. It works on event time (the readings' timestamps) against an
// injected clock, so a test replays days of readings in seconds. Service
// wires an Engine to MQTT, InfluxDB and Prometheus.
//
// The formulas are the pure functions of packages steam, energy and
// emission; docs/metrics.md lists every metric with its formula, inputs,
// source and a worked example.
package park

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// Result is what Add did with a batch.
type Result int

// Results of Add.
const (
	// Accepted: the batch's samples were counted.
	Accepted Result = iota
	// Unknown: the device is not part of the park model (ignored).
	Unknown
	// Late: the batch's hour was already closed (its grace had passed) or
	// lies before the engine started.
	Late
	// Duplicate: the same device's reading at the same time was already
	// counted (a redelivery).
	Duplicate
	// Future: the batch is stamped more than MaxSkew ahead of the clock.
	Future
	// Unverified: the batch's gateway is under evidence and its signature
	// does not verify (evidence.go); the service refuses it before Add.
	Unverified
	// Excess: the device already has max_batches_per_device_hour batches
	// counted in the batch's hour.
	Excess

	numResults = iota
)

var resultNames = [numResults]string{"accepted", "unknown_device", "late", "duplicate", "future", "unverified", "excess"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", int(r))
}

// Options tune an Engine.
type Options struct {
	// Clock is the engine's time source (default time.Now).
	Clock func() time.Time
	// MaxSkew is how far ahead of the clock a reading may be stamped
	// (default batch.MaxClockSkew, ingest's bound: what ingest stores,
	// the engine counts).
	MaxSkew time.Duration
	// From, when it is the hour before the start's and the start lies
	// within that hour's grace, makes the engine close that hour too,
	// with the readings that arrive from the start on: an earlier run
	// stopped before it could (Service, reopenFrom). Otherwise the first
	// hour closed is the start's.
	From time.Time
	// Backfill, when set, is used by Service only: it returns the batches
	// stored for the park that were polled in [from, to) and that the
	// audit recomputes the hours from (audit.SignedBatches). The hours the
	// engine did not see from their start (the start's, and the reopened
	// hour before it) are filled with them as they close, so that a
	// restart does not leave an hour with only the readings received
	// after it.
	Backfill func(ctx context.Context, from, to time.Time) ([]*batch.Batch, error)
}

// Interval is the live record of one aligned interval.
type Interval struct {
	Start, End time.Time
	Metrics    []Metric
}

// Hour is the hourly record of one clock hour.
type Hour struct {
	Start, End time.Time
	Metrics    []Metric
}

// Statement is one tenant's steam and power over a day or a month: sums of
// the tenant's valid hours, with the counts that say how complete it is.
type Statement struct {
	Period     string // "day" or "month"
	Start, End time.Time
	Tenant     string
	SteamMass  float64 // t
	Steam      float64 // GJ above the contract reference
	LossShare  float64 // GJ, the tenant's pro-rata share of the network loss
	Electric   float64 // MWh; 0 without a power meter
	// Hours is the number of hours of the period the engine closed;
	// ValidHours those whose tenant values were all valid; ExpectedHours
	// the hours of the period. SteamMass, Steam and LossShare are summed
	// over the SteamValidHours (those three valid), Electric over the
	// ElectricValidHours: a power meter's invalid hour does not take the
	// tenant's steam out of the day, which must balance with the
	// supplier's.
	Hours, ValidHours, ExpectedHours    int
	SteamValidHours, ElectricValidHours int
}

// Complete reports whether every hour of the period was closed and valid.
func (s Statement) Complete() bool { return s.ValidHours == s.ExpectedHours }

// Output is what Advance produced.
type Output struct {
	Live       []Interval
	Hours      []Hour
	Statements []Statement
}

// Empty reports whether o holds nothing.
func (o Output) Empty() bool { return len(o.Live)+len(o.Hours)+len(o.Statements) == 0 }

// Stats counts what the engine did with its input.
type Stats struct {
	Batches        [numResults]uint64 // by Result
	InvalidSamples uint64             // samples of accepted batches without a valid value
	Intervals      uint64             // live intervals closed
	Hours          uint64             // hourly records closed
}

// cumulative holds the reductions summed since the engine started.
type cumulative struct {
	co2, so2          float64
	hours, validHours int
}

type stmtKey struct {
	period string
	start  int64
	tenant int
}

// Engine computes a park's metrics. It is not safe for concurrent use: one
// goroutine owns it.
type Engine struct {
	p         *plan
	hourRule  rule
	liveRule  rule
	interval  time.Duration
	liveDelay time.Duration
	grace     time.Duration
	loc       *time.Location
	clock     func() time.Time
	maxSkew   time.Duration
	perHour   int // batches of one device counted in an hour at most
	holds     holds

	start       time.Time
	liveFrom    time.Time // first live interval: the first that starts at or after start
	firstHour   time.Time // the first hour closed: the start's, or the reopened one before it
	liveHorizon time.Time // live intervals ending at or before it are closed
	nextHour    time.Time // first hour not closed yet
	live        map[int64]*window
	hours       map[int64]*window
	stmts       map[stmtKey]*Statement
	cum         cumulative
	stats       Stats
	scratch     []sample
	pts         points
}

// ErrNoModel is returned by New when the configuration has no park_engine
// section.
var ErrNoModel = errors.New("park: configuration has no park_engine section")

// New builds an engine for the park_engine section of a validated
// configuration. It does no I/O; the clock's current time is the engine's
// start: hours before the start's (but Options.From) and live intervals
// that began before the start are never reported.
func New(pe *config.ParkEngine, o Options) (*Engine, error) {
	if pe == nil {
		return nil, ErrNoModel
	}
	p, err := compile(pe)
	if err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = batch.MaxClockSkew
	}
	if pe.MaxBatchesPerDeviceHour <= 0 {
		return nil, fmt.Errorf("park: max_batches_per_device_hour is %d, not a positive count (a configuration not validated?)", pe.MaxBatchesPerDeviceHour)
	}
	loc := pe.Location
	if loc == nil {
		loc = time.UTC
	}
	e := &Engine{
		p: p, interval: pe.Interval, liveDelay: pe.LiveDelay, grace: pe.Grace, loc: loc,
		clock: o.Clock, maxSkew: o.MaxSkew, perHour: pe.MaxBatchesPerDeviceHour,
		holds: holds{max: pe.MaxHold, offline: map[string]time.Time{}, lastData: map[string]time.Time{}},
		live:  map[int64]*window{}, hours: map[int64]*window{}, stmts: map[stmtKey]*Statement{},
		pts: points{},
	}
	e.hourRule = rule{quadrants: pe.Validity.Rule == config.ValidityQuadrants, minMinutes: int(math.Ceil(pe.Validity.MinFraction*60 - 1e-9))}
	e.liveRule = rule{anySample: true}
	e.start = e.clock()
	e.liveFrom = e.start.Truncate(e.interval)
	if e.liveFrom.Before(e.start) {
		e.liveFrom = e.liveFrom.Add(e.interval)
	}
	e.liveHorizon = e.liveFrom
	e.nextHour = e.start.Truncate(time.Hour)
	if prev := e.nextHour.Add(-time.Hour); o.From.Equal(prev) && e.start.Before(e.nextHour.Add(e.grace)) {
		e.nextHour = prev
	}
	e.firstHour = e.nextHour
	return e, nil
}

// PartialHours returns the hours the engine closes that began before its
// start, oldest first: the start's hour (unless it started on the hour)
// and the reopened hour before it (Options.From).
func (e *Engine) PartialHours() []time.Time {
	var hs []time.Time
	for h := e.firstHour; h.Before(e.start); h = h.Add(time.Hour) {
		hs = append(hs, h)
	}
	return hs
}

// Stats returns the counters.
func (e *Engine) Stats() Stats { return e.stats }

// ReferenceEnthalpy is the contract reference enthalpy in kJ/kg.
func (e *Engine) ReferenceEnthalpy() float64 { return e.p.hRef }

// Channels lists the engine's input channels (device.quantity), in order.
func (e *Engine) Channels() []string { return append([]string(nil), e.p.names...) }

// Add counts a batch published by gateway. Only Accepted changed the
// engine's state.
func (e *Engine) Add(gateway string, b *batch.Batch) Result {
	r := e.add(gateway, b, false)
	e.stats.Batches[r]++
	return r
}

// AddStored counts a batch read back from storage for an hour the engine
// did not see from its start (Service, Options.Backfill): as Add, but it
// is not taken as a sign of its gateway's activity (holds) and feeds no
// live interval. A batch Add already counted is Duplicate. It is not
// counted in Stats.
func (e *Engine) AddStored(gateway string, b *batch.Batch) Result {
	return e.add(gateway, b, true)
}

// Knows reports whether the park model has a role for device as published
// by gateway: whether Add would do more than count the batch Unknown.
func (e *Engine) Knows(gateway, device string) bool {
	for _, c := range e.p.roles[device] {
		if c.gateway == "" || c.gateway == gateway {
			return true
		}
	}
	return false
}

// GatewaysOf lists, sorted, the gateways the model names for device (none
// when it names the device without one, or not at all).
func (e *Engine) GatewaysOf(device string) []string {
	var out []string
	for _, c := range e.p.roles[device] {
		if c.gateway != "" && !slices.Contains(out, c.gateway) {
			out = append(out, c.gateway)
		}
	}
	slices.Sort(out)
	return out
}

// Unbound lists, sorted, the devices of the model named without a gateway:
// a batch of that name counts whichever gateway published it.
func (e *Engine) Unbound() []string {
	var out []string
	for dev, roles := range e.p.roles {
		for _, c := range roles {
			if c.gateway == "" {
				out = append(out, dev)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Refuse counts a batch its caller kept from Add, with the reason r.
func (e *Engine) Refuse(r Result) { e.stats.Batches[r]++ }

func (e *Engine) add(gateway string, b *batch.Batch, stored bool) Result {
	var ro *role
	extras := false
	for _, c := range e.p.roles[b.Device] {
		if c.gateway == "" || c.gateway == gateway {
			if c.extra {
				extras = true
			} else if ro == nil {
				ro = c
			}
		}
	}
	if ro == nil && !extras {
		return Unknown
	}
	if !stored {
		e.holds.lastData[gateway] = e.clock()
	}
	if b.Time.After(e.clock().Add(e.maxSkew)) {
		return Future
	}
	hs := b.Time.Truncate(time.Hour)
	if hs.Before(e.nextHour) {
		return Late
	}
	hw := e.hours[hs.UnixNano()]
	if hw == nil {
		hw = newWindow(hs, time.Hour, len(e.p.names), true)
		e.hours[hs.UnixNano()] = hw
	}
	if r := hw.remember(gateway, b.Device, b.Time.UnixNano(), e.perHour); r != Accepted {
		return r
	}

	clear(e.pts)
	for i := range b.Points {
		e.pts[b.Points[i].Name] = &b.Points[i]
	}
	e.scratch = e.scratch[:0]
	if ro != nil {
		e.scratch = ro.fn(e.pts, e.scratch)
	}
	if extras {
		for _, c := range e.p.roles[b.Device] {
			if c.extra && (c.gateway == "" || c.gateway == gateway) {
				e.scratch = c.fn(e.pts, e.scratch)
			}
		}
	}
	var lw *window
	if ls := b.Time.Truncate(e.interval); !stored && !ls.Before(e.liveFrom) && ls.Add(e.interval).After(e.liveHorizon) {
		lw = e.live[ls.UnixNano()]
		if lw == nil {
			lw = newWindow(ls, e.interval, len(e.p.names), false)
			e.live[ls.UnixNano()] = lw
		}
	}
	for _, s := range e.scratch {
		if s.bad != "" {
			e.stats.InvalidSamples++
		}
		hw.add(b.Time, s)
		if lw != nil {
			lw.add(b.Time, s)
		}
	}
	return Accepted
}

// Advance closes, at the clock's current time, every live interval that
// ended at least live_delay ago and every hour that ended at least grace
// ago, and returns their records, plus the statements of the days and
// months whose last hour closed. Hours without any reading are closed too:
// their records say so.
func (e *Engine) Advance() Output {
	now := e.clock()
	var out Output
	if h := now.Add(-e.liveDelay); h.After(e.liveHorizon) {
		e.liveHorizon = h
	}
	var done []*window
	for k, w := range e.live {
		if !w.end.After(e.liveHorizon) {
			done = append(done, w)
			delete(e.live, k)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].start.Before(done[j].start) })
	for _, w := range done {
		c := &calc{p: e.p, w: w, r: e.liveRule, hours: e.interval.Hours(), live: true, st: map[chanID]chanState{}}
		c.run()
		out.Live = append(out.Live, Interval{Start: w.start, End: w.end, Metrics: c.out})
		e.stats.Intervals++
	}
	for !e.nextHour.Add(time.Hour+e.grace).After(now) && e.mayClose(e.nextHour.Add(time.Hour), now) {
		w := e.hours[e.nextHour.UnixNano()]
		delete(e.hours, e.nextHour.UnixNano())
		if w == nil {
			w = newWindow(e.nextHour, time.Hour, len(e.p.names), false)
		}
		h := e.closeHour(w)
		out.Hours = append(out.Hours, h)
		out.Statements = append(out.Statements, e.statements(h)...)
		e.nextHour = e.nextHour.Add(time.Hour)
		e.stats.Hours++
	}
	return out
}

func (e *Engine) closeHour(w *window) Hour {
	c := &calc{p: e.p, w: w, r: e.hourRule, hours: 1, st: map[chanID]chanState{}}
	c.run()
	if e.p.baseline != nil {
		e.cum.hours++
		var co2, so2 *Metric
		for i := range c.out {
			if c.out[i].Entity != "" {
				continue // per-tenant values; the park's are summed
			}
			switch c.out[i].Name {
			case "reduction_co2_t":
				co2 = &c.out[i]
			case "reduction_so2_t":
				so2 = &c.out[i]
			}
		}
		if co2 != nil && so2 != nil && co2.Flag == Valid && so2.Flag == Valid {
			e.cum.validHours++
			e.cum.co2 += co2.Value
			e.cum.so2 += so2.Value
		}
		for _, m := range []struct {
			name string
			v    float64
		}{{"reduction_co2_cumulative_t", e.cum.co2}, {"reduction_so2_cumulative_t", e.cum.so2}} {
			cm := Metric{Name: m.name, Unit: "t", Value: m.v, Flag: Valid, Hours: e.cum.hours, ValidHours: e.cum.validHours,
				Completeness: float64(e.cum.validHours) / float64(e.cum.hours)}
			if e.cum.validHours == 0 {
				cm.Flag, cm.Value, cm.Reason = Invalid, 0, "no valid hour since the engine started"
			}
			c.out = append(c.out, cm)
		}
	}
	return Hour{Start: w.start, End: w.end, Metrics: c.out}
}

// statements adds a closed hour to its day's and month's statements and
// returns those whose period ended with it.
func (e *Engine) statements(h Hour) []Statement {
	type vals struct {
		mass, steam, loss, elec float64
		steamOK, elecOK         bool
	}
	per := make([]vals, len(e.p.tenants))
	idx := map[string]int{}
	for i, t := range e.p.tenants {
		idx[t.name] = i
		per[i].steamOK, per[i].elecOK = true, true
	}
	for _, m := range h.Metrics {
		if m.EntityKey != "tenant" {
			continue
		}
		i, ok := idx[m.Entity]
		if !ok {
			continue
		}
		var dst *float64
		valid := &per[i].steamOK
		switch m.Name {
		case "steam_mass_t":
			dst = &per[i].mass
		case "steam_energy_gj":
			dst = &per[i].steam
		case "loss_share_gj":
			dst = &per[i].loss
		case "electric_energy_mwh":
			dst, valid = &per[i].elec, &per[i].elecOK
		default:
			continue
		}
		if m.Flag != Valid {
			*valid = false
			continue
		}
		*dst = m.Value
	}
	local := h.Start.In(e.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, e.loc)
	month := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, e.loc)
	periods := []struct {
		name       string
		start, end time.Time
	}{{"day", day, day.AddDate(0, 0, 1)}, {"month", month, month.AddDate(0, 1, 0)}}
	var out []Statement
	for _, pd := range periods {
		for i, t := range e.p.tenants {
			k := stmtKey{period: pd.name, start: pd.start.UnixNano(), tenant: i}
			s := e.stmts[k]
			if s == nil {
				s = &Statement{Period: pd.name, Start: pd.start, End: pd.end, Tenant: t.name,
					ExpectedHours: int(pd.end.Sub(pd.start) / time.Hour)}
				e.stmts[k] = s
			}
			s.Hours++
			if per[i].steamOK {
				s.SteamValidHours++
				s.SteamMass += per[i].mass
				s.Steam += per[i].steam
				s.LossShare += per[i].loss
			}
			if per[i].elecOK {
				s.ElectricValidHours++
				s.Electric += per[i].elec
			}
			if per[i].steamOK && per[i].elecOK {
				s.ValidHours++
			}
			if !h.End.Before(pd.end) {
				out = append(out, *s)
				delete(e.stmts, k)
			}
		}
	}
	return out
}

// holds are what keeps an hour open past its grace: batches of it that
// may still come. While the engine's connection to the broker is down,
// every edge's batches wait in its log or at the broker; while a gateway
// that sent data lately is offline (its status topic: the broker's last
// will for it), its batches wait in its log. Once the hold ends, the
// hour closes a grace later, so that the backlog can arrive. Closed at
// its grace regardless of them, the hour would leave those batches out
// as late while ingest stores them, and the audit's recomputation, which
// has every stored reading, would not match the hourly record. An hour is
// held at most max (park_engine.max_hold) past its end.
type holds struct {
	max        time.Duration
	brokerDown time.Time            // the engine's connection lost at (zero: connected)
	offline    map[string]time.Time // gateway -> offline since
	lastData   map[string]time.Time // gateway -> clock time of its last batch of a model device
	resumed    time.Time            // when the last hold ended
}

// SetBroker records the engine's connection to the broker: lost (up
// false) or back, at at.
func (e *Engine) SetBroker(up bool, at time.Time) {
	h := &e.holds
	switch {
	case !up && h.brokerDown.IsZero():
		h.brokerDown = at
	case up && !h.brokerDown.IsZero():
		h.brokerDown = time.Time{}
		if at.After(h.resumed) {
			h.resumed = at
		}
	}
}

// SetGatewayStatus records a gateway's status message: online or not,
// at at.
func (e *Engine) SetGatewayStatus(gateway string, online bool, at time.Time) {
	h := &e.holds
	if _, was := h.offline[gateway]; online {
		if was {
			delete(h.offline, gateway)
			if at.After(h.resumed) {
				h.resumed = at
			}
		}
	} else if !was {
		if len(h.offline) >= maxOfflineGateways {
			return // a flood of invented gateways: holding on them is pointless
		}
		h.offline[gateway] = at
	}
}

// maxOfflineGateways bounds the offline gateways remembered.
const maxOfflineGateways = 10000

// Held reports why the hour ending at end, past its grace at now, is still
// open ("" when it is not held).
func (e *Engine) Held(end, now time.Time) string {
	h := &e.holds
	if h.max <= 0 || !now.Before(end.Add(h.max)) {
		return ""
	}
	if !h.brokerDown.IsZero() {
		return "the engine's connection to the broker is down"
	}
	for g := range h.offline {
		if last, ok := h.lastData[g]; ok && now.Sub(last) < h.max {
			return "gateway " + g + " is offline"
		}
	}
	if h.resumed.After(end) && now.Before(h.resumed.Add(e.grace)) {
		return "catching up since " + h.resumed.UTC().Format(time.RFC3339)
	}
	return ""
}

// HeldHour returns the next hour to close and why it is held open, when
// it is past its grace at now and held ("" otherwise).
func (e *Engine) HeldHour(now time.Time) (hour time.Time, why string) {
	end := e.nextHour.Add(time.Hour)
	if end.Add(e.grace).After(now) {
		return e.nextHour, ""
	}
	return e.nextHour, e.Held(end, now)
}

// mayClose reports whether the hour ending at end, past its grace at now,
// may close.
func (e *Engine) mayClose(end, now time.Time) bool { return e.Held(end, now) == "" }

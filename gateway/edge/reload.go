package edge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// ErrNotRunning is returned by Reload when the edge is not polling.
var ErrNotRunning = errors.New("edge is not running")

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Added, Removed and Changed name devices, in configuration order.
	Added, Removed, Changed []string
	// Restarted names the buses whose owner was stopped and started again
	// (the bus or one of its devices changed); Started and Stopped the
	// buses added and removed. A bus whose settings and devices are
	// unchanged keeps polling through the reload.
	Restarted, Started, Stopped []string
}

// Unchanged reports whether the reload changed nothing.
func (r ReloadResult) Unchanged() bool {
	return len(r.Added)+len(r.Removed)+len(r.Changed)+len(r.Restarted)+len(r.Started)+len(r.Stopped) == 0
}

type reloadReq struct {
	edge    *config.Edge
	sources []drivers.Source
	done    chan reloadAnswer
}

type reloadAnswer struct {
	res ReloadResult
	err error
}

// Reload applies the buses and devices of cfg to the running edge: buses
// whose settings or devices changed are stopped (the read in progress
// completes and its batch reaches the write-ahead log) and started again
// with the new settings, new buses start, removed buses stop, and
// unchanged buses keep polling. The sequence, the log and the broker
// connection carry on: no polled batch is lost.
//
// Settings that only a restart can change (park, site, mqtt, the gateway
// id, the state directory, the log, limits and replay policy) must be
// unchanged: otherwise nothing is applied and the error names them. A
// configuration the drivers refuse is not applied either. cfg must come
// from a validated configuration (config.Load).
func (e *Edge) Reload(ctx context.Context, cfg config.EdgeRole, drv drivers.Registry) (ReloadResult, error) {
	if cfg.Edge == nil || cfg.MQTT == nil {
		return ReloadResult{}, errors.New("edge: reload: configuration needs mqtt and edge sections")
	}
	if fixed := e.fixedChanges(cfg); len(fixed) > 0 {
		return ReloadResult{}, fmt.Errorf("edge: reload: %v changed; only a restart applies them (nothing was changed)", fixed)
	}
	sources, err := drv.Sources(cfg.Edge, e.log)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("edge: reload: %w (nothing was changed)", err)
	}
	req := reloadReq{edge: cfg.Edge, sources: sources, done: make(chan reloadAnswer, 1)}
	select {
	case e.reloads <- req:
	case <-ctx.Done():
		return ReloadResult{}, fmt.Errorf("edge: reload: %w", ErrNotRunning)
	}
	a := <-req.done
	return a.res, a.err
}

// fixedChanges names the settings of cfg that differ from the running
// configuration and that a reload cannot change.
func (e *Edge) fixedChanges(cfg config.EdgeRole) []string {
	old, nu := e.cfg, cfg
	var out []string
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	diff("park", old.Park, nu.Park)
	diff("site", old.Site, nu.Site)
	// The TLS block holds what Load built from its files, new at each
	// load: its settings are compared, then the rest of the section.
	om, nm := *old.MQTT, *nu.MQTT
	if !om.TLS.Equal(nm.TLS) {
		out = append(out, "mqtt.tls")
	}
	om.TLS, nm.TLS = nil, nil
	diff("mqtt", om, nm)
	oe, ne := old.Edge, nu.Edge
	diff("edge.gateway", oe.Gateway, ne.Gateway)
	diff("edge.state_dir", oe.StateDir, ne.StateDir)
	diff("edge.publish_timeout", oe.PublishTimeout, ne.PublishTimeout)
	diff("edge.max_inflight", oe.MaxInflight, ne.MaxInflight)
	diff("edge.max_batch_points", oe.MaxBatchPoints, ne.MaxBatchPoints)
	diff("edge.wal", oe.WAL, ne.WAL)
	diff("edge.replay", oe.Replay, ne.Replay)
	return out
}

// busSources returns the sources being polled, in configuration order.
func (e *Edge) busSources() []drivers.Source {
	e.srcMu.RLock()
	defer e.srcMu.RUnlock()
	return slices.Clone(e.sources)
}

// owners runs one goroutine per bus, each owning its source, and swaps
// them on a reload. Only Run's goroutine calls its methods.
type owners struct {
	e   *Edge
	st  *stamper
	ctx context.Context
	run map[string]*owner // by bus name
	cfg *config.Edge      // the buses and devices being polled
}

type owner struct {
	src  drivers.Source
	stop context.CancelFunc
	done chan struct{}
}

func newOwners(e *Edge, st *stamper, ctx context.Context) *owners {
	return &owners{e: e, st: st, ctx: ctx, run: map[string]*owner{}, cfg: e.cfg.Edge}
}

func (o *owners) start(sources []drivers.Source) {
	for _, src := range sources {
		o.startOne(src)
	}
}

func (o *owners) startOne(b drivers.Source) {
	ctx, stop := context.WithCancel(o.ctx)
	w := &owner{src: b, stop: stop, done: make(chan struct{})}
	o.run[b.Name()] = w
	e, st := o.e, o.st
	go func() {
		defer close(w.done)
		defer e.health.ownerRunning(b.Name())()
		b.Run(ctx, func(d *drivers.Device, polled time.Time, rs []drivers.Reading) {
			e.m.pollDur.WithLabelValues(d.Name).Observe(time.Since(polled).Seconds())
			good := 0
			for i := range rs {
				if rs[i].HasValue {
					good++
				}
			}
			e.observePoll(d.Name, good, len(rs))
			e.last.set(d.Name, polled, rs)
			st.stamp(d, polled, rs)
			e.health.polled(b.Name())
		})
	}()
}

// stopOne stops bus name's owner and waits until its source returned: a
// read in progress completes and reaches the log first.
func (o *owners) stopOne(name string) {
	if w, ok := o.run[name]; ok {
		w.stop()
		<-w.done
		delete(o.run, name)
	}
}

func (o *owners) stopAll() {
	for name := range o.run {
		o.run[name].stop()
	}
	for name := range o.run {
		o.stopOne(name)
	}
}

// busConfig is a bus's settings and its devices, in configuration order.
type busConfig struct {
	bus     config.Bus
	devices []config.Device
}

func busConfigs(c *config.Edge) map[string]busConfig {
	out := map[string]busConfig{}
	for _, b := range c.Buses {
		out[b.Name] = busConfig{bus: b}
	}
	for _, d := range c.Devices {
		bc := out[d.Bus]
		bc.devices = append(bc.devices, d)
		out[d.Bus] = bc
	}
	return out
}

// reload swaps the owners of the buses that changed (see Edge.Reload).
func (o *owners) reload(req reloadReq) reloadAnswer {
	e := o.e
	oldBuses, newBuses := busConfigs(o.cfg), busConfigs(req.edge)
	var res ReloadResult

	oldDev := map[string]config.Device{}
	for _, d := range o.cfg.Devices {
		oldDev[d.Name] = d
	}
	newDev := map[string]bool{}
	for _, d := range req.edge.Devices {
		newDev[d.Name] = true
		old, ok := oldDev[d.Name]
		switch {
		case !ok:
			res.Added = append(res.Added, d.Name)
		case !reflect.DeepEqual(old, d):
			res.Changed = append(res.Changed, d.Name)
		}
	}
	for _, d := range o.cfg.Devices {
		if !newDev[d.Name] {
			res.Removed = append(res.Removed, d.Name)
		}
	}

	// Stop what is removed or changed first, so that a device moved from
	// one bus to another is never read by both.
	var stopped []drivers.Source
	for _, b := range o.cfg.Buses {
		nb, ok := newBuses[b.Name]
		if ok && reflect.DeepEqual(nb, oldBuses[b.Name]) {
			continue
		}
		if w := o.run[b.Name]; w != nil {
			stopped = append(stopped, w.src)
		}
		o.stopOne(b.Name)
		if ok {
			res.Restarted = append(res.Restarted, b.Name)
		} else {
			res.Stopped = append(res.Stopped, b.Name)
		}
	}

	// Where the stopped owners left their devices' schedules: a device
	// kept on a restarted bus (or moved to another) goes on from its slot.
	slots := map[string]time.Time{}
	var states []drivers.DeviceState
	for _, src := range stopped {
		if r, ok := src.(drivers.Resumer); ok {
			maps.Copy(slots, r.Slots())
		}
		states = append(states, src.States()...)
	}

	final := make([]drivers.Source, 0, len(req.sources))
	var fresh []drivers.Source
	for _, src := range req.sources {
		if w := o.run[src.Name()]; w != nil {
			final = append(final, w.src) // unchanged: keeps polling
			continue
		}
		if r, ok := src.(drivers.Resumer); ok && len(slots) > 0 {
			r.Resume(slots)
		}
		if c, ok := src.(drivers.Carrier); ok && len(states) > 0 {
			c.Carry(states)
		}
		if _, existed := oldBuses[src.Name()]; !existed {
			res.Started = append(res.Started, src.Name())
		}
		final = append(final, src)
		fresh = append(fresh, src)
	}

	o.st.mu.Lock()
	clear(o.st.texts)
	for _, src := range stopped {
		for _, d := range src.Devices() {
			delete(e.topics, d)
		}
	}
	for _, src := range fresh {
		for _, d := range src.Devices() {
			e.topics[d] = topic.Data(e.park, e.gateway, d.Name)
		}
	}
	o.st.mu.Unlock()

	for _, name := range res.Removed {
		e.m.forget(name)
		e.last.forget(name)
	}
	e.health.setBuses(req.edge, final)
	// The stopped sources' counts join the retired ones with the swap,
	// under one lock: a scrape sees them counted once.
	e.srcMu.Lock()
	e.retireLocked(stopped)
	e.sources = final
	e.srcMu.Unlock()
	o.cfg = req.edge
	for _, src := range fresh {
		o.startOne(src)
	}
	return reloadAnswer{res: res}
}

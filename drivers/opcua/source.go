// Package opcua is the OPC UA driver of eipgw (the contract is in package
// drivers): one Source per configured server endpoint, reading its
// devices' nodes by polling (one Read of all a device's nodes per
// interval) or by subscription (monitored items the server pushes), over
// security None or Basic256Sha256, on github.com/gopcua/opcua.
//
// A Source owns one client connection. When it fails (the server went
// away, the session was closed or timed out, a request timed out) the
// Source closes it, marks its devices' points with the failure's quality
// at their interval, and connects again with a back-off, creating a new
// session and new subscriptions. Sources are independent: a server that
// stalls holds up no other.
package opcua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Driver is the OPC UA driver of the contract in package drivers.
type Driver struct {
	// Types, when set, gives the points of one name of every device of
	// one kind one type in this process, whichever bus and server they
	// are read from: they are one field of one measurement in InfluxDB,
	// which refuses a value of another type. Keep one for the process
	// (reloads included). Nil: each point takes its own node's.
	Types *KindTypes
}

var _ drivers.Driver = Driver{}

// Sources builds a Source per opcua bus, with its devices; no I/O.
func (dr Driver) Sources(buses []config.Bus, devices []config.Device, log *slog.Logger) ([]drivers.Source, error) {
	out := make([]drivers.Source, 0, len(buses))
	for _, b := range buses {
		var ds []config.Device
		for _, d := range devices {
			if d.Bus == b.Name {
				ds = append(ds, d)
			}
		}
		s, err := NewSource(b, ds, log)
		if err != nil {
			return nil, err
		}
		s.kinds = dr.Types
		dr.Types.register(s.devs)
		out = append(out, s)
	}
	return out, nil
}

// device is one configured device of a source.
type device struct {
	cfg    config.Device
	pub    *drivers.Device
	sub    bool // subscription mode
	points []point
	// ids are the configured NodeIds (nil for a browse path); paths the
	// browse paths (nil for a NodeId).
	ids   []*ua.NodeID
	paths [][]config.BrowseName

	// Per session, owned by Run's goroutine.
	nodes   []*ua.NodeID // resolved; nil where the node is unavailable
	nodeErr []string     // why a node is unavailable on this session
	// pointErr is why each point's latest reading is not good (empty
	// when it is).
	pointErr []string
	read     *ua.ReadRequest
	readIdx  []int // point of each node in read
	// reads are read split into requests of at most readLimit nodes
	// (the server's limit); results gathers their answers.
	reads     []*ua.ReadRequest
	readLimit int
	results   []*ua.DataValue
	out       []drivers.Reading
	next      time.Time // next poll, or next failure batch during an outage
	lastErr   string    // last error logged
	// fresh marks the monitored items whose first notification, the
	// node's value when the item was created, has not come yet; created
	// is when the server created each (its answer arrived).
	fresh   []bool
	created []time.Time
	// got says whether the device got data this session: a read that
	// succeeded, a notification, or a subscription with nothing to wait
	// for (every node refused).
	got bool
	// last is the time of the device's last batch: each is later.
	last time.Time

	mu    sync.Mutex
	state drivers.DeviceState
}

// Source is one OPC UA server endpoint and the devices read from it.
type Source struct {
	kinds *KindTypes // the process's types per kind and point (Driver.Types); nil: none
	bus   config.Bus
	devs  []*device
	pub   []*drivers.Device
	log   *slog.Logger
	// lim are the session's operation limits: the server's, lowered to
	// learned, those learned from its refusals (kept across sessions).
	// Owned by Run's goroutine.
	lim, learned opLimits
	// noTranslate is why the server refused to translate browse paths
	// (empty: it did not): later sessions do not ask again, since the
	// refusal costs the session (see errLimitLearned).
	noTranslate string
	// noPublishingMode: the server does not serve SetPublishingMode
	// (subscriptionsHeld); later sessions do not ask again.
	noPublishingMode bool
	// keepAlive is the longest keep-alive period a server granted a
	// subscription of this bus (it may revise the one asked for upward):
	// later sessions' request timeouts cover it (requestTimeout).
	keepAlive time.Duration
	// orphan is a session the server may still hold: its connection
	// failed before the session could be closed. The next connection
	// activates it on a new secure channel and closes it (OPC UA Part 4,
	// 5.6.3 and 5.6.4) before it creates its own, so that connections cut
	// again and again do not pile sessions up on the server until they
	// time out (a server holds a bounded number: BadTooManySessions).
	// Owned by Run's goroutine.
	orphan *opcua.Session
}

var _ drivers.Source = (*Source)(nil)

// NewSource checks the nodes of the devices of bus b (all on it) and builds
// its source; no I/O.
func NewSource(b config.Bus, devices []config.Device, log *slog.Logger) (*Source, error) {
	if !b.IsOPCUA() || b.OPCUA == nil {
		return nil, fmt.Errorf("bus %s: not an opcua bus", b.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{bus: b, log: log.With("bus", b.Name, "endpoint", b.OPCUA.Endpoint)}
	for _, c := range devices {
		o := c.OPCUA
		if o == nil {
			return nil, fmt.Errorf("device %s: no opcua section", c.Name)
		}
		d := &device{
			cfg: c, sub: o.Mode == config.OPCUASubscription,
			pub: &drivers.Device{Name: c.Name, Kind: o.Kind, Tenant: c.Tenant, Source: b.Name},
		}
		for _, n := range o.Nodes {
			d.points = append(d.points, newPoint(n))
			if n.NodeID != "" {
				nid, err := ua.ParseNodeID(n.NodeID)
				if err != nil {
					return nil, fmt.Errorf("device %s: node %s: node id %q: %w", c.Name, n.Name, n.NodeID, err)
				}
				d.ids, d.paths = append(d.ids, nid), append(d.paths, nil)
				continue
			}
			p, err := config.ParseBrowsePath(n.BrowsePath)
			if err != nil {
				return nil, fmt.Errorf("device %s: node %s: %w", c.Name, n.Name, err)
			}
			d.ids, d.paths = append(d.ids, nil), append(d.paths, p)
		}
		d.out = make([]drivers.Reading, len(d.points))
		d.nodes = make([]*ua.NodeID, len(d.points))
		d.nodeErr = make([]string, len(d.points))
		d.pointErr = make([]string, len(d.points))
		d.fresh = make([]bool, len(d.points))
		d.created = make([]time.Time, len(d.points))
		d.state.Device = c.Name
		s.devs = append(s.devs, d)
		s.pub = append(s.pub, d.pub)
	}
	return s, nil
}

// Name is the bus's name.
func (s *Source) Name() string { return s.bus.Name }

// Devices are the bus's devices in configuration order.
func (s *Source) Devices() []*drivers.Device { return s.pub }

// States reports each device's state.
func (s *Source) States() []drivers.DeviceState {
	out := make([]drivers.DeviceState, len(s.devs))
	for i, d := range s.devs {
		d.mu.Lock()
		out[i] = d.state
		d.mu.Unlock()
	}
	return out
}

// Carry starts the devices from the states of the source this one
// replaces (drivers.Carrier).
func (s *Source) Carry(states []drivers.DeviceState) {
	for _, d := range s.devs {
		for _, st := range states {
			if st.Device == d.cfg.Name && !st.Since.IsZero() {
				d.mu.Lock()
				d.state.Up, d.state.Since, d.state.LastError = st.Up, st.Since, st.LastError
				d.mu.Unlock()
			}
		}
	}
}

// Run connects, reads and re-connects until ctx ends.
func (s *Source) Run(ctx context.Context, sink drivers.Sink) {
	if len(s.devs) == 0 {
		<-ctx.Done()
		return
	}
	failures := 0
	for ctx.Err() == nil {
		learned, noTranslate := s.learned, s.noTranslate
		err := s.session(ctx, sink)
		if ctx.Err() != nil {
			return
		}
		// The failure count goes back to 0 only when the session served
		// every device: a session that connects and drops before its
		// devices got data (a value the server cannot send, say) is a
		// failure like a refused connection, and the attempts back off.
		// A session that ended because the driver learned a limit of
		// the server is followed by one that asks otherwise, at once.
		if s.served() || s.learned != learned || s.noTranslate != noTranslate {
			failures = 0
		}
		failures++
		q := failureQuality(err)
		wait := s.backoff(failures)
		s.log.Warn("opcua connection failed", "quality", q, "err", err, "retry_in", wait)
		now := time.Now()
		for _, d := range s.devs {
			s.fail(d, q, err.Error()+d.waiting(s), now, now.Add(wait))
		}
		s.outage(ctx, sink, q, err.Error(), now.Add(wait))
	}
}

// served reports whether every device got data in the last session.
func (s *Source) served() bool {
	for _, d := range s.devs {
		if !d.got {
			return false
		}
	}
	return true
}

// waiting says, for a subscribed device that got no data in the last
// session, which of its monitored items were still waiting for their
// first value (the node whose value the server could not send is among
// them); empty otherwise.
func (d *device) waiting(s *Source) string {
	if d.got || !d.sub {
		return ""
	}
	var nodes []string
	for pi, f := range d.fresh {
		if f {
			nodes = append(nodes, strings.TrimSuffix(s.nodeText(d, pi, "")[len("node "):], ": "))
		}
	}
	if len(nodes) == 0 {
		return ""
	}
	if len(nodes) > maxErrors {
		nodes = append(nodes[:maxErrors], fmt.Sprintf("and %d more", len(nodes)-maxErrors))
	}
	return fmt.Sprintf("; device %s got no data this session: no value yet from node %s", d.cfg.Name, strings.Join(nodes, ", "))
}

// backoff is the wait before the k-th consecutive connection attempt:
// none for the first (a restart or a dropped session is repaired at once),
// then 1s doubled per failure up to the bus's cap.
func (s *Source) backoff(k int) time.Duration {
	if k < 2 {
		return 0
	}
	bo := time.Second
	for i := 2; i < k && bo < s.bus.BackoffMax; i++ {
		bo *= 2
	}
	return min(bo, s.bus.BackoffMax)
}

// outage hands each device's points with quality q to the sink on the
// device's interval until the deadline.
func (s *Source) outage(ctx context.Context, sink drivers.Sink, q drivers.Quality, why string, until time.Time) {
	for {
		now := time.Now()
		wake := until
		for _, d := range s.devs {
			if d.next.IsZero() {
				d.next = now.Truncate(d.cfg.Interval).Add(d.cfg.Interval)
			}
			if !d.next.After(now) {
				s.failBatch(d, q, why, now, sink)
				d.next = now.Truncate(d.cfg.Interval).Add(d.cfg.Interval)
			}
			if d.next.Before(wake) {
				wake = d.next
			}
		}
		if !until.After(now) {
			return
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// failBatch hands the device's points with quality q (no values) to sink.
func (s *Source) failBatch(d *device, q drivers.Quality, why string, at time.Time, sink drivers.Sink) {
	for i := range d.points {
		d.out[i] = drivers.Reading{Name: d.points[i].cfg.Name, Unit: d.points[i].cfg.Unit, Quality: q}
	}
	d.mu.Lock()
	d.state.LastPoll = at
	d.state.Polls++
	d.state.Skipped++
	d.mu.Unlock()
	d.hand(at, d.out, sink)
}

// hand gives sink one batch of the device's readings at time at (to the
// millisecond, as the batch carries it). A device's batches keep strictly
// increasing times: one at or before the last (a node sampled late, a
// server's clock stepped back) is stamped 1 ms after it, since two batches
// of a device at one time would be one point in InfluxDB, the later
// batch's sequence number replacing the earlier's.
func (d *device) hand(at time.Time, rs []drivers.Reading, sink drivers.Sink) {
	at = at.UTC().Truncate(time.Millisecond)
	if !at.After(d.last) {
		at = d.last.Add(time.Millisecond)
	}
	d.last = at
	sink(d.pub, at, rs)
}

// fail records a failure of the connection on the device's state.
func (s *Source) fail(d *device, q drivers.Quality, why string, now, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.Up || d.state.Since.IsZero() {
		d.state.Since = now
	}
	d.state.Up = false
	d.state.LastError = why
	d.state.Failures++
	d.state.BackoffUntil = time.Time{}
	if until.After(now) {
		d.state.BackoffUntil = until
	}
}

// answered records an answer of the device: up, with the nodes' errors.
func (s *Source) answered(d *device, at time.Time, why string, poll bool) {
	d.mu.Lock()
	if !d.state.Up || d.state.Since.IsZero() {
		d.state.Since = at
	}
	d.state.Up = true
	d.state.LastError = why
	d.state.Failures = 0
	d.state.BackoffUntil = time.Time{}
	if poll {
		d.state.LastPoll = at
		d.state.Polls++
	}
	d.state.Answered++
	d.mu.Unlock()
	if why != d.lastErr {
		if why != "" {
			s.log.Warn("opcua points not good", "device", d.cfg.Name, "err", why)
		} else if d.lastErr != "" {
			s.log.Info("opcua points good again", "device", d.cfg.Name)
		}
		d.lastErr = why
	}
}

// failureQuality is the quality of a failed connection or request.
func failureQuality(err error) drivers.Quality {
	var sc ua.StatusCode
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ua.StatusBadTimeout), errors.Is(err, ua.StatusBadRequestTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return drivers.Timeout
	case errors.As(err, &sc):
		q, _ := Quality(sc)
		if q == drivers.Timeout {
			return q
		}
	}
	return drivers.CommError
}

// sessionLevel reports whether a request's error means the connection or
// the session is lost (the source connects again) rather than the server
// refusing that request.
func sessionLevel(err error) bool {
	var sc ua.StatusCode
	if !errors.As(err, &sc) {
		return true // I/O errors, timeouts of the connection
	}
	switch ua.StatusCode(uint32(sc) & subCodeMask) {
	case ua.StatusBadSessionIDInvalid, ua.StatusBadSessionClosed, ua.StatusBadSessionNotActivated,
		ua.StatusBadSecureChannelIDInvalid, ua.StatusBadSecureChannelClosed, ua.StatusBadConnectionClosed,
		ua.StatusBadServerNotConnected, ua.StatusBadNotConnected, ua.StatusBadCommunicationError,
		ua.StatusBadTimeout, ua.StatusBadRequestTimeout, ua.StatusBadShutdown, ua.StatusBadServerHalted,
		ua.StatusBadTooManySessions, ua.StatusBadSecurityChecksFailed:
		return true
	}
	return false
}

// named is an error whose text names an OPC UA status code the way the
// specification writes it (errorText), and which keeps the error for
// errors.Is and errors.As: the quality of a failure is read from it.
type named struct{ err error }

func (n named) Error() string { return errorText(n.err) }
func (n named) Unwrap() error { return n.err }

// errorText is an error's text with an OPC UA status code named the way
// the specification writes it.
func errorText(err error) string {
	var sc ua.StatusCode
	if errors.As(err, &sc) && err.Error() == sc.Error() {
		return StatusName(sc)
	}
	return err.Error()
}

// session connects, reads until the connection fails and returns why.
func (s *Source) session(ctx context.Context, sink drivers.Sink) error {
	ep := s.bus.OPCUA.Endpoint
	for _, d := range s.devs {
		d.got = false
		clear(d.fresh)
	}
	cctx, cancel := context.WithTimeout(ctx, max(10*time.Second, 5*s.bus.Timeout))
	defer cancel()
	opts, err := clientOptions(cctx, &s.bus)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", ep, named{err})
	}
	s.closeOrphan(cctx, ep, opts)
	// The client reports its connection's state here: a connection that
	// fails ends the session at once, not at the next watchdog check.
	// The client blocks on a full channel; it sends a handful of states
	// in its life.
	states := make(chan opcua.ConnState, 16)
	// The request timeout is also the hint the client's publish requests
	// carry (gopcua: at least each subscription's keep-alive period): a
	// server answers a publish request held past its hint with a service
	// fault BadTimeout, which gopcua takes for a broken connection. A
	// quiet subscription, whose only answers are keep-alives, would then
	// lose its session at every other keep-alive.
	opts = append(opts, opcua.StateChangedCh(states), opcua.RequestTimeout(s.requestTimeout()))
	c, err := opcua.NewClient(ep, opts...)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", ep, err)
	}
	if err := c.Connect(cctx); err != nil {
		closeClient(c)
		return fmt.Errorf("endpoint %s: connect: %w", ep, named{err})
	}
	defer s.release(c)
	s.log.Info("opcua session created", "policy", s.bus.OPCUA.SecurityPolicy, "mode", s.bus.OPCUA.SecurityMode)
	lim, err := operationLimits(cctx, c)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", ep, err)
	}
	if lim != s.lim {
		s.log.Info("opcua server operation limits (0: none published)", "max_nodes_per_read", lim.read,
			"max_nodes_per_translate", lim.translate, "max_monitored_items_per_call", lim.monitor)
	}
	s.lim = lim.within(s.learned)
	if err := s.resolve(cctx, c); err != nil {
		return fmt.Errorf("endpoint %s: %w", ep, err)
	}
	if err := s.readTypes(cctx, c); err != nil {
		return fmt.Errorf("endpoint %s: %w", ep, err)
	}
	notif := make(chan *opcua.PublishNotificationData, 64)
	// One subscription per publishing interval, shared by the devices
	// of that interval: servers bound the subscriptions of a session
	// (node-opcua to 10 by default), not the devices of a bus.
	subs := map[time.Duration]*opcua.Subscription{}
	for i, d := range s.devs {
		d.next = time.Time{}
		if d.sub {
			if err := s.subscribe(cctx, c, i, d, subs, notif, sink); err != nil {
				return fmt.Errorf("endpoint %s: device %s: %w", ep, d.cfg.Name, err)
			}
		} else {
			s.prepareRead(d)
		}
	}
	cancel()
	ids := make([]uint32, 0, len(subs))
	rt := s.requestTimeout()
	for _, sub := range subs {
		ids = append(ids, sub.SubscriptionID)
		ka := time.Duration(sub.RevisedMaxKeepAliveCount) * sub.RevisedPublishingInterval
		if ka > s.keepAlive {
			s.keepAlive = ka
		}
		if 2*ka > rt {
			s.log.Warn("opcua server granted a subscription a keep-alive period longer than asked: until the next session, it may answer quiet publish requests with BadTimeout and end this one",
				"keep_alive", ka, "request_timeout", rt, "next_request_timeout", s.requestTimeout())
		}
	}
	return s.serve(ctx, c, states, notif, ids, sink)
}

// keepAliveSpan is about how long a subscription stays silent before the
// server sends a keep-alive (a variable for tests).
var keepAliveSpan = 10 * time.Second

// keepAliveCount is the keep-alive count asked of a subscription of a
// publishing interval: about keepAliveSpan, at least two intervals (the
// least node-opcua grants).
func keepAliveCount(interval time.Duration) uint32 {
	return uint32(max(2, min(int64(keepAliveSpan/interval), 1000)))
}

// requestTimeout is the client's request timeout: the bus's timeout, or
// twice the longest keep-alive period of its subscriptions, asked or
// granted by the server in an earlier session. Every request but the
// publish requests has a deadline of its own (the bus timeout).
func (s *Source) requestTimeout() time.Duration {
	rt := max(s.bus.Timeout, 2*s.keepAlive)
	for _, d := range s.devs {
		if d.sub {
			rt = max(rt, 2*time.Duration(keepAliveCount(d.cfg.Interval))*d.cfg.Interval)
		}
	}
	return rt
}

// release closes a session's client. A session that cannot be closed
// (its connection failed) is kept as the orphan the next connection
// closes, unless the server said it holds it no more.
func (s *Source) release(c *opcua.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.CloseSession(ctx); err != nil && !sessionGone(err) {
		if old, _ := c.DetachSession(ctx); old != nil {
			s.orphan = old
		}
	}
	c.Close(ctx) //nolint:errcheck // the connection is being dropped; its close status says nothing more
}

// sessionGone reports whether a request's error says the server holds the
// session no more.
func sessionGone(err error) bool {
	var sc ua.StatusCode
	if !errors.As(err, &sc) {
		return false
	}
	switch ua.StatusCode(uint32(sc) & subCodeMask) {
	case ua.StatusBadSessionIDInvalid, ua.StatusBadSessionClosed:
		return true
	}
	return false
}

// closeOrphan closes the session a failed connection left on the server
// (Source.orphan), on a secure channel of its own: a server transfers a
// session to a new channel of the same client certificate and user when
// the client activates it there. A server that cannot be reached keeps
// the orphan for the next attempt; one that refuses the activation no
// longer holds the session (it timed out, or the server restarted).
func (s *Source) closeOrphan(ctx context.Context, ep string, opts []opcua.Option) {
	old := s.orphan
	if old == nil {
		return
	}
	c, err := opcua.NewClient(ep, opts...)
	if err != nil {
		return
	}
	defer c.Close(ctx) //nolint:errcheck // a channel opened only to close the session
	if err := c.Dial(ctx); err != nil {
		return
	}
	s.orphan = nil
	if err := c.ActivateSession(ctx, old); err != nil {
		s.log.Debug("opcua session left by a failed connection is gone", "err", errorText(err))
		return
	}
	if err := c.CloseSession(ctx); err != nil {
		s.log.Warn("opcua session left by a failed connection not closed; the server holds it until it times out",
			"session_timeout", old.RevisedTimeout(), "err", errorText(err))
		return
	}
	s.log.Info("opcua session left by a failed connection closed")
}

func closeClient(c *opcua.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.Close(ctx) //nolint:errcheck // the connection is being dropped; its close status says nothing more
}

// resolve finds the NodeIds of the nodes configured by browse path, in one
// TranslateBrowsePathsToNodeIds request.
func (s *Source) resolve(ctx context.Context, c *opcua.Client) error {
	type ref struct{ d, p int }
	var paths []*ua.BrowsePath
	var refs []ref
	for di, d := range s.devs {
		for pi := range d.points {
			d.nodes[pi], d.nodeErr[pi] = d.ids[pi], ""
			if d.paths[pi] == nil {
				continue
			}
			rp := &ua.RelativePath{}
			for _, step := range d.paths[pi] {
				rp.Elements = append(rp.Elements, &ua.RelativePathElement{
					ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
					IncludeSubtypes: true,
					TargetName:      &ua.QualifiedName{NamespaceIndex: step.Namespace, Name: step.Name},
				})
			}
			paths = append(paths, &ua.BrowsePath{StartingNode: ua.NewNumericNodeID(0, id.ObjectsFolder), RelativePath: rp})
			refs = append(refs, ref{di, pi})
		}
	}
	if len(paths) == 0 {
		return nil
	}
	unavailable := func(why string) {
		for _, r := range refs {
			d := s.devs[r.d]
			d.nodes[r.p], d.nodeErr[r.p] = nil, fmt.Sprintf("browse path %s: %s", d.points[r.p].cfg.BrowsePath, why)
		}
	}
	if s.noTranslate != "" {
		unavailable(s.noTranslate)
		return nil
	}
	results := make([]*ua.BrowsePathResult, 0, len(paths))
	for lo := 0; lo < len(paths); {
		hi := len(paths)
		if s.lim.translate > 0 {
			hi = min(lo+s.lim.translate, hi)
		}
		res, err := translate(ctx, c, paths[lo:hi])
		if err := s.refused(err, hi-lo, &s.learned.translate, "to translate browse paths"); err != nil {
			return err
		}
		if err != nil && sessionLevel(err) {
			return fmt.Errorf("translate browse paths: %w", named{err})
		}
		if err != nil {
			// The server refuses the service (BadServiceUnsupported, say):
			// the nodes by browse path are unavailable, the others are
			// read. The client library closes the client on the refusal,
			// so the next session starts without asking again.
			s.noTranslate = errorText(err)
			unavailable(s.noTranslate)
			return fmt.Errorf("translate browse paths: %s; the nodes named by browse path stay unavailable until the configuration is reloaded", s.noTranslate)
		}
		if len(res.Results) != hi-lo {
			return fmt.Errorf("translate browse paths: %d results for %d paths", len(res.Results), hi-lo)
		}
		results = append(results, res.Results...)
		lo = hi
	}
	for i, r := range results {
		d := s.devs[refs[i].d]
		pi := refs[i].p
		switch {
		case r.StatusCode != ua.StatusOK:
			d.nodes[pi], d.nodeErr[pi] = nil, fmt.Sprintf("browse path %s: %s", d.points[pi].cfg.BrowsePath, StatusName(r.StatusCode))
		case len(r.Targets) == 0 || r.Targets[0].TargetID == nil:
			d.nodes[pi], d.nodeErr[pi] = nil, fmt.Sprintf("browse path %s: no target", d.points[pi].cfg.BrowsePath)
		default:
			d.nodes[pi] = r.Targets[0].TargetID.NodeID
		}
	}
	return nil
}

// readTypes reads the DataType attribute of the available nodes whose
// points have no type yet (none configured, and no session read it
// before), in as many Read requests as the server's limit asks. A point
// keeps the type for the source's life: its field type must not change.
// A node whose DataType the server does not give stays untyped this
// session; its point reads no value, naming why.
func (s *Source) readTypes(ctx context.Context, c *opcua.Client) error {
	type ref struct{ d, p int }
	var refs []ref
	var nodes []*ua.ReadValueID
	for di, d := range s.devs {
		for pi := range d.points {
			if d.points[pi].typ != typeUnknown || d.nodes[pi] == nil {
				continue
			}
			refs = append(refs, ref{di, pi})
			nodes = append(nodes, &ua.ReadValueID{NodeID: d.nodes[pi], AttributeID: ua.AttributeIDDataType})
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	for _, sp := range spans(nil, len(nodes), s.lim.read) {
		rctx, cancel := context.WithTimeout(ctx, s.bus.Timeout)
		res, err := c.Read(rctx, &ua.ReadRequest{NodesToRead: nodes[sp[0]:sp[1]]})
		cancel()
		if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
			err = res.ResponseHeader.ServiceResult
		}
		if err := s.refused(err, sp[1]-sp[0], &s.learned.read, "to read nodes"); err != nil {
			return err
		}
		if err == nil && len(res.Results) != sp[1]-sp[0] {
			err = fmt.Errorf("%d results for %d nodes", len(res.Results), sp[1]-sp[0])
		}
		if err != nil && sessionLevel(err) {
			return fmt.Errorf("read data types: %w", named{err})
		}
		for i, r := range refs[sp[0]:sp[1]] {
			p := &s.devs[r.d].points[r.p]
			if err != nil {
				p.typeErr = "DataType: " + errorText(err)
				continue
			}
			p.setType(res.Results[i])
			s.kinds.settle(s.devs[r.d].cfg, p)
		}
	}
	return nil
}

// translate sends one TranslateBrowsePathsToNodeIds request.
func translate(ctx context.Context, c *opcua.Client, paths []*ua.BrowsePath) (*ua.TranslateBrowsePathsToNodeIDsResponse, error) {
	var res *ua.TranslateBrowsePathsToNodeIDsResponse
	err := c.Send(ctx, &ua.TranslateBrowsePathsToNodeIDsRequest{BrowsePaths: paths}, func(v ua.Response) error {
		r, ok := v.(*ua.TranslateBrowsePathsToNodeIDsResponse)
		if !ok {
			return fmt.Errorf("unexpected response %T", v)
		}
		res = r
		return nil
	})
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	return res, err
}

// prepareRead builds the device's Read request of every available node.
func (s *Source) prepareRead(d *device) {
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
	d.readIdx = d.readIdx[:0]
	for pi, n := range d.nodes {
		if n == nil {
			continue
		}
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: n, AttributeID: ua.AttributeIDValue})
		d.readIdx = append(d.readIdx, pi)
	}
	d.read = req
	d.splitRead(s.lim.read)
}

// splitRead splits the device's Read request into requests of at most
// limit nodes (0: one request).
func (d *device) splitRead(limit int) {
	d.reads, d.readLimit = d.reads[:0], limit
	for _, sp := range spans(nil, len(d.read.NodesToRead), limit) {
		if sp[0] == 0 && sp[1] == len(d.read.NodesToRead) {
			d.reads = append(d.reads, d.read)
			break
		}
		d.reads = append(d.reads, &ua.ReadRequest{TimestampsToReturn: d.read.TimestampsToReturn, NodesToRead: d.read.NodesToRead[sp[0]:sp[1]]})
	}
}

// handle packs a device index and a point index into a monitored item's
// client handle.
func handle(di, pi int) uint32 { return uint32(di)<<16 | uint32(pi) }

// subscribe adds to the subscription of the device's interval (in subs,
// created when it is the first of its interval) one monitored item per
// available node; nodes the server refuses are marked with its status.
func (s *Source) subscribe(ctx context.Context, c *opcua.Client, di int, d *device, subs map[time.Duration]*opcua.Subscription, notif chan *opcua.PublishNotificationData, sink drivers.Sink) error {
	o := d.cfg.OPCUA
	sub := subs[d.cfg.Interval]
	if sub == nil {
		keepAlive := keepAliveCount(d.cfg.Interval)
		var err error
		sub, err = c.Subscribe(ctx, &opcua.SubscriptionParameters{
			Interval:          d.cfg.Interval,
			MaxKeepAliveCount: keepAlive,
			LifetimeCount:     keepAlive * 10,
		}, notif)
		if err != nil {
			return fmt.Errorf("create subscription: %w", named{err})
		}
		subs[d.cfg.Interval] = sub
	}
	var items []*ua.MonitoredItemCreateRequest
	var idx []int
	for pi, n := range d.nodes {
		if n == nil {
			continue
		}
		req := opcua.NewMonitoredItemCreateRequestWithDefaults(n, ua.AttributeIDValue, handle(di, pi))
		req.RequestedParameters.SamplingInterval = float64(o.SamplingInterval) / float64(time.Millisecond)
		req.RequestedParameters.QueueSize = uint32(o.QueueSize)
		items = append(items, req)
		idx = append(idx, pi)
	}
	now := time.Now()
	var results []*ua.MonitoredItemCreateResult
	var created []time.Time // when the server created each item
	for lo := 0; lo < len(items); {
		hi := len(items)
		if s.lim.monitor > 0 {
			hi = min(lo+s.lim.monitor, hi)
		}
		res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, items[lo:hi]...)
		if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
			err = res.ResponseHeader.ServiceResult
		}
		if err := s.refused(err, hi-lo, &s.learned.monitor, "to create monitored items"); err != nil {
			return err
		}
		if err != nil {
			return fmt.Errorf("create monitored items: %w", named{err})
		}
		if len(res.Results) != hi-lo {
			return fmt.Errorf("create monitored items: %d results for %d items", len(res.Results), hi-lo)
		}
		results = append(results, res.Results...)
		for range res.Results {
			created = append(created, time.Now())
		}
		lo = hi
	}
	waiting := false
	if len(items) > 0 {
		for i, r := range results {
			pi := idx[i]
			if r.StatusCode != ua.StatusOK {
				d.nodeErr[pi] = StatusName(r.StatusCode)
			} else {
				d.fresh[pi], d.created[pi], waiting = true, created[i], true
			}
		}
	}
	// Nodes the server will not report on get their quality now: an
	// unchanged point would otherwise never be published.
	var refused []drivers.Reading
	for pi, why := range d.nodeErr {
		d.pointErr[pi] = ""
		if why == "" {
			continue
		}
		r := drivers.Reading{Name: d.points[pi].cfg.Name, Unit: d.points[pi].cfg.Unit, Quality: drivers.CommError}
		if sc := statusIn(why); sc != 0 {
			r.Quality, _ = Quality(sc)
		}
		refused = append(refused, r)
		d.pointErr[pi] = s.nodeText(d, pi, why)
	}
	if !waiting {
		// The server refused every node: that is its whole answer, and
		// no notification will come.
		d.got = true
		s.answered(d, now, d.errors(), true)
	}
	// Otherwise the device answers with its first notification: until
	// then its state keeps the last failure, and a session that fails
	// before it came counts as a failed attempt (see Run).
	if len(refused) > 0 {
		d.hand(now, refused, sink)
	}
	return nil
}

// statusIn finds the status code named in a node error, or 0.
func statusIn(why string) ua.StatusCode {
	i := strings.LastIndex(why, "(0x")
	if i < 0 {
		return 0
	}
	var v uint32
	if _, err := fmt.Sscanf(why[i:], "(0x%08X)", &v); err != nil {
		return 0
	}
	return ua.StatusCode(v)
}

func (s *Source) nodeText(d *device, pi int, why string) string {
	p := d.points[pi].cfg
	ref := p.NodeID
	if ref == "" {
		ref = p.BrowsePath
	}
	return fmt.Sprintf("node %s (%s): %s", ref, p.Name, why)
}

// errors lists why the device's points are not good.
func (d *device) errors() string {
	var whys []string
	for _, w := range d.pointErr {
		if w != "" {
			whys = append(whys, w)
		}
	}
	return joinErrors(whys)
}

// maxErrors is the most node errors a device state lists.
const maxErrors = 8

// joinErrors lists the nodes' errors, the first maxErrors of them.
func joinErrors(whys []string) string {
	if len(whys) <= maxErrors {
		return strings.Join(whys, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(whys[:maxErrors], "; "), len(whys)-maxErrors)
}

// watchdogPeriod is how often the source checks that the server still
// answers when no poll would notice (and keeps the session alive).
func (s *Source) watchdogPeriod() time.Duration {
	return min(max(s.bus.OPCUA.SessionTimeout/4, time.Second), 10*time.Second)
}

// serve polls and receives notifications until the connection fails. The
// data changes the server delivered before then are handed on (drain).
func (s *Source) serve(ctx context.Context, c *opcua.Client, states <-chan opcua.ConnState, notif chan *opcua.PublishNotificationData, subs []uint32, sink drivers.Sink) error {
	defer func() {
		if ctx.Err() == nil {
			s.drain(notif, sink)
		}
	}()
	now := time.Now()
	for _, d := range s.devs {
		if !d.sub {
			d.next = now // the first poll at once
		}
	}
	wd := time.NewTicker(s.watchdogPeriod())
	defer wd.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st := <-states:
			if st == opcua.Disconnected || st == opcua.Closed {
				// The client does not say why; a request on the
				// channel does when it is still open (a session the
				// server closed) and fails at once when it is not.
				why := strings.ToLower(st.String())
				var sc ua.StatusCode
				var cause named
				if err := s.serverState(ctx, c); errors.As(err, &sc) {
					return err
				} else if errors.As(err, &cause) {
					why += " (" + cause.Error() + ")"
				}
				return fmt.Errorf("endpoint %s: connection %s", s.bus.OPCUA.Endpoint, why)
			}
		case n := <-notif:
			if err := s.notification(n, sink); err != nil {
				return err
			}
		case <-wd.C:
			if err := s.watchdog(ctx, c, subs); err != nil {
				return err
			}
		case <-timer.C:
			now := time.Now()
			wake := now.Add(time.Hour)
			for _, d := range s.devs {
				if d.sub {
					continue
				}
				if !d.next.After(now) {
					err := s.poll(ctx, c, d, sink)
					// The slot is served, failed or not: the outage
					// that follows a failed read starts at the next
					// one, not with a second batch for this one. The
					// slots that passed while the poll ran were never
					// polled: counted and logged, as on a Modbus bus.
					iv := d.cfg.Interval
					d.next = d.next.Truncate(iv).Add(iv)
					if t := time.Now(); !d.next.After(t) {
						missed := t.Sub(d.next)/iv + 1
						s.log.Warn("poll overran its interval", "device", d.cfg.Name, "missed", int(missed))
						d.mu.Lock()
						d.state.Missed += uint64(missed)
						d.mu.Unlock()
						d.next = t.Truncate(iv).Add(iv)
					}
					if err != nil {
						return err
					}
				}
				if d.next.Before(wake) {
					wake = d.next
				}
			}
			timer.Reset(time.Until(wake))
		}
	}
}

// watchdog reads the server's state, and checks that the session's
// subscriptions are still the server's; an error, a server not running or
// a subscription gone ends the session.
func (s *Source) watchdog(ctx context.Context, c *opcua.Client, subs []uint32) error {
	if st := c.State(); st != opcua.Connected {
		return fmt.Errorf("endpoint %s: connection %s", s.bus.OPCUA.Endpoint, strings.ToLower(st.String()))
	}
	if err := s.serverState(ctx, c); err != nil {
		return err
	}
	return s.subscriptionsHeld(ctx, c, subs)
}

// subscriptionsHeld checks that the server still holds the subscriptions
// (SetPublishingMode, enabling what is enabled: OPC UA Part 4, 5.13.4,
// which answers BadSubscriptionIdInvalid for one it does not hold). A
// server that ended them (its lifetime count ran out, a reconfiguration)
// answers the client's publish requests with BadNoSubscription, which
// gopcua does not report: it stops asking, and the subscribed devices
// would fall silent while their state stayed up.
func (s *Source) subscriptionsHeld(ctx context.Context, c *opcua.Client, subs []uint32) error {
	if len(subs) == 0 || s.noPublishingMode {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.bus.Timeout)
	defer cancel()
	var res *ua.SetPublishingModeResponse
	err := c.Send(rctx, &ua.SetPublishingModeRequest{PublishingEnabled: true, SubscriptionIDs: subs}, func(v ua.Response) error {
		r, ok := v.(*ua.SetPublishingModeResponse)
		if !ok {
			return fmt.Errorf("answer %T to SetPublishingMode", v)
		}
		res = r
		return nil
	})
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	var sc ua.StatusCode
	if errors.As(err, &sc) && (sc == ua.StatusBadServiceUnsupported || sc == ua.StatusBadNotImplemented) {
		// Its refusal costs this session (gopcua ends a session at a
		// service fault); the next ones do without the check.
		s.noPublishingMode = true
		s.log.Warn("opcua server does not serve SetPublishingMode: a subscription it ends is noticed only when the session ends", "err", named{err})
	}
	if err != nil {
		return fmt.Errorf("endpoint %s: subscriptions: %w", s.bus.OPCUA.Endpoint, named{err})
	}
	for i, sc := range res.Results {
		if sc != ua.StatusOK && i < len(subs) {
			return fmt.Errorf("endpoint %s: subscription %d: %s: the server no longer holds it", s.bus.OPCUA.Endpoint, subs[i], StatusName(sc))
		}
	}
	return nil
}

// drain hands on the data changes waiting in notif when a session ends:
// the server delivered them (a poll of the bus may have held the session's
// loop until it timed out), so they are readings, not losses.
func (s *Source) drain(notif chan *opcua.PublishNotificationData, sink drivers.Sink) {
	for {
		select {
		case n := <-notif:
			if v, ok := n.Value.(*ua.DataChangeNotification); ok && n.Error == nil {
				s.dataChange(v, sink)
			}
		default:
			return
		}
	}
}

// serverState reads the server's state; an error or a server not running
// is returned.
func (s *Source) serverState(ctx context.Context, c *opcua.Client) error {
	rctx, cancel := context.WithTimeout(ctx, s.bus.Timeout)
	defer cancel()
	res, err := c.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{
		NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_State), AttributeID: ua.AttributeIDValue,
	}}})
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	if err != nil {
		return fmt.Errorf("endpoint %s: server status: %w", s.bus.OPCUA.Endpoint, named{err})
	}
	if len(res.Results) == 1 && res.Results[0].Status == ua.StatusOK && res.Results[0].Value != nil {
		if st, ok := res.Results[0].Value.Value().(int32); ok && ua.ServerState(st) != ua.ServerStateRunning {
			return fmt.Errorf("endpoint %s: server state %s", s.bus.OPCUA.Endpoint, ua.ServerState(st))
		}
	}
	return nil
}

// poll reads every node of a polled device in one request and hands the
// readings to sink, stamped with the poll's start. A failed request
// marks every point and ends the session.
func (s *Source) poll(ctx context.Context, c *opcua.Client, d *device, sink drivers.Sink) error {
	start := time.Now()
	if len(d.read.NodesToRead) > 0 {
		err := s.readAll(ctx, c, d)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			session := sessionLevel(err) || errors.Is(err, errLimitLearned)
			err = fmt.Errorf("endpoint %s: device %s: read: %w", s.bus.OPCUA.Endpoint, d.cfg.Name, named{err})
			q := failureQuality(err)
			s.fail(d, q, err.Error(), start, time.Time{})
			d.mu.Lock()
			d.state.Polls++
			d.state.LastPoll = start
			d.mu.Unlock()
			for i := range d.points {
				d.out[i] = drivers.Reading{Name: d.points[i].cfg.Name, Unit: d.points[i].cfg.Unit, Quality: q}
			}
			d.hand(start, d.out, sink)
			if !session {
				// The server refused this device's request; the session
				// is sound and serves the other devices.
				return nil
			}
			return err
		}
	}
	for pi := range d.points {
		r := &d.out[pi]
		r.Name, r.Unit = d.points[pi].cfg.Name, d.points[pi].cfg.Unit
		d.pointErr[pi] = ""
		if d.nodes[pi] == nil {
			noValue(r, drivers.CommError)
			d.pointErr[pi] = s.nodeText(d, pi, d.nodeErr[pi])
		}
	}
	for i, pi := range d.readIdx {
		if why := fill(&d.out[pi], &d.points[pi], d.results[i]); why != "" {
			d.pointErr[pi] = s.nodeText(d, pi, why)
		}
	}
	d.got = true
	s.answered(d, start, d.errors(), true)
	d.hand(start, d.out, sink)
	return nil
}

// readAll reads every available node of a polled device into
// d.results, in as many requests as the server's limit asks; a request
// the server refuses as too many nodes ends the session (see refused).
func (s *Source) readAll(ctx context.Context, c *opcua.Client, d *device) error {
	if d.readLimit != s.lim.read {
		d.splitRead(s.lim.read)
	}
	d.results = d.results[:0]
	for i, lo := 0, 0; i < len(d.reads); {
		req := d.reads[i]
		rctx, cancel := context.WithTimeout(ctx, d.timeout(&s.bus))
		res, err := c.Read(rctx, req)
		cancel()
		if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
			err = res.ResponseHeader.ServiceResult
		}
		if err := s.refused(err, len(req.NodesToRead), &s.learned.read, "to read nodes"); err != nil {
			return err
		}
		if err == nil && len(res.Results) != len(req.NodesToRead) {
			err = fmt.Errorf("%d results for %d nodes", len(res.Results), len(req.NodesToRead))
		}
		if err != nil {
			return s.tooLarge(d, err, lo, len(req.NodesToRead))
		}
		d.results = append(d.results, res.Results...)
		lo += len(req.NodesToRead)
		i++
	}
	return nil
}

// tooLarge names the nodes of a Read of n nodes from lo (in d.read) when
// the server could not send its response (BadEncodingLimitsExceeded,
// BadResponseTooLarge: a value larger than a message may carry): the node
// when the request had one, else the first and last; other errors are
// returned as they are.
func (s *Source) tooLarge(d *device, err error, lo, n int) error {
	if !errors.Is(err, ua.StatusBadEncodingLimitsExceeded) && !errors.Is(err, ua.StatusBadResponseTooLarge) || n == 0 {
		return err
	}
	first := s.nodeText(d, d.readIdx[lo], "")
	first = strings.TrimSuffix(first[len("node "):], ": ")
	if n == 1 {
		return fmt.Errorf("node %s: %w", first, named{err})
	}
	last := s.nodeText(d, d.readIdx[lo+n-1], "")
	last = strings.TrimSuffix(last[len("node "):], ": ")
	return fmt.Errorf("%w: a value of one of %d nodes, node %s to node %s, is too large for a message", named{err}, n, first, last)
}

func (d *device) timeout(b *config.Bus) time.Duration {
	if d.cfg.Timeout > 0 {
		return d.cfg.Timeout
	}
	return b.Timeout
}

// notification hands the changes of one publish to the sink: per device,
// the points that changed at one source timestamp in one call, in time
// order. An error or a subscription status change ends the session.
func (s *Source) notification(n *opcua.PublishNotificationData, sink drivers.Sink) error {
	ep := s.bus.OPCUA.Endpoint
	if n.Error != nil {
		if errors.Is(n.Error, io.EOF) {
			return fmt.Errorf("endpoint %s: subscription %d: connection closed by the server", ep, n.SubscriptionID)
		}
		return fmt.Errorf("endpoint %s: subscription %d: %w", ep, n.SubscriptionID, named{n.Error})
	}
	switch v := n.Value.(type) {
	case *ua.StatusChangeNotification:
		return fmt.Errorf("endpoint %s: subscription %d: status %s", ep, n.SubscriptionID, StatusName(v.Status))
	case *ua.DataChangeNotification:
		s.dataChange(v, sink)
	}
	return nil
}

// Timestamps a server may give that the edge does not use: before
// earliestTime (an unset clock) or more than maxAhead past the edge's own
// (ingest refuses a batch more than 10 minutes ahead).
var earliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const maxAhead = time.Minute

// plausible reports whether a server's timestamp t may stamp a reading
// received at recv.
func plausible(t, recv time.Time) bool {
	return t.After(earliestTime) && !t.After(recv.Add(maxAhead))
}

type change struct {
	at  time.Time
	pi  int
	val *ua.DataValue
}

func (s *Source) dataChange(v *ua.DataChangeNotification, sink drivers.Sink) {
	recv := time.Now()
	byDev := map[int][]change{}
	latest := map[uint32]time.Time{} // each item's latest change so far
	for _, it := range v.MonitoredItems {
		if it == nil {
			continue
		}
		di, pi := int(it.ClientHandle>>16), int(it.ClientHandle&0xFFFF)
		if di >= len(s.devs) || pi >= len(s.devs[di].points) {
			s.log.Warn("opcua notification for an unknown client handle", "handle", it.ClientHandle)
			continue
		}
		at := recv
		d := s.devs[di]
		switch v := it.Value; {
		case d.fresh[pi]:
			// The first notification is the node's value when the
			// item was created, stamped with that time. Its source
			// timestamp is when the value last changed, perhaps days
			// ago; its server timestamp, on some servers, when the
			// value was last set or read: after a reconnect or a
			// restart of the edge either may be a time the device
			// already published, whose batch this one would replace
			// in InfluxDB. The creation is after the edge started
			// and after the session began.
			if !d.created[pi].IsZero() && !d.created[pi].After(recv) {
				at = d.created[pi]
			}
		case v == nil:
		case plausible(v.SourceTimestamp, recv):
			at = v.SourceTimestamp
		case plausible(v.ServerTimestamp, recv):
			at = v.ServerTimestamp
		}
		d.fresh[pi] = false
		// Changes within one millisecond are one batch: a batch's time
		// has no finer digits.
		at = at.Truncate(time.Millisecond)
		// A node's changes keep their order, even when the server's
		// clock puts a change before the one before it (the first
		// value's creation time is the edge's).
		if prev, ok := latest[it.ClientHandle]; ok && prev.After(at) {
			at = prev
		}
		latest[it.ClientHandle] = at
		byDev[di] = append(byDev[di], change{at: at, pi: pi, val: it.Value})
	}
	dis := make([]int, 0, len(byDev))
	for di := range byDev {
		dis = append(dis, di)
	}
	sort.Ints(dis)
	for _, di := range dis {
		d := s.devs[di]
		cs := byDev[di]
		// Stable: a node's queued changes keep their order.
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].at.Before(cs[j].at) })
		for len(cs) > 0 {
			at := cs[0].at
			out := d.out[:0]
			seen := map[int]bool{}
			rest := cs[:0:0]
			for _, c := range cs {
				if !c.at.Equal(at) || seen[c.pi] {
					rest = append(rest, c)
					continue
				}
				seen[c.pi] = true
				r := drivers.Reading{Name: d.points[c.pi].cfg.Name, Unit: d.points[c.pi].cfg.Unit}
				d.pointErr[c.pi] = ""
				if why := fill(&r, &d.points[c.pi], c.val); why != "" {
					d.pointErr[c.pi] = s.nodeText(d, c.pi, why)
				}
				out = append(out, r)
			}
			d.hand(at, out, sink)
			cs = rest
		}
		d.got = true
		s.answered(d, recv, d.errors(), false)
	}
}

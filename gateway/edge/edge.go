// Package edge is the polling side of eipgw: it owns the Modbus buses of one
// site, polls every configured device on schedule, stamps each poll as a
// batch with the gateway's sequence number, appends it to the write-ahead
// log and publishes it over MQTT QoS 1 from there. A batch leaves the log
// only after the broker acknowledged it, so batches survive broker outages,
// restarts and crashes of the edge; after a restart or reconnect the
// unacknowledged ones are published again in sequence order.
package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/batch"
	"github.com/eipgw/eipgw/gateway/mqttconn"
	"github.com/eipgw/eipgw/gateway/wal"
)

// seqBlock is how many sequence numbers one disk write reserves.
const seqBlock = 1000

// memCap bounds the batches held in memory while the write-ahead log
// cannot take them (a full disk).
const memCap = 4096

// maxInflightBytes bounds the payload bytes published but not yet
// acknowledged, whatever max_inflight allows: the MQTT client keeps a copy
// of each until its acknowledgement, so this bounds the edge's memory when
// batches are large.
const maxInflightBytes = 4 << 20

// Edge polls the devices of one gateway and publishes their batches.
type Edge struct {
	park, site, gateway string
	cfg                 *config.File
	buses               []*modbus.Bus
	log                 *slog.Logger
	stateDir            string
	publishTimeout      time.Duration
	maxInflight         int
	instance            string
	reg                 *prometheus.Registry
	m                   *metrics

	mu    sync.Mutex
	stats Stats
	w     *wal.WAL

	memMu     sync.Mutex
	mem       []message
	memNotify chan struct{}

	conn   *mqttconn.Gate
	topics map[*modbus.Device]string // data topic of each device, made once

	replayMu     sync.Mutex
	replaySince  time.Time // earliest requested, zero when none pending
	replayFrom   string
	replayIDs    map[string]bool
	replayNotify chan struct{}
}

// Stats counts what the edge did since it started.
type Stats struct {
	Polled    uint64 // batches polled
	Published uint64 // publishes (first sends, replays and resends)
	Acked     uint64 // batches acknowledged by the broker
	Replayed  uint64 // batches from an earlier run's log, published again
	Dropped   uint64 // batches lost (log full or corrupt, memory queue full)
	Conflicts uint64 // birth messages of another process with this gateway id
}

type message struct {
	seq     uint64
	topic   string
	payload []byte
	polled  time.Time
}

// New builds an edge from a validated configuration; it does no I/O.
// Metrics are registered on reg (a private registry; nil makes one).
func New(cfg *config.File, profiles modbus.Profiles, log *slog.Logger, reg *prometheus.Registry) (*Edge, error) {
	if cfg.Edge == nil || cfg.MQTT == nil {
		return nil, errors.New("edge: configuration needs mqtt and edge sections")
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var id [8]byte
	rand.Read(id[:])
	e := &Edge{
		park: cfg.Park, site: cfg.Site, gateway: cfg.Edge.Gateway, cfg: cfg,
		log: log.With("gateway", cfg.Edge.Gateway), stateDir: cfg.Edge.StateDir,
		publishTimeout: cfg.Edge.PublishTimeout, maxInflight: cfg.Edge.MaxInflight,
		instance: hex.EncodeToString(id[:]), reg: reg, memNotify: make(chan struct{}, 1),
		replayIDs: map[string]bool{}, replayNotify: make(chan struct{}, 1),
		conn: mqttconn.NewGate(), topics: map[*modbus.Device]string{},
	}
	if e.maxInflight <= 0 {
		e.maxInflight = config.DefaultMaxInflight
	}
	e.m = newMetrics(reg, e.walStats)
	byBus := map[string][]*modbus.Device{}
	for _, d := range cfg.Edge.Devices {
		p, ok := profiles[d.Profile]
		if !ok {
			return nil, fmt.Errorf("edge: device %s: unknown profile %q", d.Name, d.Profile)
		}
		dev := modbus.NewDevice(d, p)
		e.topics[dev] = mqttconn.DataTopic(e.park, e.gateway, d.Name)
		byBus[d.Bus] = append(byBus[d.Bus], dev)
	}
	for _, b := range cfg.Edge.Buses {
		bus, err := modbus.NewBus(b, byBus[b.Name], e.log)
		if err != nil {
			return nil, err
		}
		e.buses = append(e.buses, bus)
	}
	return e, nil
}

// Registry is where the edge's metrics are registered.
func (e *Edge) Registry() *prometheus.Registry { return e.reg }

// Stats returns a snapshot of the counters.
func (e *Edge) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Edge) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

func (e *Edge) walStats() wal.Stats {
	e.mu.Lock()
	w := e.w
	e.mu.Unlock()
	if w == nil {
		return wal.Stats{}
	}
	return w.Stats()
}

type status struct {
	State    string `json:"state"`
	Gateway  string `json:"gateway"`
	Instance string `json:"instance,omitempty"`
	Time     string `json:"ts,omitempty"`
}

func (e *Edge) statusPayload(state string) []byte {
	s := status{State: state, Gateway: e.gateway, Instance: e.instance}
	if state == "online" {
		s.Time = time.Now().UTC().Format(batch.TimeLayout)
	}
	b, _ := json.Marshal(s) // cannot fail: strings only
	return b
}

func (e *Edge) walOptions() wal.Options {
	c := e.cfg.Edge.WAL
	o := wal.Options{
		Dir: filepath.Join(e.stateDir, "wal"), SegmentBytes: int64(c.SegmentMB) << 20,
		MaxBytes: int64(c.MaxMB) << 20, SyncInterval: c.SyncInterval, Log: e.log, Retain: *c.Retain,
		OnDrop: func(n int, first, last uint64, reason string) {
			e.log.Error("batches lost", "count", n, "first_seq", first, "last_seq", last, "reason", "wal_"+reason)
			e.m.dropped.WithLabelValues("wal_" + reason).Add(float64(n))
			e.count(func(s *Stats) { s.Dropped += uint64(n) })
		},
	}
	if c.Sync == "always" {
		o.Sync = wal.SyncAlways
	}
	if c.Full == "drop_newest" {
		o.Full = wal.FullDropNewest
	}
	return o
}

// Run connects to the broker, polls until ctx is done, then stops polling,
// publishes what is left for up to the publish timeout and closes the log:
// whatever the broker has not acknowledged stays there for the next start.
func (e *Edge) Run(ctx context.Context) error {
	if err := os.MkdirAll(e.stateDir, 0o750); err != nil {
		return fmt.Errorf("edge: state dir: %w", err)
	}
	w, err := wal.Open(e.walOptions())
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.mu.Lock()
	e.w = w
	e.mu.Unlock()
	seq, err := openSeq(e.stateDir, seqBlock)
	if err != nil {
		w.Close()
		return fmt.Errorf("edge: %w", err)
	}
	seq.resumeAfter(w.LastSeq())
	if st := w.Stats(); st.Pending > 0 {
		e.log.Info("write-ahead log holds unacknowledged batches from an earlier run; publishing them first",
			"batches", st.Pending, "bytes", st.Bytes)
	}
	started := time.Now()

	statusTopic := mqttconn.StatusTopic(e.park, e.gateway)
	replayFilter := mqttconn.ReplayFilter(e.park)
	clientID := e.cfg.MQTT.ClientID
	if clientID == "" {
		clientID = "eipgw-edge-" + e.park + "-" + e.gateway
	}
	opts := mqttconn.Options(e.cfg.MQTT, clientID, e.log).
		SetBinaryWill(statusTopic, e.statusPayload("offline"), 1, true).
		SetDefaultPublishHandler(func(c mqtt.Client, m mqtt.Message) {
			if m.Topic() == statusTopic {
				e.watchStatus(c, m)
			} else {
				e.replayRequested(m)
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			e.log.Warn("mqtt connection lost", "broker", e.cfg.MQTT.Broker, "client_id", clientID, "err", err)
			e.conn.Set(false)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			e.log.Info("mqtt connected", "broker", e.cfg.MQTT.Broker, "client_id", clientID, "instance", e.instance)
			// Runs in its own goroutine, while the client may still be
			// resending what it held when the connection dropped. The
			// birth message is retained and QoS 0: a QoS 1 publish here
			// would race with that resend inside the MQTT client (the
			// will, QoS 1, reports the gateway offline). The subscription
			// lets us see another process that claims this gateway id.
			c.SubscribeMultiple(map[string]byte{statusTopic: 1, replayFilter: 1}, nil)
			c.Publish(statusTopic, 0, true, e.statusPayload("online"))
			e.conn.Set(true)
		})
	client := mqtt.NewClient(opts)
	if err := mqttconn.Connect(client, e.cfg.MQTT.ConnectTimeout); err != nil {
		e.log.Warn("broker not reachable yet; polling into the write-ahead log", "err", err)
	}

	stopPublishing := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() { pubDone <- e.publish(client, w, started, stopPublishing) }()
	replayCtx, stopReplays := context.WithCancel(context.Background())
	replayDone := make(chan struct{})
	go func() { defer close(replayDone); e.serveReplays(replayCtx, client, w) }()

	var seqMu sync.Mutex
	var wg sync.WaitGroup
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	for _, b := range e.buses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			pts := make([]batch.Point, 0, 64)
			b.Run(pollCtx, func(d *modbus.Device, polled time.Time, rs []modbus.Reading) {
				e.m.pollDur.WithLabelValues(d.Name).Observe(time.Since(polled).Seconds())
				seqMu.Lock()
				n, err := seq.next()
				seqMu.Unlock()
				if err != nil {
					e.m.seqErrors.Inc()
					e.log.Error("cannot persist the sequence reservation; polling goes on", "seq", n, "err", err)
				}
				pts = pts[:0]
				good := 0
				for _, r := range rs {
					p := batch.Point{Name: r.Point.Name, Unit: r.Point.Unit, Quality: string(r.Quality)}
					if r.Quality == modbus.Good {
						p.Value, p.HasValue, p.Float32 = r.Value, true, r.Point.Float32()
						good++
					}
					pts = append(pts, p)
				}
				e.observePoll(d.Name, good, len(rs))
				bt := batch.Batch{
					Gateway: e.gateway, Seq: n, Device: d.Name, Kind: d.Kind,
					Site: e.site, Tenant: d.Tenant, Time: polled, Points: pts,
				}
				buf = bt.AppendJSON(buf[:0])
				e.count(func(s *Stats) { s.Polled++ })
				e.store(w, message{seq: n, topic: e.topics[d], payload: buf, polled: polled})
			})
		}()
	}
	wg.Wait() // polling stopped
	close(stopPublishing)
	pubErr := <-pubDone
	stopReplays()
	<-replayDone

	errs := []error{pubErr}
	if err := w.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := seq.close(); err != nil {
		errs = append(errs, err)
	}
	if st := w.Stats(); st.Pending > 0 {
		e.log.Warn("unacknowledged batches stay in the write-ahead log for the next start", "batches", st.Pending, "dir", filepath.Join(e.stateDir, "wal"))
	}
	if client.IsConnectionOpen() {
		t := client.Publish(statusTopic, 1, true, e.statusPayload("offline"))
		t.WaitTimeout(e.publishTimeout)
	}
	client.Disconnect(250)
	return errors.Join(errs...)
}

func (e *Edge) observePoll(device string, good, total int) {
	outcome, up := "ok", 1.0
	switch {
	case good == 0:
		outcome, up = "failed", 0
	case good < total:
		outcome = "partial"
	}
	e.m.polls.WithLabelValues(device, outcome).Inc()
	e.m.deviceUp.WithLabelValues(device).Set(up)
}

// watchStatus reports another live process publishing births for this
// gateway id: its batches would collide with ours.
func (e *Edge) watchStatus(_ mqtt.Client, m mqtt.Message) {
	if m.Retained() {
		return // a birth or will from an earlier run
	}
	var s status
	if json.Unmarshal(m.Payload(), &s) != nil || s.State != "online" || s.Instance == "" || s.Instance == e.instance {
		return
	}
	e.m.conflicts.Inc()
	e.count(func(st *Stats) { st.Conflicts++ })
	e.log.Error("another process is publishing as this gateway: two edges with one gateway or client id",
		"topic", m.Topic(), "other_instance", s.Instance, "instance", e.instance)
}

// replayRequested notes a replay request from an ingest worker: publish
// again every batch still in the log since the given time. Requests are
// retained, so each is served once per id.
func (e *Edge) replayRequested(m mqtt.Message) {
	var req mqttconn.ReplayRequest
	if err := json.Unmarshal(m.Payload(), &req); err != nil || req.ID == "" {
		e.log.Warn("ignoring a malformed replay request", "topic", m.Topic(), "payload", string(m.Payload()))
		return
	}
	since, err := time.Parse(time.RFC3339Nano, req.Since)
	if err != nil {
		e.log.Warn("ignoring a replay request with a bad time", "topic", m.Topic(), "since", req.Since)
		return
	}
	e.replayMu.Lock()
	defer e.replayMu.Unlock()
	if e.replayIDs[req.ID] {
		return
	}
	e.replayIDs[req.ID] = true
	if e.replaySince.IsZero() || since.Before(e.replaySince) {
		e.replaySince, e.replayFrom = since, m.Topic()
	}
	select {
	case e.replayNotify <- struct{}{}:
	default:
	}
}

// serveReplays publishes the batches the log still holds since each
// requested time, until ctx ends.
func (e *Edge) serveReplays(ctx context.Context, c mqtt.Client, w *wal.WAL) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.replayNotify:
		}
		e.replayMu.Lock()
		since, from := e.replaySince, e.replayFrom
		e.replaySince = time.Time{}
		e.replayMu.Unlock()
		if since.IsZero() {
			continue
		}
		var window []mqtt.Token
		n := 0
		err := w.Scan(since, func(rec wal.Record) error {
			for len(window) >= 64 {
				select {
				case <-window[0].Done():
					window = window[1:]
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			window = append(window, c.Publish(rec.Topic, 1, false, rec.Payload))
			n++
			return nil
		})
		for _, t := range window {
			select {
			case <-t.Done():
			case <-ctx.Done():
			}
		}
		e.m.replayedOnRequest.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			e.log.Error("replay failed", "since", since, "requested_by", from, "published", n, "err", err)
			continue
		}
		e.log.Info("published the log's batches again on request", "since", since.UTC().Format(batch.TimeLayout), "requested_by", from, "batches", n)
	}
}

// store appends a polled batch to the log. If the log cannot take it (a
// full disk), the batch is held in memory, and so is every later batch
// until the memory queue has drained, so that order is kept.
func (e *Edge) store(w *wal.WAL, m message) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	if len(e.mem) == 0 {
		err := w.Append(m.seq, m.topic, m.payload, m.polled)
		if err == nil || errors.Is(err, wal.ErrFull) {
			return // ErrFull was counted and logged through OnDrop
		}
		e.m.walErrors.Inc()
		e.log.Error("write-ahead log append failed; holding batches in memory", "seq", m.seq, "err", err)
	}
	m.payload = append([]byte(nil), m.payload...)
	if len(e.mem) >= memCap {
		old := e.mem[0]
		e.mem = e.mem[1:]
		e.m.dropped.WithLabelValues("overflow").Inc()
		e.count(func(s *Stats) { s.Dropped++ })
		e.log.Error("batches lost: memory queue full while the write-ahead log fails", "count", 1, "first_seq", old.seq, "last_seq", old.seq, "reason", "overflow")
	}
	e.mem = append(e.mem, m)
	e.m.overflowed.Set(float64(len(e.mem)))
	select {
	case e.memNotify <- struct{}{}:
	default:
	}
}

func (e *Edge) popMem() (message, bool) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	if len(e.mem) == 0 {
		return message{}, false
	}
	m := e.mem[0]
	e.mem = e.mem[1:]
	e.m.overflowed.Set(float64(len(e.mem)))
	return m, true
}

type inflight struct {
	msg     message
	fromWAL bool
	tok     mqtt.Token
}

// publish feeds the broker from the log (then from the memory queue),
// keeping at most maxInflight batches unacknowledged, and marks each
// acknowledged batch in the log. After stop it goes on until everything is
// acknowledged or the publish timeout passes.
func (e *Edge) publish(c mqtt.Client, w *wal.WAL, started time.Time, stop <-chan struct{}) error {
	r := w.Reader()
	defer r.Close()
	var pending []inflight
	pendingBytes := 0
	send := func(f inflight) {
		f.tok = c.Publish(f.msg.topic, 1, false, f.msg.payload)
		pending = append(pending, f)
		pendingBytes += len(f.msg.payload)
		e.m.published.Inc()
		e.count(func(s *Stats) { s.Published++ })
	}
	var deadline <-chan time.Time
	for {
		var walWait, settled <-chan struct{}
		var settling <-chan time.Time
		ready, wait := e.conn.Ready()
		switch {
		case !ready && wait > 0:
			settling = time.After(wait)
		case !ready:
			settled = e.conn.Changed()
		}
		for ready && len(pending) < e.maxInflight && (len(pending) == 0 || pendingBytes < maxInflightBytes) {
			rec, ok, wait, err := r.TryNext()
			if err != nil {
				return fmt.Errorf("edge: reading the write-ahead log: %w", err)
			}
			if ok {
				if rec.Time.Before(started) {
					e.m.replayed.Inc()
					e.count(func(s *Stats) { s.Replayed++ })
				}
				send(inflight{msg: message{seq: rec.Seq, topic: rec.Topic, payload: rec.Payload}, fromWAL: true})
				continue
			}
			walWait = wait
			if m, ok := e.popMem(); ok {
				send(inflight{msg: m})
				continue
			}
			break
		}
		if stop == nil && len(pending) == 0 && walWait != nil {
			return nil // stopping, and everything is acknowledged
		}
		if !ready {
			walWait = nil // nothing can be sent before the connection is up
		}
		var head <-chan struct{}
		if len(pending) > 0 {
			head = pending[0].tok.Done()
		}
		select {
		case <-head:
			h := pending[0]
			pending = pending[1:]
			pendingBytes -= len(h.msg.payload)
			if err := h.tok.Error(); err != nil {
				e.log.Warn("publish not acknowledged; sending again", "seq", h.msg.seq, "err", err)
				e.m.republish.Inc()
				send(h)
				continue
			}
			if h.fromWAL {
				w.Ack(h.msg.seq)
			}
			e.m.acked.Inc()
			e.count(func(s *Stats) { s.Acked++ })
		case <-walWait:
		case <-settled:
		case <-settling:
		case <-e.memNotify:
		case <-stop:
			stop = nil
			deadline = time.After(e.publishTimeout)
		case <-deadline:
			e.keepUnsent(w, pending)
			return nil
		}
	}
}

// keepUnsent runs at the publish timeout: batches from the log stay there;
// batches held in memory are appended to the log now if it takes them, and
// are otherwise lost, counted and logged.
func (e *Edge) keepUnsent(w *wal.WAL, pending []inflight) {
	var mem []message
	for _, p := range pending {
		if !p.fromWAL {
			mem = append(mem, p.msg)
		}
	}
	for {
		m, ok := e.popMem()
		if !ok {
			break
		}
		mem = append(mem, m)
	}
	for _, m := range mem {
		if err := w.Append(m.seq, m.topic, m.payload, m.polled); err != nil {
			e.m.dropped.WithLabelValues("overflow").Inc()
			e.count(func(s *Stats) { s.Dropped++ })
			e.log.Error("batches lost: not acknowledged at shutdown and the write-ahead log refused them",
				"count", 1, "first_seq", m.seq, "last_seq", m.seq, "reason", "overflow", "err", err)
		}
	}
}

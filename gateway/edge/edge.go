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
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
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
	cfg                 config.EdgeRole
	sources             []drivers.Source
	log                 *slog.Logger
	stateDir            string
	takeovers           takeovers
	births              births // births published again (status.go)
	// diskLogs bound the log lines of a failing disk, which would
	// otherwise come once or twice a batch (hundreds a second) on a
	// host whose disk is full already: each is logged at most every 10 s
	// with the count left out since; the metrics count every one.
	diskLogs       struct{ append, overflow, unlogged, reserve telemetry.Repeats }
	publishTimeout time.Duration
	maxInflight    int
	instance       string
	reg            *prometheus.Registry
	m              *metrics

	mu    sync.Mutex
	stats Stats
	w     *wal.WAL

	memMu     sync.Mutex
	mem       []message
	memNotify chan struct{}

	conn   *mqttconn.Gate
	topics map[*drivers.Device]string // data topic of each device, made once
	// republishLogs bounds the log lines of publishes sent again.
	republishLogs telemetry.Repeats

	replay *replayServer // replay requests: policy and serving (replay.go)
	health *health       // liveness and readiness (health.go)

	srcMu sync.RWMutex // guards sources, replaced by a reload, and retired
	// retired holds, by bus, the counts of the sources a reload replaced:
	// the bus's counters go on from them (statemetrics.go).
	retired map[string]busCounts
	reloads chan reloadReq // configuration reloads handed to Run (reload.go)
	last    *lastReadings  // each device's latest readings, for the status page (view.go)
}

// Stats counts what the edge did since it started.
type Stats struct {
	Polled    uint64 `json:"polled"`    // batches polled
	Published uint64 `json:"published"` // publishes (first sends, replays and resends)
	Acked     uint64 `json:"acked"`     // batches acknowledged by the broker
	Replayed  uint64 `json:"replayed"`  // batches from an earlier run's log, published again
	// Republished counts publishes sent again: the MQTT client gave up
	// on them, or a reconnection completed them before the broker
	// acknowledged them (mqttconn.Resumes).
	Republished uint64 `json:"republished"`
	Dropped     uint64 `json:"dropped"`   // batches lost (log full or corrupt, memory queue full)
	Conflicts   uint64 `json:"conflicts"` // birth messages of another process with this gateway id
}

type message struct {
	seq     uint64
	topic   string
	payload []byte
	polled  time.Time
	noLog   bool // larger than a log segment: published from memory only
}

// New builds an edge from the edge role of a validated configuration
// (config.File.EdgeRole); it does no I/O.
// Metrics are registered on reg (a private registry; nil makes one).
// Its buses are read by the drivers of reg, each bus by the driver of its
// protocol.
func New(cfg config.EdgeRole, drv drivers.Registry, log *slog.Logger, reg *prometheus.Registry) (*Edge, error) {
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
		conn: mqttconn.NewGate(), topics: map[*drivers.Device]string{},
		republishLogs: telemetry.Repeats{Interval: 10 * time.Second},
		reloads:       make(chan reloadReq), last: newLastReadings(),
	}
	for _, r := range []*telemetry.Repeats{&e.diskLogs.append, &e.diskLogs.overflow, &e.diskLogs.unlogged, &e.diskLogs.reserve} {
		r.Interval = 10 * time.Second
	}
	if e.maxInflight <= 0 {
		e.maxInflight = config.DefaultMaxInflight
	}
	e.m = newMetrics(reg, e.walStats)
	e.replay = newReplayServer(e.park, cfg.Edge, e.log, e.m)
	sources, err := drv.Sources(cfg.Edge, e.log)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	e.sources = sources
	reg.MustRegister(newStateCollector(e))
	for _, src := range sources {
		for _, d := range src.Devices() {
			e.topics[d] = topic.Data(e.park, e.gateway, d.Name)
		}
	}
	e.health = newHealth(cfg.Edge, sources)
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
	unlock, err := lockStateDir(e.stateDir, e.instance)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer unlock()
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
	if seq.empty {
		e.log.Warn("the sequence file is empty: its first write failed (a full disk?); numbering follows the write-ahead log", "file", seq.path, "log_last_seq", w.LastSeq())
	}
	_, damaged := w.TailDamage()
	// After a restart of the machine, a crash (no clean stop) may have
	// lost the log's last appends (those of its last sync interval) with
	// the operating system's cache, their batches published already:
	// their numbers must not be given out again either.
	rebooted, err := rebootedSince(e.stateDir) // recorded at every start
	if err != nil {
		e.log.Warn("the machine's boot id could not be recorded: a crash of the edge before the next clean stop will be taken for a restart of the machine (its numbering jumps ahead)", "err", err)
	}
	unsynced := rebooted && !damaged && !seq.clean && e.cfg.Edge.WAL.Sync != "always"
	if first, last, exact := seq.resumeAfter(w.LastSeq(), w.Stats().Acked, damaged || unsynced); first <= last {
		// The log's tail was cut off, or may have been: what it held
		// beyond its last intact batch is gone. Those numbers are not
		// given out again (a batch the broker took would clash with a
		// new one of its number), and ingest declares the ones it never
		// stored missing.
		bound := "exactly"
		if !exact {
			bound = "at most (the sequence file held a reservation, not the last number)"
		}
		what, reason := "the write-ahead log's tail was damaged and cut off", "wal_corrupt"
		if unsynced {
			what, reason = "the machine restarted since the edge last ran, which did not stop cleanly: the log's appends of its last sync interval may be lost, published or not", "wal_unsynced"
		}
		e.log.Error("batches lost: "+what, "count", last-first+1, "bound", bound,
			"first_seq", first, "last_seq", last, "reason", reason, "next_seq", last+1)
		e.m.dropped.WithLabelValues(reason).Add(float64(last - first + 1))
		e.count(func(s *Stats) { s.Dropped += last - first + 1 })
	} else if damaged {
		e.log.Warn("the write-ahead log's tail was damaged and cut off; every batch it held was acknowledged already", "next_seq", seq.last+1)
	}
	var ch *chain
	if ev := e.cfg.Edge.Evidence; ev != nil {
		if ch, err = openChain(e.stateDir, ev.KeyFile, w); err != nil {
			w.Close()
			return fmt.Errorf("edge: %w", err)
		}
		e.log.Info("signing batches", "key", ch.keyID(), "chain_head_seq", ch.headSeq)
	}
	if st := w.Stats(); st.Pending > 0 {
		e.log.Info("write-ahead log holds unacknowledged batches from an earlier run; publishing them first",
			"batches", st.Pending, "log_bytes_on_disk", st.Bytes)
	}
	started := time.Now()

	statusTopic := topic.Status(e.park, e.gateway)
	replayFilter := topic.ReplayFilter(e.park)
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
			e.health.connected(false, "connection lost: "+err.Error())
			if e.takeovers.lostAt(time.Now()) {
				e.m.conflicts.Inc()
				e.count(func(st *Stats) { st.Conflicts++ })
				e.log.Error("the broker keeps closing this edge's connection within seconds of making it: another process is likely connected with the same client id (two edges with one gateway id and the default client_id), or the broker refuses this client",
					"client_id", clientID, "losses", takeoverLosses, "within", takeoverWindow, "instance", e.instance)
			}
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			e.takeovers.connectedAt(time.Now())
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
			e.health.connected(true, "connected to "+config.RedactURL(e.cfg.MQTT.Broker))
		})
	mqttconn.OnFailure(opts, func(err error) {
		e.health.connected(false, "not connected: "+mqttconn.Cause(err)+": "+err.Error())
		e.takeovers.attemptFailed() // a broker going down, not a twin
	})
	resumes := new(mqttconn.Resumes)
	client := mqttconn.NewClient(resumes.Track(opts))
	// Polling starts at once, whatever the broker's state: the log holds
	// the batches until the connection is up.
	connectCtx, stopConnecting := context.WithCancel(ctx)
	connectDone := make(chan struct{})
	go func() {
		defer close(connectDone)
		e.connect(connectCtx, client)
	}()
	defer func() { stopConnecting(); <-connectDone }()

	stopPublishing := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() { pubDone <- e.publish(client, resumes, w, started, stopPublishing) }()
	replayCtx, stopReplays := context.WithCancel(context.Background())
	replayDone := make(chan struct{})
	go func() { defer close(replayDone); e.serveReplays(replayCtx, client, w) }()

	st := &stamper{e: e, w: w, seq: seq, max: e.cfg.Edge.MaxBatchPoints, chain: ch}
	if st.max <= 0 {
		st.max = config.DefaultMaxBatchPoints
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	owners := newOwners(e, st, pollCtx)
	owners.start(e.busSources())
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case req := <-e.reloads:
			req.done <- owners.reload(req)
		}
	}
	owners.stopAll() // polling stopped; every read in progress reached the log
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
	if ch != nil {
		if err := ch.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if st := w.Stats(); st.Pending > 0 {
		e.log.Warn("unacknowledged batches stay in the write-ahead log for the next start", "batches", st.Pending, "dir", filepath.Join(e.stateDir, "wal"))
	}
	e.births.stop()
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

// connect makes the first connection attempt and reports its outcome; the
// client keeps retrying in the background until ctx ends.
// A cause retrying cannot cure (a certificate, the credentials) is
// reported at its first failed attempt, not after connect_timeout.
func (e *Edge) connect(ctx context.Context, c mqtt.Client) {
	res := make(chan error, 1)
	go func() { res <- mqttconn.Connect(c, e.cfg.MQTT.ConnectTimeout) }()
	select {
	case err := <-res:
		if err != nil {
			e.log.Warn("broker not reachable yet; polling into the write-ahead log while the client retries",
				"broker", config.RedactURL(e.cfg.MQTT.Broker), "err", err)
		}
	case <-ctx.Done():
	}
}

package park

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// Service runs an Engine against the park's broker: it subscribes to the
// park's data topics with its own persistent session, feeds the engine,
// advances it every second and hands its records to the sinks: InfluxDB
// (through a bounded queue: see sink), MQTT (retained live values on
// eip/v1/{park}/metrics/{name}) and Prometheus gauges.
//
// Acknowledgement: a message is acknowledged once the engine has counted
// it (or refused it as late, duplicate, unknown or malformed). Holding
// every message until the hour it belongs to is written would keep up to
// an hour of readings unacknowledged, beyond any broker's in-flight
// window. The raw readings are durable in InfluxDB through ingest; what a
// restart loses is the engine's in-memory partial hour, whose record then
// comes out flagged incomplete rather than wrong.
type Service struct {
	cfg   config.ParkRole
	log   *slog.Logger
	eng   *Engine
	prom  *promMetrics
	clock func() time.Time
	// backfill reads an hour's stored batches (Options.Backfill); partial
	// are the hours still to fill with them, oldest first.
	backfill func(ctx context.Context, from, to time.Time) ([]*batch.Batch, error)
	partial  []time.Time
	// wm counts what became of the records written to InfluxDB.
	wm *writeMetrics
	// maxPending bounds the records waiting for InfluxDB or for the
	// dead-letter topic (default maxPendingRecords).
	maxPending int

	mu    sync.Mutex
	stats ServiceStats

	health *health   // what /healthz and /readyz report (health.go)
	seal   *sealer   // the audit log of the hourly records (seal.go)
	ev     *verifier // nil: no gateway under evidence (evidence.go)
	// started is the engine's start (its clock when made).
	started time.Time
	// broker is the engine's connection to the broker, as its handlers
	// see it; the engine's goroutine hands it to the engine (holds).
	broker brokerState
	// held is the hour last reported held open, and why.
	held struct {
		hour time.Time
		why  string
	}
	// excessLogs bounds the log lines of batches over the hourly bound:
	// a publisher flooding a device's topic logs a line every
	// excessLogEvery at most.
	excessLogs telemetry.Repeats
	// futureLogs bounds those of batches stamped too far ahead,
	// otherGatewayLogs those of a model's device from another gateway,
	// and malformedLogs those of payloads that are not a batch.
	futureLogs, otherGatewayLogs, malformedLogs telemetry.Repeats
	// lastLive is the end (Unix ns) of the newest live interval computed.
	lastLive atomic.Int64
	view     viewState // the status page's snapshot (view.go)
}

// ServiceStats counts what the service did.
type ServiceStats struct {
	Received     uint64 // MQTT messages taken
	Malformed    uint64 // payloads that are not a valid batch
	Intervals    uint64 // live intervals settled (see below)
	Hours        uint64 // hourly records settled: each metric stored or dead-lettered
	Statements   uint64 // statements settled
	Records      uint64 // records (InfluxDB points) stored
	WriteErrors  uint64 // failed InfluxDB write requests (transient ones retried)
	DeadLetters  uint64 // records published to the dead-letter topic
	Dropped      uint64 // live records pushed out of the full queue, or lost at shutdown
	Published    uint64 // live metric values published on MQTT
	PublishFails uint64 // MQTT publishes that failed or timed out
	Backfilled   uint64 // stored batches added to hours that began before the start (Options.Backfill)
}

// NewService builds the service from the park role of a validated
// configuration (config.File.ParkRole); no I/O. Its metrics are registered on reg
// (nil: a private registry of its own).
func NewService(cfg config.ParkRole, log *slog.Logger, reg prometheus.Registerer, o Options) (*Service, error) {
	if cfg.MQTT == nil || cfg.Engine == nil || cfg.Engine.InfluxDB == nil {
		return nil, errors.New("park: configuration needs mqtt and park_engine sections")
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.From.IsZero() {
		from, err := reopenFrom(cfg.Engine.AuditLog, o.Clock(), cfg.Engine.Grace)
		if err != nil {
			return nil, err
		}
		if !from.IsZero() {
			log.Info("park engine: the hour before the start was not sealed by the earlier run and its grace has not ended: closing it too, with the readings that arrive from now on",
				"hour", from.UTC().Format(time.RFC3339))
			o.From = from
		}
	}
	started := o.Clock()
	eng, err := New(cfg.Engine, o)
	if err != nil {
		return nil, err
	}
	ev, err := newVerifier(cfg.Evidence, log, reg)
	if err != nil {
		return nil, err
	}
	if u := eng.Unbound(); ev != nil && !ev.require && len(u) > 0 {
		log.Warn("park engine: devices named without a gateway count an unsigned batch of any gateway without keys; "+
			"name each device's gateway in park_engine, or set evidence.require, to count only what a key signed",
			"devices", len(u), "first", u[0])
	}
	s := &Service{backfill: o.Backfill, cfg: cfg, log: log, eng: eng, prom: newPromMetrics(reg), wm: newWriteMetrics(reg), maxPending: maxPendingRecords, clock: o.Clock, health: newHealth(cfg.Engine), seal: newSealer(cfg.Engine.AuditLog, reg), ev: ev,
		excessLogs: telemetry.Repeats{Interval: excessLogEvery}, futureLogs: telemetry.Repeats{Interval: excessLogEvery},
		otherGatewayLogs: telemetry.Repeats{Interval: excessLogEvery}, malformedLogs: telemetry.Repeats{Interval: excessLogEvery}, started: started}
	if s.backfill != nil {
		s.partial = eng.PartialHours()
	}
	s.registerLag(reg)
	return s, nil
}

// backfillTimeout bounds the reading of one hour's stored batches.
const backfillTimeout = time.Minute

// fill fills each hour the engine did not see from its start with the
// batches stored for it (Options.Backfill), once its grace has ended,
// just before Advance closes it: by then ingest has stored what the
// earlier run counted. The batches the engine received itself are
// Duplicate. An hour that cannot be read closes with what the engine
// received, as without Backfill, and the log says so.
func (s *Service) fill(ctx context.Context) {
	for len(s.partial) > 0 {
		h := s.partial[0]
		if s.clock().Before(h.Add(time.Hour + s.cfg.Engine.Grace)) {
			return
		}
		s.partial = s.partial[1:]
		rctx, cancel := context.WithTimeout(ctx, backfillTimeout)
		bs, err := s.backfill(rctx, h, h.Add(time.Hour))
		cancel()
		if err != nil {
			s.log.Warn("park engine: the hour began before the start and its stored batches could not be read: it closes with the readings received since the start",
				"hour", h.UTC().Format(time.RFC3339), "err", err)
			continue
		}
		added := 0
		for _, b := range bs {
			if s.eng.AddStored(b.Gateway, b) == Accepted {
				added++
			}
		}
		s.count(func(st *ServiceStats) { st.Backfilled += uint64(added) })
		s.log.Info("park engine: the hour began before the start: filled with its stored batches",
			"hour", h.UTC().Format(time.RFC3339), "stored", len(bs), "added", added)
	}
}

// reopenFrom returns the hour before start's when the audit log in dir
// shows an earlier run that sealed an hour before it but not that hour,
// and start lies within that hour's grace: the earlier run stopped before
// it could close the hour, and the engine closes it (Options.From). A
// first start (no checkpoint) or one after the grace returns zero.
func reopenFrom(dir string, start time.Time, grace time.Duration) (time.Time, error) {
	if dir == "" {
		return time.Time{}, nil
	}
	prev := start.Truncate(time.Hour).Add(-time.Hour)
	if !start.Before(prev.Add(time.Hour + grace)) {
		return time.Time{}, nil
	}
	c, sealed, err := seal.ReadCheckpoint(dir)
	if err != nil {
		return time.Time{}, err
	}
	if sealed {
		last, err := time.Parse(time.RFC3339, c.Hour)
		if err != nil {
			return time.Time{}, fmt.Errorf("park: audit log %s: checkpoint hour %q: %w", dir, c.Hour, err)
		}
		if !last.Before(prev) {
			return time.Time{}, nil // sealed by the earlier run
		}
		return prev, nil
	}
	// Nothing sealed yet: an earlier run that started before the hour's
	// end (its start marker) had not closed it.
	b, err := os.ReadFile(filepath.Join(dir, startMarker))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil // a first start
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("park: audit log: %w", err)
	}
	started, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, fmt.Errorf("park: audit log %s: %s: %w", dir, startMarker, err)
	}
	if started.Before(prev.Add(time.Hour)) {
		return prev, nil
	}
	return time.Time{}, nil
}

// startMarker is the file in the audit log's directory where a run notes
// when it started, so that the next run knows whether an hour before its
// start was open in an earlier run that sealed nothing (reopenFrom).
const startMarker = "engine-start"

// markStart writes start to dir's start marker, whole or not at all.
func markStart(dir string, start time.Time) error {
	if dir == "" {
		return nil
	}
	tmp := filepath.Join(dir, startMarker+".tmp")
	if err := os.WriteFile(tmp, []byte(start.UTC().Format(time.RFC3339Nano)+"\n"), 0o640); err != nil {
		return fmt.Errorf("park: audit log: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, startMarker)); err != nil {
		return fmt.Errorf("park: audit log: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Service) Stats() ServiceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Service) count(f func(*ServiceStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// drainTimeout bounds how long records computed before shutdown may still
// take to be written.
const drainTimeout = 10 * time.Second

// Run consumes, computes and writes until ctx is done, then writes what
// was already computed (for at most drainTimeout) and returns after every
// goroutine it started has returned.
func (s *Service) Run(ctx context.Context) error {
	pe := s.cfg.Engine
	db := pe.InfluxDB
	ic, err := influxwrite.New(db, s.log)
	if err != nil {
		return err
	}
	defer ic.Close()
	writer := s.health.observe(ic.Writer)
	if err := s.seal.open(); err != nil {
		return err
	}
	defer s.seal.close() // after the sink returned
	if err := markStart(pe.AuditLog, s.started); err != nil {
		return err
	}

	clientID := pe.ClientID
	if clientID == "" {
		clientID = "eipgw-park-" + s.cfg.Park
	}
	msgs := make(chan mqtt.Message, 1024)
	filter := topic.DataFilter(s.cfg.Park)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case msgs <- m:
		case <-ctx.Done(): // not acknowledged: redelivered to this session later
		}
	}
	gate := mqttconn.NewGate()
	mopts := mqttconn.Options(s.cfg.MQTT, clientID, s.log).
		SetAutoAckDisabled(true).
		SetDefaultPublishHandler(handler).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.log.Warn("mqtt connection lost", "client_id", clientID, "err", err)
			s.broker.set(false, s.clock())
			gate.Set(false)
			s.health.subscribed.Set(false, "connection lost: "+err.Error())
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			s.broker.set(true, s.clock())
			gate.Set(true)
			t := c.Subscribe(filter, 1, nil)
			t.Wait()
			if err := t.Error(); err != nil {
				s.log.Error("mqtt subscribe failed", "filter", filter, "err", err)
				s.health.subscribed.Set(false, "subscribe failed: "+err.Error())
				return
			}
			s.health.subscribed.Set(true, "subscribed to "+filter)
			s.log.Info("mqtt connected and subscribed", "client_id", clientID, "filter", filter)
		})
	mqttconn.OnFailure(mopts, func(err error) {
		s.health.subscribed.Set(false, "not connected: "+mqttconn.Cause(err)+": "+err.Error())
	})
	resumes := new(mqttconn.Resumes)
	client := mqttconn.NewClient(resumes.Track(mopts))
	if err := mqttconn.Connect(client, s.cfg.MQTT.ConnectTimeout); err != nil {
		s.log.Warn("broker not reachable yet; retrying in the background", "err", err)
	}
	defer client.Disconnect(250)

	// The sink writes what the engine produced; it outlives ctx by at most
	// drainTimeout so that records already computed are not lost.
	outputs := make(chan Output, 16)
	drainCtx, stopDrain := context.WithCancel(context.Background())
	defer stopDrain()
	sinkDone := make(chan struct{})
	sk := s.newSink(writer, client, gate)
	sk.resumes = resumes
	go func() {
		defer close(sinkDone)
		sk.run(drainCtx, outputs)
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case m := <-msgs:
			s.consume(m)
		case <-tick.C:
			s.health.loop.Beat()
			s.eng.SetBroker(s.broker.get())
			s.reportHeld()
			s.fill(ctx)
			o := s.eng.Advance()
			s.snapshot(o)
			s.closed(o)
			if o.Empty() {
				continue
			}
			select {
			case outputs <- o:
			case <-ctx.Done():
				break loop
			}
		}
	}
	close(outputs)
	timer := time.AfterFunc(drainTimeout, stopDrain)
	<-sinkDone
	timer.Stop()
	return nil
}

// consume feeds one MQTT message to the engine and acknowledges it.
func (s *Service) consume(m mqtt.Message) {
	defer m.Ack()
	s.count(func(st *ServiceStats) { st.Received++ })
	tp, err := topic.Parse(m.Topic())
	// A gateway's status (its birth message, or the broker's last will
	// for it): an offline gateway's batches may still come (holds).
	if err == nil && tp.Kind == topic.KindStatus && tp.Park == s.cfg.Park {
		var st struct{ State string }
		if json.Unmarshal(m.Payload(), &st) == nil && (st.State == "online" || st.State == "offline") {
			s.eng.SetGatewayStatus(tp.Gateway, st.State == "online", s.clock())
		}
		return
	}
	if err == nil && (tp.Kind != topic.KindData || tp.Park != s.cfg.Park) {
		return
	}
	var b *batch.Batch
	if err == nil {
		b, err = batch.Decode(m.Payload())
	}
	if err == nil && (b.Gateway != tp.Gateway || b.Device != tp.Device) {
		err = fmt.Errorf("payload of gateway %q device %q on the topic of gateway %q device %q", b.Gateway, b.Device, tp.Gateway, tp.Device)
	}
	if err != nil {
		// ingest dead-letters it; the engine counts it and says why.
		s.count(func(st *ServiceStats) { st.Malformed++ })
		s.prom.batches.WithLabelValues(resultMalformed).Inc()
		if ok, unlogged := s.malformedLogs.Failure(s.clock()); ok {
			s.log.Warn("message left out of the park's metrics: not a valid batch", "topic", m.Topic(), "err", err, "left_out_since_last_log", unlogged)
		}
		return
	}
	if s.ev != nil && s.eng.Knows(b.Gateway, b.Device) && s.ev.check(b, m.Payload(), s.clock()) != "" {
		s.eng.Refuse(Unverified)
		s.prom.batches.WithLabelValues(Unverified.String()).Inc()
		return
	}
	before := s.eng.Stats().InvalidSamples
	r := s.eng.Add(b.Gateway, b)
	s.prom.batches.WithLabelValues(r.String()).Inc()
	if d := s.eng.Stats().InvalidSamples - before; d > 0 {
		s.prom.invalid.Add(float64(d))
	}
	switch r {
	case Unknown:
		// A device of the model from a gateway the model does not name
		// for it (a meter rewired to another edge): its readings stop
		// counting, which the operator must hear of.
		if gws := s.eng.GatewaysOf(b.Device); len(gws) > 0 {
			if ok, unlogged := s.otherGatewayLogs.Failure(s.clock()); ok {
				s.log.Warn("batch left out of the park's metrics: its device is park_engine's, but of another gateway (moved to another edge? name its new gateway in park_engine)",
					"device", b.Device, "gateway", b.Gateway, "configured_gateways", gws, "left_out_since_last_log", unlogged)
			}
		}
	case Late:
		s.log.Debug("reading refused", "device", b.Device, "ts", b.Time, "result", r)
	case Future:
		if ok, unlogged := s.futureLogs.Failure(s.clock()); ok {
			s.log.Warn("batch left out of the park's metrics: stamped more than the allowed skew ahead of this clock (is the gateway's clock set?)",
				"gateway", b.Gateway, "device", b.Device, "ts", b.Time, "clock", s.clock().UTC(), "max_skew", s.eng.maxSkew, "left_out_since_last_log", unlogged)
		}
	case Excess:
		if ok, unlogged := s.excessLogs.Failure(s.clock()); ok {
			s.log.Warn("batch left out of the park's metrics: its device has sent more batches in the hour than park_engine.max_batches_per_device_hour",
				"gateway", b.Gateway, "device", b.Device, "ts", b.Time, "max", s.eng.perHour, "left_out_since_last_log", unlogged)
		}
	}
}

// brokerState is the engine's connection to the broker: up or not, since.
type brokerState struct {
	mu sync.Mutex
	up bool
	at time.Time
}

func (b *brokerState) set(up bool, at time.Time) {
	b.mu.Lock()
	b.up, b.at = up, at
	b.mu.Unlock()
}

func (b *brokerState) get() (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up, b.at
}

// reportHeld logs an hour held open past its grace (Engine.Held), once
// for each hour and reason, and when it is no longer held.
func (s *Service) reportHeld() {
	now := s.clock()
	hour, why := s.eng.HeldHour(now)
	if hour.Equal(s.held.hour) && why == s.held.why {
		return
	}
	if why != "" {
		s.log.Warn("hourly record held open past its grace: its batches may still come", "hour", hour.UTC().Format(time.RFC3339),
			"why", why, "at_most_until", hour.Add(time.Hour+s.cfg.Engine.MaxHold).UTC().Format(time.RFC3339))
	}
	s.held.hour, s.held.why = hour, why
}

// excessLogEvery is how often at most a batch over the hourly bound is
// logged.
const excessLogEvery = 10 * time.Second

// maxPendingRecords is how many records the sink holds at most while
// InfluxDB or the broker is away: under 20 MB (lines of ~130 bytes), about
// 17 hours of the reference park's live and hourly records (5,900 an
// hour), then 15 days of hourly records alone once the live ones are
// dropped.
const maxPendingRecords = 100_000

// Dead-letter reasons of derived records.
const (
	// DeadInfluxRefused: InfluxDB refused the record on its own (400, 413,
	// 422, or a partial write that dropped it).
	DeadInfluxRefused = "influxdb_rejected"
	// DeadQueueFull: the pending queue was full and held no live record
	// to drop; the oldest hourly record or statement went here instead.
	DeadQueueFull = "queue_full"
	// DeadUnencodable: a value line protocol cannot carry (NaN, ±Inf).
	DeadUnencodable = "unencodable"
)

// writeMetrics count what became of the derived records.
type writeMetrics struct {
	dead    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	pending prometheus.Gauge
}

func newWriteMetrics(reg prometheus.Registerer) *writeMetrics {
	m := &writeMetrics{
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_records_dead_lettered_total",
			Help: "Derived records published to the park's dead-letter topic instead of InfluxDB, by measurement and reason: influxdb_rejected, queue_full, unencodable.",
		}, []string{"measurement", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_records_dropped_total",
			Help: "Derived records lost, by measurement and reason: queue_full (live records, oldest first, while InfluxDB is away), shutdown (still pending drainTimeout after the stop), dead_letter_backlog (the broker away as well).",
		}, []string{"measurement", "reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eipgw_park_pending_records",
			Help: "Derived records waiting for InfluxDB or for the dead-letter topic.",
		}),
	}
	reg.MustRegister(m.dead, m.dropped, m.pending)
	for _, ms := range []string{MeasurementLive, MeasurementHourly, MeasurementStatement} {
		for _, r := range []string{DeadInfluxRefused, DeadQueueFull, DeadUnencodable} {
			m.dead.WithLabelValues(ms, r)
		}
		m.dropped.WithLabelValues(ms, "shutdown")
	}
	m.dropped.WithLabelValues(MeasurementLive, "queue_full")
	return m
}

// group is the records of one interval, hour or statement, counted in
// the stats when the last of them is settled.
type group struct {
	measurement string
	left        int
}

// deadLetter is a record on its way to the dead-letter topic.
type deadLetter struct {
	g      *group
	line   []byte
	reason string
	err    error
}

// sink takes the engine's outputs and never loses a derived record
// silently. Records wait in a bounded queue (influxwrite.Queue) and are
// written in requests of at most 5000 lines and 1 MiB:
//
//   - transient failures (no answer, timeout, 5xx, 429, 401/403/404) are
//     retried with jittered exponential back-off honouring Retry-After,
//     for as long as it takes; the engine goes on computing meanwhile;
//   - a request InfluxDB refuses (400, 413, 422, partial write) is halved
//     until the refused record stands alone; it is published to the
//     park's dead-letter topic with InfluxDB's reason, the others are
//     written;
//   - when maxPending records wait, the oldest live record is dropped
//     (counted): the hourly record of the same hour keeps what matters;
//     with no live record left the oldest hourly record or statement is
//     dead-lettered (reason queue_full), never dropped;
//   - at shutdown what is pending is written for up to drainTimeout; what
//     is left then is counted lost and logged.
//
// Every record ends up stored, dead-lettered or dropped, and each is
// counted (eipgw_park_records_written_total,
// eipgw_park_records_dead_lettered_total, eipgw_park_records_dropped_total).
type sink struct {
	s      *Service
	q      *influxwrite.Queue[*group]
	client mqtt.Client
	gate   *mqttconn.Gate
	// resumes tells a dead letter's acknowledgement by the broker from
	// its token completed by a reconnection (nil: tokens are trusted).
	resumes *mqttconn.Resumes

	dead     []deadLetter
	deadWait time.Time // no dead-letter publish before
	failing  bool      // the last write failed transiently
}

func (s *Service) newSink(w influxwrite.Writer, client mqtt.Client, gate *mqttconn.Gate) *sink {
	return &sink{s: s, client: client, gate: gate,
		q: influxwrite.NewQueue[*group](w, influxwrite.QueueOptions{MaxRecords: s.maxPending})}
}

// run handles outputs until the channel is closed and what is pending is
// settled, or ctx ends.
func (k *sink) run(ctx context.Context, outputs <-chan Output) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wake <-chan time.Time
		if at, ok := k.wakeAt(); ok {
			timer.Reset(max(0, time.Until(at)))
			wake = timer.C
		}
		if outputs == nil && wake == nil {
			return // closed and settled
		}
		select {
		case o, ok := <-outputs:
			if !ok {
				outputs = nil
				break
			}
			k.take(ctx, o)
		case <-wake:
		case <-ctx.Done():
			k.abandon()
			return
		}
		k.flush(ctx)
	}
}

// wakeAt is when pending records are next due, and whether any are.
func (k *sink) wakeAt() (time.Time, bool) {
	at, ok := k.q.Due()
	if len(k.dead) > 0 && (!ok || k.deadWait.Before(at)) {
		at, ok = k.deadWait, true
	}
	return at, ok
}

// take queues an output's records, then updates the Prometheus gauges,
// logs closed hours and publishes the last live interval.
func (k *sink) take(ctx context.Context, o Output) {
	s := k.s
	park := s.cfg.Park
	for _, iv := range o.Live {
		k.add(ctx, MeasurementLive, LiveRecords(park, iv))
	}
	for _, h := range o.Hours {
		k.add(ctx, MeasurementHourly, s.seal.hour(s.log, park, h.Start, HourRecords(park, h)))
	}
	for _, st := range o.Statements {
		k.add(ctx, MeasurementStatement, []Record{StatementRecord(park, st)})
	}
	for _, h := range o.Hours {
		inv := 0
		for i := range h.Metrics {
			m := &h.Metrics[i]
			s.prom.hourly.WithLabelValues(string(m.Flag)).Inc()
			if m.Flag == Invalid {
				inv++
			}
			if m.Hours > 0 { // cumulative reductions
				s.prom.set(m)
			}
		}
		s.prom.lastInv.Set(float64(inv))
		s.log.Info("hour closed", "hour", h.Start.UTC().Format(time.RFC3339), "metrics", len(h.Metrics), "invalid", inv)
	}
	if n := len(o.Live); n > 0 {
		last := o.Live[n-1]
		for i := range last.Metrics {
			s.prom.set(&last.Metrics[i])
		}
		k.publish(ctx, park, last)
	}
}

// add queues the records of one group.
func (k *sink) add(ctx context.Context, measurement string, recs []Record) {
	g := &group{measurement: measurement, left: len(recs)}
	if g.left == 0 {
		k.settle(g, 0)
		return
	}
	qr := make([]influxwrite.Record[*group], 0, len(recs))
	for _, r := range recs {
		if r.Err != nil {
			k.s.log.Error("derived record cannot be written", "measurement", measurement, "err", r.Err)
			k.toDead(ctx, deadLetter{g: g, reason: DeadUnencodable, err: r.Err})
			continue
		}
		qr = append(qr, influxwrite.Record[*group]{Line: r.Line, Droppable: measurement == MeasurementLive, Meta: g})
	}
	for _, ev := range k.q.Add(qr...) {
		k.evicted(ctx, ev)
	}
}

// evicted handles a record pushed out of the full queue.
func (k *sink) evicted(ctx context.Context, ev influxwrite.Settled[*group]) {
	g := ev.Meta
	if ev.Droppable {
		k.drop(g, "queue_full")
		return
	}
	k.s.log.Error("pending queue full: dead-lettering the oldest derived record", "measurement", g.measurement, "max_pending", k.s.maxPending)
	k.toDead(ctx, deadLetter{g: g, line: ev.Line, reason: DeadQueueFull, err: ev.Err})
}

func (k *sink) drop(g *group, reason string) {
	k.s.wm.dropped.WithLabelValues(g.measurement, reason).Inc()
	k.s.count(func(st *ServiceStats) { st.Dropped++ })
	k.settle(g, 1)
}

// toDead queues a dead letter. When maxPending of them wait, they are
// published first; if the broker cannot take them, the oldest is dropped,
// counted.
func (k *sink) toDead(ctx context.Context, d deadLetter) {
	if len(k.dead) >= k.s.maxPending {
		k.publishDead(ctx, true)
	}
	if len(k.dead) >= k.s.maxPending {
		old := k.dead[0]
		k.dead = k.dead[1:]
		k.s.log.Error("dead-letter backlog full: derived record lost", "measurement", old.g.measurement, "reason", old.reason, "err", old.err)
		k.drop(old.g, "dead_letter_backlog")
	}
	k.dead = append(k.dead, d)
}

// settle counts n records of g as settled, and g once all are.
func (k *sink) settle(g *group, n int) {
	g.left -= n
	if g.left > 0 {
		return
	}
	k.s.count(func(st *ServiceStats) {
		switch g.measurement {
		case MeasurementLive:
			st.Intervals++
		case MeasurementHourly:
			st.Hours++
		case MeasurementStatement:
			st.Statements++
		}
	})
}

// flush writes what is due and publishes pending dead letters.
func (k *sink) flush(ctx context.Context) {
	s := k.s
	res, err := k.q.Flush(ctx)
	for _, f := range res.Failures {
		s.count(func(st *ServiceStats) { st.WriteErrors++ })
		s.prom.errors.Inc()
		if f.Class.Permanent() {
			s.log.Warn("influxdb refused a write; splitting it to find the refused record", "status", f.Status, "class", f.Class, "err", f.Err)
		}
	}
	stored := 0
	for _, st := range res.Settled {
		g := st.Meta
		if st.Err != nil {
			s.log.Warn("influxdb refused a derived record; dead-lettering it", "measurement", g.measurement, "err", st.Err)
			k.toDead(ctx, deadLetter{g: g, line: st.Line, reason: DeadInfluxRefused, err: st.Err})
			continue
		}
		stored++
		s.prom.records.WithLabelValues(g.measurement).Inc()
		k.settle(g, 1)
	}
	s.count(func(st *ServiceStats) { st.Records += uint64(stored) })
	if n := len(res.Failures); err == nil && n > 0 && !res.Failures[n-1].Class.Permanent() {
		at, _ := k.q.Due()
		attempts, lastErr := k.q.Attempts()
		s.log.Warn("influxdb write failed; retrying, nothing lost", "pending", k.q.Len(), "attempts", attempts,
			"retry_in", time.Until(at).Round(time.Millisecond), "err", lastErr)
		k.failing = true
	} else if k.failing && stored > 0 {
		s.log.Info("influxdb writes resumed", "pending", k.q.Len())
		k.failing = false
	}
	k.publishDead(ctx, false)
	s.wm.pending.Set(float64(k.q.Len() + len(k.dead)))
}

// deadPayload is a derived record on the dead-letter topic.
type deadPayload struct {
	Source      string `json:"source"` // "park"
	Measurement string `json:"measurement"`
	Reason      string `json:"reason"`
	Error       string `json:"error"`
	Payload     string `json:"payload"` // the line protocol, empty if it could not be made
	Time        string `json:"ts"`
}

// publishDead publishes pending dead letters (QoS 1, waiting up to 5 s for
// the broker); what fails is tried again a second later, or at once if
// forced.
func (k *sink) publishDead(ctx context.Context, force bool) {
	if len(k.dead) == 0 || (!force && time.Now().Before(k.deadWait)) {
		return
	}
	ok, wait := k.gate.Ready()
	if !ok && wait > 0 { // settling after a (re)connection: a few ms
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		ok, _ = k.gate.Ready()
	}
	if !ok {
		k.deadWait = time.Now().Add(time.Second)
		return
	}
	s := k.s
	t := topic.DeadLetter(s.cfg.Park)
	tokens := make([]mqtt.Token, len(k.dead))
	sent := k.resumes.Count()
	for i, d := range k.dead {
		body, err := json.Marshal(deadPayload{Source: "park", Measurement: d.g.measurement, Reason: d.reason,
			Error: d.err.Error(), Payload: string(d.line), Time: time.Now().UTC().Format(batch.TimeLayout)})
		if err != nil { // cannot happen: strings only
			panic(err)
		}
		tokens[i] = k.client.Publish(t, 1, false, body)
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	expired := false
	kept := k.dead[:0]
	for i, tok := range tokens {
		d := k.dead[i]
		if !expired {
			select {
			case <-tok.Done():
			case <-deadline.C:
				expired = true
			case <-ctx.Done():
				expired = true
			}
		}
		if !isDone(tok) || k.resumes.Outcome(tok, sent) != nil {
			kept = append(kept, d)
			continue
		}
		s.log.Warn("derived record dead-lettered", "topic", t, "measurement", d.g.measurement, "reason", d.reason, "err", d.err)
		s.wm.dead.WithLabelValues(d.g.measurement, d.reason).Inc()
		s.count(func(st *ServiceStats) { st.DeadLetters++ })
		k.settle(d.g, 1)
	}
	clear(k.dead[len(kept):])
	k.dead = kept
	if len(kept) > 0 {
		s.log.Warn("dead-letter publish failed; retrying", "pending", len(kept))
		k.deadWait = time.Now().Add(time.Second)
	}
}

// abandon counts what is still pending when the drain time is over.
func (k *sink) abandon() {
	lost := map[string]int{}
	for _, r := range k.q.Drain() {
		lost[r.Meta.measurement]++
		k.drop(r.Meta, "shutdown")
	}
	for _, d := range k.dead {
		lost[d.g.measurement]++
		k.drop(d.g, "shutdown")
	}
	k.dead = nil
	if len(lost) > 0 {
		k.s.log.Error("derived records not written at shutdown", "records", lost, "drain_timeout", drainTimeout)
	}
}

// livePayload is the retained MQTT message of one live metric.
type livePayload struct {
	V            int      `json:"v"`
	Park         string   `json:"park"`
	Metric       string   `json:"metric"`
	Tenant       string   `json:"tenant,omitempty"`
	Device       string   `json:"device,omitempty"`
	Link         string   `json:"link,omitempty"`
	Header       string   `json:"header,omitempty"`
	Value        *float64 `json:"value,omitempty"`
	Unit         string   `json:"unit"`
	Flag         Flag     `json:"flag"`
	Reason       string   `json:"reason,omitempty"`
	Completeness float64  `json:"completeness"`
	Start        string   `json:"ts"`
	IntervalS    float64  `json:"interval_s"`
}

// MetricTopic is the MQTT topic of a live metric: eip/v1/{park}/metrics/
// {name}, with the entity appended to the name after a dot
// (steam_power_mw.t01).
func MetricTopic(park string, m *Metric) string {
	return topic.Metrics(park, m.Name, m.Entity)
}

// publish sends the interval's metrics, retained and QoS 1, replacing each
// metric's previous value (an invalid one is published without a value),
// and waits up to 5 s in all for the broker's acknowledgements.
func (k *sink) publish(ctx context.Context, park string, iv Interval) {
	// Publish only on a settled connection (see mqttconn.SettleTime); the
	// next interval replaces what is skipped, and InfluxDB has the record.
	ok, wait := k.gate.Ready()
	if !ok && wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		ok, _ = k.gate.Ready()
	}
	if !ok {
		k.s.count(func(st *ServiceStats) { st.PublishFails += uint64(len(iv.Metrics)) })
		k.s.log.Warn("live metrics not published: broker not connected", "interval", iv.Start.UTC().Format(batch.TimeLayout), "metrics", len(iv.Metrics))
		return
	}
	tokens := make([]mqtt.Token, 0, len(iv.Metrics))
	for i := range iv.Metrics {
		m := &iv.Metrics[i]
		p := livePayload{V: 1, Park: park, Metric: m.Name, Unit: m.Unit, Flag: m.Flag, Reason: m.Reason,
			Completeness: m.Completeness, Start: iv.Start.UTC().Format(batch.TimeLayout), IntervalS: iv.End.Sub(iv.Start).Seconds()}
		switch m.EntityKey {
		case "tenant":
			p.Tenant = m.Entity
		case "device":
			p.Device = m.Entity
		case "link":
			p.Link = m.Entity
		case "header":
			p.Header = m.Entity
		}
		if m.Flag == Valid {
			v := m.Value
			p.Value = &v
		}
		body, err := json.Marshal(p)
		if err != nil {
			// A value JSON cannot carry (NaN, ±Inf): not published,
			// counted and logged; InfluxDB has the record.
			k.s.count(func(st *ServiceStats) { st.PublishFails++ })
			k.s.log.Error("live metric not published", "metric", m.Name, "entity", m.Entity, "err", err)
			continue
		}
		tokens = append(tokens, k.client.Publish(MetricTopic(park, m), 1, true, body))
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	expired := false
	for _, t := range tokens {
		if !expired {
			select {
			case <-t.Done():
			case <-ctx.Done():
				expired = true
			case <-deadline.C:
				expired = true
			}
		}
		if !isDone(t) || t.Error() != nil {
			k.s.count(func(st *ServiceStats) { st.PublishFails++ })
			continue
		}
		k.s.count(func(st *ServiceStats) { st.Published++ })
	}
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

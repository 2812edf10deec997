// Package ingest writes the readings that edges publish over MQTT into
// InfluxDB. It is stateless and scales out: every worker joins one shared
// subscription. A message is acknowledged to the broker only after InfluxDB
// accepted its points, or, for a payload that can never be stored, after it
// was published to the park's dead-letter topic. While InfluxDB is down,
// nothing is acknowledged and the broker keeps the messages.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// Stats counts what ingest did.
type Stats struct {
	Received    uint64 // messages taken from the broker
	Acked       uint64 // messages acknowledged
	Points      uint64 // readings (points of batches) written
	Batches     uint64 // batches (messages) written
	Repeats     uint64 // batches stored already, received and written again (admit)
	Writes      uint64 // successful InfluxDB write requests
	WriteErrors uint64 // failed write attempts (each retried)
	DeadLetters uint64 // messages sent to the dead-letter topic
	Ignored     uint64 // status and metrics messages, acknowledged unwritten
}

// Ingest is one ingest worker.
type Ingest struct {
	cfg config.IngestRole
	log *slog.Logger
	m   *metrics
	// newest is the newest poll time (Unix ms) of a batch received.
	newest atomic.Int64
	// lastOK is when InfluxDB last accepted a write of either lane (Unix ns).
	lastOK atomic.Int64
	// guard checks sequence numbers before anything is written.
	guard *seqGuard
	// ev checks signatures and chains (evidence.go); nil without
	// ingest.evidence.
	ev *verifier
	// replay clears this worker's retained replay request (replay.go).
	replay replayRequests
	// unstored and outage tell the completeness check what is late
	// rather than lost (holdings.go).
	unstored holdings
	outage   outages
	// lookup finds the newest batch stored for the first replay request
	// (replay.go); nil until Run.
	lookup *influxQL
	// health is what /healthz and /readyz report (health.go).
	health *health
	// held bounds the received payload not yet acknowledged (budget.go).
	held *budget
	// rates keeps recent looks at the counters for the status view's
	// rates (view.go).
	rates viewRates
	// writeFails limits the log of failed InfluxDB writes during an
	// outage, which every request of both lanes meets on each retry.
	writeFails telemetry.Repeats
	// deadLetters limits the log of dead-lettered messages to one every
	// deadLetterLogInterval; the dead-letter topic has every one.
	deadLetters telemetry.Repeats
	// restartLogs limits the log of batches numbered again (seqGuard);
	// refusals that of writes InfluxDB refused.
	restartLogs, refusals telemetry.Repeats
	// types is the type of each field in InfluxDB (fieldtypes.go); nil
	// in tests that build an Ingest by hand. typeLogs limits the log of
	// readings of another type.
	types    *fieldTypes
	typeLogs telemetry.Repeats

	mu    sync.Mutex
	stats Stats
}

// failureLogInterval is the least time between two log lines of the same
// recurring failure (telemetry.Repeats); the metrics count every one.
const failureLogInterval = 30 * time.Second

// deadLetterLogInterval is the least time between two log lines of
// dead-lettered messages.
const deadLetterLogInterval = 5 * time.Second

// New builds an ingest worker from the ingest role of a validated
// configuration (config.File.IngestRole); no I/O.
// Metrics are registered on reg (nil: a private registry of its own).
func New(cfg config.IngestRole, log *slog.Logger, reg *prometheus.Registry) (*Ingest, error) {
	if cfg.Ingest == nil || cfg.Ingest.InfluxDB == nil || cfg.MQTT == nil {
		return nil, errors.New("ingest: configuration needs mqtt and ingest.influxdb sections")
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	ev, err := newVerifier(cfg.Ingest.Evidence, log, reg)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in := &Ingest{cfg: cfg, log: log, m: newMetrics(reg), guard: newSeqGuard(cfg, log), health: newHealth(cfg.Ingest), ev: ev}
	in.guard.underEvidence = ev.covers
	in.writeFails.Interval = failureLogInterval
	in.deadLetters.Interval = deadLetterLogInterval
	in.restartLogs.Interval = deadLetterLogInterval
	in.refusals.Interval = deadLetterLogInterval
	in.typeLogs.Interval = deadLetterLogInterval
	in.types = newFieldTypes(in.guard.q, in.guard.timeout, log)
	return in, nil
}

// Stats returns a snapshot of the counters.
func (in *Ingest) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

func (in *Ingest) count(f func(*Stats)) {
	in.mu.Lock()
	f(&in.stats)
	in.mu.Unlock()
}

// Run consumes and writes until ctx is done. Messages received but not yet
// written when ctx ends are not acknowledged: the broker delivers them
// again when this client id reconnects.
func (in *Ingest) Run(ctx context.Context) error {
	icfg := in.cfg.Ingest
	db := icfg.InfluxDB
	ic, err := influxwrite.New(db, in.log)
	if err != nil {
		return err
	}
	defer ic.Close()
	writer := in.health.observe(ic.Writer)
	defer in.health.watchInflux(ctx, ic.Influx)()

	in.lookup = influxQLFor(db)
	in.unstored.reset()
	clientID := in.cfg.MQTT.ClientID
	if clientID == "" {
		host, _ := os.Hostname()
		clientID = "eipgw-ingest-" + in.cfg.Park + "-" + host
	}
	msgs := make(chan mqtt.Message, 2*icfg.BatchSize)
	filter := topic.DataFilter(in.cfg.Park)
	if icfg.Group != "" {
		filter = topic.Shared(icfg.Group, filter)
	}
	// Received payload held at most: twice a write request's bytes.
	in.held = newBudget(2 * int64(icfg.MaxWriteBytes))
	handler := func(_ mqtt.Client, m mqtt.Message) {
		if !in.held.acquire(ctx, int64(len(m.Payload()))) {
			return // not acknowledged: redelivered later
		}
		select {
		case msgs <- m:
		case <-ctx.Done(): // not acknowledged: redelivered later
		}
	}
	mopts := mqttconn.Options(in.cfg.MQTT, clientID, in.log).
		SetAutoAckDisabled(true).
		// A resumed session delivers its unacknowledged messages as soon as
		// the connection is up, before any Subscribe call: the handler must
		// be in place from the start or they sit unacknowledged.
		SetDefaultPublishHandler(handler).
		SetConnectionLostHandler(in.connectionLost(clientID)).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Runs in its own goroutine: waiting for the SUBACK is fine.
			t := c.Subscribe(filter, 1, nil)
			t.Wait()
			if err := t.Error(); err != nil {
				in.log.Error("mqtt subscribe failed", "filter", filter, "err", err)
				in.health.subscribed.Set(false, "subscribe failed: "+err.Error())
				return
			}
			in.health.subscribed.Set(true, "subscribed to "+filter)
			in.log.Info("mqtt connected and subscribed", "broker", config.RedactURL(in.cfg.MQTT.Broker), "client_id", clientID, "filter", filter)
			in.requestReplay(c, clientID)
		})
	mqttconn.OnFailure(mopts, func(err error) {
		in.health.subscribed.Set(false, "not connected: "+mqttconn.Cause(err)+": "+err.Error())
	})
	resumes := new(mqttconn.Resumes)
	client := mqttconn.NewClient(resumes.Track(mopts))
	if err := mqttconn.Connect(client, in.cfg.MQTT.ConnectTimeout); err != nil {
		in.log.Warn("broker not reachable yet; retrying in the background", "err", err)
	}
	defer client.Disconnect(250)
	defer in.replay.stop(client, in.log)

	w := &worker{in: in, writer: writer, client: client, resumes: resumes, deadLetterMax: icfg.DeadLetterMaxBytes, park: in.cfg.Park, seen: map[string]*seqWindow{}, msgs: msgs,
		maxBytes: icfg.MaxWriteBytes, maxLines: icfg.MaxWriteLines, maxAttempts: icfg.MaxAttempts}
	if cc := icfg.Completeness; !cc.Disabled {
		w.compl = &completeness{
			park: in.cfg.Park, q: influxQLFor(db),
			write: func(ctx context.Context, line string) error { return writer.WriteRecord(ctx, line) },
			grace: cc.Grace, log: in.log, gaps: in.m.gaps, missing: in.m.missing,
			maxGap: cc.MaxSeqJump, implausibleGaps: in.m.implausible,
			gateways: map[string]*gatewayState{}, now: time.Now,
			held: &in.unstored, outage: &in.outage, gapLogs: telemetry.Repeats{Interval: gapLogInterval},
		}
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.compl.run(cctx, cc.Interval) }()
		defer func() { stop(); <-done }()
	}
	// Large messages go to a side lane with its own client (writer.go).
	sideClient, err := influxwrite.New(db, in.log)
	if err != nil {
		return err
	}
	defer sideClient.Close()
	side := &worker{in: in, writer: in.health.observe(sideClient.Writer), client: client, park: in.cfg.Park,
		maxBytes: icfg.MaxWriteBytes, maxLines: icfg.MaxWriteLines, maxAttempts: icfg.MaxAttempts}
	toSide, fromSide := make(chan *entry, 1), make(chan *entry, 1)
	sideBusy := false
	sideCtx, stopSide := context.WithCancel(ctx)
	sideDone := make(chan struct{})
	go func() { defer close(sideDone); side.sideLane(sideCtx, toSide, fromSide) }()
	defer func() { stopSide(); <-sideDone }()

	var queue []*entry
	for {
		var wakeAt time.Time
		for _, e := range queue {
			if !e.inSide && (wakeAt.IsZero() || e.due.Before(wakeAt)) {
				wakeAt = e.due
			}
		}
		in.health.loop.Beat()
		wakeAt = in.health.wakeBy(wakeAt)
		fresh, ok := w.gather(ctx, max(0, 2*icfg.BatchSize-len(queue)), wakeAt)
		if !ok {
			return nil // unwritten messages stay unacknowledged
		}
		in.count(func(s *Stats) { s.Received += uint64(len(fresh)) })
		added, err := w.accept(ctx, fresh)
		if err != nil {
			return nil
		}
		queue = append(queue, added...)
		select {
		case e := <-fromSide:
			e.inSide, sideBusy = false, false
		default:
		}
		now := time.Now()
		var due []*entry
		for _, e := range queue {
			switch {
			case e.inSide:
			case !sideBusy && w.isLarge(e) && !e.refused:
				e.inSide, sideBusy = true, true
				toSide <- e
				// The side lane holds one message at a time: its bytes
				// leave the budget, or a message larger than the budget
				// would stop every other delivery until it is stored.
				in.held.release(int64(len(e.msg.Payload())))
				e.outOfBudget = true
			case !e.due.After(now):
				due = append(due, e)
			}
		}
		in.m.pending.Set(float64(len(queue)))
		if err := w.writeAll(ctx, due); err != nil {
			return nil
		}
		w.recovered(queue, now)
		kept := queue[:0]
		for _, e := range queue {
			if e.inSide {
				kept = append(kept, e)
				continue
			}
			if !e.settledOK {
				why := w.giveUpReason(e)
				if why == nil {
					kept = append(kept, e)
					continue
				}
				if err := w.deadLetter(ctx, e.msg, why); err != nil {
					return nil
				}
			} else {
				if e.signed {
					in.ev.storedSigned(e.gateway, e.device, e.polled)
				}
				if e.repeat {
					in.m.messages.WithLabelValues("repeat").Inc()
					in.count(func(s *Stats) { s.Repeats++ })
				} else {
					in.m.points.Add(float64(e.points))
					in.m.messages.WithLabelValues("written").Inc()
					in.count(func(s *Stats) { s.Batches++; s.Points += uint64(e.points) })
				}
			}
			if e.held {
				in.unstored.done(e.gateway, e.seq)
			}
			if e.outOfBudget {
				e.msg.Ack()
				in.count(func(s *Stats) { s.Acked++ })
			} else {
				in.ack(e.msg)
			}
		}
		clear(queue[len(kept):])
		queue = kept
		in.m.pending.Set(float64(len(queue)))
	}
}

// gather waits for messages: up to room of them, for at most the batch
// wait after the first, and no later than wakeAt when entries are waiting
// for their next try (zero: none). Deliveries taken early (deadLetter)
// come first, at once. It reports false when ctx ended.
func (w *worker) gather(ctx context.Context, room int, wakeAt time.Time) ([]mqtt.Message, bool) {
	if n := min(room, len(w.early)); n > 0 {
		out := w.early[:n:n]
		w.early = w.early[n:]
		if len(w.early) == 0 {
			w.early = nil
		}
		return out, true
	}
	in, msgs := w.in, w.msgs
	var wake <-chan time.Time
	if !wakeAt.IsZero() {
		t := time.NewTimer(max(0, time.Until(wakeAt)))
		defer t.Stop()
		wake = t.C
	}
	if room == 0 {
		select {
		case <-ctx.Done():
			return nil, false
		case <-wake:
			return nil, true
		}
	}
	var out []mqtt.Message
	select {
	case <-ctx.Done():
		return nil, false
	case m := <-msgs:
		out = append(out, m)
	case <-wake:
		// Take what is already there, without waiting.
		for len(out) < room {
			select {
			case m := <-msgs:
				out = append(out, m)
			default:
				return out, true
			}
		}
		return out, true
	}
	timer := time.NewTimer(in.cfg.Ingest.BatchWait)
	defer timer.Stop()
	var stalled <-chan struct{}
	if in.held != nil {
		stalled = in.held.stalled
	}
	for len(out) < min(room, in.cfg.Ingest.BatchSize) {
		select {
		case m := <-msgs:
			out = append(out, m)
		case <-timer.C:
			return out, true
		case <-stalled:
			// Nothing more arrives before some is acknowledged: write
			// what is here instead of waiting out the batch wait.
			for len(out) < room {
				select {
				case m := <-msgs:
					out = append(out, m)
				default:
					return out, true
				}
			}
			return out, true
		case <-wake:
			return out, true
		case <-ctx.Done():
			return nil, false
		}
	}
	return out, true
}

type worker struct {
	in     *Ingest
	writer api.WriteAPIBlocking
	client mqtt.Client
	// resumes tells a dead letter's acknowledgement by the broker from
	// its token completed by a reconnection (mqttconn.Resumes).
	resumes *mqttconn.Resumes
	// deadLetterMax bounds a dead letter (deadLetterRecord).
	deadLetterMax int
	park          string
	compl         *completeness
	seen          map[string]*seqWindow

	maxBytes, maxLines, maxAttempts int

	// msgs is the hand-over from the MQTT client's delivery (nil for the
	// side lane). early holds the deliveries taken while a dead letter
	// waited for its acknowledgement, in order: gather hands them out
	// before anything still in msgs.
	msgs  <-chan mqtt.Message
	early []mqtt.Message

	scratch []byte // where lines are rendered (linesOf)
	// points is the array the next batch's points are decoded into: a
	// batch's points are rendered as lines before the next is decoded,
	// and not kept.
	points []batch.Point
	// names remembers each device's point names, found free of repeats.
	names batch.Names
	// typeChecks is each device's last check of its points' types
	// against their fields' (fieldtypes.go), keyed gateway/device.
	typeChecks map[string]*typeCheck
	typeSeed   maphash.Seed
	// typeBuf and typeKey are fixTypes' scratch: the points' types and
	// the device's key.
	typeBuf, typeKey []byte
	// signedNames is the hash of the point names of each device's last
	// batch that passed its evidence (ownNames).
	signedNames map[partKey]uint64
}

// maxReusedPoints bounds the array of points a worker keeps for the next
// batch (80 bytes a point).
const maxReusedPoints = 4096

// done gives b's points back for the next batch once its lines are
// rendered: b keeps none.
func (w *worker) done(b *batch.Batch) {
	if cap(b.Points) <= maxReusedPoints {
		w.points = b.Points[:0]
	}
	b.Points = nil
}

// seqWindow remembers a content hash per recent sequence number of one
// gateway, to tell a harmless redelivery from a conflicting batch.
type seqWindow struct {
	hashes map[uint64]seqEntry
	max    uint64
}

// seqEntry is what a worker remembers of a batch it accepted: its content
// hash and its poll time (Unix ms).
type seqEntry struct {
	hash uint64
	ms   int64
}

// seqMemory is how many recent sequence numbers per gateway are remembered.
const seqMemory = 100000

// payloadSeed seeds payloadHash for the life of the process: the hashes
// are compared only within it.
var payloadSeed = maphash.MakeSeed()

// payloadHash is a 64-bit hash of a payload, to tell a redelivery from
// other content under the same sequence number. maphash runs several
// times faster than FNV-1a over batches of kilobytes.
func payloadHash(p []byte) uint64 { return maphash.Bytes(payloadSeed, p) }

// conflicts reports whether seq was written before with other content,
// and remembers it otherwise.
func (w *worker) conflicts(gateway string, seq uint64, payload []byte, ms int64) bool {
	sw := w.seen[gateway]
	if sw == nil {
		sw = &seqWindow{hashes: map[uint64]seqEntry{}}
		w.seen[gateway] = sw
	}
	sum := payloadHash(payload)
	if old, ok := sw.hashes[seq]; ok {
		return old.hash != sum
	}
	sw.hashes[seq] = seqEntry{sum, ms}
	sw.max = max(sw.max, seq)
	if len(sw.hashes) > 2*seqMemory {
		for s := range sw.hashes {
			if s+seqMemory < sw.max {
				delete(sw.hashes, s)
			}
		}
	}
	return false
}

var errIgnore = errors.New("not a data message")

// parse decodes and admits m. Its verdict is the batch's evidence (nil:
// not under evidence); repeat marks a batch stored already (admit).
func (w *worker) parse(m mqtt.Message) (b *batch.Batch, vd *verdict, repeat bool, err error) {
	tp, err := topic.Parse(m.Topic())
	switch {
	case errors.Is(err, topic.ErrName):
		return nil, nil, false, refuse(ReasonName, "%v", err)
	case err != nil:
		return nil, nil, false, refuse(ReasonTopic, "%v", err)
	case tp.Park != w.park || (tp.Kind != topic.KindData && tp.Kind != topic.KindStatus && tp.Kind != topic.KindMetrics):
		return nil, nil, false, refuse(ReasonTopic, "topic %s is not %s", short(m.Topic()), topic.Data(w.park, "{gateway}", "{device}"))
	case tp.Kind != topic.KindData:
		return nil, nil, false, errIgnore
	case slices.Contains(config.ReservedGateways, tp.Gateway) || slices.Contains(config.ReservedDevices, tp.Device):
		// No edge may take these names (eipgw validate refuses them):
		// the topic is one of eipgw's own, or posing as one.
		return nil, nil, false, refuse(ReasonTopic, "topic %s: the gateway names %s and the device names %s are reserved for eipgw's own topics",
			short(m.Topic()), strings.Join(config.ReservedGateways, ", "), strings.Join(config.ReservedDevices, ", "))
	}
	gw, dev := tp.Gateway, tp.Device
	// The MQTT client hands each message its own payload, never changed:
	// the batch shares its memory instead of copying it.
	b, err = batch.DecodeShared(m.Payload(), w.points, &w.names)
	if err != nil {
		return nil, nil, false, err
	}
	if b.Gateway != gw || b.Device != dev {
		return nil, nil, false, refuse(ReasonTopic, "payload names gateway %s device %s but the topic says %s %s",
			short(b.Gateway), short(b.Device), short(gw), short(dev))
	}
	// The per-gateway state keeps these past the message: the topic's
	// copies, so that it keeps no payload.
	b.Gateway, b.Device = gw, dev
	if err := validateBatch(b, time.Now()); err != nil {
		return nil, nil, false, err
	}
	if w.in != nil {
		vd = w.in.ev.check(b, m.Payload())
	}
	if vd != nil && !vd.unverified() {
		w.noteNames(b)
	}
	if repeat, err = w.admit(b, m.Payload(), vd.unverified()); err != nil {
		return nil, nil, false, err
	}
	return b, vd, repeat, nil
}

// noteNames remembers the point names of b, a batch that passed its
// gateway's evidence, for ownNames.
func (w *worker) noteNames(b *batch.Batch) {
	k := partKey{b.Gateway, b.Device, b.Part}
	sum := w.names.SumOf(b.Points)
	if w.signedNames == nil || len(w.signedNames) >= maxSignedNames {
		w.signedNames = map[partKey]uint64{}
	}
	if old, ok := w.signedNames[k]; !ok || old != sum {
		k.gateway, k.device = strings.Clone(k.gateway), strings.Clone(k.device)
		w.signedNames[k] = sum
	}
}

// ownNames reports whether b, a batch that fails its gateway's evidence,
// has the point names of the last batch of its device (and part) that
// passed it, as this worker saw. Stored flagged, a batch of invented point
// names would add as many field keys to the measurement (slowing every
// later SELECT * of it, the audit's among them), and anyone who can
// publish can send one; until the worker saw a signed batch of the device
// (after it started, say), none has.
func (w *worker) ownNames(b *batch.Batch) bool {
	old, ok := w.signedNames[partKey{b.Gateway, b.Device, b.Part}]
	return ok && old == w.names.SumOf(b.Points)
}

// partKey names a device's batches, or the part k of its split polls.
type partKey struct {
	gateway, device string
	part            int
}

// maxSignedNames bounds worker.signedNames (about 80 B a device).
const maxSignedNames = 100000

// deadLetter publishes an unusable message with the reason to the park's
// dead-letter topic and waits for the broker's acknowledgement.
func (w *worker) deadLetter(ctx context.Context, m mqtt.Message, reason error) error {
	reasonLabel := refusalReason(reason)
	payload := deadLetterRecord(m.Topic(), reason.Error(), reasonLabel, m.Payload(), time.Now().UTC().Format(batch.TimeLayout), w.deadLetterMax)
	dlTopic := topic.DeadLetter(w.park)
	// Anyone who may publish to the park's topics can send a flood of
	// unusable messages: every one is dead-lettered and counted, the log
	// shows a few of them.
	if log, unlogged := w.in.deadLetters.Failure(time.Now()); log {
		w.in.log.Warn("dead-lettering a message", "topic", m.Topic(), "dead_letter_topic", dlTopic, "reason", reason,
			"dead_lettered_since_last_log", unlogged)
	}
	// The MQTT client reads the broker's acknowledgement of the dead letter
	// on the path that delivers messages: until it comes, deliveries must
	// not wait, neither for the budget (opened) nor for the hand-over
	// (taken into w.early here), or the acknowledgement waits behind them
	// for ever.
	if w.in.held != nil {
		defer w.in.held.open()() // see budget
	}
	backoff := 100 * time.Millisecond
	for {
		sent := w.resumes.Count()
		t := w.client.Publish(dlTopic, 1, false, payload)
		if err := w.takeUntil(ctx, t.Done()); err != nil {
			return err
		}
		// The message is acknowledged once this returns: only the
		// broker's acknowledgement of the dead letter may allow it.
		err := w.resumes.Outcome(t, sent)
		if err == nil {
			w.in.count(func(s *Stats) { s.DeadLetters++ })
			w.in.m.messages.WithLabelValues("dead_letter").Inc()
			w.in.m.refused.WithLabelValues(reasonLabel).Inc()
			return nil
		}
		w.in.log.Warn("dead-letter publish failed; retrying", "err", err)
		pause := make(chan struct{})
		timer := time.AfterFunc(backoff, func() { close(pause) })
		err = w.takeUntil(ctx, pause)
		timer.Stop()
		if err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// deadLetterRecord is a dead letter's JSON: {"topic", "error", "reason",
// "payload" or "payload_base64", "ts"}. The payload goes as a JSON string
// when it is UTF-8 text, else in base64 (a JSON string cannot hold other
// bytes as they are). A record that would be larger than max bytes (a
// payload near the broker's packet limit, or one whose escapes double
// it: the broker would refuse the dead letter and drop the connection,
// again at every reconnection) holds the start of the payload instead,
// cut to fit, and "truncated": true, "payload_bytes" (the whole
// payload's size) and "payload_sha256" (its hash), so that the message
// can still be told apart and matched with a copy kept elsewhere. It is
// built in one buffer of its final size: the payload can be as large as
// the broker lets a message be, and encoding/json would grow a buffer to
// about twice its output and copy it.
func deadLetterRecord(topic, errText, reason string, payload []byte, ts string, limit int) []byte {
	text := utf8.Valid(payload)
	errText = strings.ToValidUTF8(errText, "\uFFFD")
	topic = strings.ToValidUTF8(topic, "\uFFFD")
	// The record without its payload (its keys and quotes, 64 bytes at
	// most) and the truncation's fields.
	fixed := 64 + escapedLen([]byte(topic)) + escapedLen([]byte(errText)) + escapedLen([]byte(reason)) + escapedLen([]byte(ts))
	const truncation = len(`,"truncated":true,"payload_bytes":,"payload_sha256":""`) + 20 + 2*sha256.Size
	keep := len(payload)
	var size int
	if text {
		size = escapedLen(payload)
	} else {
		size = base64.StdEncoding.EncodedLen(len(payload))
	}
	cut := fixed+size > limit
	if cut {
		room := max(0, limit-fixed-truncation)
		if text {
			keep = escapedPrefix(payload, room)
			size = escapedLen(payload[:keep])
		} else {
			keep = base64.StdEncoding.DecodedLen(room) / 3 * 3
			size = base64.StdEncoding.EncodedLen(keep)
		}
	}
	b := make([]byte, 0, fixed+size+truncation)
	b = append(b, `{"topic":`...)
	b = batch.AppendJSONString(b, topic)
	b = append(b, `,"error":`...)
	b = batch.AppendJSONString(b, errText)
	b = append(b, `,"reason":`...)
	b = batch.AppendJSONString(b, reason)
	if text {
		b = append(b, `,"payload":`...)
		b = batch.AppendJSONString(b, string(payload[:keep]))
	} else {
		b = append(b, `,"payload_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, payload[:keep])
		b = append(b, '"')
	}
	if cut {
		sum := sha256.Sum256(payload)
		b = append(b, `,"truncated":true,"payload_bytes":`...)
		b = strconv.AppendInt(b, int64(len(payload)), 10)
		b = append(b, `,"payload_sha256":"`...)
		b = hex.AppendEncode(b, sum[:])
		b = append(b, '"')
	}
	b = append(b, `,"ts":`...)
	b = batch.AppendJSONString(b, ts)
	return append(b, '}')
}

// escapedLen is the length of p as the contents of a JSON string
// (batch.AppendJSONString).
func escapedLen(p []byte) int {
	n := len(p)
	for _, c := range p {
		switch {
		case c == '"' || c == '\\':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// escapedPrefix returns the length of the longest prefix of p, UTF-8
// text, that ends on a character and takes at most room bytes escaped.
func escapedPrefix(p []byte, room int) int {
	n, i := 0, 0
	for ; i < len(p); i++ {
		w := 1
		switch c := p[i]; {
		case c == '"' || c == '\\':
			w = 2
		case c < 0x20:
			w = 6
		}
		if n+w > room {
			break
		}
		n += w
	}
	for i > 0 && i < len(p) && !utf8.RuneStart(p[i]) {
		i--
	}
	return i
}

// takeUntil takes deliveries into w.early until done (or ctx ends).
func (w *worker) takeUntil(ctx context.Context, done <-chan struct{}) error {
	for {
		select {
		case <-done:
			return nil
		case m := <-w.msgs:
			w.early = append(w.early, m)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Package ingest writes the readings that edges publish over MQTT into
// InfluxDB. It is stateless and scales out: every worker joins one shared
// subscription. A message is acknowledged to the broker only after InfluxDB
// accepted its points, or, for a payload that can never be stored, after it
// was published to the park's dead-letter topic. While InfluxDB is down,
// nothing is acknowledged and the broker keeps the messages.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/batch"
	"github.com/eipgw/eipgw/gateway/mqttconn"
)

// Stats counts what ingest did.
type Stats struct {
	Received    uint64 // messages taken from the broker
	Acked       uint64 // messages acknowledged
	Points      uint64 // readings (points of batches) written
	Batches     uint64 // batches (messages) written
	Writes      uint64 // successful InfluxDB write requests
	WriteErrors uint64 // failed write attempts (each retried)
	DeadLetters uint64 // messages sent to the dead-letter topic
	Ignored     uint64 // status and metrics messages, acknowledged unwritten
}

// Ingest is one ingest worker.
type Ingest struct {
	cfg *config.File
	log *slog.Logger
	m   *metrics
	// newest is the newest poll time (Unix ms) of a batch received.
	newest atomic.Int64

	mu    sync.Mutex
	stats Stats
}

// New builds an ingest worker from a validated configuration; no I/O.
// Metrics are registered on reg (nil: a private registry of its own).
func New(cfg *config.File, log *slog.Logger, reg *prometheus.Registry) (*Ingest, error) {
	if cfg.Ingest == nil || cfg.Ingest.InfluxDB == nil || cfg.MQTT == nil {
		return nil, errors.New("ingest: configuration needs mqtt and ingest.influxdb sections")
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Ingest{cfg: cfg, log: log, m: newMetrics(reg)}, nil
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
	tlsCfg, err := mqttconn.TLSConfig(db.TLS, db.URL, in.log)
	if err != nil {
		return err
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPRequestTimeout(uint(max(1, db.Timeout/time.Second))).
		SetTLSConfig(tlsCfg)
	ic := influxdb2.NewClientWithOptions(db.URL, db.Token, opts)
	defer ic.Close()
	writer := ic.WriteAPIBlocking(db.Org, db.Bucket)

	clientID := in.cfg.MQTT.ClientID
	if clientID == "" {
		host, _ := os.Hostname()
		clientID = "eipgw-ingest-" + in.cfg.Park + "-" + host
	}
	msgs := make(chan mqtt.Message, 2*icfg.BatchSize)
	filter := mqttconn.DataFilter(in.cfg.Park)
	if icfg.Group != "" {
		filter = "$share/" + icfg.Group + "/" + filter
	}
	handler := func(_ mqtt.Client, m mqtt.Message) {
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
		SetOnConnectHandler(func(c mqtt.Client) {
			// Runs in its own goroutine: waiting for the SUBACK is fine.
			t := c.Subscribe(filter, 1, nil)
			t.Wait()
			if err := t.Error(); err != nil {
				in.log.Error("mqtt subscribe failed", "filter", filter, "err", err)
				return
			}
			in.log.Info("mqtt connected and subscribed", "broker", config.RedactURL(in.cfg.MQTT.Broker), "client_id", clientID, "filter", filter)
			in.requestReplay(c, clientID)
		})
	client := mqttconn.NewClient(mopts)
	if err := mqttconn.Connect(client, in.cfg.MQTT.ConnectTimeout); err != nil {
		in.log.Warn("broker not reachable yet; retrying in the background", "err", err)
	}
	defer client.Disconnect(250)

	w := &worker{in: in, writer: writer, client: client, park: in.cfg.Park, seen: map[string]*seqWindow{}}
	if cc := icfg.Completeness; !cc.Disabled {
		w.compl = &completeness{
			park: in.cfg.Park, q: influxQLFor(db),
			write: func(ctx context.Context, line string) error { return writer.WriteRecord(ctx, line) },
			grace: cc.Grace, log: in.log, gaps: in.m.gaps, missing: in.m.missing,
			gateways: map[string]*gatewayState{}, now: time.Now,
		}
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.compl.run(cctx, cc.Interval) }()
		defer func() { stop(); <-done }()
	}
	for {
		var pending []mqtt.Message
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			pending = append(pending, m)
		}
		timer := time.NewTimer(icfg.BatchWait)
	gather:
		for len(pending) < icfg.BatchSize {
			select {
			case m := <-msgs:
				pending = append(pending, m)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		in.count(func(s *Stats) { s.Received += uint64(len(pending)) })
		in.m.pending.Set(float64(len(pending)))
		if err := w.store(ctx, pending); err != nil {
			// Only ctx ending stops store; nothing unwritten was acked.
			return nil
		}
		for _, m := range pending {
			m.Ack()
		}
		in.m.pending.Set(0)
		in.count(func(s *Stats) { s.Acked += uint64(len(pending)) })
	}
}

type worker struct {
	in     *Ingest
	writer api.WriteAPIBlocking
	client mqtt.Client
	park   string
	buf    []byte
	compl  *completeness
	seen   map[string]*seqWindow
}

// seqWindow remembers a content hash per recent sequence number of one
// gateway, to tell a harmless redelivery from a conflicting batch.
type seqWindow struct {
	hashes map[uint64]uint64
	max    uint64
}

// seqMemory is how many recent sequence numbers per gateway are remembered.
const seqMemory = 100000

// conflicts reports whether seq was written before with other content,
// and remembers it otherwise.
func (w *worker) conflicts(gateway string, seq uint64, payload []byte) bool {
	sw := w.seen[gateway]
	if sw == nil {
		sw = &seqWindow{hashes: map[uint64]uint64{}}
		w.seen[gateway] = sw
	}
	h := fnv.New64a()
	h.Write(payload)
	sum := h.Sum64()
	if old, ok := sw.hashes[seq]; ok {
		return old != sum
	}
	sw.hashes[seq] = sum
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

type parsed struct {
	msg   mqtt.Message
	batch *batch.Batch
	line  []byte
}

// store makes every message durable: its points in InfluxDB, or the
// message itself on the dead-letter topic. It returns only when all are
// durable (nil) or ctx ended (ctx.Err()).
func (w *worker) store(ctx context.Context, msgs []mqtt.Message) error {
	var good []parsed
	for _, m := range msgs {
		b, err := w.parse(m)
		if errors.Is(err, errIgnore) {
			w.in.count(func(s *Stats) { s.Ignored++ })
			w.in.m.messages.WithLabelValues("ignored").Inc()
			continue
		}
		if err == nil && w.conflicts(b.Gateway, b.Seq, m.Payload()) {
			w.in.m.conflicts.Inc()
			err = fmt.Errorf("%w: gateway %s sent seq %d before with different content", batch.ErrInvalid, b.Gateway, b.Seq)
		}
		if err != nil {
			if err := w.deadLetter(ctx, m, err); err != nil {
				return err
			}
			continue
		}
		if w.compl != nil {
			w.compl.seen(b.Gateway)
		}
		if ms := b.Time.UnixMilli(); ms > w.in.newest.Load() {
			w.in.newest.Store(ms)
		}
		good = append(good, parsed{msg: m, batch: b, line: appendLine(nil, w.park, b)})
	}
	if len(good) == 0 {
		return nil
	}
	err := w.write(ctx, good)
	var herr *ihttp.Error
	if errors.As(err, &herr) && isRejected(herr.StatusCode) {
		// InfluxDB refused the request as a whole; find the lines it
		// refuses one by one so that the rest is written.
		w.in.log.Warn("influxdb rejected a batch; writing its messages one by one", "status", herr.StatusCode, "err", herr)
		for _, p := range good {
			err := w.write(ctx, []parsed{p})
			if errors.As(err, &herr) && isRejected(herr.StatusCode) {
				if err := w.deadLetter(ctx, p.msg, fmt.Errorf("influxdb rejected the points: %w", herr)); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

var errIgnore = errors.New("not a data message")

func (w *worker) parse(m mqtt.Message) (*batch.Batch, error) {
	levels := strings.Split(m.Topic(), "/")
	// eip/v1/{park}/{gateway}/{device}
	if len(levels) != 5 || levels[2] != w.park {
		return nil, fmt.Errorf("topic %q is not eip/v1/%s/{gateway}/{device}", m.Topic(), w.park)
	}
	gw, dev := levels[3], levels[4]
	if dev == mqttconn.StatusLevel || gw == mqttconn.MetricsLevel {
		return nil, errIgnore
	}
	b, err := batch.Decode(m.Payload())
	if err != nil {
		return nil, err
	}
	if b.Gateway != gw || b.Device != dev {
		return nil, fmt.Errorf("%w: payload names gateway %q device %q but the topic says %q %q",
			batch.ErrInvalid, b.Gateway, b.Device, gw, dev)
	}
	return b, nil
}

func isRejected(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnprocessableEntity ||
		status == http.StatusRequestEntityTooLarge
}

// write sends the lines of ps in one request, retrying transient failures
// (network, 5xx, 429) with jittered exponential backoff that honours
// Retry-After, until success or ctx ends. Rejections (4xx) are returned.
func (w *worker) write(ctx context.Context, ps []parsed) error {
	w.buf = w.buf[:0]
	points := 0
	for i, p := range ps {
		if i > 0 {
			w.buf = append(w.buf, '\n')
		}
		w.buf = append(w.buf, p.line...)
		points += len(p.batch.Points)
	}
	body := string(w.buf)
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := w.writer.WriteRecord(ctx, body)
		if err == nil {
			w.in.m.writeDur.Observe(time.Since(start).Seconds())
			w.in.m.points.Add(float64(points))
			w.in.m.messages.WithLabelValues("written").Add(float64(len(ps)))
			w.in.count(func(s *Stats) {
				s.Writes++
				s.Batches += uint64(len(ps))
				s.Points += uint64(points)
			})
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.in.count(func(s *Stats) { s.WriteErrors++ })
		var herr *ihttp.Error
		wait := backoff/2 + rand.N(backoff/2+1)
		status := 0
		if errors.As(err, &herr) {
			status = herr.StatusCode
		}
		w.in.m.writeErrors.WithLabelValues(strconv.Itoa(status)).Inc()
		if errors.As(err, &herr) {
			if isRejected(herr.StatusCode) {
				return err
			}
			if herr.RetryAfter > 0 {
				wait = time.Duration(herr.RetryAfter) * time.Second
			}
		}
		w.in.log.Warn("influxdb write failed; retrying, nothing acknowledged", "messages", len(ps), "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// deadLetter publishes an unusable message with the reason to the park's
// dead-letter topic and waits for the broker's acknowledgement.
func (w *worker) deadLetter(ctx context.Context, m mqtt.Message, reason error) error {
	rec := struct {
		Topic   string `json:"topic"`
		Error   string `json:"error"`
		Payload string `json:"payload"`
		Time    string `json:"ts"`
	}{m.Topic(), reason.Error(), string(m.Payload()), time.Now().UTC().Format(batch.TimeLayout)}
	payload, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	topic := mqttconn.DeadLetterTopic(w.park)
	w.in.log.Warn("dead-lettering a message", "topic", m.Topic(), "dead_letter_topic", topic, "reason", reason)
	backoff := 100 * time.Millisecond
	for {
		t := w.client.Publish(topic, 1, false, payload)
		select {
		case <-t.Done():
			if t.Error() == nil {
				w.in.count(func(s *Stats) { s.DeadLetters++ })
				w.in.m.messages.WithLabelValues("dead_letter").Inc()
				return nil
			}
			w.in.log.Warn("dead-letter publish failed; retrying", "err", t.Error())
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

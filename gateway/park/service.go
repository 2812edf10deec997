package park

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/batch"
	"github.com/eipgw/eipgw/gateway/mqttconn"
	"github.com/eipgw/eipgw/gateway/topic"
)

// Service runs an Engine against the park's broker: it subscribes to the
// park's data topics with its own persistent session, feeds the engine,
// advances it every second and hands its records to the sinks: InfluxDB
// (retried until written), MQTT (retained live values on
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
	cfg   *config.File
	log   *slog.Logger
	eng   *Engine
	prom  *promMetrics
	clock func() time.Time

	mu    sync.Mutex
	stats ServiceStats
}

// ServiceStats counts what the service did.
type ServiceStats struct {
	Received     uint64 // MQTT messages taken
	Malformed    uint64 // payloads that are not a valid batch
	Intervals    uint64 // live intervals written
	Hours        uint64 // hourly records written
	Statements   uint64 // statements written
	WriteErrors  uint64 // failed InfluxDB write attempts
	Published    uint64 // live metric values published on MQTT
	PublishFails uint64 // MQTT publishes that failed or timed out
}

// NewService builds the service; no I/O. Its metrics are registered on reg
// (nil: a private registry of its own).
func NewService(cfg *config.File, log *slog.Logger, reg prometheus.Registerer, o Options) (*Service, error) {
	if cfg == nil || cfg.MQTT == nil || cfg.ParkEngine == nil || cfg.ParkEngine.InfluxDB == nil {
		return nil, errors.New("park: configuration needs mqtt and park_engine sections")
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	eng, err := New(cfg, o)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, log: log, eng: eng, prom: newPromMetrics(reg), clock: o.Clock}, nil
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
	pe := s.cfg.ParkEngine
	db := pe.InfluxDB
	tlsCfg, err := mqttconn.TLSConfig(db.TLS, db.URL, s.log)
	if err != nil {
		return err
	}
	opts := influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetHTTPRequestTimeout(uint(max(1, db.Timeout/time.Second))).SetTLSConfig(tlsCfg)
	ic := influxdb2.NewClientWithOptions(db.URL, db.Token, opts)
	defer ic.Close()
	writer := ic.WriteAPIBlocking(db.Org, db.Bucket)

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
			gate.Set(false)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			gate.Set(true)
			t := c.Subscribe(filter, 1, nil)
			t.Wait()
			if err := t.Error(); err != nil {
				s.log.Error("mqtt subscribe failed", "filter", filter, "err", err)
				return
			}
			s.log.Info("mqtt connected and subscribed", "client_id", clientID, "filter", filter)
		})
	client := mqttconn.NewClient(mopts)
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
	go func() {
		defer close(sinkDone)
		sk := &sink{s: s, writer: writer, client: client, gate: gate}
		for o := range outputs {
			sk.handle(drainCtx, o)
		}
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
			o := s.eng.Advance()
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
	if err == nil && (tp.Kind != topic.KindData || tp.Park != s.cfg.Park) {
		return
	}
	var b *batch.Batch
	if err == nil {
		b, err = batch.Decode(m.Payload())
	}
	if err != nil || b.Gateway != tp.Gateway || b.Device != tp.Device {
		// ingest dead-letters it; the engine only counts it.
		s.count(func(st *ServiceStats) { st.Malformed++ })
		return
	}
	before := s.eng.Stats().InvalidSamples
	r := s.eng.Add(b.Gateway, b)
	s.prom.batches.WithLabelValues(r.String()).Inc()
	if d := s.eng.Stats().InvalidSamples - before; d > 0 {
		s.prom.invalid.Add(float64(d))
	}
	if r == Late || r == Future {
		s.log.Debug("reading refused", "device", b.Device, "ts", b.Time, "result", r)
	}
}

type sink struct {
	s      *Service
	writer api.WriteAPIBlocking
	client mqtt.Client
	gate   *mqttconn.Gate
}

func (k *sink) handle(ctx context.Context, o Output) {
	s := k.s
	park := s.cfg.Park
	if body := Lines(park, o); len(body) > 0 {
		if err := k.write(ctx, string(body)); err != nil {
			s.log.Error("derived records not written", "intervals", len(o.Live), "hours", len(o.Hours), "err", err)
			return
		}
	}
	s.count(func(st *ServiceStats) {
		st.Intervals += uint64(len(o.Live))
		st.Hours += uint64(len(o.Hours))
		st.Statements += uint64(len(o.Statements))
	})
	s.prom.records.WithLabelValues(MeasurementLive).Add(float64(len(o.Live)))
	s.prom.records.WithLabelValues(MeasurementHourly).Add(float64(len(o.Hours)))
	s.prom.records.WithLabelValues(MeasurementStatement).Add(float64(len(o.Statements)))
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

// write sends body to InfluxDB, retrying transient failures with jittered
// exponential back-off (honouring Retry-After) until it succeeds, InfluxDB
// refuses it (4xx) or ctx ends.
func (k *sink) write(ctx context.Context, body string) error {
	backoff := 100 * time.Millisecond
	for {
		err := k.writer.WriteRecord(ctx, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("park: writing derived records: %w", ctx.Err())
		}
		k.s.count(func(st *ServiceStats) { st.WriteErrors++ })
		k.s.prom.errors.Inc()
		var herr *ihttp.Error
		wait := backoff/2 + rand.N(backoff/2+1)
		if errors.As(err, &herr) {
			if herr.StatusCode/100 == 4 && herr.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("park: influxdb refused the derived records: %w", err)
			}
			if herr.RetryAfter > 0 {
				wait = time.Duration(herr.RetryAfter) * time.Second
			}
		}
		k.s.log.Warn("influxdb write failed; retrying", "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("park: writing derived records: %w", ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 10*time.Second)
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

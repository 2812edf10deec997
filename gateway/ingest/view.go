package ingest

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// View is an ingest worker's state for the status page and its JSON API
// (GET /api/status): its subscription, InfluxDB, how fast and how late it
// writes, what it retries and dead-letters, the completeness check and
// the evidence check. Every figure is read from the worker's counters and
// Prometheus metrics, so the page and /metrics agree. Times are UTC;
// durations are seconds.
type View struct {
	Role         string           `json:"role"` // "ingest"
	Park         string           `json:"park"`
	Now          time.Time        `json:"now"`
	Subscription SubscriptionView `json:"subscription"`
	InfluxDB     InfluxView       `json:"influxdb"`
	Counts       CountsView       `json:"counts"`
	// Rate is measured over the last RateView.WindowSeconds between two
	// looks at the view (about 10 s when the page polls).
	Rate         RateView         `json:"rate"`
	Write        LatencyView      `json:"write"`          // InfluxDB write requests that succeeded
	PollToStored LatencyView      `json:"poll_to_stored"` // a batch's poll to InfluxDB's acknowledgement
	Retries      RetryView        `json:"retries"`
	DeadLetters  DeadLetterView   `json:"dead_letters"`
	Completeness CompletenessView `json:"completeness"`
	Evidence     *EvidenceView    `json:"evidence,omitempty"` // absent without ingest.evidence
	Queue        QueueView        `json:"queue"`
}

// CountsView is the worker's counters since start (Stats).
type CountsView struct {
	Received    uint64 `json:"received"`     // messages taken from the broker
	Acked       uint64 `json:"acked"`        // messages acknowledged
	Points      uint64 `json:"points"`       // readings written
	Batches     uint64 `json:"batches"`      // batches written
	Repeats     uint64 `json:"repeats"`      // batches stored already, received and written again
	Writes      uint64 `json:"writes"`       // InfluxDB write requests that succeeded
	WriteErrors uint64 `json:"write_errors"` // write attempts that failed (retried)
	DeadLetters uint64 `json:"dead_letters"` // messages sent to the dead-letter topic
	Ignored     uint64 `json:"ignored"`      // status and metrics messages, acknowledged unwritten
}

// ConditionView is one condition: whether it holds, what was seen, since
// when.
type ConditionView struct {
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

// SubscriptionView is the MQTT subscription.
type SubscriptionView struct {
	ConditionView
	Broker string `json:"broker"` // password removed
	Filter string `json:"filter"`
	Group  string `json:"group,omitempty"`
}

// InfluxView is InfluxDB: reachable when the last write or ping
// succeeded within the readiness window.
type InfluxView struct {
	ConditionView
	URL    string `json:"url"` // password removed
	Bucket string `json:"bucket"`
	// LastOKAgeSeconds is the age of the last write or ping that
	// succeeded (-1: none yet).
	LastOKAgeSeconds float64 `json:"last_ok_age_seconds"`
}

// RateView is what was written per second over the window.
type RateView struct {
	WindowSeconds    float64 `json:"window_seconds"` // 0: a single look so far, no rate yet
	PointsPerSecond  float64 `json:"points_per_second"`
	BatchesPerSecond float64 `json:"batches_per_second"`
	WritesPerSecond  float64 `json:"writes_per_second"`
}

// LatencyView summarises one histogram: since start and over the rate's
// window. Quantiles are estimated from the histogram's buckets as
// Prometheus' histogram_quantile does (linear within a bucket); 0 when
// nothing was observed.
type LatencyView struct {
	Count       uint64  `json:"count"`
	MeanSeconds float64 `json:"mean_seconds"`
	P50Seconds  float64 `json:"p50_seconds"`
	P99Seconds  float64 `json:"p99_seconds"`
	// Recent* cover the observations of the rate's window only.
	RecentCount       uint64  `json:"recent_count"`
	RecentMeanSeconds float64 `json:"recent_mean_seconds"`
	RecentP99Seconds  float64 `json:"recent_p99_seconds"`
}

// RetryView is InfluxDB write attempts that failed; each is retried
// (eipgw_ingest_write_errors_total{status}).
type RetryView struct {
	FailedAttempts uint64 `json:"failed_attempts"`
	// ByStatus counts them by HTTP status ("0": no response).
	ByStatus map[string]uint64 `json:"by_status"`
	// MaxAttempts is how often one message may fail before it is
	// dead-lettered (ingest.max_attempts).
	MaxAttempts int `json:"max_attempts"`
}

// DeadLetterView is the messages sent to the dead-letter topic, by
// reason (eipgw_ingest_refused_total{reason}; every reason listed).
type DeadLetterView struct {
	Total    uint64            `json:"total"`
	ByReason map[string]uint64 `json:"by_reason"`
}

// CompletenessView is the check for missing sequence numbers
// (eipgw_ingest_seq_*_total).
type CompletenessView struct {
	Enabled         bool    `json:"enabled"`
	IntervalSeconds float64 `json:"interval_seconds"`
	Gaps            uint64  `json:"gaps"`             // runs declared missing
	Missing         uint64  `json:"missing_batches"`  // batches declared missing
	Implausible     uint64  `json:"implausible_gaps"` // gaps beyond max_seq_jump, recorded only
	Conflicts       uint64  `json:"seq_conflicts"`    // numbers seen again with other content
}

// EvidenceView is the signature and chain check
// (eipgw_ingest_evidence_*_total).
type EvidenceView struct {
	Checked uint64 `json:"checked"`
	// Breaks counts batches stored flagged, by check.
	Breaks map[string]uint64 `json:"breaks"`
}

// QueueView is the messages received and not yet acknowledged.
type QueueView struct {
	Unacknowledged int `json:"unacknowledged"`
	// Capacity is the most the worker holds before it stops taking
	// messages (twice ingest.batch_size).
	Capacity int `json:"capacity"`
}

// viewSample is one look at the counters, kept to measure rates.
type viewSample struct {
	at                      time.Time
	points, batches, writes uint64
	write, stored           *dto.Histogram
}

// viewRates keeps the looks of about the last rateWindow.
type viewRates struct {
	mu      sync.Mutex
	samples []viewSample
}

// rateWindow is the span rates and recent latencies are measured over.
const rateWindow = 10 * time.Second

// add records s and returns the sample to measure against: the newest one
// at least rateWindow old, else the oldest kept (nil: none before s).
func (r *viewRates) add(s viewSample) *viewSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.samples); n == 0 || s.at.Sub(r.samples[n-1].at) >= time.Second {
		r.samples = append(r.samples, s)
	}
	for len(r.samples) > 2 && s.at.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
	base := r.samples[0]
	if !base.at.Before(s.at) {
		return nil
	}
	return &base
}

func condView(c *telemetry.Condition) ConditionView {
	ok, detail, since := c.State()
	return ConditionView{OK: ok, Detail: detail, Since: since.UTC()}
}

// View returns the worker's current state; safe while Run runs.
func (in *Ingest) View() View {
	now := time.Now()
	icfg := in.cfg.Ingest
	filter := topic.DataFilter(in.cfg.Park)
	if icfg.Group != "" {
		filter = topic.Shared(icfg.Group, filter)
	}
	st := in.Stats()
	v := View{
		Role: "ingest", Park: in.cfg.Park, Now: now.UTC(),
		Subscription: SubscriptionView{ConditionView: condView(in.health.subscribed),
			Broker: config.RedactURL(in.cfg.MQTT.Broker), Filter: filter, Group: icfg.Group},
		Counts:  CountsView(st),
		Retries: RetryView{ByStatus: labelled(in.m.writeErrors, "status"), MaxAttempts: icfg.MaxAttempts},
		Queue:   QueueView{Unacknowledged: int(gaugeValue(in.m.pending)), Capacity: 2 * icfg.BatchSize},
	}
	// The InfluxDB check as /readyz reports it.
	for _, c := range in.Ready() {
		if c.Name == "influxdb" {
			v.InfluxDB.ConditionView = ConditionView{OK: c.OK, Detail: c.Detail, Since: c.Since.UTC()}
		}
	}
	v.InfluxDB.URL, v.InfluxDB.Bucket, v.InfluxDB.LastOKAgeSeconds = config.RedactURL(icfg.InfluxDB.URL), icfg.InfluxDB.Bucket, -1
	if ns := in.health.lastOK.Load(); ns != 0 {
		v.InfluxDB.LastOKAgeSeconds = now.Sub(time.Unix(0, ns)).Seconds()
	}
	for _, n := range v.Retries.ByStatus {
		v.Retries.FailedAttempts += n
	}
	v.DeadLetters.ByReason = map[string]uint64{}
	for _, r := range refusalReasons {
		n := counterValue(in.m.refused.WithLabelValues(r))
		v.DeadLetters.ByReason[r] = n
		v.DeadLetters.Total += n
	}
	if cc := icfg.Completeness; cc != nil {
		v.Completeness.Enabled, v.Completeness.IntervalSeconds = !cc.Disabled, cc.Interval.Seconds()
	}
	v.Completeness.Gaps = counterValue(in.m.gaps)
	v.Completeness.Missing = counterValue(in.m.missing)
	v.Completeness.Implausible = counterValue(in.m.implausible)
	v.Completeness.Conflicts = counterValue(in.m.conflicts)
	if in.ev != nil {
		v.Evidence = &EvidenceView{Checked: counterValue(in.ev.checked), Breaks: labelled(in.ev.breaks, "check")}
	}

	cur := viewSample{at: now, points: st.Points, batches: st.Batches, writes: st.Writes,
		write: histogram(in.m.writeDur), stored: histogram(in.m.stored)}
	base := in.rates.add(cur)
	v.Write = latency(cur.write, nil)
	v.PollToStored = latency(cur.stored, nil)
	if base != nil {
		dt := cur.at.Sub(base.at).Seconds()
		v.Rate = RateView{WindowSeconds: dt,
			PointsPerSecond:  float64(cur.points-base.points) / dt,
			BatchesPerSecond: float64(cur.batches-base.batches) / dt,
			WritesPerSecond:  float64(cur.writes-base.writes) / dt}
		v.Write = latency(cur.write, base.write)
		v.PollToStored = latency(cur.stored, base.stored)
	}
	return v
}

// latency summarises h since start, and the observations since base
// (nil: none).
func latency(h, base *dto.Histogram) LatencyView {
	var l LatencyView
	if h == nil {
		return l
	}
	l.Count = h.GetSampleCount()
	if l.Count > 0 {
		l.MeanSeconds = h.GetSampleSum() / float64(l.Count)
	}
	bounds, counts := buckets(h)
	l.P50Seconds = quantile(0.5, bounds, counts, l.Count)
	l.P99Seconds = quantile(0.99, bounds, counts, l.Count)
	if base == nil {
		return l
	}
	_, was := buckets(base)
	if len(was) != len(counts) {
		return l
	}
	l.RecentCount = l.Count - base.GetSampleCount()
	if l.RecentCount > 0 {
		l.RecentMeanSeconds = (h.GetSampleSum() - base.GetSampleSum()) / float64(l.RecentCount)
	}
	recent := make([]uint64, len(counts))
	for i := range counts {
		recent[i] = counts[i] - was[i]
	}
	l.RecentP99Seconds = quantile(0.99, bounds, recent, l.RecentCount)
	return l
}

// buckets returns a histogram's upper bounds and cumulative counts.
func buckets(h *dto.Histogram) (bounds []float64, counts []uint64) {
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, b.GetCumulativeCount())
	}
	return bounds, counts
}

// quantile estimates the q-quantile of total observations from cumulative
// bucket counts: linear within the bucket it falls in (from 0 for the
// first); the largest finite bound when it falls beyond it.
func quantile(q float64, bounds []float64, counts []uint64, total uint64) float64 {
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	i := sort.Search(len(counts), func(i int) bool { return float64(counts[i]) >= rank })
	if i == len(counts) {
		return bounds[len(bounds)-1]
	}
	lo, below := 0.0, uint64(0)
	if i > 0 {
		lo, below = bounds[i-1], counts[i-1]
	}
	hi := bounds[i]
	if math.IsInf(hi, 1) {
		return lo
	}
	in := counts[i] - below
	if in == 0 {
		return hi
	}
	return lo + (hi-lo)*(rank-float64(below))/float64(in)
}

// histogram, counterValue and gaugeValue read a metric as /metrics
// would; writing a plain counter, gauge or histogram cannot fail.
func histogram(h prometheus.Histogram) *dto.Histogram {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return nil
	}
	return m.GetHistogram()
}

func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

// labelled returns a counter vector's values by the value of label.
func labelled(vec *prometheus.CounterVec, label string) map[string]uint64 {
	out := map[string]uint64{}
	ch := make(chan prometheus.Metric)
	go func() { vec.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		for _, lp := range d.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] = uint64(d.GetCounter().GetValue())
			}
		}
	}
	return out
}

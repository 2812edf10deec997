package park

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// promUnit maps a catalogue unit to its SI base unit: the factor and the
// Prometheus name suffix.
var promUnit = map[string]struct {
	factor float64
	suffix string
}{
	"MW":     {1e6, "_watts"},
	"t/h":    {1000.0 / 3600, "_kilograms_per_second"},
	"kg/h":   {1.0 / 3600, "_kilograms_per_second"},
	"t":      {1000, "_kilograms"},
	"kg":     {1, "_kilograms"},
	"GJ":     {1e9, "_joules"},
	"MWh":    {3.6e9, "_joules"},
	"1":      {1, "_ratio"},
	"%":      {0.01, "_ratio"},
	"mg/Nm3": {1e-6, "_kilograms_per_normal_cubic_metre"},
	"m3/h":   {1.0 / 3600, "_cubic_metres_per_second"},
	"m3":     {1, "_cubic_metres"},
}

// unitSuffixes are the catalogue names' unit suffixes, stripped for the
// Prometheus name.
var unitSuffixes = []string{"_m3_h", "_m3", "_t_h", "_kg_h", "_mg_nm3", "_mw", "_mwh", "_gj", "_t", "_kg", "_pct"}

// boolMetrics are the catalogue's 0-or-1 flags besides the alarms.
var boolMetrics = map[string]bool{
	"chp_heat_check": true, "chp_overall_threshold_met": true, "chp_high_efficiency": true, "standby_boilers": true,
}

// promName returns the Prometheus name and factor of a catalogue metric.
func promName(name, unit string) (string, float64) {
	base := name
	for _, s := range unitSuffixes {
		if b, ok := strings.CutSuffix(base, s); ok {
			base = b
			break
		}
	}
	u, ok := promUnit[unit]
	if !ok {
		u.factor = 1
	}
	if strings.HasSuffix(base, "_alarm") || boolMetrics[base] {
		u.suffix = "" // 0 or 1
	}
	return "eipgw_park_" + base + u.suffix, u.factor
}

// promMetrics exposes the live values and the engine's health on a
// private registry.
// resultMalformed labels the messages on a data topic of the park that are
// not a valid batch (the engine's Result has no value for them: they never
// reach it).
const resultMalformed = "malformed"

type promMetrics struct {
	reg     prometheus.Registerer
	mu      sync.Mutex
	gauges  map[string]*prometheus.GaugeVec
	batches *prometheus.CounterVec
	invalid prometheus.Counter
	records *prometheus.CounterVec
	errors  prometheus.Counter
	hourly  *prometheus.CounterVec
	lastInv prometheus.Gauge
}

func newPromMetrics(reg prometheus.Registerer) *promMetrics {
	m := &promMetrics{
		reg:    reg,
		gauges: map[string]*prometheus.GaugeVec{},
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_batches_total", Help: "Batches received by the park engine, by what became of them.",
		}, []string{"result"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_park_invalid_samples_total", Help: "Input samples without a valid value (bad quality, missing point, impossible state).",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_records_written_total", Help: "Derived records written to InfluxDB, by measurement.",
		}, []string{"measurement"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_park_write_errors_total", Help: "Failed InfluxDB write attempts (each is retried).",
		}),
		hourly: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_hourly_metrics_total", Help: "Hourly metric values closed, by flag (valid, invalid, n/a).",
		}, []string{"flag"}),
		lastInv: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eipgw_park_last_hour_invalid_metrics", Help: "Metrics of the last closed hour that are flagged invalid.",
		}),
	}
	reg.MustRegister(m.batches, m.invalid, m.records, m.errors, m.hourly, m.lastInv)
	for r := Accepted; r < numResults; r++ {
		m.batches.WithLabelValues(r.String())
	}
	m.batches.WithLabelValues(resultMalformed)
	return m
}

// set publishes one live metric; an invalid or undefined one removes its
// series so that no stale value looks current.
func (m *promMetrics) set(x *Metric) {
	name, factor := promName(x.Name, x.Unit)
	var labels []string
	if x.EntityKey != "" {
		labels = []string{x.EntityKey}
	}
	m.mu.Lock()
	g, ok := m.gauges[name]
	if !ok {
		g = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: name, Help: "Park engine metric " + x.Name + " (" + x.Unit + " in the catalogue, SI here); docs/metrics.md.",
		}, labels)
		if err := m.reg.Register(g); err != nil {
			m.mu.Unlock()
			return
		}
		m.gauges[name] = g
	}
	m.mu.Unlock()
	var vals []string
	if x.EntityKey != "" {
		vals = []string{x.Entity}
	}
	if x.Flag != Valid {
		g.DeleteLabelValues(vals...)
		return
	}
	g.WithLabelValues(vals...).Set(x.Value * factor)
}

package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages    *prometheus.CounterVec
	points      prometheus.Counter
	writeDur    prometheus.Histogram
	writeErrors *prometheus.CounterVec
	pending     prometheus.Gauge
	gaps        prometheus.Counter
	missing     prometheus.Counter
	conflicts   prometheus.Counter
	refused     *prometheus.CounterVec
	implausible prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_ingest_messages_total", Help: "Messages acknowledged to the broker, by outcome: written, dead_letter, ignored (status and metrics topics).",
		}, []string{"outcome"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_points_written_total", Help: "Readings written to InfluxDB.",
		}),
		writeDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eipgw_ingest_write_duration_seconds", Help: "Duration of successful InfluxDB write requests.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_ingest_write_errors_total", Help: "Failed InfluxDB write attempts, by HTTP status (0: no response). Transient ones are retried; nothing is acknowledged meanwhile.",
		}, []string{"status"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eipgw_ingest_unacknowledged_messages", Help: "Messages received and not yet acknowledged (waiting for InfluxDB).",
		}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_seq_gaps_total", Help: "Runs of batch sequence numbers declared missing (each written as a completeness record).",
		}),
		missing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_seq_missing_total", Help: "Batches declared missing.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_seq_conflicts_total", Help: "Batches rejected because their sequence number was already written with different content.",
		}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eipgw_ingest_refused_total", Help: "Messages dead-lettered, by reason: malformed, topic, name, reserved, value, unit, points, time, seq_range, seq_jump (quarantined), seq_conflict, seq_regress, influxdb_rejected, other.",
	}, []string{"reason"})
	m.implausible = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eipgw_ingest_seq_implausible_gaps_total", Help: "Sequence gaps larger than completeness.max_seq_jump, recorded as implausible instead of as missing batches.",
	})
	reg.MustRegister(m.messages, m.points, m.writeDur, m.writeErrors, m.pending, m.gaps, m.missing, m.conflicts, m.refused, m.implausible)
	for _, r := range refusalReasons {
		m.refused.WithLabelValues(r)
	}
	for _, o := range []string{"written", "dead_letter", "ignored"} {
		m.messages.WithLabelValues(o)
	}
	return m
}

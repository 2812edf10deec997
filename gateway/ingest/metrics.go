package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages    *prometheus.CounterVec
	points      prometheus.Counter
	writeDur    prometheus.Histogram
	stored      prometheus.Histogram
	writeErrors *prometheus.CounterVec
	pending     prometheus.Gauge
	gaps        prometheus.Counter
	missing     prometheus.Counter
	conflicts   prometheus.Counter
	refused     *prometheus.CounterVec
	restarts    prometheus.Counter
	implausible prometheus.Counter
	// typeMismatches counts readings of another type than their field's
	// in InfluxDB (fieldtypes.go).
	typeMismatches *prometheus.CounterVec
}

// pollToStoredBuckets bound the poll-to-stored latency, in seconds: fine
// around the 1 s budget for the 99th percentile, coarse for an outage's
// backlog.
var pollToStoredBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_ingest_messages_total", Help: "Messages acknowledged to the broker, by outcome: written, repeat (a batch stored already, exactly: a redelivery or an edge's replay, written again), dead_letter, ignored (status and metrics topics).",
		}, []string{"outcome"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_points_written_total", Help: "Readings written to InfluxDB.",
		}),
		writeDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eipgw_ingest_write_duration_seconds", Help: "Duration of successful InfluxDB write requests.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		stored: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eipgw_ingest_poll_to_stored_seconds",
			Help:    "Time from a batch's poll (its ts) to InfluxDB's acknowledgement of the write of its last line, per batch written (repeats of batches stored already left out); includes the edge's publish, the broker, ingest's batching and the write.",
			Buckets: pollToStoredBuckets,
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
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_seq_restarts_total", Help: "Batches numbered with a number their gateway gave an earlier poll: its numbering went back (an edge with a new or restored state_dir). Stored, and logged.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_seq_conflicts_total", Help: "Batches rejected because their sequence number was already written with different content.",
		}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eipgw_ingest_refused_total", Help: "Messages dead-lettered, by reason: malformed, topic, name, reserved, value, unit, points, time, seq_range, seq_jump (quarantined), seq_conflict, seq_regress, unverified, time_taken, influxdb_rejected, other.",
	}, []string{"reason"})
	m.implausible = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eipgw_ingest_seq_implausible_gaps_total", Help: "Sequence gaps larger than completeness.max_seq_jump, recorded as implausible instead of as missing batches.",
	})
	m.typeMismatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eipgw_ingest_field_type_mismatches_total", Help: "Readings whose type differs from their field's in InfluxDB: converted (written exactly in the field's type) or flagged (written as quality type_conflict).",
	}, []string{"outcome"})
	reg.MustRegister(m.messages, m.points, m.writeDur, m.stored, m.writeErrors, m.pending, m.gaps, m.missing, m.conflicts, m.restarts, m.refused, m.implausible, m.typeMismatches)
	for _, o := range []string{"converted", "flagged"} {
		m.typeMismatches.WithLabelValues(o)
	}
	for _, r := range refusalReasons {
		m.refused.WithLabelValues(r)
	}
	for _, o := range []string{"written", "repeat", "dead_letter", "ignored"} {
		m.messages.WithLabelValues(o)
	}
	return m
}

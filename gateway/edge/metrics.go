package edge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// metrics are the edge's own health figures.
type metrics struct {
	polls             *prometheus.CounterVec
	pollDur           *prometheus.HistogramVec
	deviceUp          *prometheus.GaugeVec
	published         prometheus.Counter
	acked             prometheus.Counter
	replayed          prometheus.Counter
	republish         prometheus.Counter
	replayedOnRequest prometheus.Counter
	replayServed      prometheus.Counter
	replayRefused     *prometheus.CounterVec
	replayLimited     *prometheus.CounterVec
	dropped           *prometheus.CounterVec
	walErrors         prometheus.Counter
	seqErrors         prometheus.Counter
	conflicts         prometheus.Counter
	overflowed        prometheus.Gauge
	splits            prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, w func() wal.Stats) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_edge_polls_total", Help: "Polls of each device, by outcome (ok: every point good; partial; failed: no point good, slots skipped while the device backs off included: eipgw_edge_bus_* counts those apart).",
		}, []string{"device", "outcome"}),
		pollDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eipgw_edge_poll_duration_seconds", Help: "Time to poll one device.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"device"}),
		deviceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eipgw_edge_device_up", Help: "1 when the device's last poll returned at least one good point.",
		}, []string{"device"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_published_total", Help: "Batches handed to the MQTT client (first sends and resends).",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_acked_total", Help: "Batches the broker acknowledged.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_replayed_total", Help: "Batches published from the write-ahead log that an earlier run had appended.",
		}),
		replayedOnRequest: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_replayed_on_request_total", Help: "Batches published again because an ingest worker asked for a replay.",
		}),
		republish: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_republished_total", Help: "Publishes sent again: the MQTT client gave up on them, or a reconnection completed them before the broker acknowledged them.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_edge_batches_dropped_total", Help: "Batches lost, by reason (wal_full, wal_corrupt, wal_unsynced, overflow; the last two after a crash are upper bounds). Each is also logged with its sequence range.",
		}, []string{"reason"}),
		walErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_wal_append_errors_total", Help: "Appends to the write-ahead log that failed (e.g. disk full); those batches were held in memory instead.",
		}),
		seqErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_seq_persist_errors_total", Help: "Failed writes of the sequence reservation (polling goes on).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_edge_gateway_conflicts_total", Help: "Another process using this gateway id: its birth messages, or (one client id) connections closed again and again within seconds of being made.",
		}),
		overflowed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eipgw_edge_memory_queue_batches", Help: "Batches held in memory because the write-ahead log could not take them.",
		}),
	}
	m.splits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eipgw_edge_polls_split_total",
		Help: "Polls of a device with more points than edge.max_batch_points, published as several batches.",
	})
	reg.MustRegister(m.splits)
	reg.MustRegister(m.polls, m.pollDur, m.deviceUp, m.published, m.acked, m.replayed, m.republish, m.replayedOnRequest, m.dropped, m.walErrors, m.seqErrors, m.conflicts, m.overflowed)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eipgw_edge_wal_bytes", Help: "Size of the write-ahead log on disk, acknowledged batches kept for wal.retain included."},
			func() float64 { return float64(w().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eipgw_edge_wal_records", Help: "Batches in the write-ahead log not yet acknowledged by the broker."},
			func() float64 { return float64(w().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eipgw_edge_wal_oldest_age_seconds", Help: "Age of the oldest unacknowledged batch (0 when none)."},
			func() float64 {
				if o := w().Oldest; !o.IsZero() {
					return time.Since(o).Seconds()
				}
				return 0
			}),
	)
	m.replayServed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eipgw_edge_replay_requests_served_total", Help: "Replay requests served (the batches they brought are in eipgw_edge_batches_replayed_on_request_total).",
	})
	m.replayRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eipgw_edge_replay_requests_refused_total",
		Help: "Replay requests refused, by reason (not_allowed, malformed, stale, future, duplicate, rate_limited, queue_full). Each is also logged.",
	}, []string{"reason"})
	m.replayLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eipgw_edge_replay_requests_limited_total",
		Help: "Replay requests served in part, by limit: max_age (since moved forward to edge.replay.max_age ago), max_batches (stopped at edge.replay.max_batches).",
	}, []string{"limit"})
	reg.MustRegister(m.replayServed, m.replayRefused, m.replayLimited)
	for _, reason := range replayReasons {
		m.replayRefused.WithLabelValues(reason)
	}
	for _, limit := range []string{limitMaxAge, limitMaxBatches} {
		m.replayLimited.WithLabelValues(limit)
	}
	for _, reason := range []string{"wal_full", "wal_corrupt", "wal_unsynced", "overflow"} {
		m.dropped.WithLabelValues(reason)
	}
	return m
}

// forget removes the per-device series of a device no longer configured.
func (m *metrics) forget(device string) {
	l := prometheus.Labels{"device": device}
	m.polls.DeletePartialMatch(l)
	m.pollDur.DeletePartialMatch(l)
	m.deviceUp.DeletePartialMatch(l)
}

package ingest

import (
	"encoding/json"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

// The view reads the worker's counters and metrics: dead letters by
// reason, retries by status, completeness and evidence counters, the
// queue, latencies from the histograms, and rates between two looks.
func TestViewReadsTheMetrics(t *testing.T) {
	f, err := config.Parse("ingest.yaml", []byte(`park: p
mqtt: {broker: "tcp://127.0.0.1:1", client_id: view-ingest}
ingest:
  group: g
  batch_size: 50
  influxdb: {url: "http://127.0.0.1:1", bucket: eipgw/autogen}
  evidence:
    keys: {}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(ingestRole(t, f), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := in.View()
	if v.Role != "ingest" || v.Subscription.Filter != "$share/g/eip/v1/p/+/+" || v.Subscription.OK {
		t.Errorf("subscription %+v", v.Subscription)
	}
	if v.Subscription.Broker != "tcp://127.0.0.1:1" {
		t.Errorf("broker %q", v.Subscription.Broker)
	}
	if v.Rate.WindowSeconds != 0 || v.InfluxDB.LastOKAgeSeconds != -1 || v.Queue.Capacity != 100 {
		t.Errorf("first look: rate %+v influxdb %+v queue %+v", v.Rate, v.InfluxDB, v.Queue)
	}
	if len(v.DeadLetters.ByReason) != len(refusalReasons) || v.DeadLetters.Total != 0 {
		t.Errorf("dead letters before any: %+v", v.DeadLetters)
	}

	in.m.refused.WithLabelValues(ReasonUnit).Add(2)
	in.m.refused.WithLabelValues(ReasonSeqConflict).Inc()
	in.m.writeErrors.WithLabelValues("503").Add(3)
	in.m.writeErrors.WithLabelValues("0").Inc()
	in.m.gaps.Inc()
	in.m.missing.Add(7)
	in.m.pending.Set(12)
	in.ev.breaks.WithLabelValues("fork").Inc()
	in.ev.checked.Add(5)
	for range 100 {
		in.m.writeDur.Observe(0.003)
		in.m.stored.Observe(0.12)
	}
	in.count(func(s *Stats) { s.Points += 400; s.Batches += 100; s.Writes += 10 })
	// The second look is measured against the first.
	in.rates.samples[0].at = in.rates.samples[0].at.Add(-2 * time.Second)
	v = in.View()
	if v.DeadLetters.Total != 3 || v.DeadLetters.ByReason[ReasonUnit] != 2 || v.DeadLetters.ByReason[ReasonSeqConflict] != 1 {
		t.Errorf("dead letters %+v", v.DeadLetters)
	}
	if v.Retries.FailedAttempts != 4 || v.Retries.ByStatus["503"] != 3 || v.Retries.ByStatus["0"] != 1 {
		t.Errorf("retries %+v", v.Retries)
	}
	if v.Completeness.Gaps != 1 || v.Completeness.Missing != 7 || !v.Completeness.Enabled {
		t.Errorf("completeness %+v", v.Completeness)
	}
	if v.Evidence == nil || v.Evidence.Checked != 5 || v.Evidence.Breaks["fork"] != 1 {
		t.Errorf("evidence %+v", v.Evidence)
	}
	if v.Queue.Unacknowledged != 12 {
		t.Errorf("queue %+v", v.Queue)
	}
	if v.Rate.WindowSeconds < 2 || v.Rate.WindowSeconds > 3 || v.Rate.PointsPerSecond < 400/3.0 || v.Rate.PointsPerSecond > 200 {
		t.Errorf("rate %+v", v.Rate)
	}
	if v.Write.Count != 100 || math.Abs(v.Write.MeanSeconds-0.003) > 1e-9 || v.Write.P99Seconds <= 0.002 || v.Write.P99Seconds > 0.004 {
		t.Errorf("write latency %+v", v.Write)
	}
	if v.PollToStored.RecentCount != 100 || v.PollToStored.P50Seconds <= 0.1 || v.PollToStored.P50Seconds > 0.15 {
		t.Errorf("poll to stored %+v", v.PollToStored)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}
}

func TestQuantileFromBuckets(t *testing.T) {
	bounds := []float64{1, 2, 4, math.Inf(1)}
	for _, c := range []struct {
		q      float64
		counts []uint64
		total  uint64
		want   float64
	}{
		{0.5, []uint64{0, 0, 0, 0}, 0, 0},
		{0.5, []uint64{10, 10, 10, 10}, 10, 0.5},        // within the first bucket, from 0
		{0.5, []uint64{0, 10, 10, 10}, 10, 1.5},         // halfway through (1, 2]
		{0.99, []uint64{0, 0, 50, 100}, 100, 4},         // in +Inf: the largest finite bound
		{0.25, []uint64{0, 0, 100, 100}, 100, 2.5},      // a quarter into (2, 4]
		{1, []uint64{100, 100, 100, 100}, 100, 1},       // the top of the first bucket
		{0.01, []uint64{1, 1, 1, 1}, 100, 1},            // rank 1 reached in the first bucket
		{0.5, []uint64{0, 20, 20, 20}, 20, 1 + 10.0/20}, // linear within (1, 2]
	} {
		if got := quantile(c.q, bounds, c.counts, c.total); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%g, %v, %d) = %g, want %g", c.q, c.counts, c.total, got, c.want)
		}
	}
}

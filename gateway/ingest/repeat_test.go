package ingest

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// TestRepeatsCountedApart: an edge's replay after ingest restarts sends
// again batches ingest stored already. They are written again
// (harmlessly) but counted as repeats: not in the points written, the
// batches written or the poll-to-stored latency, which would otherwise
// show every restart as a breach of its 1 s budget (the batches are
// minutes old). A batch the worker remembers is one; after a restart, one
// InfluxDB holds exactly is one; a batch of an old number that InfluxDB
// does not hold (the broker lost it) is new, and counted.
func TestRepeatsCountedApart(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	yaml := fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: repeat-ingest}
ingest:
  batch_size: 10
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
`, mq.URL, ifx.URL)
	pub := newPublisher(t, mq.URL, "repeat-test")
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	b := func(seq uint64) batch.Batch {
		return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Time: t0.Add(time.Duration(seq) * time.Second),
			Points: []batch.Point{{Name: "a", Value: float64(seq), HasValue: true, Unit: "MW", Quality: batch.Good}, {Name: "b", Value: 1, HasValue: true, Quality: batch.Good}}}
	}
	var reg *prometheus.Registry
	counts := func(*Ingest) (written, repeat, points float64, observed uint64) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "eipgw_ingest_messages_total":
					switch label(m, "outcome") {
					case "written":
						written = m.GetCounter().GetValue()
					case "repeat":
						repeat = m.GetCounter().GetValue()
					}
				case "eipgw_ingest_points_written_total":
					points = m.GetCounter().GetValue()
				case "eipgw_ingest_poll_to_stored_seconds":
					observed = m.GetHistogram().GetSampleCount()
				}
			}
		}
		return
	}
	waitCounts := func(in *Ingest, written, repeat float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			w, r, p, o := counts(in)
			if w == written && r == repeat {
				if p != 2*written || o != uint64(written) {
					t.Errorf("%v written, %v repeats: %v points, %d latencies; want %v and %v", w, r, p, o, 2*written, written)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v written, %v repeats; want %v and %v", w, r, written, repeat)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	reg = prometheus.NewRegistry()
	in, stop := startIngestReg(t, yaml, slog.New(slog.DiscardHandler), reg)
	pub.waitIngest()
	for seq := uint64(1); seq <= 20; seq++ {
		if seq != 7 {
			pub.publish(b(seq))
		}
	}
	waitCounts(in, 19, 0)
	for seq := uint64(11); seq <= 20; seq++ { // a redelivery this worker remembers
		pub.publish(b(seq))
	}
	waitCounts(in, 19, 10)
	stop()

	reg = prometheus.NewRegistry()
	in, stop = startIngestReg(t, yaml, slog.New(slog.DiscardHandler), reg)
	defer stop()
	for seq := uint64(1); seq <= 10; seq++ { // an edge's replay: stored exactly, or (7) never stored
		pub.publish(b(seq))
	}
	waitCounts(in, 1, 9)
	if d := pub.deadLetters(); len(d) != 0 {
		t.Errorf("dead letters: %v", d)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

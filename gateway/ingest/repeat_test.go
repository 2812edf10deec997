package ingest

import (
	"fmt"
	"log/slog"
	"strings"
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
	yaml := ingestYAML(mq.URL, ifx.URL, "repeat-ingest")
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

// TestClockSteppedBack: a gateway's clock steps back (an NTP correction)
// and a batch with a new number lands on the time of a stored batch of its
// device. InfluxDB would overwrite the stored readings (one point per
// series and time) while the park engine kept the first: it is
// dead-lettered as time_taken instead, and the stored readings stay. A
// batch stepped back to a free time is stored; so is an exact redelivery.
// A stamp finer than a millisecond (the contract's precision) is refused:
// InfluxDB would truncate it onto another batch's millisecond.
func TestClockSteppedBack(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	in, stop := startIngest(t, ingestYAML(mq.URL, ifx.URL, "stepback-ingest"), slog.New(slog.DiscardHandler))
	defer stop()
	pub := newPublisher(t, mq.URL, "stepback-test")
	pub.waitIngest()
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	b := func(seq uint64, at time.Time, v float64) batch.Batch {
		return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Time: at,
			Points: []batch.Point{{Name: "a", Value: v, HasValue: true, Unit: "MW", Quality: batch.Good}}}
	}
	pub.publish(b(1, t0, 36))
	pub.publish(b(2, t0.Add(time.Second), 36))
	pub.publish(b(3, t0, 50))                           // stepped back onto seq 1's time
	pub.publish(b(4, t0.Add(500*time.Millisecond), 50)) // stepped back to a free time
	pub.publish(b(2, t0.Add(time.Second), 36))          // a redelivery
	fine := b(5, t0.Add(2*time.Second), 50)
	pub.publishRaw("gw-1", "meter", []byte(strings.Replace(string(fine.AppendJSON(nil)), `.000Z"`, `.0001Z"`, 1)))
	pub.publish(b(6, t0.Add(3*time.Second), 50))
	deadline := time.Now().Add(30 * time.Second)
	for in.Stats().Acked < 7 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	dead := pub.deadLetters()
	if len(dead) != 2 || !strings.HasPrefix(dead[3], ReasonTimeTaken+":") || !strings.HasPrefix(dead[5], ReasonMalformed+":") || !strings.Contains(dead[5], "finer than a millisecond") {
		t.Errorf("dead letters %v, want seq 3 time_taken and seq 5 malformed", dead)
	}
	s, err := ifx.Query("eipgw", `SELECT a, batch_seq FROM meter WHERE gateway = 'gw-1'`)
	if err != nil || len(s) != 1 {
		t.Fatalf("stored: %+v, %v", s, err)
	}
	got := fmt.Sprint(s[0].Values)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	want := fmt.Sprintf("[[%d 36 1] [%d 50 4] [%d 36 2] [%d 50 6]]", ms(0), ms(500*time.Millisecond), ms(time.Second), ms(3*time.Second))
	if got != want {
		t.Errorf("stored %s, want %s", got, want)
	}
	// Stepped back past the batches remembered: InfluxDB is asked.
	for seq := uint64(7); seq <= 30; seq++ {
		pub.publish(b(seq, t0.Add(time.Duration(seq)*time.Second), 36))
	}
	pub.publish(b(31, t0.Add(time.Second), 99)) // seq 2's time
	for in.Stats().Acked < 32 && time.Now().Before(deadline.Add(20*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	if d := pub.deadLetters()[31]; !strings.HasPrefix(d, ReasonTimeTaken+":") || !strings.Contains(d, "has another batch stored") {
		t.Errorf("seq 31 on seq 2's stored time: dead letter %q", d)
	}
}

// TestNumberingWentBack: a gateway's edge is replaced by one with an
// empty state_dir (or its state_dir restored from a backup): it numbers
// its new polls from 1 again, numbers ingest stored already for earlier
// polls. Those batches are new readings: stored, counted as restarts, not
// dead-lettered as conflicts. A batch of a used number for an earlier poll
// than the one stored under it is a conflict still.
func TestNumberingWentBack(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	reg := prometheus.NewRegistry()
	in, stop := startIngestReg(t, ingestYAML(mq.URL, ifx.URL, "restart-ingest"), slog.New(slog.DiscardHandler), reg)
	defer stop()
	pub := newPublisher(t, mq.URL, "restart-test")
	pub.waitIngest()
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	b := func(seq uint64, at time.Time, v float64) batch.Batch {
		return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Time: at,
			Points: []batch.Point{{Name: "a", Value: v, HasValue: true, Unit: "MW", Quality: batch.Good}}}
	}
	for seq := uint64(1); seq <= 20; seq++ {
		pub.publish(b(seq, t0.Add(time.Duration(seq)*time.Second), 1))
	}
	// The replaced edge, a minute later, from 1 again.
	for seq := uint64(1); seq <= 10; seq++ {
		pub.publish(b(seq, t0.Add(time.Minute+time.Duration(seq)*time.Second), 2))
	}
	pub.publish(b(5, t0.Add(2*time.Second), 3)) // seq 5 for a poll before the one stored under it: a conflict
	deadline := time.Now().Add(30 * time.Second)
	for in.Stats().Acked < 31 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if d := pub.deadLetters(); len(d) != 1 || !strings.HasPrefix(d[5], ReasonSeqConflict+":") {
		t.Errorf("dead letters %v, want seq 5's conflict alone", d)
	}
	s, err := ifx.Query("eipgw", `SELECT count(a) FROM meter WHERE gateway = 'gw-1'`)
	if err != nil || len(s) != 1 || fmt.Sprint(s[0].Values[0][1]) != "30" {
		t.Errorf("stored: %+v, %v; want 30 readings", s, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	restarts := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "eipgw_ingest_seq_restarts_total" {
			restarts = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if restarts != 10 {
		t.Errorf("restarts counted %v, want 10", restarts)
	}
}

// TestClockSteppedBackAcrossRestart: ingest restarts, and the first
// batches of a device it sees again are stamped at the times of batches
// stored before (the gateway's clock stepped back meanwhile): they are
// refused as time_taken, not stored over those batches, though this
// worker has no batch of the device in memory.
func TestClockSteppedBackAcrossRestart(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	yaml := ingestYAML(mq.URL, ifx.URL, "stepback2-ingest")
	in, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
	pub := newPublisher(t, mq.URL, "stepback2-test")
	pub.waitIngest()
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	b := func(seq uint64, at time.Time, v float64) batch.Batch {
		return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Time: at,
			Points: []batch.Point{{Name: "a", Value: v, HasValue: true, Unit: "MW", Quality: batch.Good}}}
	}
	for seq := uint64(1); seq <= 10; seq++ {
		pub.publish(b(seq, t0.Add(time.Duration(seq)*time.Second), 1))
	}
	deadline := time.Now().Add(30 * time.Second)
	for in.Stats().Acked < 10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	in, stop = startIngest(t, yaml, slog.New(slog.DiscardHandler))
	defer stop()
	pub.waitIngest()
	for seq := uint64(11); seq <= 13; seq++ { // stamped at the times of 6, 7, 8
		pub.publish(b(seq, t0.Add(time.Duration(seq-5)*time.Second), 9))
	}
	for in.Stats().Acked < 3 && time.Now().Before(deadline.Add(20*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	d := pub.deadLetters()
	for seq := uint64(11); seq <= 13; seq++ {
		if !strings.HasPrefix(d[seq], ReasonTimeTaken+":") {
			t.Errorf("seq %d: dead letter %q, want time_taken", seq, d[seq])
		}
	}
	s, err := ifx.Query("eipgw", `SELECT sum(a) FROM meter WHERE gateway = 'gw-1'`)
	if err != nil || len(s) != 1 || fmt.Sprint(s[0].Values[0][1]) != "10" {
		t.Errorf("stored: %+v, %v; want the ten first readings, as they were", s, err)
	}
}

// ingestYAML is a worker's configuration for these tests: small batches,
// written at once.
func ingestYAML(broker, influx, clientID string) string {
	return fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: %s}
ingest:
  batch_size: 10
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
`, broker, clientID, influx)
}

// TestDuplicateToTheOtherWorker: in a group, worker A stored gw-1's batch
// 12, its device's latest; worker B, which accepted gw-1's numbers up to
// 10 and never saw the device, receives the same batch again (the broker
// redelivers it there). B seeds the device's latest poll from InfluxDB —
// that very batch — and must find it is the batch stored, not another
// batch at its time: it is written again harmlessly, not dead-lettered
// time_taken. A batch with another number at that time still is.
func TestDuplicateToTheOtherWorker(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	b := &batch.Batch{Gateway: "gw-1", Seq: 12, Device: "meter", Kind: "meter", Site: "plant", Time: at,
		Points: []batch.Point{{Name: "a", Value: 1.5, HasValue: true, Unit: "MW", Quality: batch.Good}}}
	postLines(t, ifx.URL, string(appendLine(nil, "p", b)))
	in, _, _ := loggedIngest(t, ingestYAML("tcp://127.0.0.1:1", ifx.URL, "dup-b"))
	in.guard.hi["gw-1"] = 10
	w := &worker{in: in, seen: map[string]*seqWindow{}}
	if _, err := w.admit(b, b.AppendJSON(nil), false); err != nil {
		t.Errorf("the stored batch, delivered to the other worker: %v", err)
	}
	other := *b
	other.Seq, other.Points = 13, []batch.Point{{Name: "a", Value: 9.5, HasValue: true, Unit: "MW", Quality: batch.Good}}
	if _, err := w.admit(&other, other.AppendJSON(nil), false); refusalReason(err) != ReasonTimeTaken {
		t.Errorf("another number at the stored batch's time: %v, want %s", err, ReasonTimeTaken)
	}
}

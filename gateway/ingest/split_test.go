package ingest

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// TestSplitPolls: a poll of more points than edge.max_batch_points comes as
// several batches with consecutive numbers, one device and one poll time,
// which InfluxDB stores as one point. Against real Mosquitto and InfluxDB:
// every part's number is kept (batch_seq, batch_seq_1, batch_seq_2), the
// completeness check declares none of them missing but does declare a
// real gap, and after a restart of ingest a redelivered part is written
// again while a forged one with an old number is refused.
func TestSplitPolls(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	yaml := fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: split-ingest}
ingest:
  batch_size: 50
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {interval: 300ms, grace: 1s}
`, mq.URL, ifx.URL)

	pub := newPublisher(t, mq.URL, "split-test")
	publish := pub.publish

	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	whole := func(seq uint64, at int) batch.Batch {
		return batch.Batch{Gateway: "gw-s", Seq: seq, Device: "meter", Kind: "meter", Time: t0.Add(time.Duration(at) * time.Second),
			Points: []batch.Point{{Name: "x", Value: float64(seq), HasValue: true, Unit: "1", Quality: batch.Good}}}
	}
	part := func(k int) batch.Batch {
		b := batch.Batch{Gateway: "gw-s", Seq: uint64(2 + k), Part: k, Device: "dcs", Kind: "dcs", Time: t0.Add(2 * time.Second)}
		for i := range 3 {
			b.Points = append(b.Points, batch.Point{Name: fmt.Sprintf("p%d_%d", k, i), Value: float64(10*k + i), HasValue: true, Unit: "1", Quality: batch.Good})
		}
		return b
	}

	// Another split poll, 9-11 at 4 s, whose part 1 (10) is lost; the
	// edge replays the poll after ingest restarted (below).
	lost := func(k int) batch.Batch {
		b := part(k)
		b.Seq, b.Device, b.Kind, b.Time = uint64(9+k), "dcs2", "dcs2", t0.Add(4*time.Second)
		return b
	}

	_, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
	pub.waitIngest()
	publish(whole(1, 1))
	for k := range 3 {
		publish(part(k)) // 2, 3, 4
	}
	publish(whole(5, 3))
	publish(whole(7, 5)) // 6 never comes
	publish(whole(8, 6))
	publish(lost(0))
	publish(lost(2))

	gaps := func() [][]any {
		s, err := ifx.Query("eipgw", `SELECT missing_first, missing_last FROM completeness`)
		if err != nil || len(s) == 0 {
			return nil
		}
		return s[0].Values
	}
	waitHostile(t, "the gap at 6 declared", func() bool { return len(gaps()) > 0 })
	time.Sleep(time.Second) // more checks: nothing else may be declared
	waitHostile(t, "the gap at 10 declared", func() bool { return len(gaps()) > 1 })
	if g := gaps(); len(g) != 2 || fmt.Sprint(g[0][1:])+fmt.Sprint(g[1][1:]) != "[6 6][10 10]" && fmt.Sprint(g[1][1:])+fmt.Sprint(g[0][1:]) != "[6 6][10 10]" {
		t.Errorf("completeness records %v, want two: 6..6 and 10..10", g)
	}
	s, err := ifx.Query("eipgw", `SELECT * FROM dcs`)
	if err != nil || len(s) != 1 || len(s[0].Values) != 1 {
		t.Fatalf("dcs: %v %v, want one point", s, err)
	}
	row := map[string]string{}
	for i, col := range s[0].Columns {
		row[col] = fmt.Sprint(s[0].Values[0][i])
	}
	for col, want := range map[string]string{"batch_seq": "2", "batch_seq_1": "3", "batch_seq_2": "4", "p0_0": "0", "p1_2": "12", "p2_1": "21"} {
		if row[col] != want {
			t.Errorf("stored %s = %q, want %s (row %v)", col, row[col], want, row)
		}
	}
	stop()

	// A new ingest remembers nothing: 3 is below the highest stored (8).
	_, stop = startIngest(t, yaml, slog.New(slog.DiscardHandler))
	defer stop()
	publish(part(1)) // redelivered as it was
	forged := part(2)
	forged.Points[0].Value = 666
	publish(forged)
	for k := range 3 {
		publish(lost(k)) // the edge's replay of the poll whose part 1 was lost
	}
	waitHostile(t, "the forged part refused", func() bool { return pub.deadLetters()[4] != "" })
	waitHostile(t, "the lost part stored", func() bool {
		s, err := ifx.Query("eipgw", `SELECT batch_seq_1, p1_2 FROM dcs2`)
		return err == nil && len(s) == 1 && fmt.Sprint(s[0].Values[0][1:]) == "[10 12]"
	})
	dead := pub.deadLetters()
	for _, seq := range []uint64{3, 9, 10, 11} {
		if why := dead[seq]; why != "" {
			t.Errorf("the redelivered part %d was refused: %s", seq, why)
		}
	}
	if why := dead[4]; len(why) < 11 || why[:11] != "seq_regress" {
		t.Errorf("the forged part: %s, want seq_regress", why)
	}
}

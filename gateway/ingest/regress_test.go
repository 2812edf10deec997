package ingest

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// TestOldSequenceNumbers: after a restart ingest remembers no payloads,
// and an old sequence number is either a redelivery, a replay of a batch
// the broker lost, or a forgery. Against real Mosquitto and InfluxDB: a
// device's batches 1..20 (but 9) are stored by one ingest; a second one
// then gets the exact redelivery of 11 and the lost 9, which it stores,
// and forgeries with old numbers, each at the time of a stored batch,
// which must all be refused as seq_regress, whatever they change: a
// value, a timeout made good, the sequence number, a tag, an exact
// integer off by one, a point added, a point left out, a good reading
// made a timeout, the kind. InfluxDB then holds the device's 20 batches
// as sent, and nothing else.
func TestOldSequenceNumbers(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	// Both ingests are one MQTT client with a persistent session: what is
	// published while neither runs waits in the broker.
	yaml := fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: regress-ingest}
ingest:
  batch_size: 50
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
`, mq.URL, ifx.URL)
	start := func() func() {
		_, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
		return stop
	}

	pub := newPublisher(t, mq.URL, "regress-test")
	publish := pub.publish
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	real := func(seq uint64) batch.Batch {
		return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Tenant: "t01",
			Time: t0.Add(time.Duration(seq) * time.Second), Points: []batch.Point{
				{Name: "a", Value: 10.5, HasValue: true, Unit: "MW", Quality: batch.Good},
				{Name: "b", Unit: "MW", Quality: batch.Timeout},
				{Name: "c", Kind: batch.IntValue, Int: 1<<53 + 1, Value: 1 << 53, HasValue: true, Unit: "1", Quality: batch.Good},
			}}
	}
	count := func() int {
		s, err := ifx.Query("eipgw", `SELECT count(batch_seq) FROM meter`)
		if err != nil || len(s) == 0 {
			return 0
		}
		var n int
		fmt.Sscan(fmt.Sprint(s[0].Values[0][1]), &n)
		return n
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Ingest asks for a replay (retained) once it has subscribed.
	stop := start()
	pub.waitIngest()
	for seq := uint64(1); seq <= 20; seq++ {
		if seq != 9 {
			publish(real(seq))
		}
	}
	wait("19 batches stored", func() bool { return count() == 19 })
	stop()
	// As where gateways sign: the evidence records' measurement holds a
	// field named device, which InfluxDB then takes for the device tag's
	// name in a query over every measurement (the tag comes back as
	// device_1).
	postLines(t, ifx.URL, fmt.Sprintf(`%s,park=p,gateway=gw-1 device="meter",seq=1i %d`, EvidenceMeasurement, t0.Add(time.Second).UnixMilli()))

	stop = start()
	defer stop()
	publish(real(11)) // a redelivery
	publish(real(9))  // a replay of the batch the broker lost
	forged := map[uint64]func(*batch.Batch){
		12: func(b *batch.Batch) { b.Points[0].Value = 666 },
		13: func(b *batch.Batch) {
			b.Points[1] = batch.Point{Name: "b", Value: 666, HasValue: true, Unit: "MW", Quality: batch.Good}
		},
		10: func(b *batch.Batch) { *b = real(20); b.Seq = 10 }, // batch 20 renumbered
		14: func(b *batch.Batch) { b.Tenant = "t99" },
		15: func(b *batch.Batch) { b.Points[2].Int-- },
		16: func(b *batch.Batch) {
			b.Points = append(b.Points, batch.Point{Name: "z", Value: 666, HasValue: true, Unit: "1", Quality: batch.Good})
		},
		17: func(b *batch.Batch) { b.Points[0] = batch.Point{Name: "a", Unit: "MW", Quality: batch.Timeout} },
		18: func(b *batch.Batch) { b.Kind = "meter2" },
		19: func(b *batch.Batch) { b.Points = b.Points[:2] },
	}
	for seq, edit := range forged {
		b := real(seq)
		edit(&b)
		publish(b)
	}
	publish(real(21))
	wait("batch 21 and the replayed 9 stored", func() bool { return count() == 21 })
	wait("a dead letter for each forgery", func() bool { return len(pub.deadLetters()) >= len(forged) })

	dead := pub.deadLetters()
	for seq := range forged {
		if d := dead[seq]; !strings.HasPrefix(d, ReasonSeqRegress+":") {
			t.Errorf("forged seq %d: dead letter %q, want reason %s", seq, d, ReasonSeqRegress)
		}
	}
	for _, seq := range []uint64{9, 11, 21} {
		if d, ok := dead[seq]; ok {
			t.Errorf("seq %d dead-lettered: %s", seq, d)
		}
	}

	// What InfluxDB holds: the 21 batches as sent, nothing else (the
	// evidence record written above dropped first, so that the device
	// tag comes back under its name).
	if _, err := ifx.Query("eipgw", `DROP MEASUREMENT `+EvidenceMeasurement); err != nil {
		t.Fatal(err)
	}
	s, err := ifx.Query("eipgw", `SELECT * FROM /.*/ WHERE "device"::tag = 'meter'`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].Name != "meter" || len(s[0].Values) != 21 {
		t.Fatalf("stored: %+v", s)
	}
	for _, v := range s[0].Values {
		row := map[string]string{}
		for i, c := range s[0].Columns {
			if v[i] != nil {
				row[c] = fmt.Sprint(v[i])
			}
		}
		var ms int64 // the query answers times in milliseconds
		fmt.Sscan(row["time"], &ms)
		want := fmt.Sprintf("map[a:10.5 b_q:timeout batch_seq:%d c:9007199254740993 device:meter gateway:gw-1 park:p site:plant tenant:t01 time:%s]",
			(ms-t0.UnixMilli())/1000, row["time"])
		if got := fmt.Sprint(row); got != want {
			t.Errorf("row\n got %s\nwant %s", got, want)
		}
	}
}

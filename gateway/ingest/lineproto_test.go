package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/batch"
)

func TestAppendLine(t *testing.T) {
	b := &batch.Batch{
		Gateway: "gw-1", Seq: 7, Device: "steam-t01", Kind: "steam_meter", Site: "plant a", Tenant: "t01",
		Time: time.Date(2026, 11, 26, 18, 0, 1, 500_000_000, time.UTC),
		Points: []batch.Point{
			{Name: "mass_flow", Value: 4.25, HasValue: true, Quality: batch.Good},
			{Name: "pressure", Quality: "exception:2"},
			{Name: "temperature", Value: 250, HasValue: true, Quality: batch.Stale},
		},
	}
	got := string(appendLine(nil, "park,1", b))
	want := `steam_meter,device=steam-t01,gateway=gw-1,park=park\,1,site=plant\ a,tenant=t01 mass_flow=4.25,pressure_q="exception:2",temperature_q="stale",batch_seq=7i 1795716001500`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSeqConflicts(t *testing.T) {
	w := &worker{seen: map[string]*seqWindow{}}
	if w.conflicts("gw", 1, []byte("a")) {
		t.Fatal("a first delivery is not a conflict")
	}
	if w.conflicts("gw", 1, []byte("a")) {
		t.Fatal("an exact redelivery is not a conflict")
	}
	if !w.conflicts("gw", 1, []byte("b")) {
		t.Fatal("same seq, other content: conflict expected")
	}
	if w.conflicts("gw-2", 1, []byte("b")) {
		t.Fatal("sequences are per gateway")
	}
	for s := uint64(2); s < 2*seqMemory+10; s++ {
		w.conflicts("gw", s, []byte("x"))
	}
	if n := len(w.seen["gw"].hashes); n > 2*seqMemory+1 {
		t.Fatalf("window holds %d numbers", n)
	}
}

// BenchmarkDecodeAndLine is ingest's work per message without the network:
// decode and validate a 1000-point batch, then write its line protocol.
func BenchmarkDecodeAndLine(b *testing.B) {
	bt := batch.Batch{Gateway: "gw-1", Seq: 1, Device: "d", Kind: "chp", Site: "s", Time: time.Now()}
	for i := range 1000 {
		bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("p%04d", i), Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: batch.Good})
	}
	payload := bt.AppendJSON(nil)
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		d, err := batch.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		line = appendLine(line[:0], "park", d)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
}

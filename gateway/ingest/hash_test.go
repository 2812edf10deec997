package ingest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func benchPayload() []byte {
	bt := batch.Batch{Gateway: "gw-1", Seq: 1, Device: "d", Kind: "chp", Site: "s", Time: time.Now()}
	for i := range 1000 {
		bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("p%04d", i), Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: batch.Good})
	}
	return bt.AppendJSON(nil)
}

// The same payload hashes the same; one changed byte does not.
func TestPayloadHash(t *testing.T) {
	p := benchPayload()
	q := bytes.Clone(p)
	if payloadHash(p) != payloadHash(q) {
		t.Fatal("equal payloads hash differently")
	}
	q[len(q)/2] ^= 1
	if payloadHash(p) == payloadHash(q) {
		t.Fatal("payloads one bit apart hash the same")
	}
}

// BenchmarkPayloadHash is the redelivery check's hash of a 1000-point
// batch, per point.
func BenchmarkPayloadHash(b *testing.B) {
	p := benchPayload()
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	var sum uint64
	for b.Loop() {
		sum ^= payloadHash(p)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
	_ = sum
}

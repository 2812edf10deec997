package ingest

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A batch is observed once in the poll-to-stored histogram, when
// InfluxDB acknowledged its last line, with its age since the poll time;
// a batch InfluxDB refuses is never observed.
func TestPollToStoredObservedOncePerBatch(t *testing.T) {
	f := &fakeInflux{respond: func(n int, body string, w http.ResponseWriter) {
		switch {
		case n == 2: // the second line of the split batch fails once
			w.WriteHeader(http.StatusServiceUnavailable)
		case len(body) < 200: // the small batch is refused
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":"invalid","message":"partial write: field type conflict"}`))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}}
	w := newFakeWorker(t, f)
	reg := prometheus.NewRegistry()
	w.in.m = newMetrics(reg)
	w.maxLines = 1
	split := testEntry(w, "big", 1, 2500)
	split.polled = time.Now().Add(-2 * time.Second)
	refused := testEntry(w, "small", 2, 1)
	if len(split.lines) != 3 {
		t.Fatalf("%d lines, want 3", len(split.lines))
	}
	gaveUp := drive(t, w, []*entry{split, refused}, 10*time.Second)
	if !split.settledOK || gaveUp[refused] == "" {
		t.Fatalf("split settled %v, refused given up %q", split.settledOK, gaveUp[refused])
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "eipgw_ingest_poll_to_stored_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			count, sum = h.GetSampleCount(), h.GetSampleSum()
		}
	}
	if count != 1 {
		t.Fatalf("%d observations, want 1 (the split batch, once)", count)
	}
	if sum < 2 || sum > 3600 {
		t.Fatalf("observed %.3f s, want at least the 2 s since the poll", sum)
	}
}

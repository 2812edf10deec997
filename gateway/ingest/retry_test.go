package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/batch"
)

// TestWriteHonoursRetryAfter: a 429 with Retry-After: 2 makes the writer
// wait two seconds, not its 100 ms back-off, and the write then succeeds.
func TestWriteHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var calls []time.Time
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, time.Now())
		bodies = append(bodies, string(body))
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ic := influxdb2.NewClientWithOptions(srv.URL, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer ic.Close()
	in := &Ingest{log: slog.New(slog.DiscardHandler), m: newMetrics(prometheus.NewRegistry())}
	w := &worker{in: in, writer: ic.WriteAPIBlocking("", "db/rp"), park: "p", seen: map[string]*seqWindow{}}
	b := &batch.Batch{Gateway: "gw", Seq: 1, Device: "d", Kind: "chp", Time: time.UnixMilli(1000),
		Points: []batch.Point{{Name: "x", Value: 2, HasValue: true, Quality: batch.Good}}}
	if err := w.write(context.Background(), []parsed{{batch: b, line: appendLine(nil, "p", b)}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 1900*time.Millisecond {
		t.Errorf("retried after %s, want the 2 s the server asked for", gap)
	}
	if bodies[0] != bodies[1] || bodies[1] != "chp,device=d,gateway=gw,park=p x=2,batch_seq=1i 1000" {
		t.Errorf("bodies %q", bodies)
	}
	if st := in.Stats(); st.WriteErrors != 1 || st.Points != 1 {
		t.Errorf("stats %+v", st)
	}
}

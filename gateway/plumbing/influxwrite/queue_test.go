package influxwrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func records(prefix string, n int, droppable bool) []Record[int] {
	out := make([]Record[int], n)
	for i := range out {
		out[i] = Record[int]{Line: fmt.Appendf(nil, "%s,n=%d v=%di 1000", prefix, i, i), Droppable: droppable, Meta: i}
	}
	return out
}

// flushAll flushes until the queue is empty, waiting for each due time.
func flushAll(t *testing.T, q *Queue[int], within time.Duration) []Settled[int] {
	t.Helper()
	var out []Settled[int]
	deadline := time.Now().Add(within)
	for q.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still queued after %s", q.Len(), within)
		}
		if at, _ := q.Due(); time.Until(at) > 0 {
			time.Sleep(time.Until(at))
		}
		res, err := q.Flush(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Settled...)
	}
	return out
}

// One record InfluxDB refuses among 1000: it alone is refused with
// InfluxDB's reason, the 999 others are stored, in a logarithmic number
// of requests.
func TestQueueIsolatesRefusedRecord(t *testing.T) {
	s := &stub{respond: func(_ int, body string, w http.ResponseWriter) {
		if strings.Contains(body, "r,n=617 ") {
			influx18Error(w, 400, `partial write: field type conflict: input field \"v\" on measurement \"r\" is type integer, already exists as type float dropped=1`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	q := NewQueue[int](newClient(t, srv.URL, 5*time.Second).Writer, QueueOptions{MaxLines: 1000})
	q.Add(records("r", 1000, false)...)
	settled := flushAll(t, q, 10*time.Second)
	if len(settled) != 1000 {
		t.Fatalf("%d settled, want 1000", len(settled))
	}
	for _, st := range settled {
		switch {
		case st.Meta == 617 && (!errors.Is(st.Err, ErrRefused) || !strings.Contains(st.Err.Error(), "field type conflict")):
			t.Errorf("record 617: %v", st.Err)
		case st.Meta != 617 && st.Err != nil:
			t.Errorf("record %d: %v", st.Meta, st.Err)
		}
	}
	if n := len(s.requests()); n > 25 {
		t.Errorf("%d requests to isolate one record of 1000", n)
	}
}

// 500s are retried with back-off, nothing settled meanwhile; 429 waits
// what Retry-After says.
func TestQueueRetriesTransient(t *testing.T) {
	s := &stub{respond: func(n int, _ string, w http.ResponseWriter) {
		switch {
		case n <= 3:
			w.WriteHeader(http.StatusInternalServerError)
		case n == 4:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	q := NewQueue[int](newClient(t, srv.URL, 5*time.Second).Writer, QueueOptions{})
	q.Add(records("r", 10, false)...)
	res, err := q.Flush(context.Background())
	if err != nil || len(res.Settled) != 0 || len(res.Failures) != 1 || res.Failures[0].Class != Transient {
		t.Fatalf("first flush: %+v %v", res, err)
	}
	if res2, _ := q.Flush(context.Background()); res2.Requests != 0 {
		t.Fatal("written again before its back-off")
	}
	settled := flushAll(t, q, 20*time.Second)
	if len(settled) != 10 {
		t.Fatalf("%d settled", len(settled))
	}
	for _, st := range settled {
		if st.Err != nil {
			t.Fatal(st.Err)
		}
	}
	s.mu.Lock()
	times := append([]time.Time(nil), s.times...)
	s.mu.Unlock()
	if gap := times[4].Sub(times[3]); gap < 950*time.Millisecond {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	if n, err := q.Attempts(); n != 0 || err != nil {
		t.Errorf("attempts %d %v after success", n, err)
	}
}

// A full queue pushes out droppable records first, oldest first, then the
// oldest kept one; kept records are written before droppable ones.
func TestQueueFullAndOrder(t *testing.T) {
	s := &stub{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	q := NewQueue[int](newClient(t, srv.URL, 5*time.Second).Writer, QueueOptions{MaxRecords: 5})
	if out := q.Add(records("live", 3, true)...); len(out) != 0 {
		t.Fatalf("evicted %v", out)
	}
	out := q.Add(records("hour", 4, false)...)
	if len(out) != 2 || !out[0].Droppable || out[0].Meta != 0 || out[1].Meta != 1 || !errors.Is(out[0].Err, ErrQueueFull) {
		t.Fatalf("evicted %+v", out)
	}
	out = q.Add(records("stmt", 2, false)...)
	if len(out) != 2 || !out[0].Droppable || out[0].Meta != 2 || out[1].Droppable || !strings.HasPrefix(string(out[1].Line), "hour,n=0 ") {
		t.Fatalf("evicted %+v", out)
	}
	if q.Len() != 5 {
		t.Fatalf("len %d", q.Len())
	}
	flushAll(t, q, 5*time.Second)
	reqs := s.requests()
	if len(reqs) != 1 || reqs[0] != "hour,n=1 v=1i 1000\nhour,n=2 v=2i 1000\nhour,n=3 v=3i 1000\nstmt,n=0 v=0i 1000\nstmt,n=1 v=1i 1000" {
		t.Fatalf("requests %q", reqs)
	}
}

// Requests stay within MaxLines and MaxBytes.
func TestQueueBoundsRequests(t *testing.T) {
	s := &stub{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	q := NewQueue[int](newClient(t, srv.URL, 5*time.Second).Writer, QueueOptions{MaxLines: 7, MaxBytes: 100})
	q.Add(records("r", 50, false)...)
	flushAll(t, q, 5*time.Second)
	lines := 0
	for _, b := range s.requests() {
		n := strings.Count(b, "\n") + 1
		if n > 7 || len(b) > 100 {
			t.Errorf("request of %d lines, %d bytes", n, len(b))
		}
		lines += n
	}
	if lines != 50 {
		t.Errorf("%d lines sent, want 50", lines)
	}
}

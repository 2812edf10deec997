package influxwrite

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrQueueFull is the reason of a record pushed out of a full Queue.
var ErrQueueFull = errors.New("influxdb write queue full")

// ErrRefused wraps the reason of a record InfluxDB refused on its own.
var ErrRefused = errors.New("influxdb refused the record")

// Record is one line-protocol line (no newline) with what its owner needs
// to know of it when it is settled.
type Record[M any] struct {
	Line []byte
	// Droppable records (values that later ones supersede) are pushed out
	// first when the queue is full, and written after the others.
	Droppable bool
	Meta      M
}

// Settled is a record that left the queue: stored (Err nil), refused by
// InfluxDB (Err wraps ErrRefused and InfluxDB's reason) or pushed out of a
// full queue (Err is ErrQueueFull).
type Settled[M any] struct {
	Record[M]
	Err error
}

// QueueOptions bound a Queue.
type QueueOptions struct {
	// MaxRecords is how many records the queue holds at most (default
	// 100,000).
	MaxRecords int
	// MaxLines and MaxBytes bound one request (default 5,000 lines and
	// 1 MiB; a single longer line is sent alone).
	MaxLines, MaxBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Queue holds records until InfluxDB stored them, in two lanes: records
// to keep, written first, and droppable ones. Flush writes the lanes in
// order in bounded requests:
//
//   - Stored: the request's records are settled; the next request follows.
//   - Transient: nothing is settled; Flush returns and the queue waits
//     Backoff (honouring Retry-After) before the next attempt. An outage
//     of InfluxDB never settles anything as refused.
//   - Refused or Partial, several records: the request is halved, then
//     halved again while refusals continue, so a bad record is found in
//     a logarithmic number of requests and the others are written.
//   - Refused or Partial, one record: it is settled with the reason.
//
// When the queue is full, Add pushes out the oldest droppable record, or
// if there is none the oldest record to keep, and returns it settled with
// ErrQueueFull: memory stays bounded and nothing leaves silently. A Queue
// is not safe for concurrent use.
type Queue[M any] struct {
	w     Writer
	o     QueueOptions
	lanes [2]lane[M] // keep, droppable

	attempts int // transient failures in a row
	due      time.Time
	lastErr  error
}

type lane[M any] struct {
	recs []Record[M]
	// suspect head records were in a refused request; while there are,
	// requests carry at most limit records.
	suspect, limit int
}

// NewQueue returns an empty queue writing through w.
func NewQueue[M any](w Writer, o QueueOptions) *Queue[M] {
	if o.MaxRecords <= 0 {
		o.MaxRecords = 100_000
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 5000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Queue[M]{w: w, o: o}
}

// Len is the number of records held.
func (q *Queue[M]) Len() int { return len(q.lanes[0].recs) + len(q.lanes[1].recs) }

// Due reports when Flush will next write (the zero time: now) and whether
// anything is held.
func (q *Queue[M]) Due() (time.Time, bool) { return q.due, q.Len() > 0 }

// Attempts is the number of transient failures in a row, and the last
// failure's error (nil after a success).
func (q *Queue[M]) Attempts() (int, error) { return q.attempts, q.lastErr }

// Add appends records and returns those pushed out of a full queue.
func (q *Queue[M]) Add(recs ...Record[M]) []Settled[M] {
	var out []Settled[M]
	for _, r := range recs {
		if q.Len() >= q.o.MaxRecords {
			l := &q.lanes[1]
			if len(l.recs) == 0 {
				l = &q.lanes[0]
			}
			out = append(out, Settled[M]{Record: l.pop(1)[0], Err: ErrQueueFull})
		}
		l := &q.lanes[0]
		if r.Droppable {
			l = &q.lanes[1]
		}
		l.recs = append(l.recs, r)
	}
	return out
}

// pop removes and returns the first n records.
func (l *lane[M]) pop(n int) []Record[M] {
	out := append([]Record[M](nil), l.recs[:n]...)
	clear(l.recs[:n])
	l.recs = l.recs[n:]
	if len(l.recs) == 0 {
		l.recs = nil // release the array
	}
	l.suspect = max(0, l.suspect-n)
	if l.suspect == 0 {
		l.limit = 0
	}
	return out
}

// FlushResult is what one Flush did.
type FlushResult[M any] struct {
	// Settled are the records that left the queue, stored or refused.
	Settled []Settled[M]
	// Failures are the failed requests, in order; Transient ones ended
	// the Flush.
	Failures []Outcome
	// Requests is the number of requests sent.
	Requests int
}

// Flush writes what is held, if due, until the queue is empty or a
// request fails transiently. It returns ctx.Err() if ctx ended, with what
// was settled before.
func (q *Queue[M]) Flush(ctx context.Context) (FlushResult[M], error) {
	var res FlushResult[M]
	if q.o.Now().Before(q.due) {
		return res, nil
	}
	for i := range q.lanes {
		l := &q.lanes[i]
		for len(l.recs) > 0 {
			n, body := q.request(l)
			res.Requests++
			err := q.w.WriteRecord(ctx, body)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			o := Classify(err)
			switch {
			case o.Class == Stored:
				q.attempts, q.lastErr, q.due = 0, nil, time.Time{}
				for _, r := range l.pop(n) {
					res.Settled = append(res.Settled, Settled[M]{Record: r})
				}
			case o.Class.Permanent() && n == 1:
				res.Failures = append(res.Failures, o)
				r := l.pop(1)[0]
				// Found: what follows goes in full requests again (if
				// another record is bad, the halving starts over).
				l.suspect, l.limit = 0, 0
				res.Settled = append(res.Settled, Settled[M]{Record: r,
					Err: fmt.Errorf("%w (status %d, %s): %s", ErrRefused, o.Status, o.Class, Reason(err))})
			case o.Class.Permanent():
				res.Failures = append(res.Failures, o)
				l.suspect = max(l.suspect, n)
				l.limit = (n + 1) / 2
			default:
				res.Failures = append(res.Failures, o)
				q.attempts++
				q.lastErr = err
				q.due = q.o.Now().Add(Backoff(q.attempts, o.RetryAfter))
				return res, nil
			}
		}
	}
	return res, nil
}

// request returns the number of head records of l the next request
// carries and its body.
func (q *Queue[M]) request(l *lane[M]) (int, string) {
	maxN := q.o.MaxLines
	if l.suspect > 0 {
		maxN = min(l.limit, l.suspect)
	}
	n, size := 0, 0
	for n < len(l.recs) && n < maxN {
		add := len(l.recs[n].Line)
		if n > 0 {
			add++
		}
		if n > 0 && size+add > q.o.MaxBytes {
			break
		}
		size += add
		n++
	}
	body := make([]byte, 0, size)
	for i := range n {
		if i > 0 {
			body = append(body, '\n')
		}
		body = append(body, l.recs[i].Line...)
	}
	return n, string(body)
}

// Drain removes and returns every record held, kept ones first.
func (q *Queue[M]) Drain() []Record[M] {
	var out []Record[M]
	for i := range q.lanes {
		l := &q.lanes[i]
		out = append(out, l.recs...)
		*l = lane[M]{}
	}
	q.attempts, q.lastErr, q.due = 0, nil, time.Time{}
	return out
}

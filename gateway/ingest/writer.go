package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// Bounded work per message. A batch's points are written as lines of at
// most maxLineFields fields (each line carries the same series, time and
// batch_seq, so InfluxDB merges them into one point, idempotently); lines
// are grouped into write requests of at most the configured bytes and
// lines. Every message keeps its own retry state, so a message that keeps
// failing waits on its own back-off while the others are written, and one
// that InfluxDB keeps refusing or failing while it accepts the others is
// dead-lettered with the reason: never silently dropped, never blocking
// the stream.

// maxLineFields bounds the fields of one line-protocol line.
const maxLineFields = 1000

// entry is one received message on its way to InfluxDB.
type entry struct {
	msg mqtt.Message
	// device and polled are the batch's device and poll time; the batch
	// itself is not kept once its lines are rendered (its strings are
	// slices of a copy of the payload).
	device  string
	polled  time.Time
	lines   [][]byte
	written int // lines of this message InfluxDB accepted so far
	points  int

	attempts int       // failures in a row
	healthy  int       // of those, failures while InfluxDB accepted other writes
	failedAt time.Time // first failure in a row
	due      time.Time // not written again before
	alone    bool      // written in a request of its own from now on
	inSide   bool      // being written by the side lane (owned by it until it returns)
	// outOfBudget: its bytes were given back to the budget when it went
	// to the side lane.
	outOfBudget bool
	maxBytes    int  // when alone and InfluxDB timed out: a smaller request bound
	refused     bool // InfluxDB refused it in a request of its own
	lastErr     error

	settledOK bool // every line written
	// repeat: the batch is stored already, exactly (a redelivery, an
	// edge's replay): written again, but counted apart from new batches
	// and out of the poll-to-stored latency, which would otherwise show
	// every restart of ingest as a breach of its budget.
	repeat bool

	// gateway and seq number the batch; held: counted in the worker's
	// holdings until it is finished with.
	gateway string
	seq     uint64
	held    bool
	// signed: its gateway's key signed it (verifier.storedSigned).
	signed bool
	// ev is its evidence's verdict, nil without evidence: its lines are
	// made again with it after a field type conflict (retype).
	ev *verdict
}

func newEntry(m mqtt.Message, b *batch.Batch, lines [][]byte) *entry {
	return &entry{msg: m, device: strings.Clone(b.Device), polled: b.Time, lines: lines, points: len(b.Points),
		gateway: strings.Clone(b.Gateway), seq: b.Seq}
}

// linesOf renders a batch as lines of at most maxLineFields points each.
func (w *worker) linesOf(b *batch.Batch) [][]byte {
	if len(b.Points) <= maxLineFields {
		return [][]byte{w.line(b)}
	}
	var lines [][]byte
	part := *b
	for pts := b.Points; len(pts) > 0; {
		part.Points = pts[:min(len(pts), maxLineFields)]
		pts = pts[len(part.Points):]
		lines = append(lines, w.line(&part))
	}
	return lines
}

// line renders one line in the worker's scratch buffer, which grows once
// to the longest line, and returns a copy of its own size: a line grown
// by appending would allocate several times its size for every message.
func (w *worker) line(b *batch.Batch) []byte {
	w.scratch = appendLine(w.scratch[:0], w.park, b)
	return bytes.Clone(w.scratch)
}

// request is one InfluxDB write: whole lines of one or more entries.
type request struct {
	body    string
	size    int      // of body, while it is planned
	parts   [][]byte // its lines, while it is planned
	entries []*entry
	lines   []int // lines of each entry in body
}

// size is the bytes of an entry's lines still to write.
func (e *entry) size() int {
	n := 0
	for _, l := range e.lines[e.written:] {
		n += len(l) + 1
	}
	return n
}

// isAlone reports whether e goes in requests of its own: marked so, or
// larger than a quarter of a request, so that a large message that is slow
// to store never delays the small ones written with it.
func (w *worker) isAlone(e *entry) bool { return e.alone || e.size() > w.maxBytes/4 }

// plan groups the lines of the due entries into requests bounded by bytes
// and lines. An entry whose lines do not fit in one request continues in
// the next; an entry written alone gets requests of its own, bounded by
// its own smaller size after InfluxDB timed out on it.
func (w *worker) plan(due []*entry) []*request {
	var reqs []*request
	var cur *request
	nlines := 0
	flush := func() {
		if cur != nil && len(cur.entries) > 0 {
			// The body is made once, at its size, in the form the
			// client sends.
			var body strings.Builder
			body.Grow(cur.size)
			for i, l := range cur.parts {
				if i > 0 {
					body.WriteByte('\n')
				}
				body.Write(l)
			}
			cur.body, cur.parts = body.String(), nil
			reqs = append(reqs, cur)
		}
		cur, nlines = nil, 0
	}
	for _, e := range due {
		alone := w.isAlone(e)
		limit := w.maxBytes
		if alone {
			flush()
			if e.maxBytes > 0 {
				limit = e.maxBytes
			}
		}
		for i := e.written; i < len(e.lines); i++ {
			line := e.lines[i]
			if cur != nil && (cur.size+1+len(line) > limit || nlines+1 > w.maxLines) {
				flush()
			}
			if cur == nil {
				cur = &request{}
			}
			if len(cur.entries) == 0 || cur.entries[len(cur.entries)-1] != e {
				cur.entries = append(cur.entries, e)
				cur.lines = append(cur.lines, 0)
			}
			if len(cur.parts) > 0 {
				cur.size++
			}
			cur.parts = append(cur.parts, line)
			cur.size += len(line)
			cur.lines[len(cur.lines)-1]++
			nlines++
			if alone && i == len(e.lines)-1 {
				flush()
			}
		}
		// An entry continued into the next request stops at the end of
		// this plan's round only if a later request fails; see writeAll.
	}
	flush()
	return reqs
}

// writeAll writes the due entries once each (no waiting for back-off
// here): what InfluxDB accepted advances, what failed gets its next try
// time. It returns ctx.Err() only if ctx ended.
//
// Isolation follows what InfluxDB does: during an outage every write
// fails and nothing is split up (the backlog goes out in full requests
// when it is back); a message that fails while others are written is
// written alone from then on, in halving requests when it timed out.
func (w *worker) writeAll(ctx context.Context, due []*entry) error {
	failed := map[*entry]bool{}
	for _, r := range w.plan(due) {
		// An entry whose earlier lines failed in this round waits for
		// its next try: its later lines would be written out of turn.
		skip := false
		for _, e := range r.entries {
			if failed[e] {
				skip = true
			}
		}
		if skip {
			continue
		}
		err := w.writeOnce(ctx, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Now()
		if err == nil {
			w.okAt(now)
			w.in.outage.success(now)
			if recovered, failures, since := w.in.writeFails.Success(now); recovered {
				w.in.log.Info("influxdb writes succeed again", "failed_writes", failures, "failing_for", now.Sub(since).Round(time.Millisecond))
			}
			for i, e := range r.entries {
				e.written += r.lines[i]
				if e.written == len(e.lines) {
					e.settledOK = true
					if !e.repeat {
						w.in.m.stored.Observe(now.Sub(e.polled).Seconds())
					}
				}
				e.attempts, e.healthy, e.lastErr, e.failedAt = 0, 0, nil, time.Time{}
			}
			continue
		}
		out := influxwrite.Classify(err)
		rejected := out.Class.Permanent()
		if !rejected {
			w.in.outage.failure(now)
		}
		for _, e := range r.entries {
			failed[e] = true
			e.lastErr = err
			e.attempts++
			if e.failedAt.IsZero() {
				e.failedAt = now
			} else if w.lastOKTime().After(e.failedAt) {
				e.healthy++ // InfluxDB took other writes since it began failing
			}
			switch {
			case rejected && len(r.entries) > 1:
				// Find the message InfluxDB refuses: each alone, now.
				e.alone, e.due = true, now
			case rejected && w.retype(e, err):
				// A reading of another type than its field's: written
				// again in the field's type (fieldtypes.go).
				e.due = now
			case rejected:
				e.refused, e.due = true, now // dead-lettered by the caller
			default:
				if e.healthy > 0 && len(r.entries) > 1 {
					e.alone = true // do not let it fail the others' writes
				}
				if len(r.entries) == 1 {
					// Too slow to store at this size, perhaps: try
					// smaller requests, down to one line.
					e.maxBytes = max(len(r.body)/2, 1)
				}
				e.due = now.Add(influxwrite.Backoff(e.attempts, out.RetryAfter))
			}
		}
		if rejected {
			// Each refused message is tried alone, then dead-lettered
			// (logged there): one line every few seconds says why.
			if log, unlogged := w.in.refusals.Failure(now); log {
				w.in.log.Warn("influxdb refused a write", "messages", len(r.entries), "status", out.Status, "class", out.Class, "err", err,
					"refused_since_last_log", unlogged)
			}
		} else if log, unlogged := w.in.writeFails.Failure(now); log {
			w.in.log.Warn("influxdb write failed; retrying, nothing acknowledged", "messages", len(r.entries),
				"bytes", len(r.body), "retry_in", time.Until(r.entries[0].due).Round(time.Millisecond), "err", err,
				"failed_since_last_log", unlogged)
		}
	}
	return nil
}

// giveUp reports why an entry is to be dead-lettered, or "" to keep
// trying: InfluxDB refused it on its own, or it failed maxAttempts more
// times after InfluxDB had accepted other writes since it began failing. An outage of
// InfluxDB never dead-letters anything: nothing else is written then.
func (w *worker) giveUp(e *entry) string {
	return w.giveUpWhy(e).why
}

// giveUpReason is giveUp as the error a message is dead-lettered with:
// one InfluxDB refused is counted as influxdb_rejected.
func (w *worker) giveUpReason(e *entry) error {
	g := w.giveUpWhy(e)
	if g.refused {
		return refuse(ReasonRejected, "%s", g.why)
	}
	if g.why == "" {
		return nil
	}
	return errors.New(g.why)
}

type giveUpVerdict struct {
	why     string
	refused bool
}

func (w *worker) giveUpWhy(e *entry) giveUpVerdict {
	switch {
	case e.lastErr == nil:
		return giveUpVerdict{}
	case e.refused:
		return giveUpVerdict{fmt.Sprintf("influxdb rejected the points: %s", influxwrite.Reason(e.lastErr)), true}
	case e.healthy >= w.maxAttempts:
		return giveUpVerdict{why: fmt.Sprintf("influxdb failed this message %d times in a row while accepting others: %v", e.healthy, e.lastErr)}
	}
	return giveUpVerdict{}
}

// writeOnce sends one request.
func (w *worker) writeOnce(ctx context.Context, r *request) error {
	points := 0
	for _, e := range r.entries {
		points += e.points
	}
	start := time.Now()
	err := w.writer.WriteRecord(ctx, r.body)
	if err == nil {
		w.in.m.writeDur.Observe(time.Since(start).Seconds())
		w.in.count(func(s *Stats) { s.Writes++ })
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w.in.count(func(s *Stats) { s.WriteErrors++ })
	w.in.m.writeErrors.WithLabelValues(strconv.Itoa(influxwrite.Classify(err).Status)).Inc()
	return err
}

// accept parses fresh messages into entries. Status and metrics messages
// are acknowledged unwritten; a message that can never be stored is
// dead-lettered (and acknowledged) at once. It fails only if ctx ended.
func (w *worker) accept(ctx context.Context, msgs []mqtt.Message) ([]*entry, error) {
	var out []*entry
	for _, m := range msgs {
		b, vd, repeat, err := w.parse(m)
		if errors.Is(err, errIgnore) {
			w.in.count(func(s *Stats) { s.Ignored++ })
			w.in.m.messages.WithLabelValues("ignored").Inc()
			w.in.ack(m)
			continue
		}
		// A batch that fails its gateway's evidence takes no part in the
		// gateway's numbering: its number is not remembered (seqGuard).
		if err == nil && !vd.unverified() && w.conflicts(b.Gateway, b.Seq, m.Payload(), b.Time.UnixMilli()) {
			w.in.m.conflicts.Inc()
			err = fmt.Errorf("%w: gateway %s sent seq %d before with different content", batch.ErrInvalid, b.Gateway, b.Seq)
		}
		if err != nil {
			if err := w.deadLetter(ctx, m, err); err != nil {
				return out, err
			}
			w.in.ack(m)
			continue
		}
		if w.compl != nil {
			w.compl.seen(b.Gateway)
		}
		// The replay request reaches back from the newest batch received
		// (replaySince): not from one anyone could have stamped ahead,
		// neither in a gateway's name nor in an invented one's (up to
		// MaxClockSkew: no later than now).
		if ms := min(b.Time.UnixMilli(), time.Now().UnixMilli()); ms > w.in.newest.Load() && !vd.unverified() {
			w.in.newest.Store(ms)
		}
		w.fixTypes(b)
		lines := w.linesOf(b)
		if vd != nil {
			w.in.ev.admitted(b, vd)
			lines = append(vd.withFields(lines), vd.line(w.park, b, m.Payload()))
		}
		e := newEntry(m, b, lines)
		e.ev = vd
		e.signed = vd != nil && !vd.unverified()
		e.repeat = repeat
		if w.compl != nil {
			w.in.unstored.add(e.gateway, e.seq)
			e.held = true
		}
		out = append(out, e)
		w.done(b)
	}
	return out, nil
}

// recovered makes the messages that failed only while InfluxDB failed for
// everyone due at once when a write succeeded since start: the backlog of
// an outage goes out as soon as InfluxDB is back, in order, instead of
// each message waiting out its own back-off while newer ones are written
// (which would let the completeness check see a gap that is only late).
func (w *worker) recovered(queue []*entry, since time.Time) {
	if !w.lastOKTime().After(since) {
		return
	}
	now := time.Now()
	for _, e := range queue {
		if !e.inSide && !e.settledOK && !e.refused && e.healthy == 0 && e.due.After(now) {
			e.due = now
		}
	}
}

// okAt records that InfluxDB accepted a write at t; both lanes share it.
func (w *worker) okAt(t time.Time) {
	for {
		old := w.in.lastOK.Load()
		if t.UnixNano() <= old || w.in.lastOK.CompareAndSwap(old, t.UnixNano()) {
			return
		}
	}
}

// lastOKTime is when InfluxDB last accepted a write of either lane.
func (w *worker) lastOKTime() time.Time { return time.Unix(0, w.in.lastOK.Load()) }

// isLarge reports whether e is large enough to go to the side lane: more
// than a quarter of a request.
func (w *worker) isLarge(e *entry) bool { return e.size() > w.maxBytes/4 }

// sideLane writes large messages, one at a time, on its own InfluxDB
// client, retrying each on its own back-off until it is written or given
// up, and hands it back on done. A large message that InfluxDB is slow to
// store (a timeout costs the whole request timeout) thus never stalls the
// main lane. It returns when ctx ends; a message it holds then stays
// unacknowledged.
func (w *worker) sideLane(ctx context.Context, in <-chan *entry, done chan<- *entry) {
	for {
		var e *entry
		select {
		case <-ctx.Done():
			return
		case e = <-in:
		}
		for !e.settledOK && w.giveUp(e) == "" {
			if wait := time.Until(e.due); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			if err := w.writeAll(ctx, []*entry{e}); err != nil {
				return
			}
		}
		select {
		case done <- e:
		case <-ctx.Done():
			return
		}
	}
}

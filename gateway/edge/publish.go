package edge

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// store appends a stamped batch to the log; the stamper calls it in
// sequence order, holding its lock. If the log cannot write (a failing or
// full disk), the batch is held in memory, and so is every later batch
// until the memory queue has moved into the log again or been published,
// so that the log only ever receives increasing numbers. Every number that
// does not reach the log is written exactly to the sequence file, so that
// a crash never lets it be reused.
func (e *Edge) store(w *wal.WAL, seq *seqStore, m message) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	if e.flushMemLocked(w) {
		err := w.Append(m.seq, m.topic, m.payload, m.polled)
		e.health.appended(err)
		if err == nil {
			seq.logged()
			return
		}
		e.unlogged(seq, m.seq)
		switch {
		case errors.Is(err, wal.ErrFull):
			return // dropped: counted and logged through OnDrop
		case errors.Is(err, wal.ErrTooLarge):
			// It can never enter the log; later batches need not wait.
			m.noLog = true
			e.log.Error("batch larger than a write-ahead log segment; publishing it from memory",
				"seq", m.seq, "bytes", len(m.payload), "hint", "lower edge.max_batch_points or raise edge.wal.segment_mb")
		default:
			e.m.walErrors.Inc()
			if ok, unlogged := e.diskLogs.append.Failure(time.Now()); ok {
				e.log.Error("write-ahead log append failed; holding batches in memory", "seq", m.seq, "err", err, "failed_since_last_log", unlogged)
			}
		}
	} else {
		e.unlogged(seq, m.seq)
	}
	m.payload = append([]byte(nil), m.payload...)
	if len(e.mem) >= memCap {
		old := e.mem[0]
		e.mem[0] = message{}
		e.mem = e.mem[1:]
		e.m.dropped.WithLabelValues("overflow").Inc()
		e.count(func(s *Stats) { s.Dropped++ })
		if ok, unlogged := e.diskLogs.overflow.Failure(time.Now()); ok {
			e.log.Error("batches lost: memory queue full while the write-ahead log fails", "count", 1, "first_seq", old.seq, "last_seq", old.seq, "reason", "overflow",
				"lost_since_last_log", unlogged)
		}
	}
	e.mem = append(e.mem, m)
	e.m.overflowed.Set(float64(len(e.mem)))
	select {
	case e.memNotify <- struct{}{}:
	default:
	}
}

// unlogged records a number that did not reach the log.
func (e *Edge) unlogged(seq *seqStore, n uint64) {
	if err := seq.unlogged(n); err != nil {
		e.m.seqErrors.Inc()
		if ok, unlogged := e.diskLogs.unlogged.Failure(time.Now()); ok {
			e.log.Error("cannot record a batch number held outside the write-ahead log; after a crash it could be reused", "seq", n, "err", err, "failed_since_last_log", unlogged)
		}
	}
}

// flushMemLocked moves held batches into the log, oldest first, as long as
// it takes them, and reports whether none is left waiting for it. Batches
// that can never enter the log stay held for the publisher.
func (e *Edge) flushMemLocked(w *wal.WAL) bool {
	if len(e.mem) == 0 {
		return true
	}
	kept := e.mem[:0]
	moved, blocked := 0, false
	for _, m := range e.mem {
		if m.noLog || blocked {
			kept = append(kept, m)
			continue
		}
		err := w.Append(m.seq, m.topic, m.payload, m.polled)
		switch {
		case err == nil, errors.Is(err, wal.ErrFull): // appended, or dropped and counted
			moved++
		default:
			blocked = true
			kept = append(kept, m)
		}
	}
	clear(e.mem[len(kept):])
	e.mem = kept
	if moved > 0 {
		e.m.overflowed.Set(float64(len(e.mem)))
		e.log.Info("write-ahead log writable again; moved held batches into it", "batches", moved, "still_held", len(e.mem))
	}
	return !blocked
}

func (e *Edge) popMem() (message, bool) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	if len(e.mem) == 0 {
		return message{}, false
	}
	m := e.mem[0]
	e.mem[0] = message{}
	e.mem = e.mem[1:]
	e.m.overflowed.Set(float64(len(e.mem)))
	return m, true
}

type inflight struct {
	msg     message
	fromWAL bool
	tok     mqtt.Token
	// resumes is the client's count of reconnections when it was sent: a
	// token completed after another began may have been completed by
	// the reconnection, not by the broker (mqttconn.Resumes).
	resumes uint64
}

// publish feeds the broker from the log (then from the memory queue),
// keeping at most maxInflight batches unacknowledged, and marks each
// acknowledged batch in the log. After stop it goes on until everything is
// acknowledged or the publish timeout passes. A publish whose token
// completes after a reconnection began is sent again: the client may have
// completed it when it resent the publish, before the broker acknowledged
// anything, and the log must keep the batch until the broker has it.
func (e *Edge) publish(c mqtt.Client, resumes *mqttconn.Resumes, w *wal.WAL, started time.Time, stop <-chan struct{}) error {
	r := w.Reader()
	defer r.Close()
	var pending []inflight
	pendingBytes := 0
	send := func(f inflight) {
		f.resumes = resumes.Count()
		f.tok = c.Publish(f.msg.topic, 1, false, f.msg.payload)
		pending = append(pending, f)
		pendingBytes += len(f.msg.payload)
		e.m.published.Inc()
		e.count(func(s *Stats) { s.Published++ })
	}
	var deadline <-chan time.Time
	for {
		var walWait, settled <-chan struct{}
		var settling <-chan time.Time
		ready, wait := e.conn.Ready()
		switch {
		case !ready && wait > 0:
			settling = time.After(wait)
		case !ready:
			settled = e.conn.Changed()
		}
		for ready && len(pending) < e.maxInflight && (len(pending) == 0 || pendingBytes < maxInflightBytes) {
			rec, ok, wait, err := r.TryNext()
			if err != nil {
				return fmt.Errorf("edge: reading the write-ahead log: %w", err)
			}
			if ok {
				if rec.Time.Before(started) {
					e.m.replayed.Inc()
					e.count(func(s *Stats) { s.Replayed++ })
				}
				send(inflight{msg: message{seq: rec.Seq, topic: rec.Topic, payload: rec.Payload}, fromWAL: true})
				continue
			}
			walWait = wait
			if m, ok := e.popMem(); ok {
				send(inflight{msg: m})
				continue
			}
			break
		}
		if stop == nil && len(pending) == 0 && walWait != nil {
			return nil // stopping, and everything is acknowledged
		}
		if !ready {
			walWait = nil // nothing can be sent before the connection is up
		}
		var head <-chan struct{}
		if len(pending) > 0 {
			head = pending[0].tok.Done()
		}
		select {
		case <-head:
			h := pending[0]
			// The slice's array would otherwise keep the payload until
			// the array is replaced.
			pending[0] = inflight{}
			pending = pending[1:]
			pendingBytes -= len(h.msg.payload)
			if err := resumes.Outcome(h.tok, h.resumes); err != nil {
				// A reconnection sends again every publish in flight,
				// up to max_inflight: a line every 10 s at most.
				if ok, unlogged := e.republishLogs.Failure(time.Now()); ok {
					e.log.Warn("publish not acknowledged; sending again", "seq", h.msg.seq, "err", err, "sent_again_since_last_log", unlogged)
				}
				e.m.republish.Inc()
				e.count(func(s *Stats) { s.Republished++ })
				send(h)
				continue
			}
			if h.fromWAL {
				// The payload is never reused for a later batch: after
				// a reconnect, paho v1.5.1
				// sends again the publishes left in its store, and a
				// PUBACK for one of them can complete the token of a
				// newer publish given the same message id, whose packet
				// the client may then still write. A reused buffer would
				// put another batch's bytes in that packet.
				w.Ack(h.msg.seq)
			}
			e.m.acked.Inc()
			e.count(func(s *Stats) { s.Acked++ })
		case <-walWait:
		case <-settled:
		case <-settling:
		case <-e.memNotify:
		case <-stop:
			stop = nil
			deadline = time.After(e.publishTimeout)
		case <-deadline:
			e.keepUnsent(w, pending)
			return nil
		}
	}
}

// keepUnsent runs at the publish timeout: batches from the log stay there;
// batches held in memory are appended to the log now if it takes them, and
// are otherwise lost, counted and logged.
func (e *Edge) keepUnsent(w *wal.WAL, pending []inflight) {
	var mem []message
	for _, p := range pending {
		if !p.fromWAL {
			mem = append(mem, p.msg)
		}
	}
	for {
		m, ok := e.popMem()
		if !ok {
			break
		}
		mem = append(mem, m)
	}
	for _, m := range mem {
		if err := w.Append(m.seq, m.topic, m.payload, m.polled); err != nil {
			e.m.dropped.WithLabelValues("overflow").Inc()
			e.count(func(s *Stats) { s.Dropped++ })
			e.log.Error("batches lost: not acknowledged at shutdown and the write-ahead log refused them",
				"count", 1, "first_seq", m.seq, "last_seq", m.seq, "reason", "overflow", "err", err)
		}
	}
}

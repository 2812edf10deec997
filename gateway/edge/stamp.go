package edge

import (
	"sync"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// stamper numbers the polls of every bus and appends them to the
// write-ahead log in one ordered step: the sequence number is taken and the
// batch appended under one lock, so the log receives the gateway's batches
// in sequence order however many buses poll at once. Bus owners call stamp
// from their own goroutines; an append costs a buffered write (the log
// fsyncs in the background unless configured to sync every batch).
type stamper struct {
	e   *Edge
	w   *wal.WAL
	max int // points per batch at most

	mu  sync.Mutex
	seq *seqStore
	buf []byte
	// texts keeps each device's names and units as JSON text, one per
	// batch of a poll (see batch.Texts); a device stopped by a reload is
	// forgotten.
	texts map[*drivers.Device][]batch.Texts
	// chain signs and chains the batches; nil when the edge has no
	// evidence key (chain.go).
	chain *chain
}

// stamp turns one poll of device d into batches of at most max points,
// each with the next sequence number, and stores them. The payload is
// encoded straight from the readings, into one buffer reused from poll to
// poll.
func (s *stamper) stamp(d *drivers.Device, polled time.Time, pts []drivers.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.texts == nil {
		s.texts = map[*drivers.Device][]batch.Texts{}
	}
	texts := s.texts[d]
	if need := max(1, (len(pts)+s.max-1)/s.max); len(texts) < need {
		texts = append(texts, make([]batch.Texts, need-len(texts))...)
		s.texts[d] = texts
	}
	parts := 0
	for len(pts) > 0 || parts == 0 {
		part := pts[:min(len(pts), s.max)]
		pts = pts[len(part):]
		parts++
		n, err := s.seq.next()
		if err != nil {
			s.e.m.seqErrors.Inc()
			s.e.log.Error("cannot persist the sequence reservation; polling goes on", "seq", n, "err", err)
		}
		bt := batch.Batch{
			Gateway: s.e.gateway, Seq: n, Device: d.Name, Kind: d.Kind,
			Site: s.e.site, Tenant: d.Tenant, Time: polled,
		}
		if s.chain != nil {
			bt.Prev, bt.Key = s.chain.prev, s.chain.keyID()
		}
		s.buf = bt.AppendReadingsJSONTexts(s.buf[:0], part, &texts[parts-1])
		if s.chain != nil {
			s.buf = s.chain.seal(n, s.buf)
		}
		s.e.count(func(st *Stats) { st.Polled++ })
		s.e.store(s.w, s.seq, message{seq: n, topic: s.e.topics[d], payload: s.buf, polled: polled})
	}
	if parts > 1 {
		s.e.m.splits.Inc()
	}
}

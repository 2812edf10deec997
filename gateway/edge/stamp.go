package edge

import (
	"sync"
	"time"
	"unsafe"

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
	// texts keeps names and units as JSON text (see batch.Texts) for
	// each run of readings a batch carries, shared by the devices whose
	// readings are the same strings: those of one profile. A reload
	// forgets them all.
	texts map[textsKey]*batch.Texts
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
	parts := 0
	for len(pts) > 0 || parts == 0 {
		part := pts[:min(len(pts), s.max)]
		pts = pts[len(part):]
		parts++
		n, err := s.seq.next()
		if err != nil {
			s.e.m.seqErrors.Inc()
			if ok, unlogged := s.e.diskLogs.reserve.Failure(time.Now()); ok {
				s.e.log.Error("cannot persist the sequence reservation; polling goes on", "seq", n, "err", err, "failed_since_last_log", unlogged)
			}
		}
		bt := batch.Batch{
			Gateway: s.e.gateway, Seq: n, Part: parts - 1, Device: d.Name, Kind: d.Kind,
			Site: s.e.site, Tenant: d.Tenant, Time: polled,
		}
		if s.chain != nil {
			bt.Prev, bt.Key = s.chain.prev, s.chain.keyID()
		}
		s.buf = bt.AppendReadingsJSONTexts(s.buf[:0], part, s.textsOf(part))
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

// textsKey identifies a run of readings by its first name's bytes and its
// length: devices of one profile share them. The texts themselves check
// every name and unit, so a key alike for other readings costs a rebuild,
// never a wrong byte.
type textsKey struct {
	first *byte
	n     int
}

// textsOf returns the texts kept for readings like rs; s.mu is held.
func (s *stamper) textsOf(rs []drivers.Reading) *batch.Texts {
	var k textsKey
	if len(rs) > 0 {
		k = textsKey{first: unsafe.StringData(rs[0].Name), n: len(rs)}
	}
	t := s.texts[k]
	if t == nil {
		if s.texts == nil {
			s.texts = map[textsKey]*batch.Texts{}
		}
		if len(s.texts) >= 4*len(s.e.topics)+64 {
			// More runs than the devices' batches: readings whose
			// names are made afresh each poll. Keep the memory bounded.
			clear(s.texts)
		}
		t = new(batch.Texts)
		s.texts[k] = t
	}
	return t
}

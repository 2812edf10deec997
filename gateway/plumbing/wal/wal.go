// Package wal is the edge's write-ahead log: every batch is appended, with
// a CRC, before it is published, and forgotten only after the broker
// acknowledged it. The log is a directory of segment files; a reader
// cursor feeds the publisher from the log itself, so a backlog of any size
// costs disk, not memory. The newest records not yet read, up to half a
// megabyte, are also kept in memory, so a reader that keeps up takes them
// from there instead of reading back what was just written.
//
// Record layout (little-endian):
//
//	u32 body length | u32 CRC-32C of body | body
//	body: u64 seq | i64 append time (Unix ns) | u16 topic length | topic | payload
//
// Durability: with SyncAlways every Append is fsynced before it returns;
// with SyncInterval appends reach the operating system at once (they
// survive a crash of the process) and are fsynced within the interval (a
// power cut loses at most that interval). At Open a torn or corrupt tail is
// truncated, and records after a corrupt one in an older segment are
// counted as lost; nothing panics.
//
// Bound: when the log would exceed MaxBytes, the oldest segment is dropped
// (FullDropOldest, the default) or the new record is refused
// (FullDropNewest). Either way every lost record is counted and reported
// with its sequence range through OnDrop.
package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SyncPolicy says when appended records are forced to stable storage.
type SyncPolicy int

const (
	// SyncInterval fsyncs at most every Options.SyncInterval (group commit).
	SyncInterval SyncPolicy = iota
	// SyncAlways fsyncs every record before Append returns.
	SyncAlways
)

// FullPolicy says what happens when the log reaches MaxBytes.
type FullPolicy int

const (
	// FullDropOldest deletes the oldest segment to make room.
	FullDropOldest FullPolicy = iota
	// FullDropNewest refuses the new record with ErrFull.
	FullDropNewest
)

// Options configure a log.
type Options struct {
	Dir          string
	SegmentBytes int64         // default 16 MiB
	MaxBytes     int64         // default 1 GiB
	Sync         SyncPolicy    // default SyncInterval
	SyncInterval time.Duration // default 100ms
	Full         FullPolicy    // default FullDropOldest
	// Retain keeps acknowledged records on disk for this long (0: delete
	// them at once), so they can be published again when a consumer lost
	// them (a broker restarted without persistence); see Scan.
	Retain time.Duration
	Log    *slog.Logger
	// OnDrop is told of every record lost to the size bound or to
	// corruption: how many, their sequence range and why.
	OnDrop func(n int, first, last uint64, reason string)
}

// Record is one batch in the log.
type Record struct {
	Seq     uint64
	Time    time.Time // when it was appended
	Topic   string
	Payload []byte
}

// hotRecord is a record kept in memory for the reader, with where it was
// written (the offset just past it in its segment) and the seq of the
// record appended before it.
type hotRecord struct {
	rec  Record
	seg  *segment
	end  int64
	prev uint64
}

// maxHot and maxHotBytes bound the records kept in memory for the reader:
// enough for the batches of the devices whose polls end together, without
// holding more than half a megabyte while the reader does not read (the
// broker is down).
const (
	maxHot      = 32
	maxHotBytes = 512 << 10
)

// Errors.
var (
	// ErrFull: the log is at MaxBytes and the policy is FullDropNewest.
	ErrFull = errors.New("wal: full")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("wal: closed")
	// ErrTooLarge: one record is larger than a segment.
	ErrTooLarge = errors.New("wal: record larger than a segment")
)

const (
	headerLen  = 8
	fixedBody  = 8 + 8 + 2
	segSuffix  = ".wal"
	ackFile    = "acked"
	maxBodyLen = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	path     string
	first    uint64 // seq of the first record (from the name)
	last     uint64 // seq of the last record, 0 if empty
	size     int64
	records  int
	oldestNs int64 // append time of its first record
	newestNs int64 // append time of its last record
}

// WAL is an open log. Append, Ack and the reader may be used from
// different goroutines.
type WAL struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	segs     []*segment // oldest first; the last one is active
	active   *os.File
	bw       *bufio.Writer
	dirty    bool
	bytes    int64
	lastSeq  uint64
	acked    uint64 // every seq <= acked is acknowledged (or dropped)
	ackDirty bool
	pending  map[uint64]struct{} // read by the reader, not yet acked
	readPos  uint64              // the reader returns records with seq >= readPos
	notify   chan struct{}       // closed and replaced on every append
	closed   bool
	dropped  uint64
	// marks are append times of records in seq order, one for the
	// first record of each second of appends at least (thinned past
	// maxMarks), trimmed to the last mark at or below the first
	// unacknowledged record and those after it: the oldest
	// unacknowledged record's age, to within a second, without a time
	// kept per record.
	marks []mark
	// damages are the last intact numbers before each damaged stretch
	// Open cut off (scan); tail is the one at the log's end.
	damages     []uint64
	tail        uint64
	tailDamaged bool
	// hot holds the newest records appended and not yet read, each with
	// a copy of its payload, so that a reader that keeps up takes them
	// from memory instead of reading back what was just written (a read,
	// two copies and a checksum of every batch). It is bounded by maxHot
	// and maxHotBytes; records past the bound are read from disk, so a
	// backlog still costs disk, not memory.
	hot      []hotRecord
	hotBytes int

	// kick wakes the sync loop when the log becomes dirty; an idle log
	// makes no timer fire.
	kick chan struct{}
	// loops counts the sync loop's wake-ups (for tests: an idle log
	// must not wake).
	loops atomic.Uint64
	stop  chan struct{}
	done  chan struct{}
}

func (o *Options) defaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 16 << 20
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.MaxBytes < 2*o.SegmentBytes {
		o.MaxBytes = 2 * o.SegmentBytes
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Open opens or creates the log in opts.Dir, checking every record and
// truncating a torn or corrupt tail.
func Open(opts Options) (*WAL, error) {
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	w := &WAL{
		opts: opts, log: opts.Log, pending: map[uint64]struct{}{},
		notify: make(chan struct{}), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := w.loadAcked(); err != nil {
		return nil, err
	}
	if err := w.scan(); err != nil {
		return nil, err
	}
	if err := w.openActive(); err != nil {
		return nil, err
	}
	w.readPos = w.acked + 1
	w.removeAckedSegments()
	go w.syncLoop()
	return w, nil
}

func (w *WAL) loadAcked() error {
	b, err := os.ReadFile(filepath.Join(w.opts.Dir, ackFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// A damaged checkpoint only costs re-sending: start from zero.
		w.log.Warn("wal: acknowledgement checkpoint unreadable; replaying every record", "err", err)
		return nil
	}
	w.acked = v
	return nil
}

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// scan reads every segment, checking each record.
func (w *WAL) scan() error {
	entries, err := os.ReadDir(w.opts.Dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	firsts := make([]uint64, 0, len(names))
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			return fmt.Errorf("wal: unexpected file %s in %s", name, w.opts.Dir)
		}
		firsts = append(firsts, first)
		seg := &segment{path: filepath.Join(w.opts.Dir, name), first: first}
		if err := w.check(seg); err != nil {
			return err
		}
		if seg.records == 0 {
			os.Remove(seg.path)
			continue
		}
		w.segs = append(w.segs, seg)
		w.bytes += seg.size
		w.lastSeq = seg.last
	}
	// A damaged segment followed by another lost the records up to that
	// one's first: reported here, those not acknowledged yet (the others
	// reached the broker). The last damage, if the log holds nothing
	// after it, is the tail's, for the caller to bound.
	var kept []uint64
	for _, after := range w.damages {
		next := uint64(0)
		for _, f := range firsts {
			if f > after+1 {
				next = f
				break
			}
		}
		if next == 0 || after >= w.lastSeq {
			w.tail, w.tailDamaged = after, true
			continue
		}
		kept = append(kept, after)
		first := max(after+1, w.acked+1)
		if first <= next-1 && w.opts.OnDrop != nil {
			w.opts.OnDrop(int(next-first), first, next-1, "corrupt")
		}
	}
	w.damages = kept
	return nil
}

// TailDamage reports whether the log's tail was damaged (a torn write, a
// bad sector) and cut off at Open, and the last intact number before it:
// the records after it are gone, and only the caller knows how far its
// numbers went.
func (w *WAL) TailDamage() (after uint64, damaged bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tail, w.tailDamaged
}

// check validates a segment's records, truncating at the first bad one.
func (w *WAL) check(seg *segment) error {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	var buf []byte
	for {
		rec, n, err := readRecord(r, &buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			lost := st.Size() - off
			w.log.Warn("wal: truncating a torn or corrupt tail", "segment", seg.path, "offset", off, "bytes", lost, "err", err)
			if lost > 0 && !tornLast(f, off, lost) {
				// What was after the damage cannot be read: scan tells
				// the range when a later segment bounds it, else the
				// caller (TailDamage), who knows the numbers it gave out.
				// A torn last record is no damage: an append interrupted
				// (the process killed between the writes of a large
				// record) leaves one, whose batch was never read from
				// the log, so never published.
				after := seg.first - 1
				if seg.records > 0 {
					after = seg.last
				}
				w.damages = append(w.damages, after)
			}
			if err := f.Truncate(off); err != nil {
				return fmt.Errorf("wal: truncating %s: %w", seg.path, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("wal: %w", err)
			}
			break
		}
		if seg.records == 0 {
			seg.oldestNs = rec.Time.UnixNano()
		}
		seg.newestNs = rec.Time.UnixNano()
		if rec.Seq > w.acked {
			w.markLocked(rec.Seq, rec.Time.UnixNano())
		}
		seg.records++
		seg.last = rec.Seq
		off += int64(n)
	}
	seg.size = off
	return nil
}

// tornLast reports whether the lost bytes from off to the file's end are
// the start of one record, cut short: fewer than a header, or fewer than
// the length its header gives (a sane one). Anything else — a whole
// record whose checksum fails, a header of no sane length — is damage.
func tornLast(f *os.File, off, lost int64) bool {
	if lost < headerLen {
		return true
	}
	var hdr [headerLen]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	return n >= fixedBody && n <= maxBodyLen && lost < headerLen+n
}

// readRecord reads one record; buf is reused for the body.
func readRecord(r io.Reader, buf *[]byte) (Record, int, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return Record{}, 0, io.EOF
		}
		return Record{}, 0, fmt.Errorf("short header: %w", err)
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if n < fixedBody || n > maxBodyLen {
		return Record{}, 0, fmt.Errorf("implausible record length %d", n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	body := (*buf)[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return Record{}, 0, fmt.Errorf("short record: %w", err)
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return Record{}, 0, errors.New("checksum mismatch")
	}
	tl := int(binary.LittleEndian.Uint16(body[16:18]))
	if fixedBody+tl > len(body) {
		return Record{}, 0, errors.New("topic length beyond record")
	}
	rec := Record{
		Seq:     binary.LittleEndian.Uint64(body[0:8]),
		Time:    time.Unix(0, int64(binary.LittleEndian.Uint64(body[8:16]))),
		Topic:   string(body[fixedBody : fixedBody+tl]),
		Payload: body[fixedBody+tl:],
	}
	return rec, headerLen + int(n), nil
}

func (w *WAL) openActive() error {
	var seg *segment
	if n := len(w.segs); n > 0 && w.segs[n-1].size < w.opts.SegmentBytes {
		seg = w.segs[n-1]
	} else {
		seg = &segment{first: w.lastSeq + 1}
		seg.path = filepath.Join(w.opts.Dir, segName(seg.first))
		w.segs = append(w.segs, seg)
	}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := syncDir(w.opts.Dir); err != nil {
		f.Close()
		return err
	}
	w.active = f
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 1<<16)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// LastSeq is the sequence number of the newest record ever appended (or
// found at Open).
func (w *WAL) LastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSeq
}

// Append adds a record. Its seq must be above every earlier one. The
// record is visible to the reader when Append returns.
func (w *WAL) Append(seq uint64, topic string, payload []byte, now time.Time) error {
	size := int64(headerLen + fixedBody + len(topic) + len(payload))
	if size > w.opts.SegmentBytes || len(topic) > 0xffff {
		return ErrTooLarge
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if seq <= w.lastSeq {
		return fmt.Errorf("wal: seq %d is not above the last appended %d", seq, w.lastSeq)
	}
	for w.bytes+size > w.opts.MaxBytes {
		// Retention is best effort: acknowledged records kept for
		// replays give their space to a new batch first, whatever the
		// policy for unacknowledged ones.
		if len(w.segs) > 1 && w.segs[0].last <= w.acked {
			if _, err := w.releaseOldestLocked(); err != nil {
				return err
			}
			continue
		}
		if w.opts.Full == FullDropNewest || len(w.segs) <= 1 {
			w.dropped++
			if w.opts.OnDrop != nil {
				w.opts.OnDrop(1, seq, seq, "full")
			}
			return ErrFull
		}
		if err := w.dropOldestLocked(); err != nil {
			return err
		}
	}
	active := w.segs[len(w.segs)-1]
	if active.size > 0 && active.size+size > w.opts.SegmentBytes {
		if err := w.rotateLocked(seq); err != nil {
			return err
		}
		active = w.segs[len(w.segs)-1]
	}
	var hdr [headerLen + fixedBody]byte
	binary.LittleEndian.PutUint64(hdr[8:16], seq)
	binary.LittleEndian.PutUint64(hdr[16:24], uint64(now.UnixNano()))
	binary.LittleEndian.PutUint16(hdr[24:26], uint16(len(topic)))
	crc := crc32.Update(0, castagnoli, hdr[8:])
	crc = crc32.Update(crc, castagnoli, []byte(topic))
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(size-headerLen))
	binary.LittleEndian.PutUint32(hdr[4:8], crc)
	write := func() error {
		w.bw.Write(hdr[:])
		w.bw.WriteString(topic)
		w.bw.Write(payload)
		err := w.bw.Flush()
		if err != nil {
			// The file may now end in a partial record: reopen the
			// segment at its last good size so later appends stay
			// readable.
			w.repairLocked(active)
		}
		return err
	}
	if err := write(); err != nil {
		// Retention is best effort: on a full disk, acknowledged records
		// kept for replays give their space to the new batch.
		if !errors.Is(err, syscall.ENOSPC) || w.releaseRetainedLocked() == 0 {
			return fmt.Errorf("wal: append seq %d: %w", seq, err)
		}
		if err := write(); err != nil {
			return fmt.Errorf("wal: append seq %d: %w", seq, err)
		}
	}
	if w.opts.Sync == SyncAlways {
		if err := w.active.Sync(); err != nil {
			return fmt.Errorf("wal: sync: %w", err)
		}
	} else if !w.dirty {
		w.dirty = true
		w.kickLocked()
	}
	if active.records == 0 {
		active.oldestNs = now.UnixNano()
		active.first = seq
	}
	w.markLocked(seq, now.UnixNano())
	active.records++
	active.last = seq
	active.newestNs = now.UnixNano()
	active.size += size
	w.bytes += size
	prev := w.lastSeq
	w.lastSeq = seq
	w.keepHotLocked(Record{Seq: seq, Time: time.Unix(0, now.UnixNano()), Topic: topic, Payload: payload}, active, prev)
	close(w.notify)
	w.notify = make(chan struct{})
	return nil
}

// keepHotLocked keeps a copy of rec, just appended to seg after the
// record prev, for the reader if the bound allows; w.mu is held.
func (w *WAL) keepHotLocked(rec Record, seg *segment, prev uint64) {
	if len(w.hot) >= maxHot || w.hotBytes+len(rec.Payload) > maxHotBytes {
		return
	}
	rec.Payload = append([]byte(nil), rec.Payload...)
	w.hot = append(w.hot, hotRecord{rec: rec, seg: seg, end: seg.size, prev: prev})
	w.hotBytes += len(rec.Payload)
}

// takeHotLocked returns the first record at or after seq pos from memory
// if it is kept there, letting go of the kept records before pos (read
// from disk meanwhile, or dropped with their segment); w.mu is held. A
// kept record is that first record if its seq is pos, or if the record
// appended before it is before pos: seqs may skip numbers (after a
// restart), so pos itself need not exist.
func (w *WAL) takeHotLocked(pos uint64) (hotRecord, bool) {
	n := 0
	for n < len(w.hot) && w.hot[n].rec.Seq < pos {
		w.hotBytes -= len(w.hot[n].rec.Payload)
		n++
	}
	var h hotRecord
	found := n < len(w.hot) && (w.hot[n].rec.Seq == pos || w.hot[n].prev < pos)
	if found {
		h = w.hot[n]
		w.hotBytes -= len(h.rec.Payload)
		n++
	}
	if n > 0 {
		left := copy(w.hot, w.hot[n:])
		clear(w.hot[left:])
		w.hot = w.hot[:left]
	}
	return h, found
}

// repairLocked truncates the active segment back to its last good size
// after a failed write (a full disk, say).
func (w *WAL) repairLocked(seg *segment) {
	w.bw.Reset(w.active)
	if err := w.active.Truncate(seg.size); err != nil {
		w.log.Error("wal: cannot truncate after a failed append", "segment", seg.path, "err", err)
	}
}

func (w *WAL) rotateLocked(nextSeq uint64) error {
	if err := w.active.Sync(); err != nil {
		return fmt.Errorf("wal: sync: %w", err)
	}
	w.dirty = false
	if err := w.active.Close(); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	seg := &segment{first: nextSeq, path: filepath.Join(w.opts.Dir, segName(nextSeq))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	w.segs = append(w.segs, seg)
	w.active = f
	w.bw.Reset(f)
	return syncDir(w.opts.Dir)
}

// dropOldestLocked deletes the oldest segment to make room, counting the
// unacknowledged records it held.
func (w *WAL) dropOldestLocked() error {
	seg := w.segs[0]
	lost := 0
	first := max(seg.first, w.acked+1)
	if seg.last > w.acked {
		// Records are consecutive within a segment only if every seq was
		// appended; count what lies above the acknowledged frontier.
		lost = seg.records
		if w.acked >= seg.first {
			lost = int(seg.last - w.acked)
			if lost > seg.records {
				lost = seg.records
			}
		}
	}
	// Records the reader handed to the publisher are in flight: the MQTT
	// client holds them until the broker acknowledges them, so they are
	// not lost with the segment.
	for s := range w.pending {
		if s >= first && s <= seg.last && lost > 0 {
			lost--
		}
	}
	if err := os.Remove(seg.path); err != nil {
		return fmt.Errorf("wal: dropping %s: %w", seg.path, err)
	}
	w.segs = w.segs[1:]
	w.bytes -= seg.size
	if lost > 0 {
		w.dropped += uint64(lost)
		w.log.Error("wal: full, dropped the oldest unacknowledged batches", "count", lost, "first_seq", first, "last_seq", seg.last, "max_bytes", w.opts.MaxBytes)
		if w.opts.OnDrop != nil {
			w.opts.OnDrop(lost, first, seg.last, "full")
		}
	}
	if seg.last > w.acked {
		w.acked = seg.last
		w.markAckedLocked()
		w.trimMarksLocked()
	}
	for s := range w.pending {
		if s <= seg.last {
			delete(w.pending, s)
		}
	}
	if w.readPos <= seg.last {
		w.readPos = seg.last + 1
	}
	return nil
}

// releaseRetainedLocked deletes every segment kept only for retention
// (all its records acknowledged), whatever its age, and returns how many
// bytes it freed.
func (w *WAL) releaseRetainedLocked() int64 {
	var freed int64
	for len(w.segs) > 1 && w.segs[0].last <= w.acked {
		n, err := w.releaseOldestLocked()
		if err != nil {
			w.log.Error("wal: cannot remove an acknowledged segment", "err", err)
			break
		}
		freed += n
	}
	if freed > 0 {
		w.log.Warn("wal: disk full; released acknowledged batches kept for replays", "bytes", freed)
	}
	return freed
}

// releaseOldestLocked deletes the oldest segment, whose records are all
// acknowledged, and returns its size.
func (w *WAL) releaseOldestLocked() (int64, error) {
	seg := w.segs[0]
	if err := os.Remove(seg.path); err != nil {
		return 0, fmt.Errorf("wal: removing the acknowledged segment %s: %w", seg.path, err)
	}
	w.segs = w.segs[1:]
	w.bytes -= seg.size
	return seg.size, nil
}

// Ack marks seq as acknowledged by the broker. Segments whose records are
// all acknowledged are deleted.
func (w *WAL) Ack(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, seq)
	frontier := w.readPos - 1
	for s := range w.pending {
		if s-1 < frontier {
			frontier = s - 1
		}
	}
	if frontier > w.acked {
		w.acked = frontier
		w.markAckedLocked()
		w.trimMarksLocked()
		w.removeAckedSegmentsLocked()
	}
}

func (w *WAL) removeAckedSegments() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.removeAckedSegmentsLocked()
}

func (w *WAL) removeAckedSegmentsLocked() {
	keepAfter := time.Now().Add(-w.opts.Retain).UnixNano()
	for len(w.segs) > 1 && w.segs[0].last <= w.acked && (w.opts.Retain <= 0 || w.segs[0].newestNs < keepAfter) {
		seg := w.segs[0]
		if err := os.Remove(seg.path); err != nil {
			w.log.Error("wal: cannot remove an acknowledged segment", "segment", seg.path, "err", err)
			return
		}
		w.segs = w.segs[1:]
		w.bytes -= seg.size
	}
}

// Scan calls fn with every record still on disk appended at or after
// since, acknowledged or not, in seq order, until fn returns an error
// (which Scan returns). It reads its own file handles and does not disturb
// the reader; segments deleted meanwhile are skipped.
func (w *WAL) Scan(since time.Time, fn func(Record) error) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	type span struct {
		path string
		size int64
	}
	var spans []span
	for _, s := range w.segs {
		if s.records > 0 && s.newestNs >= since.UnixNano() {
			spans = append(spans, span{s.path, s.size})
		}
	}
	w.mu.Unlock()
	var buf []byte
	for _, sp := range spans {
		f, err := os.Open(sp.path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wal: scan: %w", err)
		}
		r := bufio.NewReaderSize(io.LimitReader(f, sp.size), 1<<16)
		for {
			rec, _, err := readRecord(r, &buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("wal: scan %s: %w", sp.path, err)
			}
			if rec.Time.Before(since) {
				continue
			}
			rec.Payload = append([]byte(nil), rec.Payload...)
			if err := fn(rec); err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

// Earliest returns the append time of the oldest record still on disk,
// acknowledged or not; false when the log holds none.
func (w *WAL) Earliest() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.segs {
		if s.records > 0 {
			return time.Unix(0, s.oldestNs), true
		}
	}
	return time.Time{}, false
}

// mark is the append time of the record seq.
type mark struct {
	seq uint64
	ns  int64
}

// maxMarks bounds the marks (16 B each): past it every other one goes, so
// a backlog older than 18 hours has its age to within two seconds, and so
// on; an age is never understated.
const maxMarks = 1 << 16

// markLocked notes record seq's append time if it is the first of a new
// second of appends.
func (w *WAL) markLocked(seq uint64, ns int64) {
	// A record's time is its batch's poll time, which the buses' polls
	// interleave: one earlier than the last mark adds none (the mark
	// before it is at most a poll's length later).
	if n := len(w.marks); n > 0 && ns-w.marks[n-1].ns < int64(time.Second) {
		return
	}
	if len(w.marks) >= maxMarks {
		kept := w.marks[:1]
		for i := 2; i < len(w.marks); i += 2 {
			kept = append(kept, w.marks[i])
		}
		w.marks = kept
	}
	w.marks = append(w.marks, mark{seq, ns})
}

// trimMarksLocked drops the marks of acknowledged records, but the last
// at or below the first unacknowledged one.
func (w *WAL) trimMarksLocked() {
	i := 0
	for i+1 < len(w.marks) && w.marks[i+1].seq <= w.acked+1 {
		i++
	}
	if i > 0 {
		w.marks = append(w.marks[:0], w.marks[i:]...)
	}
}

// Stats describe the log.
type Stats struct {
	Bytes    int64     // on disk
	Segments int       //
	Pending  uint64    // records not yet acknowledged
	Oldest   time.Time // append time of the oldest unacknowledged record (zero if none)
	LastSeq  uint64
	Acked    uint64 // acknowledgement frontier
	Dropped  uint64 // records lost to the size bound
}

// Stats returns the current figures.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Stats{Bytes: w.bytes, Segments: len(w.segs), LastSeq: w.lastSeq, Acked: w.acked, Dropped: w.dropped}
	if w.lastSeq > w.acked {
		st.Pending = w.lastSeq - w.acked
		if len(w.marks) > 0 {
			st.Oldest = time.Unix(0, w.marks[0].ns)
		}
	}
	return st
}

// kickLocked wakes the sync loop: a record or the acknowledgement
// frontier waits to be written out.
func (w *WAL) kickLocked() {
	select {
	case w.kick <- struct{}{}:
	default: // already woken
	}
}

func (w *WAL) markAckedLocked() {
	if !w.ackDirty {
		w.ackDirty = true
		w.kickLocked()
	}
}

// syncLoop is the group commit: woken by the first append (or
// acknowledgement) after a sync, it waits SyncInterval for more and syncs
// them together, so a record is on stable storage within SyncInterval of
// its append. An idle log sleeps without timers, but for the expiry of
// segments kept for Retain.
func (w *WAL) syncLoop() {
	defer close(w.done)
	group := time.NewTimer(time.Hour)
	group.Stop()
	defer group.Stop()
	var expiry *time.Timer
	defer func() {
		if expiry != nil {
			expiry.Stop()
		}
	}()
	for {
		var expired <-chan time.Time
		if at, ok := w.nextExpiry(); ok {
			// Not sooner than an interval: a segment that cannot be
			// removed must not spin the loop.
			d := max(time.Until(at), w.opts.SyncInterval)
			if expiry == nil {
				expiry = time.NewTimer(d)
			} else {
				expiry.Reset(d)
			}
			expired = expiry.C
		}
		select {
		case <-w.stop:
			return
		case <-expired:
			w.removeAckedSegments() // retention expires with time
			continue
		case <-w.kick:
		}
		w.loops.Add(1)
		group.Reset(w.opts.SyncInterval)
		select {
		case <-w.stop:
			return // Close syncs
		case <-group.C:
		}
		if err := w.Sync(); err != nil {
			w.log.Error("wal: sync failed", "err", err)
			// Try again at the next interval rather than wait for the
			// next append.
			w.mu.Lock()
			w.kickLocked()
			w.mu.Unlock()
		}
		if w.opts.Retain > 0 {
			w.removeAckedSegments()
		}
	}
}

// nextExpiry is when the oldest segment kept only for Retain may go; ok
// is false when no segment waits for that.
func (w *WAL) nextExpiry() (at time.Time, ok bool) {
	if w.opts.Retain <= 0 {
		return time.Time{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.segs) < 2 || w.segs[0].last > w.acked {
		return time.Time{}, false
	}
	return time.Unix(0, w.segs[0].newestNs).Add(w.opts.Retain), true
}

// Sync forces appended records to stable storage and records the
// acknowledgement frontier.
func (w *WAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *WAL) syncLocked() error {
	var errs []error
	if w.dirty && w.active != nil {
		if err := w.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("wal: sync: %w", err))
		} else {
			w.dirty = false
		}
	}
	if w.ackDirty {
		// Not fsynced: a stale checkpoint only means re-sending records
		// the broker already has (harmless duplicates). Written in place
		// with a fixed width, so that no block is allocated after the
		// first write and it works on a full disk.
		err := w.writeAckedLocked()
		if err != nil {
			errs = append(errs, fmt.Errorf("wal: checkpoint: %w", err))
		} else {
			w.ackDirty = false
		}
	}
	return errors.Join(errs...)
}

// writeAckedLocked overwrites the checkpoint file with the frontier,
// padded to a fixed width (21 bytes, one sector).
func (w *WAL) writeAckedLocked() error {
	f, err := os.OpenFile(filepath.Join(w.opts.Dir, ackFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(fmt.Appendf(nil, "%020d\n", w.acked), 0)
	if err == nil {
		err = f.Truncate(21)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close syncs and closes the log; unacknowledged records stay for the next
// Open.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.notify)
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.syncLocked()
	if cerr := w.active.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync dir: %w", err)
	}
	return nil
}

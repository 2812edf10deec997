package wal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
)

// Reader returns the log's unacknowledged records in seq order, waiting for
// new ones. A log has one reader: the publisher.
type Reader struct {
	w    *WAL
	seg  *segment
	f    *os.File
	br   *bufio.Reader
	off  int64
	buf  []byte
	open string
	// hintPath and hintOff are where the last record taken from memory
	// ends on disk: reading from disk again in that segment starts
	// there rather than reading those records again to skip them.
	hintPath string
	hintOff  int64
}

// Reader returns the log's reader, positioned at the first record not yet
// acknowledged.
func (w *WAL) Reader() *Reader { return &Reader{w: w} }

// Close releases the reader's file.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.seg, r.open = nil, nil, ""
	return err
}

// Next returns the next record, waiting until one is appended, ctx is done
// (ctx.Err()) or the log is closed (ErrClosed). The payload is the
// caller's: the log never writes to it again.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		rec, ok, wait, err := r.try()
		if err != nil {
			return Record{}, err
		}
		if ok {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-wait:
		}
	}
}

// TryNext returns the next record if one is available now; if not, it
// returns a channel closed at the next append (or Close).
func (r *Reader) TryNext() (rec Record, ok bool, wait <-chan struct{}, err error) {
	return r.try()
}

func (r *Reader) try() (Record, bool, <-chan struct{}, error) {
	w := r.w
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Record{}, false, nil, ErrClosed
		}
		pos := w.readPos
		if h, ok := w.takeHotLocked(pos); ok {
			w.readPos = h.rec.Seq + 1
			w.pending[h.rec.Seq] = struct{}{}
			w.mu.Unlock()
			r.hintPath, r.hintOff = h.seg.path, h.end
			return h.rec, true, nil, nil
		}
		var seg *segment
		for _, s := range w.segs {
			if s.records > 0 && s.last >= pos {
				seg = s
				break
			}
		}
		if seg == nil {
			wait := w.notify
			w.mu.Unlock()
			return Record{}, false, wait, nil
		}
		limit := seg.size
		w.mu.Unlock()

		if r.open != seg.path {
			r.Close()
			f, err := os.Open(seg.path)
			if err != nil {
				if os.IsNotExist(err) {
					continue // dropped meanwhile: look again
				}
				return Record{}, false, nil, fmt.Errorf("wal: reader: %w", err)
			}
			r.f, r.seg, r.open, r.off = f, seg, seg.path, 0
			if r.br == nil {
				r.br = bufio.NewReaderSize(f, 1<<16)
			} else {
				r.br.Reset(f)
			}
		}
		if r.hintPath == seg.path && r.hintOff > r.off {
			// Records up to there were taken from memory.
			if _, err := r.f.Seek(r.hintOff, io.SeekStart); err != nil {
				return Record{}, false, nil, fmt.Errorf("wal: reader: %w", err)
			}
			r.br.Reset(r.f)
			r.off = r.hintOff
		}
		if r.off >= limit {
			// Everything written to this segment was read, yet its last
			// seq is ahead: cannot happen for a consistent log.
			return Record{}, false, nil, fmt.Errorf("wal: reader at the end of %s before seq %d", seg.path, pos)
		}
		rec, n, err := readRecord(r.br, &r.buf)
		if err != nil {
			return Record{}, false, nil, fmt.Errorf("wal: reading %s at %d: %w", seg.path, r.off, err)
		}
		r.off += int64(n)

		w.mu.Lock()
		if rec.Seq < w.readPos {
			w.mu.Unlock()
			continue // acknowledged before the restart, or dropped
		}
		w.readPos = rec.Seq + 1
		w.pending[rec.Seq] = struct{}{}
		w.mu.Unlock()
		// The payload is in the reader's buffer; the caller's copy is
		// made without holding up appends.
		rec.Payload = append([]byte(nil), rec.Payload...)
		return rec, true, nil, nil
	}
}

package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqStore hands out the gateway's batch sequence numbers: strictly
// increasing across restarts, never reused, whatever a crash left behind.
//
// To avoid a disk sync per batch it reserves numbers in blocks: while
// running normally, the file holds the highest number that may have been
// used. A clean stop records the exact last number, marked "clean". After
// a crash the edge resumes after the last batch in its write-ahead log,
// since every number handed out was appended there first — so a crash
// leaves no false gap.
//
// When a numbered batch could not be appended (a full or failing disk:
// the batch is held in memory or dropped), that no longer holds, and the
// store switches to exact mode: every such number is written to the file
// at once, marked "strict", and a restart after a crash resumes after it
// even though the log ends lower. The batches lost with memory then show
// as a gap that ingest declares missing, and their numbers are never
// given to other batches. The next successful append ends exact mode.
type seqStore struct {
	path     string
	last     uint64 // last number handed out
	reserved uint64 // highest number covered by the file
	block    uint64
	clean    bool // the file was written by a clean stop
	strict   bool // the file holds an exact number a crash must not go below
	empty    bool // the file was there but empty (openSeq)
}

const seqFile = "seq"

func openSeq(dir string, block uint64) (*seqStore, error) {
	s := &seqStore{path: filepath.Join(dir, seqFile), block: block}
	b, err := os.ReadFile(s.path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("reading sequence: %w", err)
	case strings.TrimSpace(string(b)) == "":
		// Created, but its first write failed (a disk full at the first
		// start): no number was ever recorded in it, as with no file.
		s.empty = true
	default:
		text := strings.TrimSpace(string(b))
		text, s.clean = strings.CutSuffix(text, " clean")
		text, s.strict = strings.CutSuffix(text, markStrict)
		v, err := strconv.ParseUint(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sequence file %s is corrupt (%q): %w", s.path, b, err)
		}
		s.last, s.reserved = v, v
	}
	return s, nil
}

// next returns the next sequence number, persisting a new reservation
// first when the current one is used up. A failed reservation is returned
// as an error together with a valid number: polling goes on (losing
// readings would be worse), and the reservation is retried on the next
// call.
func (s *seqStore) next() (uint64, error) {
	n := s.last + 1
	var err error
	if n > s.reserved && !s.strict {
		if err = s.write(s.last+s.block, markReserved); err == nil {
			s.reserved = s.last + s.block
		}
	}
	s.last = n
	return n, err
}

// unlogged records that number n, handed out by next, did not reach the
// write-ahead log: the file must hold it exactly before anything else
// happens, so that a crash cannot reuse it.
func (s *seqStore) unlogged(n uint64) error {
	if err := s.write(n, markStrict); err != nil {
		return err
	}
	s.strict, s.reserved = true, n
	return nil
}

// logged records that the last number handed out reached the log: exact
// mode ends, and the next number writes a block reservation again.
func (s *seqStore) logged() {
	if s.strict {
		s.strict, s.reserved = false, s.last
	}
}

// resumeAfter makes the next number follow walLast, the last batch in the
// write-ahead log, and acked, its acknowledgement checkpoint. A
// reservation (a crash in normal mode) is not honoured beyond the log:
// every number it covers above walLast was never used — unless the log's
// tail was damaged and cut off (damaged): then numbers above walLast were
// handed out, maybe published, and the next follows every number the file
// covers. It returns the numbers that may have been lost with the damage
// (first..last; none when first > last) and whether that is exact (the
// file held the last number, not a reservation).
func (s *seqStore) resumeAfter(walLast, acked uint64, damaged bool) (first, last uint64, exact bool) {
	floor := max(walLast, acked)
	exact = s.clean || s.strict
	switch {
	case damaged, s.clean, s.strict:
		s.last = max(s.last, floor)
	case walLast > 0:
		s.last = floor
	}
	s.clean, s.strict = false, false
	s.reserved = s.last // the next number writes a new reservation first
	if !damaged {
		return 1, 0, true
	}
	return floor + 1, s.last, exact
}

// close records the exact last number so that a clean restart leaves no gap.
func (s *seqStore) close() error { return s.write(s.last, markClean) }

// Marks after the number in the sequence file, all six bytes wide.
const (
	markReserved = "      "
	markClean    = " clean"
	markStrict   = "strict"
)

// write overwrites the file in place with a fixed-width record: no block
// is allocated after the first write, so it works on a full disk, and the
// 32 bytes sit in one sector.
func (s *seqStore) write(v uint64, mark string) error {
	rec := fmt.Sprintf("%020d%s\n", v, mark) // 27 bytes
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("sequence file: %w", err)
	}
	_, err = f.WriteAt([]byte(rec), 0)
	if err == nil {
		err = f.Truncate(int64(len(rec)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sequence file %s: %w", s.path, err)
	}
	return nil
}

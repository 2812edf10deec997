package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqStore hands out the gateway's batch sequence numbers: strictly
// increasing across restarts. To avoid a disk sync per batch it reserves
// numbers in blocks: while running, the file holds the highest number that
// may have been used. A clean stop records the exact last number, marked
// "clean". After a crash the edge resumes after the last batch in its
// write-ahead log (every number handed out was appended there first), and
// only without one above the reserved block: numbers are never reused.
type seqStore struct {
	path     string
	last     uint64 // last number handed out
	reserved uint64 // highest number covered by the file
	block    uint64
	clean    bool // the file was written by a clean stop
}

const seqFile = "seq"

func openSeq(dir string, block uint64) (*seqStore, error) {
	s := &seqStore{path: filepath.Join(dir, seqFile), block: block}
	b, err := os.ReadFile(s.path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("reading sequence: %w", err)
	default:
		text, clean := strings.CutSuffix(strings.TrimSpace(string(b)), " clean")
		v, err := strconv.ParseUint(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sequence file %s is corrupt (%q): %w", s.path, b, err)
		}
		s.last, s.reserved, s.clean = v, v, clean
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
	if n > s.reserved {
		if err = s.write(s.last+s.block, false); err == nil {
			s.reserved = s.last + s.block
		}
	}
	s.last = n
	return n, err
}

// resumeAfter makes the next number follow walLast, the last batch in the
// write-ahead log, when the file holds only a reservation (a crash).
func (s *seqStore) resumeAfter(walLast uint64) {
	switch {
	case s.clean:
		s.last = max(s.last, walLast)
	case walLast > 0:
		s.last = walLast
	}
	s.reserved = s.last // the next number writes a new reservation first
}

// close records the exact last number so that a clean restart leaves no gap.
func (s *seqStore) close() error { return s.write(s.last, true) }

// write overwrites the file in place with a fixed-width record: no block
// is allocated after the first write, so it works on a full disk, and the
// 32 bytes sit in one sector.
func (s *seqStore) write(v uint64, clean bool) error {
	mark := "      "
	if clean {
		mark = " clean"
	}
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

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
// numbers in blocks: the file holds the highest number that may have been
// used. A clean stop records the exact last number; after a crash the next
// run starts above the reserved block, so numbers are never reused (the
// skipped ones show up as a sequence gap, never as a duplicate).
type seqStore struct {
	path     string
	last     uint64 // last number handed out
	reserved uint64 // highest number covered by the file
	block    uint64
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
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sequence file %s is corrupt (%q): %w", s.path, b, err)
		}
		s.last, s.reserved = v, v
	}
	return s, nil
}

// next returns the next sequence number, persisting a new reservation
// first when the current one is used up.
func (s *seqStore) next() (uint64, error) {
	n := s.last + 1
	if n > s.reserved {
		if err := writeFileSync(s.path, s.last+s.block); err != nil {
			return 0, err
		}
		s.reserved = s.last + s.block
	}
	s.last = n
	return n, nil
}

// close records the exact last number so that a clean restart leaves no gap.
func (s *seqStore) close() error { return writeFileSync(s.path, s.last) }

func writeFileSync(path string, v uint64) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(v, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

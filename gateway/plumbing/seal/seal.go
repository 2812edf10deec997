// Package seal keeps the park engine's sealed hourly records: an
// append-only, hash-chained log in which a changed or removed record is
// detectable (docs/contracts.md, "Sealed hourly records").
//
// The log is the file hourly.log in its directory, one entry per line:
//
//	{"v":1,"seq":7,"hour":"2026-11-26T03:00:00Z","prev":"<64 hex>","records":["park_hourly,...",...],"hash":"<64 hex>"}
//
// "records" are the hour's records in their canonical form: the lines of
// line protocol written to InfluxDB (park_hourly), tags in lexical order,
// floats in their shortest round-trip form, time in milliseconds. The
// entry's body is its bytes before `,"hash":"` followed by `}`; "hash" is
// the SHA-256 of the body; "prev" is the hash of entry seq-1 (the zero
// hash for entry 1). Each entry is fsynced before the hour's records are
// queued for InfluxDB.
//
// The checkpoint, checkpoint.json beside the log, names the last entry
// (its seq, hour and hash); it is replaced atomically after each entry is
// synced, and checked when the log is opened: a log shorter than its
// checkpoint, or whose entry differs from it, was truncated or rewritten.
// The park engine also writes each entry's seq and hash beside the hour's
// records in InfluxDB (measurement park_hourly_seal), so that the file and
// the database check each other.
package seal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Names of the files in the log's directory.
const (
	LogFile        = "hourly.log"
	CheckpointFile = "checkpoint.json"
)

// Hash is the SHA-256 of an entry's body.
type Hash [sha256.Size]byte

// String is the lower-case hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads the hex form of a hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits, got %d", s, 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	if h.String() != s {
		return h, fmt.Errorf("hash %q: not lower-case hex", s)
	}
	return h, nil
}

// Entry is one sealed hour.
type Entry struct {
	Seq     uint64
	Hour    time.Time // the hour's start, UTC
	Prev    Hash
	Records []string // the hour's lines of line protocol
	Hash    Hash
	Line    int // line number in the file (1-based), when read
}

// body is the JSON form of an entry without its hash.
type body struct {
	V       int      `json:"v"`
	Seq     uint64   `json:"seq"`
	Hour    string   `json:"hour"`
	Prev    string   `json:"prev"`
	Records []string `json:"records"`
}

// Encode returns the line (with its newline) and the hash of entry seq
// of hour, following prev.
func Encode(seq uint64, hour time.Time, prev Hash, records []string) ([]byte, Hash, error) {
	if records == nil {
		records = []string{}
	}
	b, err := json.Marshal(body{V: 1, Seq: seq, Hour: hour.UTC().Format(time.RFC3339), Prev: prev.String(), Records: records})
	if err != nil {
		return nil, Hash{}, err
	}
	h := Hash(sha256.Sum256(b))
	line := append(b[:len(b)-1:len(b)-1], `,"hash":"`...)
	line = append(line, h.String()...)
	line = append(line, "\"}\n"...)
	return line, h, nil
}

// Problem is a place where the log's chain does not hold.
type Problem struct {
	Line   int    // line number in the file
	Seq    uint64 // 0 when the line cannot be read
	Hour   time.Time
	Detail string
}

func (p Problem) String() string {
	s := "line " + strconv.Itoa(p.Line)
	if p.Seq != 0 {
		s += fmt.Sprintf(" seq=%d", p.Seq)
	}
	if !p.Hour.IsZero() {
		s += " hour=" + p.Hour.UTC().Format(time.RFC3339)
	}
	return s + ": " + p.Detail
}

// hashMarker separates an entry's body from its hash.
var hashMarker = []byte(`,"hash":"`)

// decode reads one line (without its newline).
func decode(line []byte) (Entry, error) {
	i := bytes.LastIndex(line, hashMarker)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return Entry{}, errors.New("not an entry: no \"hash\" member at its end")
	}
	hs := string(line[i+len(hashMarker) : len(line)-2])
	stored, err := ParseHash(hs)
	if err != nil {
		return Entry{}, err
	}
	raw := append(append([]byte(nil), line[:i]...), '}')
	var b body
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Entry{}, fmt.Errorf("entry body: %w", err)
	}
	e := Entry{Seq: b.Seq, Records: b.Records, Hash: stored}
	if b.V != 1 {
		return e, fmt.Errorf("entry version %d, want 1", b.V)
	}
	if e.Hour, err = time.Parse(time.RFC3339, b.Hour); err != nil {
		return e, fmt.Errorf("entry hour: %w", err)
	}
	if e.Prev, err = ParseHash(b.Prev); err != nil {
		return e, fmt.Errorf("entry prev: %w", err)
	}
	if sum := Hash(sha256.Sum256(raw)); sum != stored {
		return e, fmt.Errorf("hash %s is not SHA-256 of the entry (%s): the entry was altered", stored, sum)
	}
	return e, nil
}

// Read reads the log of dir and checks its chain. It returns the entries
// that could be read, in file order, and the problems found: lines that
// are not entries, entries whose hash is not theirs, sequence numbers out
// of order, prev that is not the previous entry's hash, and a last line
// without its newline (an append cut short). A missing log is no entries.
func Read(dir string) ([]Entry, []Problem, error) {
	f, err := os.Open(filepath.Join(dir, LogFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return read(f)
}

func read(r io.Reader) ([]Entry, []Problem, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var (
		out   []Entry
		probs []Problem
		prev  *Entry
	)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return out, probs, err
		}
		if err == io.EOF {
			probs = append(probs, Problem{Line: n, Detail: "last line has no newline: an append was cut short"})
			break
		}
		e, derr := decode(line[:len(line)-1])
		e.Line = n
		if derr != nil {
			probs = append(probs, Problem{Line: n, Seq: e.Seq, Hour: e.Hour, Detail: derr.Error()})
			if e.Seq == 0 {
				continue
			}
		}
		switch {
		case prev == nil && e.Seq != 1 && n == 1:
			probs = append(probs, Problem{Line: n, Seq: e.Seq, Hour: e.Hour, Detail: fmt.Sprintf("the log starts at seq %d, not 1: entries before it were removed", e.Seq)})
		case prev != nil && e.Seq != prev.Seq+1:
			probs = append(probs, Problem{Line: n, Seq: e.Seq, Hour: e.Hour, Detail: fmt.Sprintf("seq %d follows seq %d: entries removed or reordered", e.Seq, prev.Seq)})
		case prev != nil && e.Prev != prev.Hash:
			probs = append(probs, Problem{Line: n, Seq: e.Seq, Hour: e.Hour, Detail: fmt.Sprintf("prev %s is not the hash of seq %d (%s)", e.Prev, prev.Seq, prev.Hash)})
		case prev == nil && e.Seq == 1 && e.Prev != (Hash{}):
			probs = append(probs, Problem{Line: n, Seq: e.Seq, Hour: e.Hour, Detail: "the first entry's prev is not the zero hash"})
		}
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out, probs, nil
}

// Checkpoint names the last entry of the log.
type Checkpoint struct {
	Seq  uint64 `json:"seq"`
	Hour string `json:"hour"`
	Hash string `json:"hash"`
}

// ReadCheckpoint reads dir's checkpoint; ok is false when there is none.
func ReadCheckpoint(dir string) (c Checkpoint, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, false, fmt.Errorf("%s: %w", filepath.Join(dir, CheckpointFile), err)
	}
	return c, true, nil
}

// CheckCheckpoint compares a checkpoint with the entries of the log; it
// returns the problem, if any.
func CheckCheckpoint(c Checkpoint, entries []Entry) *Problem {
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if e.Seq != c.Seq {
			continue
		}
		if e.Hash.String() != c.Hash {
			return &Problem{Line: e.Line, Seq: e.Seq, Hour: e.Hour, Detail: fmt.Sprintf("entry hash %s is not the checkpoint's %s: the log was rewritten", e.Hash, c.Hash)}
		}
		return nil
	}
	last := uint64(0)
	if n := len(entries); n > 0 {
		last = entries[n-1].Seq
	}
	return &Problem{Seq: c.Seq, Detail: fmt.Sprintf("the checkpoint names seq %d (hour %s, hash %s) but the log ends at seq %d: entries were removed", c.Seq, c.Hour, c.Hash, last)}
}

// Log appends entries. One goroutine owns it.
type Log struct {
	dir  string
	f    *os.File
	seq  uint64
	head Hash
	size int64 // bytes of whole entries
}

// Open opens (or creates) the log in dir for appending. The chain is read
// and checked first: a log whose chain is broken, or that does not reach
// its checkpoint, is an error naming the line and entry, and is left as
// it is for an auditor to see. A last line cut short by a crash during an
// append (never synced, so its hour was never queued) is cut off.
func Open(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	path := filepath.Join(dir, LogFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	entries, probs, err := read(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	if n := len(probs); n > 0 && probs[n-1].Detail == "last line has no newline: an append was cut short" {
		var size int64
		if len(entries) > 0 || n > 1 {
			// Keep every complete line: find where the torn line starts.
			if size, err = completeSize(f); err != nil {
				f.Close()
				return nil, fmt.Errorf("audit log %s: %w", path, err)
			}
		}
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit log %s: cutting a torn last line: %w", path, err)
		}
		probs = probs[:n-1]
	}
	if len(probs) > 0 {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %s (%d problems in all)", path, probs[0], len(probs))
	}
	c, ok, err := ReadCheckpoint(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if ok {
		if p := CheckCheckpoint(c, entries); p != nil {
			f.Close()
			return nil, fmt.Errorf("audit log %s: %s", path, p)
		}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l := &Log{dir: dir, f: f, size: size}
	if n := len(entries); n > 0 {
		l.seq, l.head = entries[n-1].Seq, entries[n-1].Hash
	}
	return l, nil
}

// completeSize is the size of f up to its last newline.
func completeSize(f *os.File) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var size, n int64
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		n += int64(len(line))
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return 0, err
		}
		size = n
	}
}

// Head returns the last entry's seq and hash (0 and the zero hash for an
// empty log).
func (l *Log) Head() (uint64, Hash) { return l.seq, l.head }

// Append seals an hour's records: the entry is written and synced, then
// the checkpoint replaced. It returns the entry.
func (l *Log) Append(hour time.Time, records []string) (Entry, error) {
	seq := l.seq + 1
	line, h, err := Encode(seq, hour, l.head, records)
	if err != nil {
		return Entry{}, fmt.Errorf("audit log: hour %s: %w", hour.UTC().Format(time.RFC3339), err)
	}
	_, err = l.f.Write(line)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		// Take back what part of the line may have been written, so that
		// the next entry follows a whole one.
		if terr := l.f.Truncate(l.size); terr != nil {
			err = fmt.Errorf("%w; and cutting the partial entry: %w", err, terr)
		} else if _, serr := l.f.Seek(l.size, io.SeekStart); serr != nil {
			err = fmt.Errorf("%w; and %w", err, serr)
		}
		return Entry{}, fmt.Errorf("audit log: hour %s: %w", hour.UTC().Format(time.RFC3339), err)
	}
	l.size += int64(len(line))
	e := Entry{Seq: seq, Hour: hour.UTC(), Prev: l.head, Records: records, Hash: h}
	l.seq, l.head = seq, h
	if err := l.checkpoint(e); err != nil {
		return e, err
	}
	return e, nil
}

// checkpoint replaces the checkpoint file atomically.
func (l *Log) checkpoint(e Entry) error {
	b, _ := json.Marshal(Checkpoint{Seq: e.Seq, Hour: e.Hour.Format(time.RFC3339), Hash: e.Hash.String()})
	tmp := filepath.Join(l.dir, CheckpointFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("audit log checkpoint: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(l.dir, CheckpointFile))
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("audit log checkpoint: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the log.
func (l *Log) Close() error { return l.f.Close() }

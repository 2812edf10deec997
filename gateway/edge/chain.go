package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// chain signs the gateway's batches and links each to the one before
// (docs/contracts.md, "Signed, chained batches"). The stamper calls it
// under its lock, so the chain follows the sequence order.
//
// The head (the hash of the last batch) survives restarts: a clean stop
// writes it to the file "chain" beside the sequence file; after a crash
// the head is the hash of the last batch in the write-ahead log, which
// holds every batch that was numbered and appended. When neither gives
// the head (a log lost with its disk, or the first signed batch after
// evidence was turned on), the next batch carries the zero hash: a
// declared restart of the chain, which ingest and eipgw audit verify
// report.
type chain struct {
	signer  *evidence.Signer
	path    string
	head    evidence.Hash
	headSeq uint64
	prev    string // head.String(), cached for the next batch
}

const chainFile = "chain"

// openChain loads the signing key and recovers the head for the log w.
func openChain(dir, keyFile string, w *wal.WAL) (*chain, error) {
	priv, err := evidence.LoadPrivateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("edge.evidence.key_file: %w", err)
	}
	c := &chain{signer: evidence.NewSigner(priv), path: filepath.Join(dir, chainFile)}
	var since time.Time
	if b, err := os.ReadFile(c.path); err == nil {
		seqText, hashText, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
		seq, err1 := strconv.ParseUint(seqText, 10, 64)
		h, err2 := evidence.ParseHash(hashText)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("chain head file %s is corrupt (%q)", c.path, b)
		}
		c.head, c.headSeq = h, seq
		if fi, err := os.Stat(c.path); err == nil {
			since = fi.ModTime().Add(-time.Second)
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("chain head: %w", err)
	}
	if last := w.LastSeq(); last > c.headSeq {
		// The log holds batches after the recorded head: a crash. Its last
		// record is the head.
		c.head, c.headSeq = evidence.Hash{}, last
		err := w.Scan(since, func(r wal.Record) error {
			if r.Seq == last {
				if msg, _, ok := evidence.Split(r.Payload); ok {
					c.head = evidence.Sum(msg)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("chain head from the write-ahead log: %w", err)
		}
	}
	c.prev = c.head.String()
	return c, nil
}

// keyID is carried in "key".
func (c *chain) keyID() string { return c.signer.KeyID() }

// seal signs the encoded batch seq (which carries prev) in buf and makes
// it the head.
func (c *chain) seal(seq uint64, buf []byte) []byte {
	buf, h := c.signer.Seal(buf)
	c.head, c.headSeq, c.prev = h, seq, h.String()
	return buf
}

// close records the head for a clean restart.
func (c *chain) close() error {
	tmp := c.path + ".tmp"
	rec := strconv.FormatUint(c.headSeq, 10) + " " + c.head.String() + "\n"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("chain head: %w", err)
	}
	_, err = f.WriteString(rec)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err != nil {
		return fmt.Errorf("chain head: %w", err)
	}
	return nil
}

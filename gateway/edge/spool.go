package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
)

// The spool keeps batches that were polled but not acknowledged by the
// broker when the edge stopped, and hands them back at the next start.
// Each line is "<crc32 hex> <topic> <payload>": the checksum covers topic and
// payload, so a torn last line (power cut while writing) is detected and
// reported, never published.
const spoolFile = "unsent"

type message struct {
	seq     uint64
	topic   string
	payload []byte
}

func writeSpool(dir string, msgs []message) error {
	path := filepath.Join(dir, spoolFile)
	if len(msgs) == 0 {
		err := os.Remove(path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		crc := crc32.NewIEEE()
		crc.Write([]byte(m.topic))
		crc.Write([]byte{' '})
		crc.Write(m.payload)
		fmt.Fprintf(&buf, "%08x %s %s\n", crc.Sum32(), m.topic, m.payload)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing spool: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// errCorruptSpool reports a spool line whose checksum does not match.
var errCorruptSpool = errors.New("corrupt spool record")

// readSpool returns the spooled messages. Corrupt lines are skipped and
// returned as an error alongside the good ones, so the caller can report
// them without losing the rest.
func readSpool(dir string) ([]message, error) {
	path := filepath.Join(dir, spoolFile)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var msgs []message
	var bad []error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		crcHex, rest, ok1 := bytes.Cut(b, []byte{' '})
		topic, payload, ok2 := bytes.Cut(rest, []byte{' '})
		want, err := strconv.ParseUint(string(crcHex), 16, 32)
		if !ok1 || !ok2 || err != nil || uint32(want) != crc32.ChecksumIEEE(rest) {
			bad = append(bad, fmt.Errorf("%s:%d: %w", path, line, errCorruptSpool))
			continue
		}
		msgs = append(msgs, message{topic: string(topic), payload: bytes.Clone(payload)})
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Errorf("%s: %w", path, err))
	}
	return msgs, errors.Join(bad...)
}

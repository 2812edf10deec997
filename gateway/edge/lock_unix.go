//go:build unix

package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// lockFile is the file in the state directory an edge holds locked while
// it runs.
const lockFile = "lock"

// lockStateDir takes the state directory for this process: an advisory
// lock (flock) on state_dir/lock, held until release. A second edge on
// the same directory — started twice by mistake, or from a copied
// configuration — would number batches from the same log and
// checkpoint: two batches under one sequence number, one of them lost
// without a gap ever declared. It is refused, naming the process that
// holds the directory. The kernel drops the lock when the holder exits,
// kill -9 included, so a crash never leaves the directory locked.
func lockStateDir(dir, instance string) (release func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 256))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := string(bytes.TrimSpace(holder))
			if who == "" {
				who = "a process that has not said which"
			}
			return nil, fmt.Errorf("state dir %s is in use by another edge (%s): two edges on one state_dir would give two batches one sequence number; stop the other, or give this one a state_dir of its own", dir, who)
		}
		return nil, fmt.Errorf("state dir: lock %s: %w", path, err)
	}
	// Who holds it, for the message of the next one that tries.
	if err := f.Truncate(0); err == nil {
		host, _ := os.Hostname()
		fmt.Fprintf(f, "pid %s on %s, instance %s, since %s\n", strconv.Itoa(os.Getpid()), host, instance, time.Now().UTC().Format(time.RFC3339))
	}
	return func() { f.Close() }, nil
}

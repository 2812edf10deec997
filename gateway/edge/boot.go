package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// bootFile holds the boot id of the machine the edge last started on.
const bootFile = "boot"

// bootID is the running kernel's boot id (Linux: a random id the kernel
// draws at each boot); empty where there is none. A variable for tests.
var bootID = func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// rebootedSince reports whether the machine restarted since the edge last
// started on dir (false when that is unknown), and records the current
// boot. A restart of the machine, unlike one of the process, can lose
// what the operating system had not written to disk yet: the log's
// appends of its last sync interval, whose batches may have been
// published.
func rebootedSince(dir string) (rebooted bool, err error) {
	now := bootID()
	path := filepath.Join(dir, bootFile)
	b, rerr := os.ReadFile(path)
	prev := strings.TrimSpace(string(b))
	rebooted = rerr == nil && now != "" && prev != "" && prev != now
	if now == "" || prev == now {
		return rebooted, nil
	}
	// Not recorded, the next start on this boot would compare with an
	// older boot's id and take a crash of the process for a restart of
	// the machine (a jump in numbering, and its numbers declared missing).
	if err := writeSynced(path, now+"\n"); err != nil {
		return rebooted, fmt.Errorf("recording the boot id: %w", err)
	}
	return rebooted, nil
}

// writeSynced writes data to path and syncs it.
func writeSynced(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

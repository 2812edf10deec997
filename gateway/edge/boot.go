package edge

import (
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
func rebootedSince(dir string) bool {
	now := bootID()
	path := filepath.Join(dir, bootFile)
	prev, err := os.ReadFile(path)
	rebooted := err == nil && now != "" && strings.TrimSpace(string(prev)) != "" && strings.TrimSpace(string(prev)) != now
	if now != "" && (err != nil || strings.TrimSpace(string(prev)) != now) {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640); err == nil {
			f.WriteString(now + "\n")
			f.Sync()
			f.Close()
		}
	}
	return rebooted
}

//go:build unix

package edge

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStateDirLockAcrossProcesses: another process holding the state
// directory's lock (util-linux's flock(1), the same advisory lock) keeps an
// edge out; once it is killed with SIGKILL the lock is gone with it.
func TestStateDirLockAcrossProcesses(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock(1) (util-linux) not installed")
	}
	dir := t.TempDir()
	// -o: the lock is flock(1)'s own, not inherited by its command.
	holder := exec.Command(flock, "-o", "-x", filepath.Join(dir, lockFile), "sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		release, err := lockStateDir(dir, "i1")
		if err != nil {
			if !strings.Contains(err.Error(), "is in use by another edge") {
				t.Fatalf("locked by another process: %v", err)
			}
			break
		}
		release() // flock(1) has not taken it yet
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	holder.Process.Kill()
	holder.Wait()
	release, err := lockStateDir(dir, "i2")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	release()
}

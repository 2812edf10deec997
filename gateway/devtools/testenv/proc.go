package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Eipgw builds the eipgw binary once per test process and returns its
// path. It lives in a temporary directory removed at exit by the caller's
// TestMain through CleanupBinaries, or left to the OS otherwise.
func Eipgw(t testing.TB) string {
	t.Helper()
	return full.build(t, "eipgw", false)
}

// EipgwEdge builds, once per test process, the edge's build of eipgw
// (build tag eipgw_edge: the edge and the operator tools, without the
// other roles) as a release is built (RoleBuildFlags) and returns its
// path.
func EipgwEdge(t testing.TB) string {
	t.Helper()
	return edgeOnly.build(t, "eipgw-edge", true, "-tags", "eipgw_edge")
}

// EipgwIngest builds, once per test process, ingest's build of eipgw
// (build tag eipgw_ingest: ingest and the operator tools) as a release is
// built (RoleBuildFlags) and returns its path.
func EipgwIngest(t testing.TB) string {
	t.Helper()
	return ingestOnly.build(t, "eipgw-ingest", true, "-tags", "eipgw_ingest")
}

// RoleBuildFlags are the go build flags of a role's release build
// (packaging/README.md), which is also built with CGO_ENABLED=0: static,
// so no C library is mapped into the process, and without the symbol
// tables. What the benchmarks measure is then what ships: the edge's
// peak RSS is 1 to 2 MB lower than a default build's.
var RoleBuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// binary is a build of ./cmd/eipgw made once per test process.
type binary struct {
	once sync.Once
	path string
	err  error
}

var (
	full, edgeOnly, ingestOnly binary
	binDirOnce                 sync.Once
	binDir                     string
	binDirErr                  error
)

// build builds ./cmd/eipgw with flags into name, once; release adds
// RoleBuildFlags and CGO_ENABLED=0.
func (b *binary) build(t testing.TB, name string, release bool, flags ...string) string {
	t.Helper()
	b.once.Do(func() {
		binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "eipgw-bin") })
		if b.err = binDirErr; b.err != nil {
			return
		}
		b.path = filepath.Join(binDir, name)
		var env []string
		if release {
			env = append(os.Environ(), "CGO_ENABLED=0")
			flags = append(flags, RoleBuildFlags...)
		}
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", b.path, "./cmd/eipgw")...)
		cmd.Dir, cmd.Env = RepoRoot(t), env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(flags, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// CleanupBinaries removes what Eipgw, EipgwEdge and EipgwIngest built;
// call it from TestMain.
func CleanupBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Proc is a program under test running as a child process, its output
// captured.
type Proc struct {
	cmd    *exec.Cmd
	done   chan error
	exited chan struct{} // closed once the process ended and Wait returned
	mu     sync.Mutex
	out    strings.Builder
}

type procWriter struct{ p *Proc }

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Start runs bin with args; the process is killed when the test ends if
// still running.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan error, 1), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = procWriter{p}, procWriter{p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		close(p.exited)
		p.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// Output is what the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// WaitOutput waits until the process printed text.
func (p *Proc) WaitOutput(t testing.TB, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.Output(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not printed within %s:\n%s", text, within, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Term sends SIGTERM and requires a clean exit within limit.
func (p *Proc) Term(t testing.TB, limit time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Output())
		}
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("still running %s after SIGTERM\n%s", limit, p.Output())
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to limit for the process to end: its exit error (nil for
// a clean exit) and true, or false if it still runs.
func (p *Proc) Wait(limit time.Duration) (error, bool) {
	select {
	case err := <-p.done:
		return err, true
	case <-time.After(limit):
		return nil, false
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM),
// while it runs.
func (p *Proc) PeakRSS() (int64, error) { return p.status("VmHWM") }

// AnonRSS returns the process's resident anonymous memory in bytes
// (RssAnon: heap, stacks; not the binary's file-backed pages), while it
// runs.
func (p *Proc) AnonRSS() (int64, error) { return p.status("RssAnon") }

// status reads one kB figure of /proc/PID/status, in bytes.
func (p *Proc) status(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
}

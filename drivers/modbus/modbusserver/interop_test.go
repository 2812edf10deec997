package modbusserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireTool skips the test when a tool is missing, or fails it under CI
// (CI=true), where every tool must be installed (make tools).
func requireTool(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " is not installed; run `make tools` to install it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// mbpoll (a libmodbus-based master) reads the simulator's RTU answers: the
// RTU server's framing and CRC agree with a third-party master.
func TestInteropMbpollReadsRTUServer(t *testing.T) {
	mbpoll, err := exec.LookPath("mbpoll")
	requireTool(t, "mbpoll", err == nil)
	pty, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	serveRTU(t, pty, testRegisters{}, Line{Baud: 19200})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// -0: 0-based addresses; -1: poll once; unit 1, registers 5-7.
	out, err := exec.CommandContext(ctx, mbpoll, "-m", "rtu", "-b", "19200", "-P", "even", "-a", "1",
		"-0", "-r", "5", "-c", "3", "-1", "-o", "2", pty.SlavePath).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll: %v\n%s", err, out)
	}
	for _, want := range []string{"[5]: \t4101", "[6]: \t4102", "[7]: \t4103"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("mbpoll output lacks %q:\n%s", want, out)
		}
	}
}

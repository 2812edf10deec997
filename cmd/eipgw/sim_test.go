package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestSimWarnsOfListenersBeyondLoopback: the fault control endpoint has no
// authentication; on every interface it is served, and logged at warn with
// its address, while the loopback Modbus listener is not.
func TestSimWarnsOfListenersBeyondLoopback(t *testing.T) {
	var out, errb testenv.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: &out, stderr: &errb}, []string{"sim", "-listen", "127.0.0.1:0", "-control", ":0"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "fault control endpoint") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("simulator did not start:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d:\n%s", code, errb.String())
	}
	var warns []string
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, "listening beyond loopback") {
			warns = append(warns, line)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "simulator fault control") || !strings.Contains(warns[0], "WARN") {
		t.Fatalf("want one warning, for the control endpoint; got %q\n%s", warns, errb.String())
	}
}

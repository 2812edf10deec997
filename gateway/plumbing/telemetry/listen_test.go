package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestListenWarnsBeyondLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"localhost:0", false},
		{"[::1]:0", false},
		{":0", true},
		{"0.0.0.0:0", true},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		ln, err := Listen(c.addr, "metrics", log)
		if err != nil {
			if strings.Contains(c.addr, "::1") {
				continue // host without IPv6 loopback
			}
			t.Fatalf("%s: %v", c.addr, err)
		}
		bound := ln.Addr().String()
		ln.Close()
		out := buf.String()
		if got := strings.Contains(out, "level=WARN"); got != c.warn {
			t.Errorf("%s: warned %t, want %t: %q", c.addr, got, c.warn, out)
		}
		if c.warn && (!strings.Contains(out, "listen="+bound) || !strings.Contains(out, "what=metrics")) {
			t.Errorf("%s: warning does not name the address %s: %q", c.addr, bound, out)
		}
	}
}

func TestLoopback(t *testing.T) {
	for a, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}:   true,
		&net.TCPAddr{IP: net.IPv4(127, 1, 2, 3)}:   true,
		&net.TCPAddr{IP: net.IPv6loopback}:         true,
		&net.TCPAddr{IP: net.IPv4zero}:             false,
		&net.TCPAddr{IP: net.IPv6unspecified}:      false,
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5)}:    false,
		&net.TCPAddr{}:                             false,
		&net.UnixAddr{Name: "/run/x", Net: "unix"}: false,
	} {
		if got := Loopback(a); got != want {
			t.Errorf("Loopback(%v) = %t, want %t", a, got, want)
		}
	}
}

// TestServeWarnsOnAllInterfaces: metrics.listen ":PORT" is served and
// logged at warn with the bound address.
func TestServeWarnsOnAllInterfaces(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ":0", prometheus.NewRegistry(), Options{}, nil, log) }()
	for !strings.Contains(buf.String(), "serving metrics") {
		select {
		case err := <-done:
			t.Fatalf("Serve returned: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, `level=WARN msg="listening beyond loopback`) || !regexp.MustCompile(`listen=(\[::\]|0\.0\.0\.0):[1-9][0-9]* `).MatchString(out) {
		t.Fatalf("no warning naming the address: %q", out)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

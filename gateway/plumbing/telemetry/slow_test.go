package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSlowReadersAreBounded: 40 clients ask for an 8 MB answer and never
// read it. At most maxConns of them are served at a time, each for at
// most writeTimeout; then the connections are closed, and a client that
// reads gets its answer.
func TestSlowReadersAreBounded(t *testing.T) {
	oldConns, oldWrite := maxConns, writeTimeout
	maxConns, writeTimeout = 8, 500*time.Millisecond
	defer func() { maxConns, writeTimeout = oldConns, oldWrite }()

	var active, most atomic.Int64
	big := strings.Repeat("x", 8<<20)
	route := func(mux *http.ServeMux) {
		mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
			n := active.Add(1)
			defer active.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			io.WriteString(w, big)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeOn(ctx, ln, NewRegistry(), Options{}, nil, slog.New(slog.DiscardHandler), route) }()
	defer func() { cancel(); <-done }()

	for range 40 {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			// A small receive window: the server's writes block soon.
			return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	time.Sleep(300 * time.Millisecond)
	// A handler cut off by the write timeout may still be returning when
	// its connection's place is taken by the next, and the eight time out
	// together: up to twice the bound may be counted at that instant
	// (without the bound, all 40).
	if n := active.Load(); n > 2*8 {
		t.Errorf("%d answers being written at once, want at most maxConns (8)", n)
	}
	// Within a few write timeouts every slow client was cut off (or, for
	// those still queued, served and cut off in turn), and a reader is
	// answered.
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("a reading client behind 40 slow ones: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("metrics: %s", resp.Status)
	}
	if m := most.Load(); m > 2*8 {
		t.Errorf("at most %d answers at once, want 8 (up to 16 as they end together)", m)
	}
}

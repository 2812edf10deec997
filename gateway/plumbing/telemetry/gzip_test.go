package telemetry

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsGzip: /metrics goes as plain text to a scraper that accepts
// gzip unless Options.Gzip is set; then compressed, with the same text.
func TestMetricsGzip(t *testing.T) {
	for _, on := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ServeOn(ctx, ln, NewRegistry(), Options{Gzip: on}, nil, slog.New(slog.DiscardHandler)) }()
		req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Set by hand, the header keeps the client from decompressing.
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		enc := resp.Header.Get("Content-Encoding")
		if enc == "gzip" {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		text, err := io.ReadAll(body)
		resp.Body.Close()
		cancel()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{false: "", true: "gzip"}[on]; enc != want {
			t.Errorf("gzip %v: Content-Encoding %q, want %q", on, enc, want)
		}
		if !strings.Contains(string(text), "go_goroutines ") {
			t.Errorf("gzip %v: no go_goroutines in\n%.300s", on, text)
		}
	}
}

// Package telemetry serves a role's own health: Prometheus metrics from a
// private registry on /metrics, liveness on /healthz and readiness on
// /readyz (see Health).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Bounds of the metrics and status listener (ServeOn).
var (
	maxConns     = 64
	writeTimeout = 30 * time.Second
)

// NewRegistry returns a private registry with the Go runtime and process
// collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Serve answers /metrics from reg, /healthz from health.Live and /readyz
// from health.Ready (nil: no checks, always 200) on listen until ctx is
// done. Both health endpoints answer a JSON list of checks, with 200 when
// every check passes and 503 otherwise. Listening beyond loopback is logged
// at warn (see Listen). Each of routes adds further paths (a status page).
func Serve(ctx context.Context, listen string, reg *prometheus.Registry, opts Options, health Health, log *slog.Logger, routes ...func(*http.ServeMux)) error {
	ln, err := Listen(listen, "metrics", log)
	if err != nil {
		return err
	}
	return ServeOn(ctx, ln, reg, opts, health, log, routes...)
}

// Options are the settings of /metrics.
type Options struct {
	// Gzip answers a scraper that accepts gzip with the text compressed
	// (about an eighth of its size). Off, the text goes as it is: a
	// compressor takes about 1 MB while it works, and promhttp's pool of
	// them is emptied by every garbage collection, so nearly every
	// scrape allocates one (docs/benchmarks.md).
	Gzip bool
}

// ServeOn is Serve on a listener bound already (Listen), so that a caller
// can fail at start when the address is taken; it closes ln.
func ServeOn(ctx context.Context, ln net.Listener, reg *prometheus.Registry, opts Options, health Health, log *slog.Logger, routes ...func(*http.ServeMux)) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, DisableCompression: !opts.Gzip}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		var checks []Check
		if health != nil {
			checks = health.Live()
		}
		serveChecks(w, checks)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var checks []Check
		if health != nil {
			checks = health.Ready()
		}
		serveChecks(w, checks)
	})
	for _, add := range routes {
		add(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: writeTimeout, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Info("serving metrics", "listen", ln.Addr().String())
	errc := make(chan error, 1)
	// At most maxConns connections at a time, each answered within
	// writeTimeout: clients that ask and never read (a /metrics of 2 MB
	// each) hold a bounded amount of memory for a bounded time. The
	// others wait in the listen queue. An idle kept-alive connection
	// holds its place 5 s at most (Prometheus opens one per scrape).
	go func() { errc <- srv.Serve(netutil.LimitListener(ln, maxConns)) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics: %w", err)
	}
}

package influxwrite

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// stub is an InfluxDB write endpoint answering each request with respond.
type stub struct {
	mu      sync.Mutex
	bodies  []string
	times   []time.Time
	respond func(n int, body string, w http.ResponseWriter)
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	s.times = append(s.times, time.Now())
	n := len(s.bodies)
	s.mu.Unlock()
	if r.URL.Path != "/api/v2/write" || r.URL.Query().Get("precision") != "ms" || r.URL.Query().Get("bucket") != "db/rp" {
		http.Error(w, "unexpected request "+r.URL.String(), http.StatusTeapot)
		return
	}
	if s.respond == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.respond(n, string(body), w)
}

func (s *stub) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func newClient(t *testing.T, url string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(&config.InfluxDB{URL: url, Bucket: "db/rp", Timeout: timeout}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// influx18Error answers as InfluxDB 1.8 does: JSON body and the
// X-Influxdb-Error header.
func influx18Error(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Influxdb-Error", msg)
	w.WriteHeader(status)
	io.WriteString(w, `{"error":"`+msg+`"}`)
}

// TestClassify sends one write through the real client to a stub for
// each kind of answer and checks its class, status, Retry-After and
// reason.
func TestClassify(t *testing.T) {
	cases := []struct {
		name       string
		respond    func(w http.ResponseWriter)
		class      Class
		status     int
		retryAfter time.Duration
		reason     string
	}{
		{"204", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, Stored, 0, 0, ""},
		{"500", func(w http.ResponseWriter) { influx18Error(w, 500, "engine: cache maximum memory size exceeded") }, Transient, 500, 0, "cache maximum memory size exceeded"},
		{"503", func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }, Transient, 503, 0, "Service Unavailable"},
		{"429 Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		}, Transient, 429, 3 * time.Second, "Too Many Requests"},
		{"401", func(w http.ResponseWriter) { influx18Error(w, 401, "authorization failed") }, Transient, 401, 0, "authorization failed"},
		{"404 database", func(w http.ResponseWriter) { influx18Error(w, 404, `database not found: \"db\"`) }, Transient, 404, 0, "database not found"},
		{"400 syntax", func(w http.ResponseWriter) {
			influx18Error(w, 400, "unable to parse 'm x=': missing field value")
		}, Refused, 400, 0, "unable to parse"},
		{"400 partial write (1.8)", func(w http.ResponseWriter) {
			influx18Error(w, 400, `partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1`)
		}, Partial, 400, 0, "field type conflict"},
		{"400 text body", func(w http.ResponseWriter) {
			w.Header().Set("X-Influxdb-Version", "1.8.10")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "partial write: points beyond retention policy dropped=1")
		}, Partial, 400, 0, "beyond retention policy"},
		{"400 not from InfluxDB", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "Bad Request")
		}, Transient, 400, 0, "Bad Request"},
		{"413", func(w http.ResponseWriter) { influx18Error(w, 413, "Request Entity Too Large") }, Refused, 413, 0, "Too Large"},
		{"422 (2.x)", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=1"}`)
		}, Partial, 422, 0, "beyond retention policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&stub{respond: func(_ int, _ string, w http.ResponseWriter) { c.respond(w) }})
			defer srv.Close()
			err := newClient(t, srv.URL, 5*time.Second).Writer.WriteRecord(context.Background(), "m v=1 1")
			o := Classify(err)
			if o.Class != c.class || o.Status != c.status || o.RetryAfter != c.retryAfter {
				t.Fatalf("got %s status %d retry-after %s, want %s %d %s (err %v)", o.Class, o.Status, o.RetryAfter, c.class, c.status, c.retryAfter, err)
			}
			if err != nil && !strings.Contains(Reason(err), c.reason) {
				t.Errorf("reason %q, want it to contain %q", Reason(err), c.reason)
			}
		})
	}
}

// 422 without "partial write" is refused for the request.
func TestClassify422(t *testing.T) {
	srv := httptest.NewServer(&stub{respond: func(_ int, _ string, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"code":"invalid","message":"schema conflict"}`)
	}})
	defer srv.Close()
	err := newClient(t, srv.URL, 5*time.Second).Writer.WriteRecord(context.Background(), "m v=1 1")
	if o := Classify(err); o.Class != Refused || Reason(err) != "schema conflict" {
		t.Fatalf("%s %q", o.Class, Reason(err))
	}
}

// No answer is transient: connection refused, and a server slower than
// the configured timeout.
func TestClassifyNoAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = newClient(t, "http://"+addr, 5*time.Second).Writer.WriteRecord(context.Background(), "m v=1 1")
	if o := Classify(err); o.Class != Transient || o.Status != 0 || !strings.Contains(Reason(err), "connection refused") {
		t.Errorf("connection refused: %s %d %v", o.Class, o.Status, err)
	}

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	err = newClient(t, srv.URL, 200*time.Millisecond).Writer.WriteRecord(context.Background(), "m v=1 1")
	if o := Classify(err); o.Class != Transient || o.Status != 0 || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("timeout: %s %d %v", o.Class, o.Status, err)
	}
}

func TestBackoff(t *testing.T) {
	for range 100 {
		if d := Backoff(1, 0); d < 50*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("first back-off %s", d)
		}
		if d := Backoff(3, 0); d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("third back-off %s", d)
		}
		if d := Backoff(50, 0); d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("back-off after 50 failures %s", d)
		}
	}
	if d := Backoff(1, 30*time.Second); d != 30*time.Second {
		t.Fatalf("Retry-After 30 s gave %s", d)
	}
}

func TestNewRefusesMissingURLAndBadTLS(t *testing.T) {
	if _, err := New(&config.InfluxDB{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "no url") {
		t.Errorf("no url: %v", err)
	}
	_, err := New(&config.InfluxDB{URL: "https://influx.example:8086", TLS: &config.TLS{CAFile: t.TempDir() + "/gone.pem"}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "gone.pem") || !strings.Contains(err.Error(), "influx.example") {
		t.Errorf("missing CA file: %v", err)
	}
}

// TestRefusalsOfARealInfluxDB: InfluxDB 1.8.10 itself refusing a line it
// cannot parse and a field of another type is Refused and Partial; a
// plain HTTP write to an HTTPS server (Go's TLS server answers 400 "Client
// sent an HTTP request to an HTTPS server") is Transient, so ingest keeps
// the batches and retries, where it used to dead-letter every one.
func TestRefusalsOfARealInfluxDB(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	c, err := New(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw/autogen", Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Writer.WriteRecord(ctx, "m v=1i 1"); err != nil {
		t.Fatal(err)
	}
	if o := Classify(c.Writer.WriteRecord(ctx, "m v=")); o.Class != Refused || o.Status != 400 {
		t.Errorf("a line InfluxDB cannot parse: %s %d", o.Class, o.Status)
	}
	if o := Classify(c.Writer.WriteRecord(ctx, "m v=1.5 2")); o.Class != Partial {
		t.Errorf("a field of another type: %s %d %v", o.Class, o.Status, o.Err)
	}

	tlsSrv := httptest.NewTLSServer(&stub{})
	defer tlsSrv.Close()
	plain := "http://" + strings.TrimPrefix(tlsSrv.URL, "https://")
	err = newClient(t, plain, 5*time.Second).Writer.WriteRecord(ctx, "m v=1 1")
	if o := Classify(err); o.Class != Transient || o.Status != 400 || !strings.Contains(Reason(err), "HTTPS") {
		t.Errorf("plain HTTP to an HTTPS server: %s %d %q", o.Class, o.Status, Reason(err))
	}
}

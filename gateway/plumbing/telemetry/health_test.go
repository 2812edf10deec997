package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConditionSinceMovesOnlyOnChange(t *testing.T) {
	c := NewCondition(false, "not connected yet")
	_, _, born := c.State()
	time.Sleep(5 * time.Millisecond)
	c.Set(false, "connection refused")
	ok, detail, since := c.State()
	if ok || detail != "connection refused" || !since.Equal(born) {
		t.Fatalf("same state again: ok %t detail %q since %s, want false, the new detail, since %s", ok, detail, since, born)
	}
	time.Sleep(5 * time.Millisecond)
	c.Set(true, "connected")
	ok, _, up := c.State()
	if !ok || !up.After(born) {
		t.Fatalf("change: ok %t since %s, want true since after %s", ok, up, born)
	}
	c.Set(true, "connected again")
	if got := c.Check("broker"); got.Name != "broker" || !got.OK || got.Detail != "connected again" || !got.Since.Equal(up) {
		t.Fatalf("check %+v, want broker ok since %s", got, up)
	}
}

func TestHeartbeatStallsAndRecovers(t *testing.T) {
	const window = 100 * time.Millisecond
	h := NewHeartbeat(window)
	if c := h.Check("loop", time.Now()); !c.OK || !strings.Contains(c.Detail, "starting") {
		t.Fatalf("just started: %+v, want ok (starting)", c)
	}
	if c := h.Check("loop", time.Now().Add(2*window)); c.OK || !strings.Contains(c.Detail, "never turned") {
		t.Fatalf("no beat for two windows after the start: %+v, want stalled, never turned", c)
	}
	h.Beat()
	first := h.Check("loop", time.Now())
	if !first.OK {
		t.Fatalf("after a beat: %+v", first)
	}
	time.Sleep(2 * window)
	stalled := h.Check("loop", time.Now())
	if stalled.OK || !strings.Contains(stalled.Detail, "stalled") {
		t.Fatalf("no beat for two windows: %+v, want stalled", stalled)
	}
	if lastBeat := stalled.Since.Add(-window); !lastBeat.Before(time.Now().Add(-window)) {
		t.Errorf("stalled since %s: should be the last beat plus the window", stalled.Since)
	}
	h.Beat()
	again := h.Check("loop", time.Now())
	if !again.OK || !again.Since.After(first.Since) {
		t.Fatalf("beat after a stall: %+v, want ok since the new beat (after %s)", again, first.Since)
	}
	h.Beat()
	if c := h.Check("loop", time.Now()); !c.Since.Equal(again.Since) {
		t.Errorf("a beat within the window moved since from %s to %s", again.Since, c.Since)
	}
}

func TestCheckJSON(t *testing.T) {
	since := time.Date(2026, 11, 26, 18, 0, 1, 500e6, time.FixedZone("CST", 8*3600))
	b, err := json.Marshal([]Check{{Name: "wal", OK: true, Detail: "last append ok", Since: since}, {Name: "broker", Detail: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"wal","ok":true,"detail":"last append ok","since":"2026-11-26T10:00:01.500Z"},{"name":"broker","ok":false,"detail":"x"}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// fakeHealth reports the checks a test sets.
type fakeHealth struct {
	mu          sync.Mutex
	live, ready []Check
}

func (f *fakeHealth) Live() []Check  { f.mu.Lock(); defer f.mu.Unlock(); return f.live }
func (f *fakeHealth) Ready() []Check { f.mu.Lock(); defer f.mu.Unlock(); return f.ready }

func (f *fakeHealth) set(live, ready []Check) {
	f.mu.Lock()
	f.live, f.ready = live, ready
	f.mu.Unlock()
}

// serve runs Serve on a loopback port and returns its base URL.
func serve(t *testing.T, h Health) string {
	t.Helper()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", prometheus.NewRegistry(), Options{}, h, log) }()
	re := regexp.MustCompile(`"serving metrics" listen=(127\.0\.0\.1:[0-9]+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			})
			return "http://" + m[1]
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Serve did not log its address: %q", buf.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func get(t *testing.T, url string) (int, report) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q", url, ct)
	}
	var r struct {
		Status string `json:"status"`
		Checks []struct {
			Name, Detail, Since string
			OK                  bool
		} `json:"checks"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %v in %s", url, err, body)
	}
	out := report{Status: r.Status, Checks: []Check{}}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, Check{Name: c.Name, OK: c.OK, Detail: c.Detail})
	}
	return resp.StatusCode, out
}

func TestServeHealthAndReadiness(t *testing.T) {
	h := &fakeHealth{}
	base := serve(t, h)
	now := time.Now()
	h.set([]Check{{Name: "main_loop", OK: true, Detail: "turning", Since: now}},
		[]Check{{Name: "subscribed", OK: true, Since: now}, {Name: "influxdb", OK: true, Since: now}})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, r := get(t, base+path); code != http.StatusOK || r.Status != "ok" || len(r.Checks) == 0 {
			t.Errorf("%s all passing: %d %+v, want 200 ok", path, code, r)
		}
	}
	h.set([]Check{{Name: "main_loop", OK: false, Detail: "stalled"}},
		[]Check{{Name: "subscribed", OK: true}, {Name: "influxdb", OK: false, Detail: "ping failed: connection refused"}})
	code, r := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || r.Status != "fail" {
		t.Fatalf("/readyz with a failing check: %d %+v, want 503 fail", code, r)
	}
	if fmt.Sprint(r.Checks) != fmt.Sprint([]Check{{Name: "subscribed", OK: true}, {Name: "influxdb", Detail: "ping failed: connection refused"}}) {
		t.Errorf("/readyz lists %+v", r.Checks)
	}
	if code, r := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || r.Checks[0].Detail != "stalled" {
		t.Errorf("/healthz with a stalled loop: %d %+v, want 503 naming it", code, r)
	}
}

func TestServeWithoutHealth(t *testing.T) {
	base := serve(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, r := get(t, base+path); code != http.StatusOK || r.Status != "ok" || len(r.Checks) != 0 {
			t.Errorf("%s without checks: %d %+v, want 200 ok with none", path, code, r)
		}
	}
}

package edge

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/drivers"
)

// The window keeps samples at least lineSampleEvery apart, the newest
// lineSamples of them, and the view's recent figures are the totals'
// changes since the oldest.
func TestLineWindow(t *testing.T) {
	var w lineWindow
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if _, _, ok := w.oldest(); ok {
		t.Fatal("an empty window has an oldest sample")
	}
	v := lineView(t0, drivers.LineStats{Baud: 9600, Exchanges: 3}, &w)
	if v.WindowSeconds != 0 || v.Efficiency != nil || v.Requests != 3 || v.Baud != 9600 {
		t.Errorf("view without samples: %+v", v)
	}
	// One exchange a second: each adds 100 ms on the line and 125 ms of
	// busy time; every tenth times out.
	stats := func(s int) drivers.LineStats {
		return drivers.LineStats{Baud: 19200, Frames: time.Duration(s) * 100 * time.Millisecond,
			Busy: time.Duration(s) * 125 * time.Millisecond, Exchanges: uint64(s), Timeouts: uint64(s / 10)}
	}
	for s := 0; s <= 95; s++ {
		w.add(t0.Add(time.Duration(s)*time.Second), stats(s))
	}
	at, old, _ := w.oldest()
	// Samples at 0, 10, ..., 90 s: the newest seven are 30 to 90.
	if want := t0.Add(30 * time.Second); !at.Equal(want) || old.Exchanges != 30 {
		t.Fatalf("oldest sample at %v with %d exchanges, want %v with 30", at, old.Exchanges, want)
	}
	now := t0.Add(95 * time.Second)
	v = lineView(now, stats(95), &w)
	if v.WindowSeconds != 65 || v.RecentRequests != 65 || v.RecentTimeouts != 6 || v.Requests != 95 || v.Timeouts != 9 {
		t.Errorf("window: %+v", v)
	}
	if math.Abs(v.Utilisation-0.1) > 1e-12 {
		t.Errorf("utilisation %v, want 0.1", v.Utilisation)
	}
	if v.Efficiency == nil || math.Abs(*v.Efficiency-0.8) > 1e-12 {
		t.Errorf("efficiency %v, want 0.8", v.Efficiency)
	}
	if v.LineSeconds != 9.5 || v.BusySeconds != 11.875 {
		t.Errorf("totals %v s on the line, %v s busy", v.LineSeconds, v.BusySeconds)
	}

	// A line that stopped: no exchange in the window, no efficiency; a
	// window that grew past a minute says how long it is.
	idle := t0.Add(10 * time.Minute)
	v = lineView(idle, stats(30), &w)
	if v.Efficiency != nil || v.Utilisation != 0 || v.RecentRequests != 0 || v.WindowSeconds != 570 {
		t.Errorf("idle line: %+v", v)
	}
}

// movingLine is a source on a serial line whose totals the test moves.
type movingLine struct {
	*stateSource
	mu   sync.Mutex
	line drivers.LineStats
}

func (s *movingLine) Line() (drivers.LineStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.line, true
}

// The edge's view carries each serial bus's line, measured from the bus's
// start until its polls have taken a later sample; a bus without a line
// has none, and the JSON leaves it out.
func TestViewLine(t *testing.T) {
	rs485 := &movingLine{stateSource: &stateSource{fakeSource: fakeSource{name: "rs485"}},
		line: drivers.LineStats{Baud: 19200, Frames: time.Second, Busy: 2 * time.Second, Exchanges: 40, Timeouts: 1}}
	plant := &stateSource{fakeSource: fakeSource{name: "plant"}}
	start := time.Now()
	e := edgeOver(t, prometheus.NewRegistry(), rs485, tcpSource{plant})
	rs485.mu.Lock()
	rs485.line = drivers.LineStats{Baud: 19200, Frames: 1500 * time.Millisecond, Busy: 2500 * time.Millisecond, Exchanges: 50, Timeouts: 3}
	rs485.mu.Unlock()
	e.health.polled("rs485") // within lineSampleEvery of the start: not sampled
	v := e.View()
	end := time.Now()
	if len(v.Buses) != 2 {
		t.Fatalf("buses %+v", v.Buses)
	}
	l := v.Buses[0].Line
	if v.Buses[0].Name != "rs485" || l == nil {
		t.Fatalf("bus %s line %+v", v.Buses[0].Name, l)
	}
	if v.Buses[1].Line != nil {
		t.Errorf("bus plant has a line: %+v", v.Buses[1].Line)
	}
	if l.Baud != 19200 || l.Requests != 50 || l.Timeouts != 3 || l.LineSeconds != 1.5 || l.BusySeconds != 2.5 ||
		l.RecentRequests != 10 || l.RecentTimeouts != 2 {
		t.Errorf("line %+v", l)
	}
	if l.WindowSeconds <= 0 || l.WindowSeconds > end.Sub(start).Seconds() {
		t.Errorf("window %v s, want within the %v since the edge was built", l.WindowSeconds, end.Sub(start))
	}
	if math.Abs(l.Utilisation*l.WindowSeconds-0.5) > 1e-9 {
		t.Errorf("utilisation %v over %v s, want 0.5 s of frames", l.Utilisation, l.WindowSeconds)
	}
	if l.Efficiency == nil || math.Abs(*l.Efficiency-1) > 1e-12 {
		t.Errorf("efficiency %v, want 1", l.Efficiency)
	}
	b, err := json.Marshal(v.Buses)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"line":`); n != 1 {
		t.Errorf("%d buses with a line in the JSON, want 1: %s", n, b)
	}
	for _, k := range []string{`"utilisation":`, `"efficiency":`, `"recent_requests":10`, `"baud":19200`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
}

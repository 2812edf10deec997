package park

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The lag is the clock's distance to the newest live interval's end.
func TestLagMetric(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 30, 0, time.UTC)
	s := &Service{clock: func() time.Time { return now }}
	reg := prometheus.NewRegistry()
	s.registerLag(reg)
	get := func() float64 {
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 {
			t.Fatalf("gather: %v %v", mfs, err)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if v := get(); v != 0 {
		t.Fatalf("lag before any interval = %v, want 0", v)
	}
	s.closed(Output{Live: []Interval{{Start: now.Add(-time.Minute), End: now.Add(-20 * time.Second)}, {Start: now.Add(-20 * time.Second), End: now.Add(-10 * time.Second)}}})
	if v := get(); v != 10 {
		t.Fatalf("lag = %v, want 10", v)
	}
	s.closed(Output{}) // nothing new closed: the lag grows
	now = now.Add(5 * time.Second)
	if v := get(); v != 15 {
		t.Fatalf("lag = %v, want 15", v)
	}
}

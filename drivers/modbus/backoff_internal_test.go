package modbus

import (
	"testing"
	"time"
)

func TestBackoffProgression(t *testing.T) {
	b := &Bus{backoffMax: 5 * time.Second}
	d := &Device{Interval: time.Second}
	var got []time.Duration
	for k := 1; k <= 6; k++ {
		got = append(got, b.backoff(d, k))
	}
	want := []time.Duration{0, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff after 1..6 failures = %v, want %v", got, want)
		}
	}
}

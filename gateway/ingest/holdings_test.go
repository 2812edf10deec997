package ingest

import (
	"testing"
	"time"
)

func TestHoldings(t *testing.T) {
	var h holdings
	h.add("gw-1", 7)
	h.add("gw-1", 7) // a redelivery of 7, both in the queue
	h.add("gw-2", 9)
	if !h.within("gw-1", 5, 7) || h.within("gw-1", 8, 9) || h.within("gw-3", 0, 100) {
		t.Fatal("within")
	}
	h.done("gw-1", 7)
	if !h.within("gw-1", 7, 7) {
		t.Fatal("7 released while its redelivery is still held")
	}
	h.done("gw-1", 7)
	if h.within("gw-1", 0, 100) || len(h.m) != 1 {
		t.Fatalf("after both: %v", h.m)
	}
	h.reset()
	if h.within("gw-2", 9, 9) {
		t.Fatal("held after reset")
	}
}

func TestOutagesQuiet(t *testing.T) {
	const grace = 10 * time.Second
	t0 := time.Now()
	var o outages
	if !o.quietUntil(t0, grace).IsZero() {
		t.Fatal("quiet with no failure")
	}
	o.failure(t0)
	o.failure(t0.Add(time.Second))
	if o.quietUntil(t0.Add(2*time.Second), grace).IsZero() {
		t.Fatal("not quiet while writes fail")
	}
	// A blip shorter than the grace: the grace covers what it delayed.
	o.success(t0.Add(3 * time.Second))
	if !o.quietUntil(t0.Add(3*time.Second), grace).IsZero() {
		t.Fatal("quiet after a 3 s blip")
	}
	// An outage of the grace or longer: quiet for the grace after it.
	o.failure(t0.Add(20 * time.Second))
	o.success(t0.Add(35 * time.Second))
	if got := o.quietUntil(t0.Add(36*time.Second), grace); !got.Equal(t0.Add(45 * time.Second)) {
		t.Fatalf("after a 15 s outage: quiet until %v, want %v", got, t0.Add(45*time.Second))
	}
	if !o.quietUntil(t0.Add(45*time.Second), grace).IsZero() {
		t.Fatal("still quiet once the grace after the outage passed")
	}
}

package telemetry

import (
	"sync"
	"testing"
	"time"
)

func TestRepeats(t *testing.T) {
	r := &Repeats{Interval: time.Minute}
	t0 := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	if rec, _, _ := r.Success(t0); rec {
		t.Fatal("a success with no failure before it reported a recovery")
	}
	logged := 0
	unloggedSum := 0
	// 10 failures a second for 150 s: the first, then one a minute.
	for i := range 1500 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		if log, n := r.Failure(now); log {
			logged++
			unloggedSum += n
			if want := []int{0, 599, 599}[logged-1]; n != want {
				t.Errorf("logged failure %d at %s: %d unlogged, want %d", logged, now.Sub(t0), n, want)
			}
		}
	}
	if logged != 3 || unloggedSum != 2*599 {
		t.Errorf("%d of 1500 failures logged (%d counted as unlogged), want 3 (at 0, 60 and 120 s)", logged, unloggedSum)
	}
	rec, failures, since := r.Success(t0.Add(151 * time.Second))
	if !rec || failures != 1500 || !since.Equal(t0) {
		t.Errorf("recovery: %v, %d failures since %s; want true, 1500 since %s", rec, failures, since, t0)
	}
	if rec, _, _ := r.Success(t0.Add(152 * time.Second)); rec {
		t.Error("a second success reported a second recovery")
	}
	// A new outage is logged at once, even within the interval of the
	// last line logged.
	if log, n := r.Failure(t0.Add(153 * time.Second)); !log || n != 0 {
		t.Errorf("first failure of a new outage: log %v, %d unlogged", log, n)
	}
}

func TestRepeatsZeroLogsAll(t *testing.T) {
	var r Repeats
	now := time.Now()
	for i := range 5 {
		if log, _ := r.Failure(now); !log {
			t.Fatalf("failure %d not logged with no interval", i)
		}
	}
}

func TestRepeatsConcurrent(t *testing.T) {
	r := &Repeats{Interval: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	logged := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if log, _ := r.Failure(time.Now()); log {
					mu.Lock()
					logged++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if _, failures, _ := r.Success(time.Now()); logged != 1 || failures != 8000 {
		t.Errorf("%d logged, %d counted; want 1 and 8000", logged, failures)
	}
}

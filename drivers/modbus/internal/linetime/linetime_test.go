package linetime

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Guards a hang: a deadline long past (the zero time: nothing received yet)
// must not overflow into a centuries-long sleep.
func TestWaitUntilPast(t *testing.T) {
	done := make(chan bool, 1)
	go func() { done <- WaitUntil(context.Background(), time.Time{}) }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("WaitUntil(zero time) = false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitUntil(zero time) did not return")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if WaitUntil(ctx, time.Now().Add(time.Hour)) {
		t.Error("WaitUntil with a cancelled context = true")
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep(1ms) = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with a cancelled context = true")
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) with a cancelled context = true")
	}
}

// A Timer returns at its time, never before, and sooner after it than a
// Go timer does when the process is idle (the poller waits for those in
// whole milliseconds): compared wait by wait, 3.5 characters at 115200
// baud, interleaved so that a busy machine delays both alike. A time past
// returns at once.
func TestTimer(t *testing.T) {
	tm, err := NewTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	const d, rounds = 334 * time.Microsecond, 30
	wins := 0
	var late []time.Duration
	for range rounds {
		at := time.Now().Add(d)
		if err := tm.WaitUntil(at); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if now.Before(at) {
			t.Fatalf("WaitUntil(%v ahead) returned %v early", d, at.Sub(now))
		}
		timerLate := now.Sub(at)
		at = time.Now().Add(d)
		time.Sleep(d)
		if timerLate < time.Since(at) {
			wins++
		}
		late = append(late, timerLate)
	}
	slices.Sort(late)
	t.Logf("median lateness %v; sooner than a Go timer in %d of %d waits", late[rounds/2], wins, rounds)
	if wins < rounds*2/3 {
		t.Errorf("sooner than a Go timer in only %d of %d waits (median lateness %v)", wins, rounds, late[rounds/2])
	}
	start := time.Now()
	if err := tm.WaitUntil(start.Add(-time.Second)); err != nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("WaitUntil(a time past): %v after %v", err, time.Since(start))
	}
}

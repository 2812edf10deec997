package linetime

import (
	"context"
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

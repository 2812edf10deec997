package modbus

import (
	"context"
	"testing"
	"time"
)

// Guards a hang: a deadline long past (the zero time: nothing received yet)
// must not overflow into a centuries-long sleep.
func TestWaitUntilPast(t *testing.T) {
	done := make(chan bool, 1)
	go func() { done <- waitUntil(context.Background(), time.Time{}) }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("waitUntil(zero time) = false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitUntil(zero time) did not return")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if waitUntil(ctx, time.Now().Add(time.Hour)) {
		t.Error("waitUntil with a cancelled context = true")
	}
}

//go:build !linux

package linetime

import (
	"context"
	"time"
)

// Timer waits until a point in time; elsewhere than on Linux it is
// WaitUntil's timer and yield loop.
type Timer struct{}

// NewTimer returns a Timer; Close releases it.
func NewTimer() (*Timer, error) { return &Timer{}, nil }

// WaitUntil returns at t, or at once when t has passed.
func (*Timer) WaitUntil(t time.Time) error {
	WaitUntil(context.Background(), t)
	return nil
}

// Close releases the timer.
func (*Timer) Close() error { return nil }

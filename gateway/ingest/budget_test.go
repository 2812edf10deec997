package ingest

import (
	"context"
	"testing"
	"time"
)

// The budget lets a message through while it fits or nothing is held,
// blocks the next until bytes are released, and gives up when ctx ends.
func TestBudgetBlocksUntilReleased(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	if !b.acquire(ctx, 500) {
		t.Fatal("a message larger than the budget is refused while nothing is held")
	}
	got := make(chan bool, 1)
	go func() { got <- b.acquire(ctx, 10) }()
	select {
	case <-got:
		t.Fatal("acquired while the budget was spent")
	case <-time.After(100 * time.Millisecond):
	}
	select {
	case <-b.stalled:
	default:
		t.Fatal("a blocked delivery did not signal stalled")
	}
	b.release(500)
	if !<-got {
		t.Fatal("not acquired after the release")
	}
	if !b.acquire(ctx, 90) {
		t.Fatal("90 bytes do not fit beside 10 in 100")
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- b.acquire(cctx, 1) }()
	cancel()
	if <-got {
		t.Fatal("acquired past the budget after ctx ended")
	}
	// Opened (a dead letter waiting for its acknowledgement), the budget
	// lets a waiting delivery through.
	go func() { got <- b.acquire(ctx, 1000) }()
	select {
	case <-got:
		t.Fatal("acquired while the budget was spent")
	case <-time.After(100 * time.Millisecond):
	}
	closeAgain := b.open()
	if !<-got {
		t.Fatal("not acquired while open")
	}
	closeAgain()
	b.release(1000)
	b.release(10)
	b.release(90)
	if b.held != 0 {
		t.Fatalf("held %d after every release", b.held)
	}
}

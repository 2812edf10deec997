package ingest

import (
	"context"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// budget bounds the payload bytes ingest holds: received from the broker
// and not yet acknowledged (in the hand-over channel, gathered, decoded,
// waiting for InfluxDB). The MQTT client's delivery blocks while the
// budget is spent, so the broker keeps the rest; ingest's memory follows
// the budget instead of the broker's in-flight window times the message
// size. One message is always let through, however large.
//
// The MQTT client reads acknowledgements of its own publishes on the same
// path that delivers messages: while the worker waits for the broker to
// acknowledge a dead letter, the budget is open, or the delivery it
// blocks would hold back the acknowledgement the worker waits for.
type budget struct {
	mu     sync.Mutex
	held   int64
	limit  int64
	opened int           // publishes waiting for their acknowledgement
	freed  chan struct{} // signalled on release and on opening
	// stalled is signalled when a delivery starts waiting: the worker
	// writes what it has instead of waiting for more.
	stalled chan struct{}
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, freed: make(chan struct{}, 1), stalled: make(chan struct{}, 1)}
}

// acquire waits until n bytes fit (or nothing is held); false if ctx ended.
func (b *budget) acquire(ctx context.Context, n int64) bool {
	for {
		b.mu.Lock()
		if b.held == 0 || b.held+n <= b.limit || b.opened > 0 {
			b.held += n
			b.mu.Unlock()
			return true
		}
		b.mu.Unlock()
		select {
		case b.stalled <- struct{}{}:
		default:
		}
		select {
		case <-b.freed:
		case <-ctx.Done():
			return false
		}
	}
}

// open lets every delivery through until the returned function is called.
func (b *budget) open() (closeAgain func()) {
	b.mu.Lock()
	b.opened++
	b.mu.Unlock()
	b.signal()
	return func() {
		b.mu.Lock()
		b.opened--
		b.mu.Unlock()
	}
}

func (b *budget) signal() {
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.held -= n
	b.mu.Unlock()
	b.signal()
}

// ack acknowledges m to the broker and gives its bytes back to the budget.
func (in *Ingest) ack(m mqtt.Message) {
	m.Ack()
	if in.held != nil {
		in.held.release(int64(len(m.Payload())))
	}
	in.count(func(s *Stats) { s.Acked++ })
}

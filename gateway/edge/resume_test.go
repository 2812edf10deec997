package edge

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
)

// scriptToken is a publish token the test completes.
type scriptToken struct {
	done chan struct{}
	err  error
}

func (t *scriptToken) Wait() bool                       { <-t.done; return true }
func (t *scriptToken) WaitTimeout(d time.Duration) bool { return waitClosed(t.done, d) }
func (t *scriptToken) Done() <-chan struct{}            { return t.done }
func (t *scriptToken) Error() error                     { return t.err }

func waitClosed(c <-chan struct{}, d time.Duration) bool {
	select {
	case <-c:
		return true
	case <-time.After(d):
		return false
	}
}

// scriptClient records the publishes; everything else of mqtt.Client is
// left out (a call panics).
type scriptClient struct {
	mqtt.Client
	mu   sync.Mutex
	sent []string // topics, in order
	toks []*scriptToken
}

func (c *scriptClient) Publish(topic string, _ byte, _ bool, _ any) mqtt.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &scriptToken{done: make(chan struct{})}
	c.sent = append(c.sent, topic)
	c.toks = append(c.toks, t)
	return t
}

func (c *scriptClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// complete completes publishes from..to-1 with err.
func (c *scriptClient) complete(from, to int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.toks[from:to] {
		t.err = err
		close(t.done)
	}
}

// TestPublishCompletedByReconnection: the MQTT client completes, without
// an error, the tokens of the publishes it sends again after a
// reconnection (mqttconn.Resumes), before the broker acknowledged them.
// The edge must not take that for an acknowledgement: it keeps the
// batches in its log and publishes them again, and marks them in the log
// only when the broker acknowledges a publish sent since.
func TestPublishCompletedByReconnection(t *testing.T) {
	r := newStampRig(t, 1, 2000, nil)
	e, w := r.e, r.w
	const n = 5
	for seq := uint64(1); seq <= n; seq++ {
		if err := w.Append(seq, fmt.Sprintf("t/%d", seq), []byte("{}"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	e.conn.Set(true)
	time.Sleep(mqttconn.SettleTime)
	var resumes mqttconn.Resumes
	opts := resumes.Track(mqtt.NewClientOptions())
	c := &scriptClient{}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- e.publish(c, &resumes, w, time.Now(), stop) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}
	waitFor("the five batches published", func() bool { return c.count() == n })

	// The connection drops and comes back; the client completes the
	// five tokens as it sends the publishes again.
	opts.OnReconnecting(nil, opts)
	c.complete(0, n, nil)
	waitFor("the five batches published again", func() bool { return c.count() == 2*n })
	if st := w.Stats(); st.Acked != 0 || st.Pending != n {
		t.Fatalf("after tokens completed by a reconnection the log has %d acknowledged, %d pending; want 0 and %d", st.Acked, st.Pending, n)
	}
	// The broker acknowledges the publishes sent since.
	c.complete(n, 2*n, nil)
	waitFor("the log to mark the five", func() bool { return w.Stats().Acked == n })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Pending != 0 {
		t.Errorf("%d still pending", st.Pending)
	}
}

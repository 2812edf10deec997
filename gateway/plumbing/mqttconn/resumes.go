package mqttconn

import (
	"errors"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Resumes counts the reconnections of a client with a persistent
// session. When paho v1.5.1 reconnects, it sends again the QoS 1
// publishes left in its store, each under a new token, and completes the
// token each was sent with without an error, as if the broker had
// acknowledged it (client.resume, messageIds.claimID). A caller that
// takes a token's completion for the broker's acknowledgement, and then
// forgets what it published (the edge's write-ahead log, a message
// ingest dead-lettered), would lose it if the process stopped before the
// broker acknowledged the copy sent again. So a token that completes
// without an error is an acknowledgement only when no reconnection began
// since it was sent: compare Count before sending and after completion,
// and publish again otherwise (the broker may then have it twice, which
// every consumer of eipgw's topics tolerates).
type Resumes struct{ n atomic.Uint64 }

// ErrResumed is the outcome of a publish whose token completed without an
// error after a reconnection began: perhaps by the reconnection, not by
// the broker's acknowledgement.
var ErrResumed = errors.New("the connection was lost and resumed before the broker acknowledged the publish")

// Outcome returns the error of tok, a completed publish sent when Count
// returned sent; ErrResumed for one that completed without an error
// after a reconnection began. A nil r trusts the token.
func (r *Resumes) Outcome(tok mqtt.Token, sent uint64) error {
	if err := tok.Error(); err != nil || r == nil || r.Count() == sent {
		return err
	}
	return ErrResumed
}

// Count returns how many reconnections began so far (0 for a nil r).
func (r *Resumes) Count() uint64 {
	if r == nil {
		return 0
	}
	return r.n.Load()
}

// Track makes r count o's reconnections, keeping o's reconnecting handler.
// paho calls that handler on the goroutine that then resends the stored
// publishes, before it does, so the count has moved when such a token
// completes. Call it after the handler is set.
func (r *Resumes) Track(o *mqtt.ClientOptions) *mqtt.ClientOptions {
	prev := o.OnReconnecting
	return o.SetReconnectingHandler(func(c mqtt.Client, co *mqtt.ClientOptions) {
		r.n.Add(1)
		if prev != nil {
			prev(c, co)
		}
	})
}

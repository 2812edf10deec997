package edge

import (
	"encoding/json"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// The gateway's status: a retained birth message on every connection, the
// last will "offline", and a watch for another live process publishing
// births under this gateway id.

type status struct {
	State    string `json:"state"`
	Gateway  string `json:"gateway"`
	Instance string `json:"instance,omitempty"`
	Time     string `json:"ts,omitempty"`
}

func (e *Edge) statusPayload(state string) []byte {
	s := status{State: state, Gateway: e.gateway, Instance: e.instance}
	if state == "online" {
		s.Time = time.Now().UTC().Format(batch.TimeLayout)
	}
	b, _ := json.Marshal(s) // cannot fail: strings only
	return b
}

// watchStatus reports another live process publishing births for this
// gateway id: its batches would collide with ours. An "offline" while this
// edge runs — another process's (it stopped, or the broker sent its
// will), this instance's own (the will of a connection the broker closed
// late, after this one was made), or anyone's who can publish there —
// would leave the retained status saying this running gateway is offline:
// the birth is published again (births.again).
func (e *Edge) watchStatus(c mqtt.Client, m mqtt.Message) {
	if m.Retained() {
		return // a birth or will from an earlier run
	}
	var s status
	if json.Unmarshal(m.Payload(), &s) != nil {
		return
	}
	if s.State == "offline" {
		e.births.again(func() { c.Publish(m.Topic(), 0, true, e.statusPayload("online")) })
		return
	}
	if s.State != "online" || s.Instance == "" || s.Instance == e.instance {
		return
	}
	e.m.conflicts.Inc()
	e.count(func(st *Stats) { st.Conflicts++ })
	e.log.Error("another process is publishing as this gateway: two edges with one gateway or client id",
		"topic", m.Topic(), "other_instance", s.Instance, "instance", e.instance)
}

// birthEvery is the least time between two births published again: a
// publisher repeating "offline" gets one a second, the last one answered.
const birthEvery = time.Second

// births publishes the birth again after an "offline", at most once a
// birthEvery, and never after the edge began to stop (its own "offline"
// is then the truth).
type births struct {
	mu      sync.Mutex
	last    time.Time
	pending bool
	stopped bool
}

// again publishes (publish) now, or once birthEvery has passed since the
// last, unless one is due already.
func (b *births) again(publish func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.pending {
		return
	}
	wait := birthEvery - time.Since(b.last)
	if wait <= 0 {
		b.last = time.Now()
		publish()
		return
	}
	b.pending = true
	time.AfterFunc(wait, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.pending = false
		if b.stopped {
			return
		}
		b.last = time.Now()
		publish()
	})
}

// stop ends the births published again: the edge is stopping.
func (b *births) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

// Takeovers. Two processes connecting with one client id (two edges of one
// gateway id and the default client_id) never see each other's births: the
// broker closes the older connection each time the other connects (MQTT
// 3.1.1, 3.1.4), and the QoS 0 birth goes out on a connection about to be
// closed. What shows is the churn: connections lost again and again within
// seconds of being made, while connecting again succeeds at once.
const (
	takeoverLife   = 5 * time.Second  // a connection lost sooner counts
	takeoverWindow = time.Minute      // ... when the losses fall within this
	takeoverLosses = 5                // ... and there are this many
	takeoverQuiet  = 10 * time.Minute // reported once in this time
)

// takeovers follows the edge's connections for the churn above.
type takeovers struct {
	mu        sync.Mutex
	connected time.Time
	losses    []time.Time
	reported  time.Time
}

// attemptFailed notes a connection attempt that failed: losses around it
// are a broker going away (a crash loop, a restart), not another process
// taking the client id over, which leaves the next attempt to succeed.
func (t *takeovers) attemptFailed() {
	t.mu.Lock()
	t.losses = t.losses[:0]
	t.connected = time.Time{}
	t.mu.Unlock()
}

// connectedAt notes a connection.
func (t *takeovers) connectedAt(now time.Time) {
	t.mu.Lock()
	t.connected = now
	t.mu.Unlock()
}

// lostAt notes a lost connection and reports whether the losses now look
// like another process taking the client id over (once a takeoverQuiet).
func (t *takeovers) lostAt(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.connected.IsZero() || now.Sub(t.connected) > takeoverLife {
		t.losses = t.losses[:0]
		return false
	}
	t.losses = append(t.losses, now)
	for len(t.losses) > 0 && now.Sub(t.losses[0]) > takeoverWindow {
		t.losses = t.losses[1:]
	}
	if len(t.losses) < takeoverLosses || (!t.reported.IsZero() && now.Sub(t.reported) < takeoverQuiet) {
		return false
	}
	t.reported = now
	return true
}

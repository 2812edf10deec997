package mqttconn

import (
	"sync"
	"time"
)

// SettleTime is how long after a (re)connection a Gate holds new QoS 1
// publishes. Right after connecting, the MQTT client (paho 1.5.1) resends
// the publishes it stored and marks them as duplicates; a QoS 1 publish in
// that moment sits in the store and on the wire at once, races inside the
// client and is sent twice.
const SettleTime = 100 * time.Millisecond

// Gate follows a client's connection through its connect and
// connection-lost handlers and says when publishing is safe.
type Gate struct {
	mu     sync.Mutex
	up     bool
	since  time.Time
	notify chan struct{}
}

// NewGate returns a gate for a client that is not connected yet.
func NewGate() *Gate { return &Gate{notify: make(chan struct{}, 1)} }

// Set records that the connection came up (true) or was lost (false).
func (g *Gate) Set(up bool) {
	g.mu.Lock()
	g.up = up
	if up {
		g.since = time.Now()
	}
	g.mu.Unlock()
	select {
	case g.notify <- struct{}{}:
	default:
	}
}

// Ready says whether publishing is safe now; if the connection is up but
// settling, wait is how long until it is.
func (g *Gate) Ready() (ok bool, wait time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.up {
		return false, 0
	}
	if w := SettleTime - time.Since(g.since); w > 0 {
		return false, w
	}
	return true, 0
}

// Changed is signalled at every Set.
func (g *Gate) Changed() <-chan struct{} { return g.notify }

package opcua_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// TestSubscriptionsDroppedByTheServer: the server ends the session's
// subscriptions and keeps the session (it then answers publish requests
// with BadNoSubscription). The source notices at its next watchdog check,
// logs it, and a new session's subscription delivers the counter again;
// before, the subscribed device fell silent for good while its state said
// up.
func TestSubscriptionsDroppedByTheServer(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	// session_timeout 8s: a watchdog check every 2 s.
	c, _ := run(t, busYAML(srv.Endpoint(), "        session_timeout: 8s\n", faultDevices))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("pushed", "counter", drivers.Good, 0) > 2
	})
	srv.Command("drop-subscriptions")
	time.Sleep(500 * time.Millisecond)
	m := c.mark()
	waitFor(t, "pushed values after the server dropped the subscriptions", 20*time.Second, func() bool {
		return c.count("pushed", "counter", drivers.Good, m) > 2
	})
	if !strings.Contains(c.logged(), "the server no longer holds it") {
		t.Errorf("the log does not say why the session ended:\n%s", c.logged())
	}
	c.checkTimes(t, "pushed", 0)
}

// TestQuietSubscriptionKeepsItsSession: a subscription whose nodes do not
// change is answered with keep-alives only. Its publish requests wait
// about a keep-alive period each: their timeout hint must exceed it, or
// node-opcua answers BadTimeout (a service fault, which gopcua takes for a
// broken connection) and the session is made again, whenever the two
// race. The server reports the hints it received; with a keep-alive
// period of 2 s, 5 s make one session.
func TestQuietSubscriptionKeepsItsSession(t *testing.T) {
	opcua.SetKeepAliveSpan(t, 2*time.Second)
	// 1 s: a keep-alive count of 2. 3 s: longer than the span, so one
	// interval would do, but node-opcua grants at least 2 (6 s).
	for _, interval := range []string{"1s", "3s"} {
		t.Run(interval, func(t *testing.T) {
			p := opcuatest.NewPKI(t)
			srv := opcuatest.StartServer(t, p, "", "")
			c, src := run(t, strings.Replace(busYAML(srv.Endpoint(), "", `    - name: quiet
      bus: ua
      interval: `+interval+`
      opcua:
        kind: test
        mode: subscription
        nodes:
          - {name: double, node_id: "ns=1;s=Double"}
`), "timeout: 5s", "timeout: 500ms", 1))
			waitFor(t, "the first value", 30*time.Second, func() bool {
				return c.count("quiet", "double", drivers.Good, 0) == 1
			})
			time.Sleep(5 * time.Second)
			hint, keepAlive := srv.PublishHints()
			if keepAlive <= 0 || hint < keepAlive*3/2 {
				t.Errorf("publish requests with a timeout hint of %s for a keep-alive period of %s: want one and a half at least", hint, keepAlive)
			}
			if n := strings.Count(c.logged(), "opcua session created"); n != 1 {
				t.Errorf("%d sessions created in 5 s of keep-alives, want 1:\n%s", n, c.logged())
			}
			if n := c.count("quiet", "double", drivers.Good, 0); n != 1 {
				t.Errorf("%d readings of the unchanged node, want 1", n)
			}
			if st := state(src, "quiet"); !st.Up {
				t.Errorf("state %+v, want up", st)
			}
		})
	}
}

// TestSlowReadKeepsDeliveredChanges: a poll of the bus waits out its
// timeout on a server slow to read, while the server goes on publishing
// the subscription's changes. The session ends at the timeout; the
// changes delivered before then are handed on, not dropped with it.
func TestSlowReadKeepsDeliveredChanges(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, _ := run(t, strings.Replace(busYAML(srv.Endpoint(), "", `    - name: polled
      bus: ua
      interval: 5s
      opcua:
        kind: test
        nodes:
          - {name: double, node_id: "ns=1;s=Double"}
    - name: pushed
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        sampling_interval: 100ms
        nodes:
          - {name: counter, node_id: "ns=1;s=Counter"}
`), "timeout: 5s", "timeout: 2s", 1))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("polled", "double", drivers.Good, 0) > 0 && c.count("pushed", "counter", drivers.Good, 0) > 5
	})
	srv.Command("slow-reads 4000")
	m := c.mark()
	waitFor(t, "the polled device's timeout", 20*time.Second, func() bool {
		return c.count("polled", "double", drivers.Timeout, m)+c.count("polled", "double", drivers.CommError, m) > 0
	})
	srv.Command("slow-reads 0")
	n := c.mark()
	waitFor(t, "pushed values from the next session", 20*time.Second, func() bool {
		return c.count("pushed", "counter", drivers.Good, n) > 2
	})
	// The pushed device's good batches stamped while the poll waited (it
	// is stamped at its start; its timeout is 2 s, the counter changes
	// every 100 ms and the subscription publishes every 200 ms): those
	// changes reached the source during the wait and are kept. The next
	// session's start (slowed by the same reads) is not measured.
	c.mu.Lock()
	var start time.Time
	for _, b := range c.batches[m:] {
		if b.device == "polled" && len(b.rs) > 0 && b.rs[0].Quality != drivers.Good {
			start = b.at
			break
		}
	}
	during := 0
	for _, b := range c.batches[m:] {
		if b.device == "pushed" && len(b.rs) > 0 && b.rs[0].Quality == drivers.Good &&
			b.at.After(start.Add(300*time.Millisecond)) && b.at.Before(start.Add(1700*time.Millisecond)) {
			during++
		}
	}
	c.mu.Unlock()
	if during < 3 {
		t.Errorf("pushed: %d good batches stamped while the poll waited out its 2 s timeout (from %s), want several: the changes delivered meanwhile were dropped", during, start.Format(time.RFC3339Nano))
	}
}

// TestSlowReadsCountMissedSlots: a server that takes 700 ms to answer each
// Read of a device polled every 250 ms: the slots that pass while a poll
// runs are counted missed and logged, as on a Modbus bus, and the polls
// answered are counted answered.
func TestSlowReadsCountMissedSlots(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, src := run(t, busYAML(srv.Endpoint(), "", `    - name: polled
      bus: ua
      interval: 250ms
      opcua:
        kind: test
        nodes:
          - {name: double, node_id: "ns=1;s=Double"}
`))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("polled", "double", drivers.Good, 0) > 0
	})
	srv.Command("slow-reads 700")
	before := state(src, "polled")
	time.Sleep(3 * time.Second)
	srv.Command("slow-reads 0")
	after := state(src, "polled")
	if missed := after.Missed - before.Missed; missed < 4 {
		t.Errorf("%d slots counted missed in 3 s of 700 ms reads at 250 ms, want at least 4 (state %+v)", missed, after)
	}
	if after.Answered-before.Answered < 2 || after.Polls-before.Polls != after.Answered-before.Answered {
		t.Errorf("polls %d, answered %d in 3 s: want every poll made answered", after.Polls-before.Polls, after.Answered-before.Answered)
	}
	if !strings.Contains(c.logged(), "poll overran its interval") {
		t.Errorf("no log of the overrun:\n%s", c.logged())
	}
}

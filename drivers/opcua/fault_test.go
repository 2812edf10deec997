package opcua_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

const faultDevices = `    - name: polled
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        nodes:
          - {name: double, node_id: "ns=1;s=Double"}
          - {name: counter, node_id: "ns=1;s=Counter"}
    - name: pushed
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        sampling_interval: 100ms
        nodes:
          - {name: counter, node_id: "ns=1;s=Counter"}
          - {name: power, node_id: "ns=1;s=Power"}
`

// checkTimes fails the test if a device's batches do not have strictly
// increasing times (two at one time would be one point in InfluxDB, the
// later batch's sequence number replacing the earlier's), or if a polled
// device handed two batches less than half its interval apart (one slot
// served twice).
func (c *collector) checkTimes(t *testing.T, device string, interval time.Duration) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for i, b := range c.batches {
		if b.device != device {
			continue
		}
		switch {
		case last.IsZero():
		case !b.at.After(last):
			t.Errorf("%s: batch %d at %s, not after the one before at %s", device, i, b.at.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
		case interval > 0 && b.at.Sub(last) < interval/2:
			t.Errorf("%s: batch %d at %s, %s after the one before: one slot served twice", device, i, b.at.Format(time.RFC3339Nano), b.at.Sub(last))
		}
		last = b.at
	}
}

// since counts the batches of a device from index from on whose point
// name has quality q.
func (c *collector) count(device, name string, q drivers.Quality, from int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.batches[min(from, len(c.batches)):] {
		if b.device != device {
			continue
		}
		for _, r := range b.rs {
			if r.Name == name && r.Quality == q {
				n++
			}
		}
	}
	return n
}

func (c *collector) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

func state(src drivers.Source, device string) drivers.DeviceState {
	for _, st := range src.States() {
		if st.Device == device {
			return st
		}
	}
	return drivers.DeviceState{}
}

// TestFaultServerRestart: the server goes away and comes back on the same
// port. While it is away every device keeps its interval with comm_error
// points and a state naming the endpoint; afterwards a new session and a
// new subscription deliver good values again, without a restart of the
// source.
func TestFaultServerRestart(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, src := run(t, busYAML(srv.Endpoint(), "", faultDevices))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("polled", "counter", drivers.Good, 0) > 0 && c.count("pushed", "counter", drivers.Good, 0) > 0
	})
	srv.Stop()
	m := c.mark()
	waitFor(t, "comm_error points while the server is away", 20*time.Second, func() bool {
		return c.count("polled", "double", drivers.CommError, m) >= 3 && c.count("pushed", "counter", drivers.CommError, m) >= 3
	})
	for _, d := range []string{"polled", "pushed"} {
		st := state(src, d)
		if st.Up || !strings.Contains(st.LastError, srv.Endpoint()) {
			t.Errorf("%s while the server is away: %+v; want down, naming the endpoint", d, st)
		}
	}
	srv.Start()
	m = c.mark()
	waitFor(t, "good values after the restart", 30*time.Second, func() bool {
		return c.count("polled", "counter", drivers.Good, m) > 0 && c.count("pushed", "counter", drivers.Good, m) > 2
	})
	for _, d := range []string{"polled", "pushed"} {
		if st := state(src, d); !st.Up || st.LastError != "" {
			t.Errorf("%s after the restart: %+v", d, st)
		}
	}
	c.checkOutage(t, "polled", 200*time.Millisecond)
	c.checkTimes(t, "polled", 0)
	c.checkTimes(t, "pushed", 0)
}

// checkOutage fails the test if the first failed poll of a polled device
// is followed by another batch within half its interval: the failed read
// and the outage after it must not both serve the slot.
func (c *collector) checkOutage(t *testing.T, device string, interval time.Duration) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var failed time.Time
	for _, b := range c.batches {
		if b.device != device {
			continue
		}
		if !failed.IsZero() {
			if b.at.Sub(failed) < interval/2 {
				t.Errorf("%s: a batch %s after the first failed poll: its slot served twice", device, b.at.Sub(failed))
			}
			return
		}
		if len(b.rs) > 0 && b.rs[0].Quality == drivers.CommError {
			failed = b.at
		}
	}
	t.Errorf("%s: no failed poll followed by another batch", device)
}

// TestFaultSessionClosed: the server closes the sessions (as when a session
// times out); the source creates a new session and subscription.
func TestFaultSessionClosed(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, _ := run(t, busYAML(srv.Endpoint(), "", faultDevices))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("pushed", "counter", drivers.Good, 0) > 0
	})
	closed := c.mark()
	srv.Command("close-sessions")
	time.Sleep(time.Second)
	m := c.mark()
	waitFor(t, "pushed values from a new session", 30*time.Second, func() bool {
		return c.count("pushed", "counter", drivers.Good, m) > 2 && c.count("polled", "counter", drivers.Good, m) > 2
	})
	if n := strings.Count(c.logged(), "opcua session created"); n != 2 {
		t.Errorf("%d sessions created, want 2:\n%s", n, c.logged())
	}
	if !strings.Contains(c.logged(), "BadSession") {
		t.Errorf("the log does not name the session's status code:\n%s", c.logged())
	}
	// The new subscription's first notification of the unchanged power
	// node is not a batch at its old source time again.
	c.checkTimes(t, "pushed", 0)
	c.checkTimes(t, "polled", 0)
	if n := c.count("pushed", "power", drivers.Good, closed); n != 1 {
		t.Errorf("%d readings of the unchanged power node from the new session, want 1", n)
	}
}

// TestFaultNodeRemoved: a node disappears; its point turns comm_error with
// the status code named, the device's other points stay good.
func TestFaultNodeRemoved(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, src := run(t, busYAML(srv.Endpoint(), "", faultDevices))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("polled", "double", drivers.Good, 0) > 0
	})
	srv.Command("remove Double")
	m := c.mark()
	waitFor(t, "the removed node's point marked", 10*time.Second, func() bool {
		return c.count("polled", "double", drivers.CommError, m) > 0
	})
	if n := c.count("polled", "counter", drivers.Good, m); n == 0 {
		t.Error("the other point of the device is no longer good")
	}
	st := state(src, "polled")
	if !st.Up || !strings.Contains(st.LastError, "node ns=1;s=Double (double): BadNodeIdUnknown (0x80340000)") {
		t.Errorf("state %+v: want up, naming the node and its status code", st)
	}
}

// TestFaultBadCertificate: the server does not trust the gateway's
// certificate. The devices report comm_error on their interval and their
// state names the endpoint and the refusal.
func TestFaultBadCertificate(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "") // trusts no client certificate
	c, src := run(t, busYAML(srv.Endpoint(), security(p, "Basic256Sha256", "SignAndEncrypt"), faultDevices))
	waitFor(t, "comm_error points", 30*time.Second, func() bool {
		return c.count("polled", "double", drivers.CommError, 0) >= 2 && c.count("pushed", "counter", drivers.CommError, 0) >= 2
	})
	if n := c.count("polled", "double", drivers.Good, 0); n > 0 {
		t.Errorf("%d good readings through an untrusted certificate", n)
	}
	st := state(src, "polled")
	if st.Up || !strings.Contains(st.LastError, "endpoint "+srv.Endpoint()+": connect: ") {
		t.Errorf("state %+v: want down, naming the endpoint and the refusal", st)
	}
	t.Logf("refusal: %s", st.LastError)
}

// TestFaultEdgeRestart: the edge restarts (its source stops and a new one
// starts). The new subscription's first notification of nodes that did
// not change is stamped after everything the device published before,
// and not before the new source started: it was stamped with the node's
// server timestamp, a time already published, whose batch the new one
// replaced in InfluxDB (the same series and time).
func TestFaultEdgeRestart(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	devs := `    - name: pushed
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        nodes:
          - {name: power, node_id: "ns=1;s=Power"}
          - {name: double, node_id: "ns=1;s=Double"}
`
	yaml := busYAML(srv.Endpoint(), "", devs)
	var last time.Time
	for run := range 2 {
		began := time.Now().Truncate(time.Millisecond)
		c, _, stop := start(t, yaml)
		waitFor(t, "the unchanged nodes pushed", 30*time.Second, func() bool {
			return c.count("pushed", "power", drivers.Good, 0) > 0 && c.count("pushed", "double", drivers.Good, 0) > 0
		})
		stop()
		c.checkTimes(t, "pushed", 0)
		c.mu.Lock()
		for _, b := range c.batches {
			if !b.at.After(last) || b.at.Before(began) {
				t.Errorf("run %d: a batch at %s: want after %s (the last batch of the run before) and not before the run began at %s",
					run+1, b.at.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano), began.Format(time.RFC3339Nano))
			}
		}
		last = c.batches[len(c.batches)-1].at
		c.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultConnectionCuts: the connection to the server is cut again and
// again, more times than the server holds sessions (three here; node-opcua
// holds a cut connection's session until its timeout, a minute by
// default, awaiting its client's return). Each new connection first
// closes the session the cut one left, so the server never fills up
// (BadTooManySessions): good values come back after every cut, soon
// (the cut is noticed when it happens, not at the next check of the
// server's state, every 10 s here, which is what a bus of subscribed
// devices alone would wait for), and the server holds one session at the
// end.
func TestFaultConnectionCuts(t *testing.T) {
	pushedOnly := faultDevices[strings.Index(faultDevices, "    - name: pushed"):]
	for _, tc := range []struct {
		name, devices string
		names         []string
		secure        bool
	}{
		{"polled and subscribed", faultDevices, []string{"polled", "pushed"}, false},
		{"subscribed only", pushedOnly, []string{"pushed"}, false},
		// The session is moved to the new channel with the same client
		// certificate and user, the password encrypted anew.
		{"signed and encrypted, user login", faultDevices, []string{"polled", "pushed"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := opcuatest.NewPKI(t)
			trusted, login, sec := "", "", ""
			if tc.secure {
				trusted, login = p.ClientDER, "eipgw:s3cret"
				t.Setenv("OPCUA_TEST_PASSWORD", "s3cret")
				sec = security(p, "Basic256Sha256", "SignAndEncrypt") + "        username: eipgw\n        password_env: OPCUA_TEST_PASSWORD\n"
			}
			srv := opcuatest.StartServerEnv(t, p, trusted, login, "EIPGW_UA_MAX_SESSIONS=3")
			px := startCutProxy(t, srv.Endpoint())
			c, src := run(t, busYAML(px.Endpoint(), sec, tc.devices))
			good := func(from int) func() bool {
				return func() bool {
					for _, d := range tc.names {
						if c.count(d, "counter", drivers.Good, from) == 0 {
							return false
						}
					}
					return true
				}
			}
			waitFor(t, "good values", 30*time.Second, good(0))
			for i := 1; i <= 5; i++ {
				px.Cut()
				m, cut := c.mark(), time.Now()
				waitFor(t, fmt.Sprintf("good values after cut %d", i), 30*time.Second, good(m))
				if took := time.Since(cut); took > 5*time.Second {
					t.Errorf("cut %d: good values again after %s; the cut went unnoticed until a check of the server", i, took.Round(time.Millisecond))
				}
			}
			waitFor(t, "one session on the server", 10*time.Second, func() bool { return srv.Sessions() == 1 })
			for _, d := range tc.names {
				if st := state(src, d); !st.Up {
					t.Errorf("%s after the cuts: %+v", d, st)
				}
				c.checkTimes(t, d, 0)
			}
		})
	}
}

// TestCarryStates: a source built by a reload starts its devices from the
// states of the one it replaces (drivers.Carrier): a device up for long
// is not up since the reload; one unknown to the old source starts afresh.
func TestCarryStates(t *testing.T) {
	f, err := config.Parse("opcua-test.yaml", []byte(busYAML("opc.tcp://127.0.0.1:1", "", faultDevices)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := opcua.Driver{}.Sources(f.Edge.Buses, f.Edge.Devices, nil)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	srcs[0].(drivers.Carrier).Carry([]drivers.DeviceState{{Device: "polled", Up: true, Since: since}, {Device: "other", Up: true, Since: since}})
	if st := state(srcs[0], "polled"); !st.Up || !st.Since.Equal(since) {
		t.Errorf("polled: %+v, want up since %s", st, since)
	}
	if st := state(srcs[0], "pushed"); st.Up || !st.Since.IsZero() {
		t.Errorf("pushed, not carried: %+v", st)
	}
}

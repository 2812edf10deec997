package opcua_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// manyYAML is a device reading Many0..Many<n-1>, every third by browse
// path, the rest by NodeId.
func manyYAML(name, mode string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "    - name: %s\n      bus: ua\n      interval: 500ms\n      opcua:\n        kind: test\n        mode: %s\n        nodes:\n", name, mode)
	for i := range n {
		if i%3 == 0 {
			fmt.Fprintf(&b, "          - {name: m%d, browse_path: \"1:Plant/1:Many/1:Many%d\"}\n", i, i)
			continue
		}
		fmt.Fprintf(&b, "          - {name: m%d, node_id: \"ns=1;s=Many%d\"}\n", i, i)
	}
	return b.String()
}

// A server that takes at most 100 operations a call (as embedded servers
// take a few hundred or a thousand) serves devices of 250 nodes, polled and
// subscribed, by NodeId and by browse path: the driver reads its
// published limits and splits its calls; a server that enforces limits it
// does not publish gets its calls split after its first refusal. Every
// node reads its value, good.
func TestOperationLimits(t *testing.T) {
	const n, limit = 250, 100
	p := opcuatest.NewPKI(t)
	for _, tc := range []struct {
		name string
		env  []string
		warn bool // the driver learns the limit from a refusal
	}{
		{"published", []string{fmt.Sprintf("EIPGW_UA_LIMIT=%d", limit), fmt.Sprintf("EIPGW_UA_MANY=%d", n)}, false},
		{"not published", []string{fmt.Sprintf("EIPGW_UA_LIMIT=%d", limit), "EIPGW_UA_HIDE_LIMITS=all", fmt.Sprintf("EIPGW_UA_MANY=%d", n)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := opcuatest.StartServerEnv(t, p, "", "", tc.env...)
			c, src := run(t, busYAML(srv.Endpoint(), "", manyYAML("polled", "polling", n)+manyYAML("pushed", "subscription", n)))
			for _, dev := range []string{"polled", "pushed"} {
				waitFor(t, dev+": every node read good", 30*time.Second, func() bool {
					got := c.latest(dev)
					if len(got) != n {
						return false
					}
					for _, r := range got {
						if r.Quality != drivers.Good {
							return false
						}
					}
					return true
				})
				got := c.latest(dev)
				for i := range n {
					if r := got[fmt.Sprintf("m%d", i)]; r.Float != float64(i) {
						t.Errorf("%s: m%d read %+v, want %d", dev, i, r, i)
					}
				}
			}
			for _, st := range src.States() {
				if !st.Up || st.LastError != "" {
					t.Errorf("state %+v: want up without error", st)
				}
			}
			logged := c.logged()
			for _, w := range []string{"refuses to read nodes", "refuses to translate browse paths", "refuses to create monitored items"} {
				if strings.Contains(logged, w) != tc.warn {
					t.Errorf("log has %q: %v, want %v:\n%s", w, !tc.warn, tc.warn, logged)
				}
			}
		})
	}
}

// A server without TranslateBrowsePathsToNodeIds: the nodes named by
// browse path read comm_error, naming the refusal, and the others read
// good from a session that stays up (the refusal is not asked for again).
func TestTranslateUnsupported(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServerEnv(t, p, "", "", "EIPGW_UA_NO_TRANSLATE=1", "EIPGW_UA_MANY=6")
	c, src := run(t, busYAML(srv.Endpoint(), "", manyYAML("polled", "polling", 6)))
	waitFor(t, "every point read", 30*time.Second, func() bool { return len(c.latest("polled")) == 6 })
	// Past a watchdog period: the session is still the first one after
	// the refusal.
	time.Sleep(3 * time.Second)
	for name, r := range c.latest("polled") {
		byPath := name == "m0" || name == "m3"
		if byPath && r.Quality != drivers.CommError || !byPath && (r.Quality != drivers.Good || r.Float != float64(name[1]-'0')) {
			t.Errorf("%s read %+v", name, r)
		}
	}
	for _, st := range src.States() {
		if !st.Up || !strings.Contains(st.LastError, "BadServiceUnsupported") {
			t.Errorf("state %+v: want up, naming BadServiceUnsupported", st)
		}
	}
	if n := strings.Count(c.logged(), "opcua session created"); n != 2 {
		t.Errorf("%d sessions, want 2 (the refusal closes the first):\n%s", n, c.logged())
	}
}

// Twelve devices by subscription on one bus, at two intervals, against a
// server that allows 10 subscriptions a session (node-opcua's default):
// the devices of an interval share a subscription, so every device is
// read and the session stays up.
func TestManySubscribedDevices(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServerEnv(t, p, "", "", "EIPGW_UA_MANY=12")
	var devs strings.Builder
	for i := range 12 {
		interval := "500ms"
		if i%4 == 3 {
			interval = "1s"
		}
		fmt.Fprintf(&devs, "    - name: d%d\n      bus: ua\n      interval: %s\n      opcua:\n        kind: test\n        mode: subscription\n        nodes:\n          - {name: v, node_id: \"ns=1;s=Many%d\"}\n", i, interval, i)
	}
	c, src := run(t, busYAML(srv.Endpoint(), "", devs.String()))
	for i := range 12 {
		dev := fmt.Sprintf("d%d", i)
		waitFor(t, dev+" read", 30*time.Second, func() bool { return c.latest(dev)["v"].Quality == drivers.Good })
		if r := c.latest(dev)["v"]; r.Float != float64(i) {
			t.Errorf("%s read %+v, want %d", dev, r, i)
		}
	}
	for _, st := range src.States() {
		if !st.Up {
			t.Errorf("state %+v: want up", st)
		}
	}
	if n := strings.Count(c.logged(), "opcua session created"); n != 1 {
		t.Errorf("%d sessions, want 1:\n%s", n, c.logged())
	}
}

package faults

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
)

// viaLink rewrites each configuration's broker URL to go through the
// link, with a keep-alive of 2 s so that each client finds the silent
// link in seconds rather than the default 30 s.
func (r *rig) viaLink(l *testenv.CutLink) {
	from := `broker: "` + r.mq.URL + `"`
	to := `broker: "tcp://` + l.Addr() + `", keepalive: 2s`
	for _, p := range append([]string{r.edgeCfg}, r.ingests...) {
		b, err := os.ReadFile(p)
		if err != nil {
			r.t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			r.t.Fatalf("%s has no %s", p, from)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// networkPartition cuts the edge and ingest off the broker for 10 s
// without a reset or a refused connection: each finds out by its
// keep-alive going unanswered (or the broker by the client's silence),
// while the edge keeps polling into its log. Healed, every batch is
// stored once, whatever crossed the link before the cut was noticed.
func networkPartition(t *testing.T, top topology) {
	r, in, e := cutFor(t, top, 10*time.Second)
	repaired := time.Now()
	// Both found the link silent and connected again.
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	waitCount(t, in, "mqtt connection lost", 1, 30*time.Second)
	waitCount(t, in, "subscribed", 2, 30*time.Second)
	time.Sleep(time.Second)
	r.finish(top.name("network partition 10s (no reset), healed"), e, repaired, "keep-alive 2s")
	// The publishes in flight at the cut were completed by the client's
	// reconnection, not by the broker: the edge sent them again rather
	// than forget them from its log (its stop line counts them).
	m := regexp.MustCompile(`msg="edge stopped" .*republished=(\d+)`).FindStringSubmatch(e.Output())
	if m == nil || m[1] == "0" || !strings.Contains(e.Output(), mqttconn.ErrResumed.Error()) {
		t.Errorf("no publish in flight at the cut was sent again after the reconnection (%v):\n%s", m, e.Output())
	} else {
		t.Logf("%s publishes sent again after the reconnection", m[1])
	}
	in.Term(t, 10*time.Second)
}

// partitionThenKill: the same cut, and the edge SIGKILLed the moment it
// has connected again, while the client is still sending again what was
// in flight at the cut. Every batch the broker had not acknowledged must
// still be in the edge's log for the next start.
func partitionThenKill(t *testing.T, top topology) {
	r, in, e := cutFor(t, top, 6*time.Second)
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	e.Kill()
	repaired := time.Now()
	e = r.edge()
	time.Sleep(2 * time.Second)
	r.finish(top.name("network partition 6s, edge SIGKILL as it reconnects"), e, repaired, "keep-alive 2s")
	in.Term(t, 10*time.Second)
}

// cutFor starts a rig whose edge and ingest reach the broker through a
// cut relay, lets the edge publish for 2 s, cuts the link for d and heals
// it.
func cutFor(t *testing.T, top topology, d time.Duration) (r *rig, in, e *testenv.Proc) {
	r = newRig(t, rigOptions{multiBus: top.multi})
	link := testenv.NewCutLink(t, strings.TrimPrefix(r.mq.URL, "tcp://"))
	r.viaLink(link)
	in = r.ingest(0)
	e = r.edge()
	time.Sleep(2 * time.Second)
	link.SetCut(true)
	time.Sleep(d)
	link.SetCut(false)
	return r, in, e
}

package faults

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSignedEdgeThroughFaults: an edge that signs and chains its batches,
// on the site topology, killed twice (SIGKILL) and its broker stopped and
// restarted in between. Every batch is stored once, and eipgw audit verify
// over the run (every signature, -all-signatures) finds the chain whole:
// no gap, no fork, no restart, no reading altered or unsigned, exit 0. An
// auditor verifies what a site's faults left behind, not a clean run.
func TestSignedEdgeThroughFaults(t *testing.T) {
	top := topology{multi: true}
	r := newRig(t, rigOptions{multiBus: top.multi, signed: true})
	in := r.ingest(0)
	from := time.Now().Truncate(time.Hour)
	e := r.edge()
	time.Sleep(2 * time.Second)
	e.Kill()
	e = r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(2 * time.Second)
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	time.Sleep(time.Second)
	e.Kill()
	e = r.edge()
	time.Sleep(2 * time.Second)
	r.finish(top.name("signed: edge SIGKILL, broker restart, SIGKILL"), e, repaired, "then eipgw audit verify passes")
	in.Term(t, 10*time.Second)

	to := time.Now().Truncate(time.Hour).Add(time.Hour)
	out, err := exec.Command(r.bin, "audit", "verify", "-quiet", "-all-signatures", "-include-open", "-config", r.ingests[0],
		"-from", from.UTC().Format(time.RFC3339), "-to", to.UTC().Format(time.RFC3339)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS: 0 mismatches") {
		t.Errorf("eipgw audit verify after the faults: %v\n%s\nedge:\n%s", err, out, e.Output())
	}
	t.Logf("audit: %s", strings.TrimSpace(string(out)))
}

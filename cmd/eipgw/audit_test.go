package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
)

// auditConfig writes an ingest configuration listing a key for gw-1 and
// reading InfluxDB at url.
func auditConfig(t *testing.T, url string) string {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(t.TempDir(), "ingest.yaml")
	cfg := fmt.Sprintf(`park: p
mqtt: {broker: "tcp://127.0.0.1:1", client_id: audit}
ingest:
  influxdb: {url: "%s", bucket: eipgw/autogen}
  evidence:
    keys:
      gw-1: ["%s"]
`, url, evidence.EncodePublicKey(pub))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuditVerifyExitStatus: 2 when the check cannot be made (no InfluxDB
// listening, a bad time), 0 on a range that verifies, 1 with a finding
// printed when a forged reading of a gateway under evidence is stored.
func TestAuditVerifyExitStatus(t *testing.T) {
	audit := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, append([]string{"audit", "verify"}, args...))
		return code, out.String() + errOut.String()
	}
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	if code, out := audit("-config", auditConfig(t, closed), "-from", "2026-11-26", "-to", "2026-11-27"); code != 2 || !strings.Contains(out, "could not check") {
		t.Errorf("InfluxDB down: exit %d, want 2: %s", code, out)
	}
	if code, out := audit("-config", auditConfig(t, closed), "-from", "yesterday", "-to", "2026-11-27"); code != 2 || !strings.Contains(out, `-from "yesterday"`) {
		t.Errorf("bad time: exit %d, want 2: %s", code, out)
	}

	ifx := testenv.StartInflux(t, "eipgw")
	cfg := auditConfig(t, ifx.URL)
	if code, out := audit("-config", cfg, "-from", "2026-11-26", "-to", "2026-11-27"); code != 0 || !strings.Contains(out, "PASS: 0 mismatches") {
		t.Errorf("empty range: exit %d, want 0: %s", code, out)
	}
	if code, out := audit("-config", cfg, "-all-signatures", "-from", "2026-11-26", "-to", "2026-11-27"); code != 0 || !strings.Contains(out, "signatures verified 0, messages vouched for by the hash chains 0") {
		t.Errorf("empty range, every signature: exit %d, want 0: %s", code, out)
	}
	if code, out := audit("-config", cfg, "-hours-per-query", "1", "-from", "2026-11-26", "-to", "2026-11-27"); code != 0 {
		t.Errorf("an hour a query: exit %d, want 0: %s", code, out)
	}
	if code, out := audit("-config", cfg, "-hours-per-query", "0", "-from", "2026-11-26", "-to", "2026-11-27"); code != 2 || !strings.Contains(out, "-hours-per-query 0: want 1 to 744") {
		t.Errorf("-hours-per-query 0: exit %d, want 2: %s", code, out)
	}
	if code, out := audit("-config", cfg, "-from", "1990-01-01", "-to", "2026-11-27"); code != 2 || !strings.Contains(out, "more than 366 in one run") {
		t.Errorf("36 years: exit %d, want 2: %s", code, out)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	if code, out := audit("-config", cfg, "-audit-log", missing, "-from", "2026-11-26", "-to", "2026-11-27"); code != 2 || !strings.Contains(out, missing) || strings.Contains(out, "no entries") {
		t.Errorf("-audit-log that does not exist: exit %d, want 2 naming it: %s", code, out)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=ms", "text/plain",
		strings.NewReader(fmt.Sprintf("chp,device=chp-1,gateway=gw-1,park=p electric_power=30,batch_seq=7i %d\n", at.UnixMilli())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, out := audit("-config", cfg, "-from", "2026-11-26", "-to", "2026-11-27")
	if want := "reading_unsigned gateway=gw-1 seq=7 device=chp-1 time=2026-11-26T10:00:00Z"; code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "FAIL: 1 mismatches") {
		t.Errorf("forged reading: exit %d, want 1 and %q: %s", code, want, out)
	}
}

// TestAuditVerifyChecksTheAuditLog: -audit-log names the sealed hourly
// records to check; an entry altered in the file is a mismatch (exit 1)
// named with its seq and hour, and the log's head is printed.
func TestAuditVerifyChecksTheAuditLog(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	cfg := auditConfig(t, ifx.URL)
	dir := t.TempDir()
	l, err := seal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	if _, err := l.Append(hour, []string{fmt.Sprintf("park_hourly,metric=x,park=p value=1 %d", hour.UnixMilli())}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	var out bytes.Buffer
	code := run(t.Context(), &env{stdout: &out, stderr: &out}, []string{"audit", "verify", "-config", cfg, "-audit-log", dir, "-from", "2026-11-26", "-to", "2026-11-27"})
	if code != 1 || !strings.Contains(out.String(), "head seq=1 hour=2026-11-26T03:00:00Z") ||
		!strings.Contains(out.String(), "seal_head_mismatch seq=1 time=2026-11-26T03:00:00Z") ||
		!strings.Contains(out.String(), "sealed_record_missing seq=1 time=2026-11-26T03:00:00Z metric=x") {
		t.Fatalf("exit %d, want 1 with the seal's head and the missing InfluxDB records:\n%s", code, out.String())
	}
	path := filepath.Join(dir, seal.LogFile)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte("value=1 "), []byte("value=2 "), 1), 0o640)
	out.Reset()
	code = run(t.Context(), &env{stdout: &out, stderr: &out}, []string{"audit", "verify", "-config", cfg, "-audit-log", dir, "-from", "2026-11-26", "-to", "2026-11-27"})
	if code != 1 || !strings.Contains(out.String(), "seal_broken seq=1 time=2026-11-26T03:00:00Z") {
		t.Fatalf("exit %d, want 1 naming the altered entry:\n%s", code, out.String())
	}
}

// TestAuditReportWritesItsFiles: audit report needs -out; on a range
// InfluxDB holds nothing of it writes the HTML, PDF and CSV, prints the
// totals and exits 1 for the hours the engine recomputes and nobody
// stored.
func TestAuditReportWritesItsFiles(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	example, err := os.ReadFile("../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	parkCfg := filepath.Join(t.TempDir(), "park.yaml")
	if err := os.WriteFile(parkCfg, bytes.Replace(example, []byte("url: http://127.0.0.1:8086"), []byte("url: "+ifx.URL), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ingestCfg := strings.Replace(string(must(os.ReadFile(auditConfig(t, ifx.URL)))), "park: p", "park: suzhou-eip", 1)
	ingestPath := filepath.Join(t.TempDir(), "ingest.yaml")
	if err := os.WriteFile(ingestPath, []byte(ingestCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	report := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(t.Context(), &env{stdout: &out, stderr: &out}, append([]string{"audit", "report", "-config", ingestPath, "-config", parkCfg, "-from", "2026-11-26", "-to", "2026-11-27"}, args...))
		return code, out.String()
	}
	if code, out := report(); code != 2 || !strings.Contains(out, "-out is required") {
		t.Errorf("without -out: exit %d, want 2: %s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "report")
	code, out := report("-out", dir)
	// 24 hours with neither a reading nor a record: nothing claimed,
	// nothing to check, counted apart; the report written.
	if code != 0 || !strings.Contains(out, "PASS: 0 mismatches") || !strings.Contains(out, "hours with no reading and no hourly record (nothing claimed, nothing to check): 24") ||
		!strings.Contains(out, "total reduction_co2_t 0 t CO2 (0 of 0 hours valid)") {
		t.Fatalf("exit %d, want 0: %s", code, out)
	}
	for _, name := range []string{"report.html", "report.pdf", "hourly.csv"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An -out that cannot be a directory is named before the check runs.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if code, out := report("-out", filepath.Join(file, "report")); code != 2 || !strings.Contains(out, "-out "+filepath.Join(file, "report")) || strings.Contains(out, "mismatches") {
		t.Errorf("-out under a file: exit %d, want 2 naming -out before any check: %s", code, out)
	}

	// Hours not closed yet are not checked (the engine has not written
	// their records, their batches are still arriving), the closed ones
	// are; a range may reach into the future, as the demo's banner's
	// does. A range with no closed hour cannot be checked.
	now := time.Now().UTC()
	from, to := now.Truncate(time.Hour).Add(-2*time.Hour), now.Truncate(time.Hour).Add(2*time.Hour)
	closedTo := now.Add(-2 * time.Minute).Truncate(time.Hour) // the example's grace
	var vout bytes.Buffer
	code = run(t.Context(), &env{stdout: &vout, stderr: &vout}, []string{"audit", "verify", "-config", ingestPath, "-config", parkCfg,
		"-from", from.Format(time.RFC3339), "-to", to.Format(time.RFC3339)})
	closed, open := int(closedTo.Sub(from)/time.Hour), int(to.Sub(closedTo)/time.Hour)
	emptyLine := fmt.Sprintf("hours with no reading and no hourly record (before the engine first ran, or while it and the gateways were down; nothing claimed, nothing to check): %d\n", closed)
	if code != 0 || !strings.Contains(vout.String(), "PASS: 0 mismatches") || !strings.Contains(vout.String(), emptyLine) || !strings.Contains(vout.String(), "no readings in the range in "+ifx.URL) ||
		!strings.Contains(vout.String(), fmt.Sprintf("hours not closed yet, not checked (an hour is closed park_engine.grace, 2m0s, after its end): %d\n", open)) {
		t.Errorf("a range into the future: exit %d, want 0 with %d hours empty and %d not closed:\n%s", code, closed, open, vout.String())
	}
	// -include-open reads the open hours' readings and evidence too, and
	// still does not compare records the engine has not written.
	vout.Reset()
	code = run(t.Context(), &env{stdout: &vout, stderr: &vout}, []string{"audit", "verify", "-include-open", "-config", ingestPath, "-config", parkCfg,
		"-from", from.Format(time.RFC3339), "-to", to.Format(time.RFC3339)})
	if code != 0 || !strings.Contains(vout.String(), "PASS: 0 mismatches") || !strings.Contains(vout.String(), emptyLine) ||
		!strings.Contains(vout.String(), fmt.Sprintf("hours not closed yet, their readings checked, their hourly records not compared (an hour is closed park_engine.grace, 2m0s, after its end): %d\n", open)) {
		t.Errorf("-include-open: exit %d, want 0 with %d hours empty and %d not compared:\n%s", code, closed, open, vout.String())
	}
	vout.Reset()
	code = run(t.Context(), &env{stdout: &vout, stderr: &vout}, []string{"audit", "verify", "-config", ingestPath, "-config", parkCfg,
		"-from", to.Format(time.RFC3339), "-to", to.Add(time.Hour).Format(time.RFC3339)})
	if code != 2 || !strings.Contains(vout.String(), "no hour of the range is closed yet") {
		t.Errorf("a range in the future: exit %d, want 2:\n%s", code, vout.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAuditSetupKeys: the keys of an audit come from ingest.evidence and
// park_engine.evidence alike; a park engine's file alone is enough, and a
// configuration without keys is refused with both names.
func TestAuditSetupKeys(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "x")
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "config", "examples", "park.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	write := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withKeys := write("park.yaml", strings.Replace(string(raw), "\npark_engine:\n",
		fmt.Sprintf("\npark_engine:\n  evidence:\n    keys:\n      gw-7: [%q]\n", evidence.EncodePublicKey(pub)), 1))
	o, _, err := auditSetup([]string{withKeys})
	if err != nil {
		t.Fatal(err)
	}
	if k := o.Keys["gw-7"][evidence.KeyID(pub)]; !bytes.Equal(k, pub) || len(o.Keys) != 1 {
		t.Errorf("keys %v, want gw-7's from park_engine.evidence", o.Keys)
	}
	if _, _, err := auditSetup([]string{write("park.yaml", string(raw))}); err == nil || !strings.Contains(err.Error(), "no ingest.evidence.keys or park_engine.evidence.keys") {
		t.Errorf("no keys: %v", err)
	}
}

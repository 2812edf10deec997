package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/park"
)

// screenshotDir is where the browser tests keep their screenshots, even
// in make test: $EIPGW_SCREENSHOTS, else .tools/screenshots in the
// repository (ignored by git). Each run replaces its files.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("EIPGW_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(t), ".tools", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// apiView polls base's /api/status into view and reports whether it
// answered with role.
func apiView(t *testing.T, base, role string, view any) bool {
	t.Helper()
	res, err := http.Get(base + "/api/status")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var v struct {
		Role string          `json:"role"`
		View json.RawMessage `json:"view"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatalf("%s/api/status: %v", base, err)
	}
	if v.Role != role {
		t.Fatalf("%s/api/status role %q, want %s", base, v.Role, role)
	}
	if err := json.Unmarshal(v.View, view); err != nil {
		t.Fatalf("%s/api/status view: %v", base, err)
	}
	return true
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s within %s\n%s", what, within, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// textOf returns the text of the element with id in the dumped DOM,
// tags removed.
func textOf(dom, id string) string {
	m := regexp.MustCompile(`(?s)<section id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</section>`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], " ")
}

// TestIngestAndParkPagesInBrowser runs the whole chain on the simulated
// park (edge, Mosquitto, ingest into InfluxDB 1.8.10, the park engine on
// the example park's model) and looks at the ingest and park status pages
// in headless Chromium: no console errors; ingest shows its subscription,
// a write rate and the counters, which move between two looks; the park
// page draws the Sankey diagram with its nodes (fuel, CHP, steam, power,
// tenants, losses, cascade) and its flows change between two looks; the
// tenant table and the hour's inputs are shown. Screenshots are kept in
// screenshotDir.
func TestIngestAndParkPagesInBrowser(t *testing.T) {
	chromium := testenv.Require(t, "chromium", "/usr/bin/chromium")
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	_, simAddr := testenv.StartSim(t, 11, 100*time.Millisecond)
	shots := screenshotDir(t)
	dir := t.TempDir()

	// The edge polls every simulated device.
	model, err := sim.NewPark(sim.Config{Seed: 11}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	devices, err := sim.EdgeDevices(model, "sim", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var edgeCfg strings.Builder
	fmt.Fprintf(&edgeCfg, "park: suzhou-eip\nsite: plant\nmqtt: {broker: %q, client_id: pages-edge}\nedge:\n  gateway: gw-1\n  state_dir: %s\n  buses:\n    - {name: sim, address: %q, timeout: 1s}\n  devices:\n",
		mq.URL, filepath.Join(dir, "edge"), simAddr)
	for _, d := range devices {
		fmt.Fprintf(&edgeCfg, "    - {name: %s, profile: %s, bus: sim, unit: %d, interval: 1s", d.Name, d.Profile, d.Unit)
		if d.Tenant != "" {
			fmt.Fprintf(&edgeCfg, ", tenant: %s", d.Tenant)
		}
		edgeCfg.WriteString("}\n")
	}
	ingestListen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ingestCfg := fmt.Sprintf(`park: suzhou-eip
mqtt: {broker: %q, client_id: pages-ingest}
metrics: {listen: %q}
ingest:
  batch_wait: 100ms
  influxdb: {url: %q, bucket: eipgw/autogen}
`, mq.URL, ingestListen, ifx.URL)

	// The park engine: the example park's model on the test's broker and
	// InfluxDB.
	parkListen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "config", "examples", "park.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc map[string]any
	if err := yaml.Unmarshal(raw, &pc); err != nil {
		t.Fatal(err)
	}
	pc["mqtt"] = map[string]any{"broker": mq.URL}
	pc["metrics"] = map[string]any{"listen": parkListen}
	pe := pc["park_engine"].(map[string]any)
	pe["client_id"] = "pages-park"
	pe["influxdb"] = map[string]any{"url": ifx.URL, "bucket": "eipgw/autogen"}
	parkYAML, err := yaml.Marshal(pc)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"edge": filepath.Join(dir, "edge.yaml"), "ingest": filepath.Join(dir, "ingest.yaml"), "park": filepath.Join(dir, "park.yaml")}
	for role, body := range map[string]string{"edge": edgeCfg.String(), "ingest": ingestCfg, "park": string(parkYAML)} {
		if err := os.WriteFile(paths[role], []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := start(t, "ingest", "-config", paths["ingest"])
	pk := start(t, "park", "-config", paths["park"])
	ed := start(t, "edge", "-config", paths["edge"])
	logs := func() string {
		return "edge:\n" + ed.Output() + "\ningest:\n" + in.Output() + "\npark:\n" + pk.Output()
	}
	ingestBase, parkBase := "http://"+ingestListen, "http://"+parkListen

	var iv ingest.View
	waitFor(t, "ingest subscribed and writing", 40*time.Second, func() bool {
		return apiView(t, ingestBase, "ingest", &iv) && iv.Subscription.OK && iv.Counts.Points > 0 && iv.Rate.PointsPerSecond > 0
	}, logs)
	var pv park.View
	waitFor(t, "park with a live interval whose CHP flows are valid", 60*time.Second, func() bool {
		if !apiView(t, parkBase, "park", &pv) || pv.Live == nil {
			return false
		}
		for _, l := range pv.Flows.Links {
			if l.From == "fuel" && l.To == "chp" {
				return l.Valid && l.MW > 0
			}
		}
		return false
	}, logs)

	// Ingest: two looks a few seconds apart.
	idom1, ilog1 := browser(t, chromium, ingestBase+"/status", "", 3*time.Second)
	if p := consoleProblems(idom1, ilog1); len(p) > 0 {
		t.Errorf("ingest page, console errors:\n%s", strings.Join(p, "\n"))
	}
	over := textOf(idom1, "overview")
	for _, want := range []string{"subscribed", "eip/v1/suzhou-eip/+/+", "reachable", "/s", "unacknowledged"} {
		if !strings.Contains(over, want) {
			t.Errorf("ingest page lacks %q:\n%s", want, over)
		}
	}
	for _, id := range []string{"latency", "dead-letters", "evidence"} {
		if textOf(idom1, id) == "" {
			t.Errorf("ingest page lacks the %s section", id)
		}
	}
	browser(t, chromium, ingestBase+"/status", filepath.Join(shots, "ingest-status.png"), 3*time.Second)
	time.Sleep(2 * time.Second)
	idom2, ilog2 := browser(t, chromium, ingestBase+"/status", "", 3*time.Second)
	if p := consoleProblems(idom2, ilog2); len(p) > 0 {
		t.Errorf("ingest page, second look, console errors:\n%s", strings.Join(p, "\n"))
	}
	if textOf(idom1, "overview") == textOf(idom2, "overview") {
		t.Errorf("the ingest page did not change between two looks:\n%s", textOf(idom2, "overview"))
	}

	// Park: the Sankey diagram and its nodes, two looks an interval apart.
	pdom1, plog1 := browser(t, chromium, parkBase+"/status", "", 3*time.Second)
	if p := consoleProblems(pdom1, plog1); len(p) > 0 {
		t.Errorf("park page, console errors:\n%s", strings.Join(p, "\n"))
	}
	if !strings.Contains(pdom1, `<svg id="sankey"`) {
		t.Fatalf("park page has no Sankey diagram:\n%s", pdom1)
	}
	for _, id := range []string{"fuel", "chp", "steam", "power", "chp_loss", "network_loss", "tenant:t03", "tenant:t14", "cascade:t03-t14", "boiler:boiler-1"} {
		if !strings.Contains(pdom1, `data-node="`+id+`"`) {
			t.Errorf("the Sankey diagram lacks node %s", id)
		}
	}
	bands := regexp.MustCompile(`data-link="fuel&gt;chp" data-valid="true" data-mw="([0-9.]+)"`)
	m1 := bands.FindStringSubmatch(pdom1)
	if m1 == nil {
		t.Errorf("the Sankey diagram draws no fuel -> CHP band:\n%s", pdom1)
	}
	for _, tn := range []string{"t01", "t03", "t14"} {
		if !strings.Contains(pdom1, `data-tenant="`+tn+`"`) {
			t.Errorf("tenant table lacks %s", tn)
		}
	}
	if !strings.Contains(pdom1, `data-channel="chp-1.`) || !strings.Contains(textOf(pdom1, "overview"), "min in") {
		t.Errorf("park page lacks the hour's inputs")
	}
	if ov := textOf(pdom1, "overview"); !strings.Contains(ov, "forged or unverified") || !strings.Contains(ov, "none") {
		t.Errorf("park page lacks the count of batches left out for their evidence:\n%s", ov)
	}
	browser(t, chromium, parkBase+"/status", filepath.Join(shots, "park-status.png"), 3*time.Second)
	time.Sleep(11 * time.Second) // one live interval (10 s) later
	pdom2, plog2 := browser(t, chromium, parkBase+"/status", "", 3*time.Second)
	if p := consoleProblems(pdom2, plog2); len(p) > 0 {
		t.Errorf("park page, second look, console errors:\n%s", strings.Join(p, "\n"))
	}
	flowsOf := func(dom string) string {
		return strings.Join(regexp.MustCompile(`data-mw="[0-9.]+"`).FindAllString(dom, -1), " ")
	}
	if flowsOf(pdom1) == "" || flowsOf(pdom1) == flowsOf(pdom2) {
		t.Errorf("the park's flows did not change between two looks: %s", flowsOf(pdom2))
	}
	for _, shot := range []string{"ingest-status.png", "park-status.png"} {
		if st, err := os.Stat(filepath.Join(shots, shot)); err != nil || st.Size() < 10000 {
			t.Errorf("screenshot %s missing or empty: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", shots)
	ed.Term(t, 10*time.Second)
	in.Term(t, 10*time.Second)
	pk.Term(t, 10*time.Second)
}

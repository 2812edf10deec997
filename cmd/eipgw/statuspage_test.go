package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/edge"
)

// browser loads a page in a real headless Chromium and returns the DOM
// after the page's scripts ran for budget (virtual time: its polls and
// fetches complete), and what Chromium logged. With shot set, it writes a
// screenshot there instead (PNG), and the DOM is empty.
func browser(t *testing.T, chromium, url, shot string, budget time.Duration) (dom, log string) {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--window-size=1400,1100", fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds())}
	if shot != "" {
		args = append(args, "--screenshot="+shot)
	} else {
		args = append(args, "--dump-dom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleProblems returns what the page logged to the console as errors
// or warnings, and script errors it counted itself.
func consoleProblems(dom, log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	if m := regexp.MustCompile(`data-errors="(\d+)"`).FindStringSubmatch(dom); m != nil {
		out = append(out, "page counted "+m[1]+" script errors")
	}
	return out
}

// readingOf returns the text shown for point of device in the dumped DOM.
func readingOf(dom, device, point string) string {
	row := regexp.MustCompile(`(?s)<tr data-device="` + regexp.QuoteMeta(device) + `".*?</tr>`).FindString(dom)
	m := regexp.MustCompile(`data-point="` + regexp.QuoteMeta(point) + `"><span class="n">[^<]*</span><span class="v">([^<]*)</span>`).FindStringSubmatch(row)
	if m == nil {
		return ""
	}
	return m[1]
}

// busOf returns bus name of v, empty when v has none.
func busOf(v edge.View, name string) edge.BusView {
	for _, b := range v.Buses {
		if b.Name == name {
			return b
		}
	}
	return edge.BusView{}
}

// maxLineEfficiency bounds line / busy over exchanges that follow each
// other by more than a frame's silence: each frame's closing 3.5
// characters count on the line but not in the exchange's time, which ends
// with the answer's last byte. For a request of 8 characters and an
// answer of 29 (a power meter's read), an exchange whose device answers
// after the least silence it may keep has line / busy of 44 / 40.5.
const maxLineEfficiency = 1.15

// checkLineShown checks that the page shows the serial bus rs485's line
// (baud, utilisation, line / busy) and no line for the TCP bus, which
// shows how it sends its reads instead.
func checkLineShown(t *testing.T, dom string) {
	t.Helper()
	bus := func(name string) string {
		return regexp.MustCompile(`(?s)<section data-bus="` + name + `">.*?</section>`).FindString(dom)
	}
	rs485 := bus("rs485")
	m := regexp.MustCompile(`<p class="line" data-baud="19200" data-utilisation="([0-9.e-]+)" data-efficiency="([0-9.e-]+)">`).FindStringSubmatch(rs485)
	if m == nil || !strings.Contains(rs485, "Serial line at 19200 baud") || !strings.Contains(rs485, "utilisation") ||
		!strings.Contains(rs485, "line / busy") {
		t.Fatalf("bus rs485 does not show its line:\n%s", rs485)
	}
	var u, e float64
	if _, err := fmt.Sscan(m[1], &u); err != nil || u <= 0 || u > 1 {
		t.Errorf("rs485 shown with utilisation %q", m[1])
	}
	if _, err := fmt.Sscan(m[2], &e); err != nil || e < 0.2 || e > maxLineEfficiency {
		t.Errorf("rs485 shown with line / busy %q", m[2])
	}
	if tcp := bus("plant-tcp"); tcp == "" || strings.Contains(tcp, `class="line"`) {
		t.Errorf("bus plant-tcp missing or shown with a serial line:\n%s", tcp)
	}
	// The simulated park's devices have one read each: pipeline auto
	// never has reads to send together, and says so.
	if tcp := bus("plant-tcp"); !strings.Contains(tcp, `<p class="pipeline" data-in-flight="1" data-mode="auto-untried">Modbus TCP · one read at a time`) {
		t.Errorf("bus plant-tcp does not show how it sends its reads:\n%s", tcp)
	}
	if strings.Contains(rs485, `class="pipeline"`) {
		t.Errorf("serial bus rs485 shown with a TCP pipeline:\n%s", rs485)
	}
}

func stateOf(dom, device string) string {
	m := regexp.MustCompile(`<tr data-device="` + regexp.QuoteMeta(device) + `" data-state="([a-z]+)"`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestStatusPageInBrowser runs an edge against the simulated park and
// looks at its status page in headless Chromium: the page loads without
// console errors, shows every simulated device with live values that
// follow the plant (a CHP trip) between two looks, a serial bus's line
// (the simulator's RTU on a pseudo-terminal) with its utilisation, and a
// device whose answers are cut off by an injected fault shows as backing
// off.
// Screenshots go to the test's artifact directory (go test -artifacts
// -outputdir DIR keeps them).
func TestStatusPageInBrowser(t *testing.T) {
	chromium := testenv.Require(t, "chromium", "/usr/bin/chromium")
	mq := testenv.StartMosquitto(t)
	simSrv, simAddr := testenv.StartSim(t, 5, 100*time.Millisecond)
	rtuLink := filepath.Join(t.TempDir(), "rtu")
	rtu := start(t, "sim", "-listen", "", "-rtu", "pty", "-rtu-link", rtuLink, "-baud", "19200", "-seed", "5", "-step", "100ms")
	rtu.WaitOutput(t, "simulator serving Modbus RTU", 15*time.Second)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := fmt.Sprintf(`park: page
site: plant
mqtt:
  broker: %s
  client_id: page-edge
metrics:
  listen: %s
edge:
  gateway: gw-1
  state_dir: %s
  publish_timeout: 1s
  buses:
    - {name: plant-tcp, address: "%s", timeout: 300ms}
    - {name: rs485, transport: rtu, device: "%s", baud: 19200, timeout: 300ms}
  devices:
    - {name: chp-1, profile: chp, bus: plant-tcp, unit: 1, interval: 250ms}
    - {name: cems-1, profile: cems, bus: plant-tcp, unit: 2, interval: 250ms}
    - {name: bds-1, profile: bds, bus: plant-tcp, unit: 3, interval: 250ms}
    - {name: steam-supply, profile: steam_meter, bus: plant-tcp, unit: 6, interval: 250ms}
    - {name: power-t01, profile: power_meter, bus: rs485, unit: 31, interval: 250ms, tenant: t01}
`, mq.URL, listen, t.TempDir(), simAddr, rtuLink)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, "edge", "-config", path)
	base := "http://" + listen
	view := func() edge.View {
		t.Helper()
		var v struct {
			Role string    `json:"role"`
			View edge.View `json:"view"`
		}
		res, err := http.Get(base + "/api/status")
		if err != nil {
			return edge.View{}
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
			t.Fatalf("/api/status: %v", err)
		}
		if v.Role != "edge" {
			t.Fatalf("/api/status role %q, want edge", v.Role)
		}
		return v.View
	}
	device := func(v edge.View, name string) (edge.DeviceView, bool) {
		for _, b := range v.Buses {
			for _, d := range b.Devices {
				if d.Name == name {
					return d, true
				}
			}
		}
		return edge.DeviceView{}, false
	}
	waitView := func(what string, ok func(edge.View) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok(view()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v\n%s", what, view(), e.Output())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	devices := []string{"chp-1", "cems-1", "bds-1", "steam-supply", "power-t01"}
	waitView("every device up with readings, the serial line in use", func(v edge.View) bool {
		for _, n := range devices {
			if d, ok := device(v, n); !ok || d.State != "up" || len(d.Readings) == 0 {
				return false
			}
		}
		l := busOf(v, "rs485").Line
		return v.Broker.OK && l != nil && l.RecentRequests >= 8
	})
	apiLine := busOf(view(), "rs485").Line
	if apiLine.Baud != 19200 || apiLine.Utilisation <= 0 || apiLine.Utilisation > 1 || apiLine.Efficiency == nil ||
		*apiLine.Efficiency < 0.2 || *apiLine.Efficiency > maxLineEfficiency || apiLine.RecentTimeouts != 0 {
		t.Errorf("/api/status line of rs485: %+v, efficiency %v", apiLine, *apiLine.Efficiency)
	}
	if l := busOf(view(), "plant-tcp").Line; l != nil {
		t.Errorf("/api/status: the TCP bus has a serial line: %+v", l)
	}

	art := t.ArtifactDir()
	dom1, log1 := browser(t, chromium, base+"/status", "", 2*time.Second)
	if p := consoleProblems(dom1, log1); len(p) > 0 {
		t.Errorf("console errors on the first look:\n%s", strings.Join(p, "\n"))
	}
	for _, n := range devices {
		if s := stateOf(dom1, n); s != "up" {
			t.Errorf("first look: device %s shown as %q, want up", n, s)
		}
	}
	if !strings.Contains(dom1, "connected") || !strings.Contains(dom1, "Write-ahead log") {
		t.Errorf("first look lacks the broker or log panels")
	}
	checkLineShown(t, dom1)
	v1 := readingOf(dom1, "chp-1", "electric_power")
	if v1 == "" || v1 == "0" {
		t.Fatalf("first look shows no running electric_power for chp-1 (%q):\n%s", v1, dom1)
	}
	browser(t, chromium, base+"/status", filepath.Join(art, "edge-status.png"), 2*time.Second)

	// A second look after the CHP trips. The simulated load alone may not
	// move a shown value in seconds: its noise is smooth over minutes, and
	// a CHP at its rated output reads the same power for hours.
	simSrv.Park().SetCHPTrip(true)
	time.Sleep(2 * time.Second)
	dom2, log2 := browser(t, chromium, base+"/status", "", 2*time.Second)
	if p := consoleProblems(dom2, log2); len(p) > 0 {
		t.Errorf("console errors on the second look:\n%s", strings.Join(p, "\n"))
	}
	if v2 := readingOf(dom2, "chp-1", "electric_power"); v2 != "0" {
		t.Errorf("chp-1 electric_power shown as %q then %q after the CHP tripped, want 0", v1, v2)
	}
	if s := stateOf(dom2, "chp-1"); s != "up" {
		t.Errorf("second look: chp-1 shown as %q, want up", s)
	}

	// cems-1 stops answering: after a few failed polls it is left alone
	// for longer and longer, and the page says so.
	f, err := sim.ParseFault("timeout")
	if err != nil {
		t.Fatal(err)
	}
	if err := simSrv.SetFault("cems-1", f); err != nil {
		t.Fatal(err)
	}
	waitView("cems-1 backing off for a while", func(v edge.View) bool {
		d, _ := device(v, "cems-1")
		return d.State == "backoff" && d.BackoffUntil != nil && time.Until(*d.BackoffUntil) > 5*time.Second
	})
	dom3, log3 := browser(t, chromium, base+"/status", "", 2*time.Second)
	if p := consoleProblems(dom3, log3); len(p) > 0 {
		t.Errorf("console errors with a device backing off:\n%s", strings.Join(p, "\n"))
	}
	if s := stateOf(dom3, "cems-1"); s != "backoff" {
		t.Errorf("cems-1 shown as %q after its fault, want backoff", s)
	}
	row := regexp.MustCompile(`(?s)<tr data-device="cems-1".*?</tr>`).FindString(dom3)
	if !strings.Contains(row, "backing off") || !strings.Contains(row, "retrying in") {
		t.Errorf("cems-1's row does not say it is backing off and when it retries:\n%s", row)
	}
	if s := stateOf(dom3, "chp-1"); s != "up" {
		t.Errorf("chp-1 shown as %q while only cems-1 failed", s)
	}
	browser(t, chromium, base+"/status", filepath.Join(art, "edge-status-backoff.png"), 2*time.Second)
	for _, shot := range []string{"edge-status.png", "edge-status-backoff.png"} {
		if st, err := os.Stat(filepath.Join(art, shot)); err != nil || st.Size() < 10000 {
			t.Errorf("screenshot %s missing or empty: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", art)
	e.Term(t, 10*time.Second)
}

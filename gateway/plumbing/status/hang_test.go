package status

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TestPageSaysWhenTheGatewayHangs: in a real headless Chromium, a gateway
// that answers twice and then stops answering (its process stopped: the
// connection stays open, no answer comes) is shown as not answering
// within ANSWER_MS, the last values kept. Before, the page waited on its
// request for ever and kept saying "live". The page runs in real time,
// read through Chromium's DevTools protocol: a request that never ends
// stops the virtual time the other browser tests use.
func TestPageSaysWhenTheGatewayHangs(t *testing.T) {
	var calls atomic.Int64
	hang := make(chan struct{})
	defer close(hang)
	srv := serve(t, Page{Role: "other", View: func() any {
		if calls.Add(1) > 2 {
			<-hang
		}
		return map[string]string{"value": "last-known-42"}
	}})
	eval := browse(t, srv.URL+"/status")
	const state = `(document.getElementById("live")||{}).textContent + "|" + (document.getElementById("banner")||{}).textContent + "|" + (document.getElementById("main")||{}).textContent`
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		got = eval(state)
		if strings.HasPrefix(got, "no answer|") {
			break
		}
	}
	if calls.Load() < 3 || !strings.HasPrefix(got, "no answer|") || !strings.Contains(got, "does not answer") {
		t.Fatalf("after %d requests the page shows %q; want it to say the gateway does not answer", calls.Load(), got)
	}
	if !strings.Contains(got, "last-known-42") {
		t.Errorf("the last values are not kept: %q", got)
	}
}

// browse opens url in a real headless Chromium running in real time and
// returns a function evaluating a JavaScript expression in the page
// through the DevTools protocol.
func browse(t *testing.T, url string) (eval func(expr string) string) {
	t.Helper()
	chromium := testenv.Require(t, "chromium", "/usr/bin/chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "about:blank")
	// Its own process group: the browser's helper processes go with it,
	// before the test's directory is removed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	var devtools string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := regexp.MustCompile(`DevTools listening on (ws://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			devtools = m[1]
			break
		}
	}
	if devtools == "" {
		t.Fatal("chromium did not say where its DevTools listen")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	host := strings.TrimPrefix(devtools, "ws://")
	host = host[:strings.Index(host, "/")]
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+host+"/json/new?"+url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	err = json.NewDecoder(resp.Body).Decode(&target)
	resp.Body.Close()
	if err != nil || target.WebSocketDebuggerURL == "" {
		t.Fatalf("new page: %v %+v", err, target)
	}
	ws, err := websocket.Dial(target.WebSocketDebuggerURL, "", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	id := 0
	return func(expr string) string {
		t.Helper()
		id++
		if err := websocket.JSON.Send(ws, map[string]any{"id": id, "method": "Runtime.evaluate", "params": map[string]any{"expression": expr, "returnByValue": true}}); err != nil {
			t.Fatal(err)
		}
		for {
			var m struct {
				ID     int `json:"id"`
				Result struct {
					Result struct {
						Value any `json:"value"`
					} `json:"result"`
				} `json:"result"`
			}
			// The answer waits for the page's main thread, which a large
			// page keeps busy for seconds, longer on a loaded machine.
			ws.SetReadDeadline(time.Now().Add(60 * time.Second))
			if err := websocket.JSON.Receive(ws, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID == id {
				return fmt.Sprint(m.Result.Result.Value)
			}
		}
	}
}

// TestLargePagePollsLessOften: a view that takes the browser long to draw
// (a site of a thousand devices) is polled less often, so that drawing
// takes at most a fifth of the time, and the page says so; the tab stays
// usable where it used to redraw without rest.
func TestLargePagePollsLessOften(t *testing.T) {
	// 16 MB of text: the browser takes far longer to parse and lay it out
	// than its 1 s poll allows, on any machine.
	big := map[string]string{"text": strings.Repeat("0123456789 abcde", 1<<20)}
	var calls atomic.Int64
	srv := serve(t, Page{Role: "other", View: func() any { calls.Add(1); return big }})
	eval := browse(t, srv.URL+"/status")
	var updated string
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if updated = eval(`document.getElementById("updated").textContent`); strings.Contains(updated, "every") {
			break
		}
	}
	if !strings.Contains(updated, "a large page") {
		t.Fatalf("the page does not say it polls less often: %q", updated)
	}
	before := calls.Load()
	time.Sleep(6 * time.Second)
	if n := calls.Load() - before; n > 4 {
		t.Errorf("%d polls in 6 s of a page that takes long to draw", n)
	}
	t.Logf("%s; %d polls in 6 s", updated, calls.Load()-before)
}

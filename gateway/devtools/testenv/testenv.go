// Package testenv starts the real services integration tests talk to — a
// Mosquitto broker and an InfluxDB 1.8 server — on free loopback ports with
// their data in the test's temporary directory, and stops them when the test
// ends. When a binary is missing the test is skipped, except under CI
// (CI=true), where a missing binary fails the test.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Require fails (under CI) or skips the test when the binary cannot be
// found, and returns its path otherwise.
func Require(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	msg := fmt.Sprintf("%s not found in PATH or %v; run `make tools` to install it", name, candidates)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not accepting connections after %s: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is a started service.
type Process struct {
	t       testing.TB
	name    string
	argv    []string
	addr    string
	logPath string
	cmd     *exec.Cmd
	waitErr chan error
}

func (p *Process) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd = cmd
	p.waitErr = make(chan error, 1)
	go func() { p.waitErr <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case werr := <-p.waitErr:
			log, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("%s exited at start: %v\n%s", p.name, werr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("%s not listening on %s after 30s\n%s", p.name, p.addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the service with SIGTERM (SIGKILL after 10 s) and waits.
func (p *Process) Stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waitErr:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.waitErr
	}
	p.cmd = nil
}

// Kill stops the service with SIGKILL.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.waitErr
	p.cmd = nil
}

// Restart starts a stopped service again with the same data.
func (p *Process) Restart() { p.t.Helper(); p.start() }

// Pid is the service's process id, 0 when it is stopped.
func (p *Process) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Log returns what the service printed so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Mosquitto is a running broker.
type Mosquitto struct {
	*Process
	// URL is the broker URL for clients, tcp://127.0.0.1:port.
	URL  string
	Addr string
}

// MosquittoOptions vary the broker.
type MosquittoOptions struct {
	// NoPersistence runs the broker without its persistence file: a
	// restart forgets every session and queued message.
	NoPersistence bool
	// TLS makes the listener TLS (URL ssl://...); see tls.go.
	TLS *ServerTLS
	// DenyAnonymous refuses clients without a user name (not
	// authorised).
	DenyAnonymous bool
	// Extra lines of mosquitto.conf, after the test's own: a later
	// setting of an option replaces the test's.
	Extra string
}

// StartMosquitto starts a Mosquitto broker with persistence in a temporary
// directory, anonymous access, unlimited queues for offline persistent
// sessions and a large in-flight window.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoOpts(t, MosquittoOptions{})
}

// StartMosquittoOpts is StartMosquitto with options.
func StartMosquittoOpts(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	bin := Require(t, "mosquitto", "/usr/sbin/mosquitto")
	dir := t.TempDir()
	port := FreePort(t)
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous %t
persistence %t
persistence_location %s/
autosave_interval 1
max_inflight_messages 1000
max_queued_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
`, port, !o.DenyAnonymous, !o.NoPersistence, dir) + o.TLS.mosquittoConf() + o.Extra
	if os.Geteuid() == 0 {
		// Started as root, mosquitto switches to the "mosquitto" user, which
		// cannot write the persistence file into the test's directory.
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	m := &Mosquitto{
		Process: &Process{t: t, name: "mosquitto", argv: []string{bin, "-c", confPath}, addr: addr, logPath: filepath.Join(dir, "mosquitto.log")},
		URL:     o.TLS.scheme("tcp", "ssl") + "://" + addr, Addr: addr,
	}
	m.start()
	t.Cleanup(m.Stop)
	return m
}

// Influx is a running InfluxDB 1.8 server.
type Influx struct {
	*Process
	// URL is the HTTP API base URL, http://127.0.0.1:port (https:// with
	// InfluxOptions.TLS).
	URL string
	// client trusts the server's certificate authority (nil: default).
	client *http.Client
}

// InfluxdBinary finds influxd: $EIPGW_INFLUXD, PATH, the repository's
// .tools/bin, or $GOPATH/bin.
func InfluxdBinary(t testing.TB) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("EIPGW_INFLUXD"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, filepath.Join(RepoRoot(t), ".tools", "bin", "influxd"))
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		cands = append(cands, filepath.Join(strings.TrimSpace(string(gp)), "bin", "influxd"))
	}
	return Require(t, "influxd", cands...)
}

// StartInflux starts influxd with its data in a temporary directory and
// creates database db (with its default retention policy "autogen").
func StartInflux(t testing.TB, db string) *Influx {
	t.Helper()
	return StartInfluxOpts(t, db, InfluxOptions{})
}

// StartInfluxOpts is StartInflux with options.
func StartInfluxOpts(t testing.TB, db string, o InfluxOptions) *Influx {
	t.Helper()
	bin := InfluxdBinary(t)
	dir := t.TempDir()
	port, rpc := FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%[3]d"
  log-enabled = false
  flux-enabled = false
%[4]s[monitor]
  store-enabled = false
[logging]
  level = "warn"
`, rpc, dir, port, o.TLS.influxConf())
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	in := &Influx{
		Process: &Process{t: t, name: "influxd", argv: []string{bin, "run", "-config", confPath}, addr: addr, logPath: filepath.Join(dir, "influxd.log")},
		URL:     o.TLS.scheme("http", "https") + "://" + addr,
		client:  o.TLS.httpClient(t),
	}
	in.start()
	t.Cleanup(in.Stop)
	if _, err := in.Query("", "CREATE DATABASE "+strconv.Quote(db)); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	return in
}

// Series is one series of an InfluxQL result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL q against db and returns the series of its first
// statement. Times are epoch milliseconds; numbers are json.Number.
func (in *Influx) Query(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "epoch": {"ms"}}
	if db != "" {
		form.Set("db", db)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := http.DefaultClient
	if in.client != nil {
		client = in.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	var r struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(&body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: status %d: %w", q, resp.StatusCode, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	if len(r.Results) == 0 {
		return nil, nil
	}
	if r.Results[0].Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, r.Results[0].Error)
	}
	return r.Results[0].Series, nil
}

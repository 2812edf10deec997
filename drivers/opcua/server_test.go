package opcua_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua"
)

// The third-party peer: node-opcua (npm, MIT) running testdata/server.js,
// installed into .tools/node by scripts/tools.sh (make tools).

// nodeModules is where scripts/tools.sh installs node-opcua.
const nodeModules = "../../.tools/node/node_modules"

func requireNodeOPCUA(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	_, merr := os.Stat(filepath.Join(nodeModules, "node-opcua", "package.json"))
	if err == nil && merr == nil {
		return node
	}
	msg := "node and node-opcua are not installed; run `scripts/tools.sh opcua` (make tools)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// certPair writes a self-signed RSA certificate with the application URI
// and its key (PEM) into dir, named base_cert.pem and base_key.pem.
func certPair(t *testing.T, dir, base, uri string) (cert, key string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: base, Organization: []string{"eipgw tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, base+"_cert.pem"), filepath.Join(dir, base+"_key.pem")
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cert, "CERTIFICATE", der)
	write(key, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	if err := os.WriteFile(filepath.Join(dir, base+"_cert.der"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// pki is the certificates of one test: the server's and the gateway's.
type pki struct {
	dir                   string
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	certPair(t, dir, "server", "urn:eipgw:test-server")
	c, k := certPair(t, dir, "client", config.DefaultOPCUAApplicationURI)
	return &pki{dir: dir, clientCert: c, clientKey: k}
}

// server is a running node-opcua test server.
type server struct {
	t      *testing.T
	node   string
	args   []string
	port   int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	log    strings.Builder
	lines  chan string
	waited chan struct{}
}

// startServer serves testdata/server.js on a free port; trusted is the
// client certificate the server trusts (empty: none), login user:password
// (empty: anonymous).
func startServer(t *testing.T, p *pki, trusted, login string) *server {
	t.Helper()
	node := requireNodeOPCUA(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{t: t, node: node, port: port, args: []string{"testdata/server.js", fmt.Sprint(port), p.dir, trusted, login}}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.node, s.args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd, s.stdin, s.lines, s.waited = cmd, in, make(chan string, 100), make(chan struct{})
	lines, waited := s.lines, s.waited
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "ready ") || strings.HasPrefix(sc.Text(), "done ") {
				lines <- sc.Text()
			}
		}
		cmd.Wait()
		close(waited)
	}()
	s.expect("ready", 60*time.Second)
}

func (s *server) expect(prefix string, within time.Duration) {
	s.t.Helper()
	select {
	case l := <-s.lines:
		if !strings.HasPrefix(l, prefix) {
			s.t.Fatalf("server said %q, want %s", l, prefix)
		}
	case <-s.waited:
		s.t.Fatalf("server exited before %s:\n%s", prefix, s.Log())
	case <-time.After(within):
		s.t.Fatalf("server not %s within %s:\n%s", prefix, within, s.Log())
	}
}

// command sends a command (remove Name, close-sessions, set Name v).
func (s *server) command(c string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, c+"\n"); err != nil {
		s.t.Fatal(err)
	}
	s.expect("done", 10*time.Second)
}

func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.waited
	if s.t.Failed() {
		s.t.Logf("node-opcua server log:\n%s", s.Log())
	}
	s.cmd = nil
}

func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) endpoint() string { return fmt.Sprintf("opc.tcp://127.0.0.1:%d", s.port) }

// collector records what a source hands to its sink.
type collector struct {
	mu      sync.Mutex
	batches []batch
	log     strings.Builder // the source's log
}

func (c *collector) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(b)
}

// logged is the source's log so far.
func (c *collector) logged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

type batch struct {
	device string
	at     time.Time
	rs     []drivers.Reading
}

func (c *collector) sink(d *drivers.Device, at time.Time, rs []drivers.Reading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, batch{d.Name, at, append([]drivers.Reading(nil), rs...)})
}

// latest is the latest reading of each point of the device.
func (c *collector) latest(device string) map[string]drivers.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]drivers.Reading{}
	for _, b := range c.batches {
		if b.device != device {
			continue
		}
		for _, r := range b.rs {
			out[r.Name] = r
		}
	}
	return out
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts the sources of a configuration and stops them at the end of
// the test; it returns the collector and the source.
func run(t *testing.T, yaml string) (*collector, drivers.Source) {
	t.Helper()
	f, err := config.Parse("opcua-test.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srcs, err := opcua.Driver{}.Sources(f.Edge.Buses, f.Edge.Devices, slog.New(slog.NewTextHandler(c, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srcs[0].Run(ctx, c.sink)
		close(done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", c.logged())
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	return c, srcs[0]
}

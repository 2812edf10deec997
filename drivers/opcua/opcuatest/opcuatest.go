// Package opcuatest runs the third-party OPC UA server of the OPC UA
// driver's tests: node-opcua (npm, MIT) serving drivers/opcua/testdata/
// server.js, installed into .tools/node by scripts/tools.sh opcua (make
// tools), with certificates made by the test. A missing node or node-opcua
// skips the test, or fails it under CI (CI=true).
package opcuatest

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

// paths are node-opcua's install folder and the server script.
func paths() (modules, script string) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	return filepath.Join(dir, "..", "..", "..", ".tools", "node", "node_modules"), filepath.Join(dir, "..", "testdata", "server.js")
}

// RequireNode returns the node binary, or skips the test (fails it under
// CI) when node or node-opcua is missing.
func RequireNode(t testing.TB) string {
	t.Helper()
	nodeModules, _ := paths()
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
func certPair(t testing.TB, dir, base, uri string) (cert, key string) {
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

// PKI is the certificates of one test, in Dir: the server's
// (server_cert.pem, server_key.pem) and the gateway's (ClientCert,
// ClientKey; ClientDER for the server's trust list), each with its
// application URI.
type PKI struct {
	Dir                   string
	ClientCert, ClientKey string
	ClientDER             string
}

// NewPKI makes the certificates in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	dir := t.TempDir()
	certPair(t, dir, "server", "urn:eipgw:test-server")
	c, k := certPair(t, dir, "client", config.DefaultOPCUAApplicationURI)
	return &PKI{Dir: dir, ClientCert: c, ClientKey: k, ClientDER: filepath.Join(dir, "client_cert.der")}
}

// Server is a running node-opcua test server.
type Server struct {
	t      testing.TB
	node   string
	args   []string
	env    []string // added to the server's environment
	port   int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	log    strings.Builder
	lines  chan string
	waited chan struct{}
}

// StartServer serves testdata/server.js on a free loopback port until the
// test ends; trusted is the client certificate (DER) the server trusts
// (empty: none), login user:password (empty: anonymous logins).
func StartServer(t testing.TB, p *PKI, trusted, login string) *Server {
	t.Helper()
	return StartServerEnv(t, p, trusted, login)
}

// StartServerEnv is StartServer with environment variables for the
// server (see testdata/server.js: EIPGW_UA_LIMIT, EIPGW_UA_MANY, ...).
func StartServerEnv(t testing.TB, p *PKI, trusted, login string, env ...string) *Server {
	t.Helper()
	node := RequireNode(t)
	_, script := paths()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, node: node, port: port, args: []string{script, fmt.Sprint(port), p.Dir, trusted, login}, env: env}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again, on the same port).
func (s *Server) Start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.node, s.args...)
	nodeModules, _ := paths()
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+nodeModules), s.env...)
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

func (s *Server) expect(prefix string, within time.Duration) string {
	s.t.Helper()
	select {
	case l := <-s.lines:
		if !strings.HasPrefix(l, prefix) {
			s.t.Fatalf("server said %q, want %s", l, prefix)
		}
		return l
	case <-s.waited:
		s.t.Fatalf("server exited before %s:\n%s", prefix, s.Log())
	case <-time.After(within):
		s.t.Fatalf("server not %s within %s:\n%s", prefix, within, s.Log())
	}
	return ""
}

// Command sends a command (remove Name, close-sessions, set Name v) and
// waits for it to be done.
func (s *Server) Command(c string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, c+"\n"); err != nil {
		s.t.Fatal(err)
	}
	s.expect("done", 10*time.Second)
}

// Sessions is the number of sessions the server holds, active or
// awaiting reactivation on a new connection.
func (s *Server) Sessions() int {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, "sessions\n"); err != nil {
		s.t.Fatal(err)
	}
	l := s.expect("done sessions ", 10*time.Second)
	n, err := strconv.Atoi(strings.TrimPrefix(l, "done sessions "))
	if err != nil {
		s.t.Fatalf("server said %q: %v", l, err)
	}
	return n
}

// PublishHints is the least timeout hint of the publish requests the
// server received (0: none yet) and the longest keep-alive period of the
// subscriptions it holds.
func (s *Server) PublishHints() (hint, keepAlive time.Duration) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, "publish-hints\n"); err != nil {
		s.t.Fatal(err)
	}
	l := s.expect("done publish-hints ", 10*time.Second)
	var h, k int64
	if _, err := fmt.Sscanf(l, "done publish-hints %d %d", &h, &k); err != nil {
		s.t.Fatalf("server said %q: %v", l, err)
	}
	return time.Duration(h) * time.Millisecond, time.Duration(k) * time.Millisecond
}

// Stop kills the server.
func (s *Server) Stop() {
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

// Log is what the server printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Endpoint is the server's opc.tcp URL.
func (s *Server) Endpoint() string { return fmt.Sprintf("opc.tcp://127.0.0.1:%d", s.port) }

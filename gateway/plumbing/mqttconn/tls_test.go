package mqttconn

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// dial connects like edge, ingest and park do and returns Connect's error
// and what was logged.
func dial(t *testing.T, broker string, tc *config.TLS, timeout time.Duration) (string, error) {
	t.Helper()
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := &config.MQTT{Broker: broker, KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second, TLS: tc}
	c := NewClient(Options(cfg, "tls-test-"+strconv.FormatInt(time.Now().UnixNano(), 36), log))
	err := Connect(c, timeout)
	c.Disconnect(0)
	return logs.String(), err
}

// TestTLSBroker: against Mosquitto requiring client certificates, the
// right CA and client certificate connect; each wrong one fails at once
// with its cause, returned by Connect and logged.
func TestTLSBroker(t *testing.T) {
	pki := testenv.NewPKI(t)
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{TLS: &testenv.ServerTLS{Cert: pki.Server, ClientCA: pki.CA, CA: pki.CA}})
	if !strings.HasPrefix(mq.URL, "ssl://") {
		t.Fatalf("broker URL %s", mq.URL)
	}
	if logs, err := dial(t, mq.URL, &config.TLS{CAFile: pki.CA, CertFile: pki.Client.Cert, KeyFile: pki.Client.Key}, 10*time.Second); err != nil {
		t.Fatalf("right certificates: %v\n%s", err, logs)
	}
	// localhost is in the server certificate too, and TLS 1.3 is served.
	if logs, err := dial(t, "mqtts://localhost:"+strings.Split(mq.Addr, ":")[1],
		&config.TLS{CAFile: pki.CA, CertFile: pki.Client.Cert, KeyFile: pki.Client.Key, MinVersion: "1.3"}, 10*time.Second); err != nil {
		t.Fatalf("by host name: %v\n%s", err, logs)
	}
	for _, c := range []struct {
		name  string
		tls   *config.TLS
		cause string
		text  string // in the error and in the log
	}{
		{"wrong CA", &config.TLS{CAFile: pki.OtherCA, CertFile: pki.Client.Cert, KeyFile: pki.Client.Key}, CauseUnknownAuthority, "x509: certificate signed by unknown authority"},
		{"system CAs", nil, CauseUnknownAuthority, "x509: certificate signed by unknown authority"},
		{"wrong server name", &config.TLS{CAFile: pki.CA, CertFile: pki.Client.Cert, KeyFile: pki.Client.Key, ServerName: "broker.example"}, CauseWrongHost, "not broker.example"},
		{"no client certificate", &config.TLS{CAFile: pki.CA}, CauseRejectedByServer, "remote error: tls: "},
		{"client certificate of another CA", &config.TLS{CAFile: pki.CA, CertFile: pki.OtherClient.Cert, KeyFile: pki.OtherClient.Key}, CauseRejectedByServer, "remote error: tls: "},
		{"expired client certificate", &config.TLS{CAFile: pki.CA, CertFile: pki.ExpiredClient.Cert, KeyFile: pki.ExpiredClient.Key}, CauseRejectedByServer, "remote error: tls: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Permanent causes return at the first failed attempt, long
			// before this timeout; a timeout here fails the test below.
			logs, err := dial(t, mq.URL, c.tls, time.Minute)
			if err == nil {
				t.Fatal("connected")
			}
			if !errors.Is(err, ErrNotConnected) || strings.Contains(err.Error(), "after 1m") {
				t.Errorf("not an early ErrNotConnected: %v", err)
			}
			if got := Cause(err); got != c.cause {
				t.Errorf("cause %q, want %q (err %v)", got, c.cause, err)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q lacks %q", err, c.text)
			}
			if !strings.Contains(logs, "mqtt connection attempt failed") || !strings.Contains(logs, c.text) || !strings.Contains(logs, c.cause) {
				t.Errorf("log lacks the cause %q / %q:\n%s", c.cause, c.text, logs)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	// The TLS block is used only with a TLS URL; TLS to a plain URL is
	// refused by config.Load, and a plain client to the TLS port fails.
	if _, err := dial(t, "tcp://"+mq.Addr, nil, 2*time.Second); err == nil {
		t.Fatal("plain MQTT connected to the TLS listener")
	}
}

func TestExpiredServerCertificate(t *testing.T) {
	pki := testenv.NewPKI(t)
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{TLS: &testenv.ServerTLS{Cert: pki.ExpiredServer, CA: pki.CA}})
	logs, err := dial(t, mq.URL, &config.TLS{CAFile: pki.CA}, time.Minute)
	if Cause(err) != CauseCertificateExpired || !strings.Contains(err.Error(), "x509: certificate has expired") {
		t.Fatalf("got %v (cause %q)", err, Cause(err))
	}
	if !strings.Contains(logs, "x509: certificate has expired") {
		t.Fatalf("cause not logged:\n%s", logs)
	}
}

// TestInsecureSkipVerifyWarns: allowed, connects to any certificate, and
// says so in the log.
func TestInsecureSkipVerifyWarns(t *testing.T) {
	pki := testenv.NewPKI(t)
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{TLS: &testenv.ServerTLS{Cert: pki.OtherServer}})
	logs, err := dial(t, mq.URL, &config.TLS{InsecureSkipVerify: true}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "insecure_skip_verify") {
		t.Fatalf("no warning:\n%s", logs)
	}
}

func TestNotAuthorised(t *testing.T) {
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{DenyAnonymous: true})
	logs, err := dial(t, mq.URL, nil, time.Minute)
	if Cause(err) != CauseNotAuthorised || !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("got %v (cause %q)", err, Cause(err))
	}
	if !strings.Contains(logs, CauseNotAuthorised) {
		t.Fatalf("cause not logged:\n%s", logs)
	}
}

// TestRefusedIsRetriedUntilTimeout: nothing listens; a refused connection
// may be a broker starting, so Connect waits its timeout, then says why.
func TestRefusedIsRetriedUntilTimeout(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	logs, err := dial(t, "tcp://"+addr, nil, 1500*time.Millisecond)
	if !errors.Is(err, ErrNotConnected) || Cause(err) != CauseRefused || !strings.Contains(err.Error(), "after 1.5s") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v (cause %q)", err, Cause(err))
	}
	// Two attempts at least (one per second), one log line: the same
	// cause is not repeated every second.
	if n := strings.Count(logs, "mqtt connection attempt failed"); n != 1 {
		t.Fatalf("%d failure lines:\n%s", n, logs)
	}
}

// TestTLSConfigFilesGoneAtRuntime: files that Load checked and that
// vanished before connecting fail every attempt with that error.
func TestTLSConfigFilesGoneAtRuntime(t *testing.T) {
	logs, err := dial(t, "ssl://127.0.0.1:1", &config.TLS{CAFile: t.TempDir() + "/gone.pem"}, time.Minute)
	if Cause(err) != CauseTLSConfig || !strings.Contains(err.Error(), "gone.pem") || !strings.Contains(logs, "gone.pem") {
		t.Fatalf("got %v\n%s", err, logs)
	}
}

// TestTLSConfigCopies: the configuration handed out is a copy per use.
func TestTLSConfigCopies(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tc := &config.TLS{}
	a, err := TLSConfig(tc, "https://h", log)
	if err != nil {
		t.Fatal(err)
	}
	a.MinVersion = tls.VersionTLS10
	b, _ := TLSConfig(tc, "https://h", log)
	if b.MinVersion != tls.VersionTLS12 {
		t.Fatal("shared configuration")
	}
}

// TestFailureLogCountsCausesApart: a broker that refuses a missing client
// certificate fails some attempts with its TLS alert and others with a
// reset, whichever the client reads first. Forty attempts alternating
// between the two log two lines, one per cause, not forty (before: a
// line at every flip, about one every 1.6 s for as long as it lasted).
func TestFailureLogCountsCausesApart(t *testing.T) {
	var logs testenv.LogBuffer
	f := &failureLog{log: slog.New(slog.NewTextHandler(&logs, nil)), broker: "ssl://b:8883", clientID: "c"}
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	reset := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	for i := range 40 {
		f.notify(nil, mqtt.ConnectionNotificationFailed{Reason: []error{alert, reset}[i%2]})
	}
	out := logs.String()
	if n := strings.Count(out, "mqtt connection attempt failed"); n != 2 || !strings.Contains(out, CauseRejectedByServer) || !strings.Contains(out, CauseNetwork) {
		t.Fatalf("%d lines:\n%s", n, out)
	}
	// Connected again: the next failure is logged at once.
	f.notify(nil, mqtt.ConnectionNotificationConnected{})
	f.notify(nil, mqtt.ConnectionNotificationFailed{Reason: reset})
	if n := strings.Count(logs.String(), "mqtt connection attempt failed"); n != 3 {
		t.Fatalf("%d lines after a connection and a failure:\n%s", n, logs.String())
	}
}

// TestTLSVersionRefused: a server that offers TLS 1.2 at most, and a
// client whose tls.min_version is 1.3: the server's alert names the
// version, not a client certificate, and the failure is permanent.
func TestTLSVersionRefused(t *testing.T) {
	pki := testenv.NewPKI(t)
	cert, err := tls.LoadX509KeyPair(pki.Server.Cert, pki.Server.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	logs, err := dial(t, "ssl://"+ln.Addr().String(), &config.TLS{CAFile: pki.CA, MinVersion: "1.3"}, time.Minute)
	if err == nil {
		t.Fatal("connected")
	}
	if got := Cause(err); got != CauseTLSVersion || !Permanent(err) {
		t.Errorf("cause %q (permanent %v), want %q (err %v)", got, Permanent(err), CauseTLSVersion, err)
	}
	if !strings.Contains(logs, CauseTLSVersion) {
		t.Errorf("log lacks the cause:\n%s", logs)
	}
}

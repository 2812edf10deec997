package mqttconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ErrNotConnected is returned by Connect when the client is not connected
// at its deadline; the client keeps retrying in the background.
var ErrNotConnected = errors.New("mqtt: not connected")

// failureLogInterval is how often an unchanged connection failure is
// logged again while the client retries (every second).
const failureLogInterval = time.Minute

// failureLog logs failed connection attempts with their cause: each cause
// at its first failure, then at most every failureLogInterval with the
// number of attempts it failed in between. Causes are counted apart: a
// broker that refuses a missing client certificate fails some attempts
// with its TLS alert and others with a reset (whichever the client reads
// first), and the log must not turn each flip into a line.
type failureLog struct {
	log      *slog.Logger
	broker   string
	clientID string

	mu     sync.Mutex
	causes map[string]*causeLog
}

type causeLog struct {
	lastTime time.Time
	repeats  int
}

func (f *failureLog) notify(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationFailed:
		cause := Cause(n.Reason)
		now := time.Now()
		f.mu.Lock()
		if f.causes == nil {
			f.causes = map[string]*causeLog{}
		}
		c := f.causes[cause]
		if c != nil && now.Sub(c.lastTime) < failureLogInterval {
			c.repeats++
			f.mu.Unlock()
			return
		}
		repeats := 0
		if c != nil {
			repeats = c.repeats
		}
		f.causes[cause] = &causeLog{lastTime: now}
		f.mu.Unlock()
		f.log.Warn("mqtt connection attempt failed", "broker", f.broker, "client_id", f.clientID,
			"cause", cause, "err", n.Reason, "failed_since_last_log", repeats)
	case mqtt.ConnectionNotificationConnected:
		f.mu.Lock()
		clear(f.causes)
		f.mu.Unlock()
	}
}

// OnFailure makes o call fn with the error of each failed connection
// attempt (after what o did already), so that a role's readiness can say
// why it is not connected. Call it before NewClient.
func OnFailure(o *mqtt.ClientOptions, fn func(error)) *mqtt.ClientOptions {
	prev := o.OnConnectionNotification
	return o.SetConnectionNotificationHandler(func(c mqtt.Client, n mqtt.ConnectionNotification) {
		if prev != nil {
			prev(c, n)
		}
		if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
			fn(f.Reason)
		}
	})
}

// attempts remembers the last failed connection attempt of a client.
type attempts struct {
	mu     sync.Mutex
	last   error
	failed chan struct{} // signalled at each failure
}

func (a *attempts) notify(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationFailed:
		a.mu.Lock()
		a.last = n.Reason
		a.mu.Unlock()
		select {
		case a.failed <- struct{}{}:
		default:
		}
	case mqtt.ConnectionNotificationConnected:
		a.mu.Lock()
		a.last = nil
		a.mu.Unlock()
	}
}

func (a *attempts) lastErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// client is an MQTT client that remembers why its connection attempts
// failed, so that Connect can say.
type client struct {
	mqtt.Client
	attempts *attempts
}

// NewClient is mqtt.NewClient for options from Options: Connect on the
// client it returns reports the cause of failed attempts.
func NewClient(o *mqtt.ClientOptions) mqtt.Client {
	a := &attempts{failed: make(chan struct{}, 1)}
	prev := o.OnConnectionNotification
	o.SetConnectionNotificationHandler(func(c mqtt.Client, n mqtt.ConnectionNotification) {
		if prev != nil {
			prev(c, n) // logs the failure before Connect can return it
		}
		a.notify(c, n)
	})
	return &client{Client: mqtt.NewClient(o), attempts: a}
}

// Connect starts connecting c and waits up to timeout for the first
// connection. With ConnectRetry set (Options sets it), the client keeps
// trying in the background after Connect returns an error.
//
// For a client made by NewClient, the error wraps the cause of the last
// failed attempt (errors.Is/As work: x509 errors, *net.OpError, paho's
// packets.ErrorRefused...), and Connect returns at the first attempt that
// failed for a cause waiting will not cure (a certificate the other side
// refuses, credentials refused); a refused or timed-out TCP connection is
// retried until timeout.
func Connect(c mqtt.Client, timeout time.Duration) error {
	t := c.Connect()
	tc, _ := c.(*client)
	var failed <-chan struct{}
	if tc != nil {
		failed = tc.attempts.failed
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-t.Done():
			return t.Error()
		case <-failed:
			if err := tc.attempts.lastErr(); err != nil && Permanent(err) {
				return fmt.Errorf("%w: %s (still retrying): %w", ErrNotConnected, Cause(err), err)
			}
		case <-deadline.C:
			if tc != nil {
				if err := tc.attempts.lastErr(); err != nil {
					return fmt.Errorf("%w after %s: %s (still retrying): %w", ErrNotConnected, timeout, Cause(err), err)
				}
			}
			return fmt.Errorf("%w after %s (still retrying)", ErrNotConnected, timeout)
		}
	}
}

// Permanent reports whether a connection failure is one that retrying
// will not cure without a change on one side: TLS verification failed
// here or at the broker, or the broker refused the client's credentials,
// identity or protocol.
func Permanent(err error) bool {
	switch Cause(err) {
	case CauseUnknownAuthority, CauseBadCertificate, CauseCertificateExpired, CauseWrongHost, CauseRejectedByServer, CauseTLSVersion, CauseTLSHandshake,
		CauseNotAuthorised, CauseBadCredentials, CauseIdentifierRejected, CauseProtocol, CauseTLSConfig:
		return true
	}
	return false
}

// Causes of a failed connection, as Cause names them in logs.
const (
	CauseUnknownAuthority   = "server certificate signed by an unknown authority"
	CauseCertificateExpired = "server certificate expired or not yet valid"
	CauseWrongHost          = "server certificate not valid for this host name"
	CauseBadCertificate     = "server certificate invalid"
	CauseRejectedByServer   = "server refused the TLS handshake (client certificate missing, expired or unknown to it)"
	CauseTLSVersion         = "server refused the TLS version (tls.min_version above what it offers)"
	CauseTLSHandshake       = "server refused the TLS handshake (no TLS version or cipher suite in common, or, up to TLS 1.2, a client certificate missing or refused)"
	CauseNotAuthorised      = "broker refused: not authorised"
	CauseBadCredentials     = "broker refused: bad user name or password"
	CauseIdentifierRejected = "broker refused the client id"
	CauseProtocol           = "broker refused the protocol version"
	CauseUnavailable        = "broker unavailable"
	CauseRefused            = "connection refused"
	CauseTimeout            = "timed out"
	CauseTLSConfig          = "tls configuration"
	CauseNetwork            = "network error"
)

// Cause classifies a connection failure in words an operator can act on.
func Cause(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		op       *net.OpError
		cfgErr   *tlsConfigError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &cfgErr):
		return CauseTLSConfig
	case errors.As(err, &unknown):
		return CauseUnknownAuthority
	case errors.As(err, &hostname):
		return CauseWrongHost
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return CauseCertificateExpired
		}
		return CauseBadCertificate
	case errors.As(err, &verify):
		return CauseBadCertificate
	case errors.As(err, &op) && op.Op == "remote error":
		// A TLS alert from the server, named by its description.
		return alertCause(op.Err)
	case errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return CauseNotAuthorised
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return CauseBadCredentials
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return CauseIdentifierRejected
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return CauseProtocol
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return CauseUnavailable
	case isRefused(err):
		return CauseRefused
	case isTimeout(err):
		return CauseTimeout
	}
	return CauseNetwork
}

// alertCause names the cause of a TLS alert the server sent: most refuse
// our certificate (or our lack of one); a version or cipher the server
// does not offer is another matter for the operator.
func alertCause(alert error) string {
	if alert == nil {
		return CauseRejectedByServer
	}
	switch a := alert.Error(); {
	case strings.Contains(a, "protocol version"):
		return CauseTLSVersion
	case strings.Contains(a, "handshake failure"), strings.Contains(a, "insufficient security"):
		// Up to TLS 1.2 a server refusing the client's certificate (or
		// its lack) may send the same alert: the cause names both.
		return CauseTLSHandshake
	}
	return CauseRejectedByServer
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tlsConfigError is a tls block that could not be loaded when the client
// was built; every connection attempt fails with it.
type tlsConfigError struct{ err error }

func (e *tlsConfigError) Error() string { return e.err.Error() }
func (e *tlsConfigError) Unwrap() error { return e.err }

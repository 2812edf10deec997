package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TLS is the client side of a TLS connection (mqtt.tls,
// ingest.influxdb.tls, park_engine.influxdb.tls). It applies to ssl://,
// tls://, mqtts://, wss:// brokers and https:// InfluxDB URLs; a tls block
// beside a plain tcp:// or http:// URL is an error.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities that may sign
	// the server's certificate; empty: the system's CA store.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate (PEM, may carry its
	// chain) and its private key, for servers that require one. Both or
	// neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name checked against the server's certificate
	// when it differs from the URL's host (e.g. a broker reached by IP).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. It defeats TLS
	// against an active attacker; every connection logs a warning.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// MinVersion is the oldest protocol version accepted: "1.2" (default)
	// or "1.3".
	MinVersion string `yaml:"min_version"`

	// loaded is the configuration built by Load.
	loaded *tls.Config
}

// Equal reports whether t and o are the same settings: the files they
// name and their options, not what Load built from the files (a new
// configuration each load, never deeply equal to the last).
func (t *TLS) Equal(o *TLS) bool {
	if t == nil || o == nil {
		return t == o
	}
	a, b := *t, *o
	a.loaded, b.loaded = nil, nil
	return a == b
}

// TLS versions accepted by min_version.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// ClientConfig returns the client configuration: the one Load built, or,
// for a TLS value built in code, a new one read from the files now. A nil
// TLS is the system's CA store with TLS 1.2 at least.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	if t == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	if t.loaded != nil {
		return t.loaded.Clone(), nil
	}
	c, errs := t.build()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// tlsFieldError is a problem with one field of a TLS block.
type tlsFieldError struct {
	field string // yaml key, e.g. "ca_file"
	err   error
}

func (e *tlsFieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *tlsFieldError) Unwrap() error { return e.err }

func fieldErr(field, format string, args ...any) error {
	return &tlsFieldError{field: field, err: fmt.Errorf(format, args...)}
}

// build reads the files and returns the client configuration, or every
// problem found, each naming its field.
func (t *TLS) build() (*tls.Config, []error) {
	var errs []error
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.MinVersion != "" {
		v, ok := tlsVersions[t.MinVersion]
		if !ok {
			errs = append(errs, fieldErr("min_version", "%q must be \"1.2\" or \"1.3\" (older versions are not accepted)", t.MinVersion))
		}
		c.MinVersion = v
	}
	if t.ServerName != "" {
		if strings.ContainsAny(t.ServerName, ":/ ") {
			errs = append(errs, fieldErr("server_name", "%q must be a host name or an IP address, without scheme or port", t.ServerName))
		}
	}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			errs = append(errs, &tlsFieldError{field: "ca_file", err: err})
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		errs = append(errs, fieldErr("key_file", "required with cert_file (the client certificate's private key)"))
	case t.CertFile == "" && t.KeyFile != "":
		errs = append(errs, fieldErr("cert_file", "required with key_file (the client certificate)"))
	case t.CertFile != "":
		// Read here, with a bound, rather than by tls.LoadX509KeyPair,
		// which reads whatever the paths hold.
		certPEM, certErr := ReadFileMax(t.CertFile, MaxPEMSize, "a certificate file")
		if certErr != nil {
			errs = append(errs, &tlsFieldError{field: "cert_file", err: certErr})
		}
		keyPEM, keyErr := ReadFileMax(t.KeyFile, MaxPEMSize, "a key file")
		if keyErr != nil {
			errs = append(errs, &tlsFieldError{field: "key_file", err: keyErr})
		}
		if certErr != nil || keyErr != nil {
			break
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			errs = append(errs, fieldErr("cert_file", "loading the client certificate %s with key %s: %w", t.CertFile, t.KeyFile, err))
		} else {
			c.Certificates = []tls.Certificate{pair}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// loadCAs reads a PEM file that must hold at least one certificate and
// nothing that fails to parse.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := ReadFileMax(path, MaxPEMSize, "a CA file")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of %s: %w", n+1, path, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// validateTLS checks the tls block at path (e.g. "mqtt.tls") of an
// endpoint whose URL uses TLS or not, and keeps the configuration it built.
func validateTLS(s *Source, path string, t *TLS, secure bool, scheme, tlsScheme string) Errors {
	if t == nil {
		return nil
	}
	var errs Errors
	if !secure {
		errs = append(errs, s.Errorf(path, "a tls block needs a TLS URL, but the URL is %s:// (plain text): use %s:// or remove the block", scheme, tlsScheme))
	}
	c, bad := t.build()
	for _, err := range bad {
		var fe *tlsFieldError
		if errors.As(err, &fe) {
			errs = append(errs, s.Errorf(path+"."+fe.field, "%v", fe.err))
		} else {
			errs = append(errs, s.Errorf(path, "%v", err))
		}
	}
	t.loaded = c
	return errs
}

// MQTT URL schemes the client (paho) dials with and without TLS.
var (
	mqttTLSSchemes   = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "mqtt+ssl": true, "tcps": true, "wss": true}
	mqttPlainSchemes = map[string]bool{"tcp": true, "mqtt": true, "ws": true}
)

// Secure reports whether the broker URL uses TLS.
func (m *MQTT) Secure() bool {
	scheme, _, _ := strings.Cut(m.Broker, "://")
	return mqttTLSSchemes[strings.ToLower(scheme)]
}

// Secure reports whether the InfluxDB URL uses TLS.
func (db *InfluxDB) Secure() bool { return strings.HasPrefix(strings.ToLower(db.URL), "https://") }

func (m *MQTT) validateEndpoint(s *Source) Errors {
	var errs Errors
	if m.Broker == "" {
		return Errors{s.Errorf("mqtt.broker", "required field is missing")}
	}
	scheme, host, err := splitURL(m.Broker)
	switch {
	case err != nil:
		errs = append(errs, s.Errorf("mqtt.broker", "%q must be a URL such as tcp://127.0.0.1:1883 or ssl://broker.example:8883: %v", RedactURL(m.Broker), err))
	case !mqttTLSSchemes[scheme] && !mqttPlainSchemes[scheme]:
		errs = append(errs, s.Errorf("mqtt.broker", "%q: unknown scheme %q (use tcp://, ssl://, tls://, mqtts://, ws:// or wss://)", RedactURL(m.Broker), scheme))
	case host == "":
		errs = append(errs, s.Errorf("mqtt.broker", "%q has no host", RedactURL(m.Broker)))
	case strings.ContainsFunc(m.Broker, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		errs = append(errs, s.Errorf("mqtt.broker", "%q contains a space or a control character", RedactURL(m.Broker)))
	case scheme != "ws" && scheme != "wss" && !hasPort(m.Broker):
		// The MQTT client dials host:port as written: without a port it
		// fails at every attempt ("missing port in address").
		errs = append(errs, s.Errorf("mqtt.broker", "%q has no port (1883 for tcp://, 8883 for ssl://)", RedactURL(m.Broker)))
	}
	if hasUserinfo(m.Broker) {
		errs = append(errs, s.Errorf("mqtt.broker", "%q carries credentials: remove them from the URL and set username with password_env or password_file", RedactURL(m.Broker)))
	}
	if err == nil {
		errs = append(errs, validateTLS(s, "mqtt.tls", m.TLS, mqttTLSSchemes[scheme], scheme, "ssl")...)
	}
	return errs
}

// validateInfluxDB checks an InfluxDB section at path (ingest.influxdb or
// park_engine.influxdb).
func validateInfluxDB(s *Source, path string, db *InfluxDB) Errors {
	var errs Errors
	scheme, host, err := splitURL(db.URL)
	switch {
	case db.URL == "":
		errs = append(errs, s.Errorf(path+".url", "required field is missing"))
	case err != nil:
		errs = append(errs, s.Errorf(path+".url", "%q must be an http:// or https:// URL: %v", RedactURL(db.URL), err))
	case scheme != "http" && scheme != "https":
		errs = append(errs, s.Errorf(path+".url", "%q must be an http:// or https:// URL", RedactURL(db.URL)))
	case host == "":
		errs = append(errs, s.Errorf(path+".url", "%q has no host", RedactURL(db.URL)))
	}
	if hasUserinfo(db.URL) {
		errs = append(errs, s.Errorf(path+".url", "%q carries credentials: remove them from the URL and set token_env or token_file (\"user:password\" on InfluxDB 1.x)", RedactURL(db.URL)))
	} else if _, q, ok := strings.Cut(db.URL, "?"); ok {
		errs = append(errs, s.Errorf(path+".url", "%q has a query (%s): the base URL takes none; credentials go in token_env or token_file", RedactURL(db.URL), redactQuery(q)))
	}
	if db.Bucket == "" {
		errs = append(errs, s.Errorf(path+".bucket", "required field is missing"))
	}
	errs = append(errs, checkDuration(s, path+".timeout", db.Timeout, 100*time.Millisecond, 0)...)
	if db.TokenEnv != "" && db.TokenFile != "" {
		errs = append(errs, s.Errorf(path+".token_file", "set token_env or token_file, not both"))
	}
	if err == nil && (scheme == "http" || scheme == "https") {
		errs = append(errs, validateTLS(s, path+".tls", db.TLS, scheme == "https", scheme, "https")...)
	}
	return errs
}

// splitURL returns the lower-case scheme and the host (without port) of a URL
// without parsing its userinfo, which may hold characters net/url
// refuses (the error would then quote the secret).
func splitURL(raw string) (scheme, host string, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return "", "", errors.New("no scheme")
	}
	for _, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return "", "", errors.New("invalid scheme")
		}
	}
	authority := authorityOf(rest)
	host = authority
	if h, port, err := net.SplitHostPort(authority); err == nil {
		if err := checkPort(port); err != nil {
			return "", "", err
		}
		host = h
	}
	return strings.ToLower(scheme), host, nil
}

// authorityOf is host[:port] of the part of a URL after "scheme://",
// without its userinfo, path, query or fragment.
func authorityOf(rest string) string {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// hasPort reports whether a URL's authority names a port.
func hasPort(raw string) bool {
	_, rest, _ := strings.Cut(raw, "://")
	_, port, err := net.SplitHostPort(authorityOf(rest))
	return err == nil && port != ""
}

// checkPort checks a TCP port to connect to: a decimal number 1-65535.
func checkPort(port string) error {
	if port == "" {
		return errors.New("empty port")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number 1-65535", port)
	}
	return nil
}

// hasUserinfo reports whether a URL carries user[:password]@ before its
// host.
func hasUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.Contains(rest, "@")
}

// RedactURL returns raw with any user:password@ replaced by "xxxxx@" and
// every query value replaced by "xxxxx", for logs and error messages. It
// works on strings net/url cannot parse.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	if base, q, ok := strings.Cut(rest, "?"); ok {
		rest = base + "?" + redactQuery(q)
	}
	return scheme + "://" + rest
}

func redactQuery(q string) string {
	q, _, _ = strings.Cut(q, "#")
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}

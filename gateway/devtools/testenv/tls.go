package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a set of PEM certificates and keys made for one test, in its
// temporary directory: a certificate authority, a server certificate for
// 127.0.0.1 and localhost, a client certificate, and the wrong ones — a
// second authority that signed a client and a server certificate, and
// expired client and server certificates signed by the right authority.
type PKI struct {
	Dir string
	// CA is the authority's certificate; Server and Client it signed.
	CA     string
	Server KeyPair
	Client KeyPair
	// OtherCA is an authority nobody trusts; OtherServer and OtherClient
	// it signed.
	OtherCA     string
	OtherServer KeyPair
	OtherClient KeyPair
	// ExpiredServer and ExpiredClient are signed by CA and expired an
	// hour ago.
	ExpiredServer KeyPair
	ExpiredClient KeyPair
}

// KeyPair is a certificate file and its private key file.
type KeyPair struct{ Cert, Key string }

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewPKI makes the certificates of a test.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{Dir: dir}
	now := time.Now()
	ca := p.authority(t, "ca", "eipgw test CA")
	other := p.authority(t, "other-ca", "eipgw untrusted CA")
	p.CA, p.OtherCA = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other-ca.pem")
	p.Server = p.leaf(t, "server", ca, true, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.Client = p.leaf(t, "client", ca, false, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.OtherServer = p.leaf(t, "other-server", other, true, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.OtherClient = p.leaf(t, "other-client", other, false, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.ExpiredServer = p.leaf(t, "expired-server", ca, true, now.Add(-48*time.Hour), now.Add(-time.Hour))
	p.ExpiredClient = p.leaf(t, "expired-client", ca, false, now.Add(-48*time.Hour), now.Add(-time.Hour))
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *PKI) authority(t testing.TB, name, cn string) authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, name+".pem", "CERTIFICATE", der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return authority{cert, key}
}

func (p *PKI) leaf(t testing.TB, name string, ca authority, server bool, from, until time.Time) KeyPair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return KeyPair{Cert: p.write(t, name+".pem", "CERTIFICATE", der), Key: p.write(t, name+"-key.pem", "PRIVATE KEY", kder)}
}

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	// Readable by mosquitto, which may drop to its own user.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ServerTLS is the TLS side of a test server: its certificate, and for a
// broker that requires client certificates, the authority that signs them.
type ServerTLS struct {
	Cert KeyPair
	// ClientCA, when set, makes the broker require a client certificate
	// signed by it (Mosquitto require_certificate true).
	ClientCA string
	// CA is the authority of Cert, trusted by the helpers' own clients
	// (Influx.Query).
	CA string
}

func (s *ServerTLS) scheme(plain, secure string) string {
	if s == nil {
		return plain
	}
	return secure
}

// mosquittoConf returns the listener's TLS settings; they apply to the
// listener line above them.
func (s *ServerTLS) mosquittoConf() string {
	if s == nil {
		return ""
	}
	conf := fmt.Sprintf("certfile %s\nkeyfile %s\ntls_version tlsv1.2\n", s.Cert.Cert, s.Cert.Key)
	if s.ClientCA != "" {
		conf += fmt.Sprintf("cafile %s\nrequire_certificate true\n", s.ClientCA)
	}
	return conf
}

// influxConf returns the [http] settings of HTTPS.
func (s *ServerTLS) influxConf() string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("  https-enabled = true\n  https-certificate = %q\n  https-private-key = %q\n", s.Cert.Cert, s.Cert.Key)
}

// httpClient trusts s.CA (nil without TLS).
func (s *ServerTLS) httpClient(t testing.TB) *http.Client {
	t.Helper()
	if s == nil {
		return nil
	}
	pool := x509.NewCertPool()
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("no certificate in %s", s.CA)
		}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// InfluxOptions vary the InfluxDB server.
type InfluxOptions struct {
	// TLS serves HTTPS with this certificate (URL https://...).
	TLS *ServerTLS
}

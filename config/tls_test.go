package config

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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert makes a key and a certificate signed by parent (self-signed
// when parent is nil) and writes them as PEM files NAME.pem, NAME-key.pem.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	signer, signKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", kder)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestTLSLoaded(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "client", ca, caKey)
	yaml := fmt.Sprintf(`park: p
mqtt:
  broker: mqtts://broker.example:8883
  tls: {ca_file: %[1]s/ca.pem, cert_file: %[1]s/client.pem, key_file: %[1]s/client-key.pem, server_name: broker.internal, min_version: "1.3"}
ingest:
  influxdb:
    url: https://influx.example:8086
    bucket: b
    tls: {ca_file: %[1]s/ca.pem}
`, dir)
	f, err := Parse("tls.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.MQTT.Secure() || !f.Ingest.InfluxDB.Secure() {
		t.Fatal("URLs not seen as TLS")
	}
	c, err := f.MQTT.TLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.MinVersion != tls.VersionTLS13 || c.ServerName != "broker.internal" || len(c.Certificates) != 1 || c.RootCAs == nil || c.InsecureSkipVerify {
		t.Fatalf("mqtt tls config %+v", c)
	}
	// The pool holds the CA: a certificate it signed verifies.
	leaf, _ := writeCert(t, t.TempDir(), "leaf", ca, caKey)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("CA not in the pool: %v", err)
	}
	ic, err := f.Ingest.InfluxDB.TLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if ic.MinVersion != tls.VersionTLS12 || len(ic.Certificates) != 0 {
		t.Fatalf("influxdb tls config %+v", ic)
	}
	// Each call returns its own copy.
	ic.ServerName = "changed"
	if again, _ := f.Ingest.InfluxDB.TLS.ClientConfig(); again.ServerName != "" {
		t.Fatal("ClientConfig returned a shared configuration")
	}
	// No block: system roots, TLS 1.2 at least.
	var none *TLS
	if c, err := none.ClientConfig(); err != nil || c.MinVersion != tls.VersionTLS12 || c.RootCAs != nil {
		t.Fatalf("nil TLS: %+v %v", c, err)
	}
}

func TestTLSKeyOfAnotherCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "a", ca, caKey)
	writeCert(t, dir, "b", ca, caKey)
	yaml := fmt.Sprintf("park: p\nmqtt:\n  broker: ssl://h:8883\n  tls:\n    cert_file: %[1]s/a.pem\n    key_file: %[1]s/b-key.pem\ningest: {influxdb: {url: http://h:8086, bucket: b}}\n", dir)
	_, err := Parse("k.yaml", []byte(yaml), nil)
	if err == nil || !strings.Contains(err.Error(), "k.yaml:5: mqtt.tls.cert_file: ") || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Fatalf("got %v", err)
	}
	// Built in code, the same block fails when used.
	if _, err := (&TLS{CertFile: dir + "/a.pem", KeyFile: dir + "/b-key.pem"}).ClientConfig(); err == nil || !strings.Contains(err.Error(), "cert_file: ") {
		t.Fatalf("ClientConfig: %v", err)
	}
}

func TestURLSchemes(t *testing.T) {
	for _, c := range []struct {
		broker string
		secure bool
		err    string
	}{
		{"tcp://127.0.0.1:1883", false, ""},
		{"mqtt://broker:1883", false, ""},
		{"ws://broker:8080/mqtt", false, ""},
		{"ssl://broker:8883", true, ""},
		{"tls://broker:8883", true, ""},
		{"mqtts://broker:8883", true, ""},
		{"wss://broker/mqtt", true, ""},
		{"broker:1883", false, `"broker:1883" must be a URL such as tcp://127.0.0.1:1883`},
		{"http://broker:1883", false, `unknown scheme "http"`},
		{"tcp://:1883", false, `has no host`},
		{"tcp://u@broker:1883", false, `"tcp://xxxxx@broker:1883" carries credentials`},
	} {
		yaml := fmt.Sprintf("park: p\nmqtt: {broker: %q}\ningest: {influxdb: {url: http://h:8086, bucket: b}}\n", c.broker)
		f, err := Parse("u.yaml", []byte(yaml), nil)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.broker, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got %v, want %q", c.broker, err, c.err)
		case c.err == "" && f.MQTT.Secure() != c.secure:
			t.Errorf("%s: secure = %t", c.broker, !c.secure)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://broker:1883":                    "tcp://broker:1883",
		"tcp://user:pa:ss@broker:1883":         "tcp://xxxxx@broker:1883",
		"http://u:p@w@influx:8086/x?y=1":       "http://xxxxx@influx:8086/x?y=xxxxx",
		"https://influx:8086/?u=admin&p=s3c#f": "https://influx:8086/?u=xxxxx&p=xxxxx",
		"wss://broker/mqtt?token=abc&debug":    "wss://broker/mqtt?token=xxxxx&debug",
		"tcp://broker/with@in/path":            "tcp://broker/with@in/path",
		"not a url":                            "not a url",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFileSizeLimit: a file above MaxFileSize is refused before it is
// parsed, by Load and by Parse.
func TestFileSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	data := []byte("park: p\n# " + strings.Repeat("x", MaxFileSize) + "\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	want := fmt.Sprintf("%s: file is %d bytes, above the 4194304-byte (4 MiB) limit of a configuration file", path, len(data))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Load: %v\nwant prefix %s", err, want)
	}
	if _, err := Parse("huge.yaml", data, nil); err == nil || !strings.Contains(err.Error(), "4 MiB") {
		t.Fatalf("Parse: %v", err)
	}
	// At the limit it is read (and fails for what it is, not its size).
	small := filepath.Join(t.TempDir(), "limit.yaml")
	if err := os.WriteFile(small, data[:MaxFileSize], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(small, nil); err == nil || strings.Contains(err.Error(), "MiB") {
		t.Fatalf("file at the limit: %v", err)
	}
	if _, err := Load(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory: %v", err)
	}
}

// uncommentTLS turns the commented "# tls:" block of an example into YAML.
func uncommentTLS(t *testing.T, text string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	in := false
	n := 0
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		indent := l[:len(l)-len(trimmed)]
		switch {
		case trimmed == "# tls:":
			lines[i], in = indent+"tls:", true
			n++
		case in && strings.HasPrefix(trimmed, "#   "):
			lines[i] = indent + "  " + strings.TrimPrefix(trimmed, "#   ")
		default:
			in = false
		}
	}
	if n == 0 {
		t.Fatal("no commented tls block")
	}
	return strings.Join(lines, "\n")
}

// TestExampleTLSBlocks: the commented tls blocks of the examples load once
// uncommented, with the URLs switched to TLS and certificates in place.
func TestExampleTLSBlocks(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	t.Setenv("EIPGW_INFLUX_TOKEN", "user:password")
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "park-ca", nil, nil)
	writeCert(t, dir, "gw-1", ca, caKey)
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("/etc/eipgw/", dir+"/", "/run/secrets/mqtt-password", filepath.Join(dir, "pw"),
		"tcp://127.0.0.1:1883", "ssl://127.0.0.1:8883", "http://127.0.0.1:8086", "https://127.0.0.1:8086")
	for _, c := range []struct {
		file string
		tls  func(*File) *TLS
	}{
		{"examples/edge.yaml", func(f *File) *TLS { return f.MQTT.TLS }},
		{"examples/ingest.yaml", func(f *File) *TLS { return f.Ingest.InfluxDB.TLS }},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(c.file, []byte(r.Replace(uncommentTLS(t, string(data)))), knownProfile)
		if err != nil {
			t.Errorf("%s with its tls block: %v", c.file, err)
			continue
		}
		tc, err := c.tls(f).ClientConfig()
		if err != nil || tc.RootCAs == nil {
			t.Errorf("%s: tls %+v %v", c.file, tc, err)
		}
	}
}

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The limits of secret files and of CA, certificate and key files.
const (
	secretLimit = 1 << 20
	pemLimit    = 4 << 20
)

// writeSized writes a file of head followed by filler bytes up to size.
func writeSized(t *testing.T, path, head string, filler byte, size int) {
	t.Helper()
	b := make([]byte, size)
	copy(b, head)
	for i := len(head); i < size; i++ {
		b[i] = filler
	}
	if size > 0 {
		b[size-1] = '\n'
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// haveDevZero skips a case needing /dev/zero where there is none.
func haveDevZero(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
}

// Secret files are read up to 1 MiB: a wrong path (a log, a
// device that never ends) is an error at its key, not a process that
// grows until it is killed.
func TestSecretFileSizeLimit(t *testing.T) {
	base := "park: p\nmqtt:\n  broker: tcp://h:1\n  password_file: %s\ningest:\n  influxdb: {url: http://h:8086, bucket: b}\n"
	dir := t.TempDir()
	atLimit, above := filepath.Join(dir, "at-limit"), filepath.Join(dir, "above")
	writeSized(t, atLimit, "", 'p', secretLimit)
	writeSized(t, above, "", 'p', secretLimit+1)

	f, err := Parse("x.yaml", []byte(fmt.Sprintf(base, atLimit)), nil)
	if err != nil || len(f.MQTT.Password) != secretLimit-1 {
		t.Fatalf("secret of %d bytes: %v", secretLimit, err)
	}
	_, err = Parse("x.yaml", []byte(fmt.Sprintf(base, above)), nil)
	want := fmt.Sprintf("x.yaml:4: mqtt.password_file: reading secret: %s is %d bytes, larger than 1048576 bytes (1 MiB), the limit of a secret file", above, secretLimit+1)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("secret of %d bytes: %v\nwant prefix %s", secretLimit+1, err, want)
	}

	haveDevZero(t)
	// A configuration file too, as it always was.
	if _, err := Load("/dev/zero", nil); err == nil || !strings.Contains(err.Error(), "/dev/zero: file is larger than the 4194304-byte (4 MiB) limit of a configuration file") {
		t.Errorf("Load(/dev/zero): %v", err)
	}
	_, err = Parse("x.yaml", []byte(fmt.Sprintf(base, "/dev/zero")), nil)
	want = "x.yaml:4: mqtt.password_file: reading secret: /dev/zero is larger than 1048576 bytes (1 MiB), the limit of a secret file"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("/dev/zero: %v\nwant prefix %s", err, want)
	}
}

// CA, certificate and key files are read up to 4 MiB, each error at
// its own key.
func TestTLSFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "client", ca, caKey)
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// A CA file with text around its certificate loads, up to the limit.
	atLimit, above := filepath.Join(dir, "ca-at-limit.pem"), filepath.Join(dir, "ca-above.pem")
	writeSized(t, atLimit, string(caPEM), '#', pemLimit)
	writeSized(t, above, string(caPEM), '#', pemLimit+1)
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")

	tlsYAML := "park: p\nmqtt:\n  broker: ssl://h:8883\n  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s\ningest: {influxdb: {url: http://h:8086, bucket: b}}\n"
	parse := func(caFile, certFile, keyFile string) error {
		_, err := Parse("t.yaml", []byte(fmt.Sprintf(tlsYAML, caFile, certFile, keyFile)), nil)
		return err
	}
	if err := parse(atLimit, cert, key); err != nil {
		t.Fatalf("CA file of %d bytes: %v", pemLimit, err)
	}
	err = parse(above, cert, key)
	want := fmt.Sprintf("t.yaml:5: mqtt.tls.ca_file: %s is %d bytes, larger than 4194304 bytes (4 MiB), the limit of a CA file", above, pemLimit+1)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CA file of %d bytes: %v\nwant prefix %s", pemLimit+1, err, want)
	}

	haveDevZero(t)
	for _, tc := range []struct {
		ca, cert, key, want string
	}{
		{"/dev/zero", cert, key, "t.yaml:5: mqtt.tls.ca_file: /dev/zero is larger than 4194304 bytes (4 MiB), the limit of a CA file"},
		{atLimit, "/dev/zero", key, "t.yaml:6: mqtt.tls.cert_file: /dev/zero is larger than 4194304 bytes (4 MiB), the limit of a certificate file"},
		{atLimit, cert, "/dev/zero", "t.yaml:7: mqtt.tls.key_file: /dev/zero is larger than 4194304 bytes (4 MiB), the limit of a key file"},
	} {
		if err := parse(tc.ca, tc.cert, tc.key); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v\nwant prefix %s", err, tc.want)
		}
	}
	// Built in code, the block is read with the same bounds.
	if _, err := (&TLS{CertFile: cert, KeyFile: "/dev/zero"}).ClientConfig(); err == nil || !strings.Contains(err.Error(), "key_file: /dev/zero is larger than") {
		t.Errorf("ClientConfig: %v", err)
	}
}

// TestNamedPipeIsNotRead: a secret file or a configuration that is a
// named pipe is an error at once; opening it would wait for a writer, and
// the process could not be stopped but by SIGKILL.
func TestNamedPipeIsNotRead(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := Parse("x.yaml", []byte(fmt.Sprintf("park: p\nmqtt:\n  broker: tcp://h:1\n  password_file: %s\ningest:\n  influxdb: {url: http://h:8086, bucket: b}\n", fifo)), nil)
		done <- err
	}()
	go func() { _, err := Load(fifo, nil); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("a named pipe: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a named pipe blocked")
		}
	}
}

// TestOPCUAEmptyTypeIsAnError: type: "" is not a type; a node without the
// key takes its DataType's.
func TestOPCUAEmptyTypeIsAnError(t *testing.T) {
	cfg := `park: p
site: s
mqtt: {broker: "tcp://h:1883"}
edge:
  gateway: gw
  state_dir: /tmp/eipgw-opcua-type
  buses:
    - {name: ua, protocol: opcua, opcua: {endpoint: "opc.tcp://h:4840", security_policy: None, security_mode: None}}
  devices:
    - name: d
      bus: ua
      opcua:
        kind: k
        nodes:
          - {name: a, node_id: "ns=1;s=A", type: ""}
          - {name: b, node_id: "ns=1;s=B"}
`
	_, err := Parse("x.yaml", []byte(cfg), nil)
	if err == nil || !strings.Contains(err.Error(), `x.yaml:15: edge.devices[0].opcua.nodes[0].type: "" is not a type`) || strings.Contains(err.Error(), "nodes[1]") {
		t.Errorf("type \"\": %v", err)
	}
}

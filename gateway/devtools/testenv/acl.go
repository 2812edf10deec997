package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// MosquittoACL configures a broker that authenticates its clients.
type MosquittoACL struct {
	// ACLFile is a Mosquitto ACL file (acl_file), used as it is.
	ACLFile string
	// Users maps user names to passwords, written with mosquitto_passwd.
	Users map[string]string
}

// StartMosquittoACL starts a persistent Mosquitto broker like
// StartMosquitto, but without anonymous access: clients log in with the
// users given and may do only what the ACL file allows.
func StartMosquittoACL(t testing.TB, o MosquittoACL) *Mosquitto {
	t.Helper()
	bin := Require(t, "mosquitto", "/usr/sbin/mosquitto")
	passwd := Require(t, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pwFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for user, pw := range o.Users {
		if out, err := exec.Command(passwd, "-b", pwFile, user, pw).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %s: %v\n%s", user, err, out)
		}
	}
	acl, err := filepath.Abs(o.ACLFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(acl); err != nil {
		t.Fatalf("ACL file: %v", err)
	}
	port := FreePort(t)
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous false
password_file %s
acl_file %s
persistence true
persistence_location %s/
autosave_interval 1
max_inflight_messages 1000
max_queued_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
log_type debug
`, port, pwFile, acl, dir)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	m := &Mosquitto{
		Process: &Process{t: t, name: "mosquitto", argv: []string{bin, "-c", confPath}, addr: addr, logPath: filepath.Join(dir, "mosquitto.log")},
		URL:     "tcp://" + addr, Addr: addr,
	}
	m.start()
	t.Cleanup(m.Stop)
	return m
}

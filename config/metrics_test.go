package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The status page's basic authentication: a user with a password from a
// variable or file, never inline; each half alone is an error naming the
// field.
func TestMetricsBasicAuth(t *testing.T) {
	base := "park: p\nmqtt: {broker: tcp://h:1}\ningest:\n  influxdb: {url: http://h:8086, bucket: b}\nmetrics:\n  listen: 127.0.0.1:9464\n%s"
	t.Setenv("EIPGW_TEST_STATUS_PW", "open-sesame")
	for _, tc := range []struct {
		lines, wantErr string
	}{
		{"  user: engineer\n  password_env: EIPGW_TEST_STATUS_PW\n", ""},
		{"", ""},
		{"  user: engineer\n", "x.yaml:7: metrics.user: a user needs password_env or password_file"},
		{"  password_env: EIPGW_TEST_STATUS_PW\n", "x.yaml:5: metrics.user: required with password_env or password_file"},
		{"  user: a:b\n  password_env: EIPGW_TEST_STATUS_PW\n", "x.yaml:7: metrics.user: \"a:b\" must not contain ':'"},
		{"  user: engineer\n  password: inline\n", "x.yaml:8: metrics.password: unknown field"},
		{"  user: engineer\n  password_env: EIPGW_TEST_NOT_SET_ANYWHERE\n", "x.yaml:8: metrics.password_env: environment variable EIPGW_TEST_NOT_SET_ANYWHERE is not set"},
	} {
		f, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", tc.lines, 1)), nil)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.lines, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
			continue
		}
		if tc.lines != "" && (f.Metrics.User != "engineer" || f.Metrics.Password != "open-sesame") {
			t.Errorf("%q: user %q password %q", tc.lines, f.Metrics.User, f.Metrics.Password)
		}
	}
}

// An empty status page password is an error: the page would be served
// without authentication. (An empty MQTT password or InfluxDB token is
// none, as before.)
func TestMetricsEmptyPassword(t *testing.T) {
	base := "park: p\nmqtt: {broker: tcp://h:1, password_env: EIPGW_TEST_EMPTY}\ningest:\n  influxdb: {url: http://h:8086, bucket: b, token_env: EIPGW_TEST_EMPTY}\nmetrics:\n  listen: 127.0.0.1:9464\n  user: eng\n%s"
	t.Setenv("EIPGW_TEST_EMPTY", "")
	dir := t.TempDir()
	files := map[string]string{"empty": "", "newline": "\n", "crlf": "\r\n"}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"  password_env: EIPGW_TEST_EMPTY\n": "x.yaml:8: metrics.password_env: environment variable EIPGW_TEST_EMPTY is empty: the status page would be served without authentication",
	}
	for name := range files {
		p := filepath.Join(dir, name)
		cases["  password_file: "+p+"\n"] = "x.yaml:8: metrics.password_file: " + p + " is empty: the status page would be served without authentication"
	}
	for lines, want := range cases {
		_, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", lines, 1)), nil)
		if err == nil || err.Error() != want {
			t.Errorf("%q: err = %v, want %s", lines, err, want)
		}
	}
	// The same empty variable for MQTT and InfluxDB alone is no password
	// and no token.
	f, err := Parse("x.yaml", []byte(strings.Replace(base, "  user: eng\n%s", "", 1)), nil)
	if err != nil || f.MQTT.Password != "" || f.Ingest.InfluxDB.Token != "" {
		t.Errorf("empty MQTT password and InfluxDB token: %v", err)
	}
}

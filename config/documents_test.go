package config

import (
	"strings"
	"testing"
)

// TestOneDocumentPerFile: a second YAML document is an error at the line
// where it starts, not silently dropped; a "---" before the only document,
// or after it with nothing following, is no second document.
func TestOneDocumentPerFile(t *testing.T) {
	const cfg = "park: p\nmqtt: {broker: tcp://h:1}\ningest:\n  influxdb: {url: http://h:8086, bucket: b}\n"
	for _, tc := range []struct {
		name, yml, wantErr string
	}{
		{"one document", cfg, ""},
		{"leading ---", "---\n" + cfg, ""},
		{"leading --- and comment", "# comment\n---\n" + cfg, ""},
		{"trailing ---", cfg + "---\n", ""},
		{"trailing --- and comment", cfg + "---\n# nothing more\n", ""},
		{"trailing ...", cfg + "...\n", ""},
		{"both", "---\n" + cfg + "---\n", ""},
		{"second document", cfg + "---\nmqtt: {broker: tcp://other:1}\n", "x.yaml:5: a second YAML document starts here: one YAML document per file"},
		{"second after leading ---", "---\n" + cfg + "---\nsite: s\n", "x.yaml:6: a second YAML document starts here: one YAML document per file"},
		{"after an empty one", cfg + "---\n---\nsite: s\n", "x.yaml:6: a second YAML document starts here: one YAML document per file"},
		{"a scalar", cfg + "--- 1\n", "x.yaml:5: a second YAML document starts here: one YAML document per file"},
		{"a null", cfg + "---\n~\n", "x.yaml:5: a second YAML document starts here: one YAML document per file"},
		{"after ... and ---", cfg + "...\n---\nsite: s\n", "x.yaml:6: a second YAML document starts here: one YAML document per file"},
		{"malformed second", cfg + "---\nsite: [s\n", "x.yaml:"},
	} {
		_, err := Parse("x.yaml", []byte(tc.yml), nil)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want prefix %q", tc.name, err, tc.wantErr)
		}
	}
	// The first document is still checked: its errors come with the
	// second document's.
	_, err := Parse("x.yaml", []byte("park: p\nmqtt: {broker: tcp://h:1, colour: red}\ningest:\n  influxdb: {url: http://h:8086, bucket: b}\n---\nsite: s\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2: mqtt.colour: unknown field") || !strings.Contains(err.Error(), "x.yaml:5: a second YAML document") {
		t.Errorf("errors of both: %v", err)
	}
}

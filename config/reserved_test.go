package config

import (
	"strings"
	"testing"
)

// A gateway named like one of eipgw's own topic levels is refused: its
// data topics would read as the park's metrics or control topics.
func TestReservedGatewayNames(t *testing.T) {
	base := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: %s\n  state_dir: /tmp/x\n  buses: [{name: b, address: h:502}]\n  devices: [{name: d, profile: chp, bus: b, unit: 1}]\n"
	for _, name := range []string{"metrics", "control", "deadletter"} {
		_, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", name, 1)), nil)
		want := `x.yaml:5: edge.gateway: "` + name + `" is reserved for eipgw's own topics`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("gateway %s: err = %v, want %q", name, err, want)
		}
	}
	if _, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", "gw-1", 1)), nil); err != nil {
		t.Errorf("gateway gw-1: %v", err)
	}
}

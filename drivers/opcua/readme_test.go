package opcua_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/opcua"
)

// The README's configuration example loads, validates and builds its
// source.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.HasPrefix(m[1], "edge:") {
			example = m[1]
		}
	}
	if example == "" {
		t.Fatal("no edge example in the README")
	}
	t.Setenv("EIPGW_OPCUA_PASSWORD", "secret")
	data := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\n" + strings.Replace(example, "edge:\n", "edge:\n  gateway: g\n  state_dir: /tmp/x\n", 1)
	f, err := config.Parse("README.md", []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := opcua.Driver{}.Sources(f.Edge.Buses, f.Edge.Devices, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || len(srcs[0].Devices()) != 1 || srcs[0].Devices()[0].Kind != "chp" {
		t.Fatalf("sources %+v", srcs)
	}
	if o := f.Edge.Buses[0].OPCUA; o.Password != "secret" || o.SecurityMode != config.OPCUAModeSignAndEncrypt {
		t.Errorf("bus %+v", o)
	}
}

package opcua_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// scalars are the variables of testdata/server.js and what each must read
// as, exactly.
var scalars = []struct {
	name string
	want drivers.Reading
}{
	{"Boolean", drivers.Reading{Kind: drivers.Uint, Uint: 1, Float: 1}},
	{"SByte", drivers.Reading{Kind: drivers.Int, Int: -128, Float: -128}},
	{"Byte", drivers.Reading{Kind: drivers.Uint, Uint: 255, Float: 255}},
	{"Int16", drivers.Reading{Kind: drivers.Int, Int: math.MinInt16, Float: math.MinInt16}},
	{"UInt16", drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint16, Float: math.MaxUint16}},
	{"Int32", drivers.Reading{Kind: drivers.Int, Int: math.MinInt32, Float: math.MinInt32}},
	{"UInt32", drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint32, Float: math.MaxUint32}},
	{"Int64", drivers.Reading{Kind: drivers.Int, Int: math.MinInt64 + 1, Float: math.MinInt64 + 1}},
	{"UInt64", drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint64, Float: math.MaxUint64}},
	{"Float", drivers.Reading{Kind: drivers.Float, Float: float64(float32(28.4)), Float32: true}},
	{"Double", drivers.Reading{Kind: drivers.Float, Float: 0.1}},
	{"String", drivers.Reading{Kind: drivers.Float, Float: -42.125}},
	{"DateTime", drivers.Reading{Kind: drivers.Int, Int: time.Date(2026, 11, 26, 18, 0, 1, 123e6, time.UTC).UnixNano(), Float: float64(time.Date(2026, 11, 26, 18, 0, 1, 123e6, time.UTC).UnixNano())}},
}

// deviceYAML is a device on bus "ua" reading every scalar by NodeId (the
// Double by browse path), plus the status-coded and non-numeric points.
func deviceYAML(name, mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "    - name: %s\n      bus: ua\n      interval: 200ms\n      opcua:\n        kind: test\n        mode: %s\n        nodes:\n", name, mode)
	for _, s := range scalars {
		if s.name == "Double" {
			fmt.Fprintf(&b, "          - {name: %s, browse_path: \"1:Plant/1:Double\", unit: u}\n", strings.ToLower(s.name))
			continue
		}
		fmt.Fprintf(&b, "          - {name: %s, node_id: \"ns=1;s=%s\", unit: u}\n", strings.ToLower(s.name), s.name)
	}
	b.WriteString("          - {name: text, node_id: \"ns=1;s=Text\"}\n")
	b.WriteString("          - {name: last_usable, node_id: \"ns=1;s=LastUsable\"}\n")
	b.WriteString("          - {name: sensor_failure, node_id: \"ns=1;s=SensorFailure\"}\n")
	b.WriteString("          - {name: power, node_id: \"ns=1;s=Power\", unit: MW, min: 0, max: 20}\n")
	return b.String()
}

// busYAML is an edge configuration with the opcua bus "ua" and devices.
func busYAML(endpoint, security, devices string) string {
	return "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: /tmp/x\n  buses:\n" +
		"    - name: ua\n      protocol: opcua\n      timeout: 5s\n      backoff_max: 2s\n      opcua:\n        endpoint: " + endpoint + "\n" + security +
		"  devices:\n" + devices
}

func security(p *opcuatest.PKI, policy, mode string) string {
	if policy == "None" {
		return ""
	}
	return fmt.Sprintf("        security_policy: %s\n        security_mode: %s\n        certificate: %s\n        private_key: %s\n", policy, mode, p.ClientCert, p.ClientKey)
}

// checkScalars verifies every point of the device read exactly.
func checkScalars(t *testing.T, c *collector, device string) {
	t.Helper()
	got := c.latest(device)
	for _, s := range scalars {
		r, ok := got[strings.ToLower(s.name)]
		want := s.want
		want.Name, want.Unit, want.Quality, want.HasValue = strings.ToLower(s.name), "u", drivers.Good, true
		if !ok || r != want {
			t.Errorf("%s: %s read %+v, want %+v", device, s.name, r, want)
		}
	}
	for name, want := range map[string]drivers.Reading{
		"text":           {Name: "text", Quality: drivers.OutOfRange},
		"last_usable":    {Name: "last_usable", Quality: drivers.Stale, Kind: drivers.Float, Float: 7.5, HasValue: true},
		"sensor_failure": {Name: "sensor_failure", Quality: drivers.CommError},
		"power":          {Name: "power", Unit: "MW", Quality: drivers.OutOfRange},
	} {
		if r := got[name]; r != want {
			t.Errorf("%s: %s read %+v, want %+v", device, name, r, want)
		}
	}
}

func complete(c *collector, device string) func() bool {
	return func() bool { return len(c.latest(device)) == len(scalars)+4 }
}

// TestInteropScalars reads every scalar type from node-opcua exactly, by
// polling and by subscription, with security None and Basic256Sha256
// (Sign and SignAndEncrypt), anonymously and with a username.
func TestInteropScalars(t *testing.T) {
	p := opcuatest.NewPKI(t)
	for _, tc := range []struct {
		name, policy, mode, login string
	}{
		{"None", "None", "None", ""},
		{"Basic256Sha256-SignAndEncrypt", "Basic256Sha256", "SignAndEncrypt", ""},
		{"Basic256Sha256-Sign-user", "Basic256Sha256", "Sign", "eipgw:s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := opcuatest.StartServer(t, p, p.ClientDER, tc.login)
			sec := security(p, tc.policy, tc.mode)
			if tc.login != "" {
				t.Setenv("OPCUA_TEST_PASSWORD", "s3cret")
				sec += "        username: eipgw\n        password_env: OPCUA_TEST_PASSWORD\n"
			}
			c, src := run(t, busYAML(srv.Endpoint(), sec, deviceYAML("polled", "polling")+deviceYAML("pushed", "subscription")))
			waitFor(t, "every point polled", 30*time.Second, complete(c, "polled"))
			waitFor(t, "every point pushed", 30*time.Second, complete(c, "pushed"))
			checkScalars(t, c, "polled")
			checkScalars(t, c, "pushed")
			for _, st := range src.States() {
				if !st.Up || !strings.Contains(st.LastError, "BadSensorFailure (0x808C0000)") {
					t.Errorf("state %+v: want up, naming the node's status code", st)
				}
			}
			// A change the subscription reports keeps the server's
			// source timestamp (the first notification, the value when
			// the item was created, holds at that creation).
			want := time.Now().Truncate(time.Millisecond)
			srv.Command(fmt.Sprintf("set Double 0.5 Double %d", want.UnixMilli()))
			waitFor(t, "the changed double pushed", 10*time.Second, func() bool { return c.hasValue("pushed", "double", 0.5) })
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, b := range c.batches {
				for _, r := range b.rs {
					if b.device == "pushed" && r.Name == "double" && r.Float == 0.5 && !b.at.Equal(want) {
						t.Errorf("pushed double 0.5 stamped %s, want the source timestamp %s", b.at, want)
					}
				}
			}
		})
	}
}

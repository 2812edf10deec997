package config

import (
	"strings"
	"testing"
	"time"
)

const opcuaHead = "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: /tmp/x\n  buses:\n"

func TestOPCUAConfig(t *testing.T) {
	t.Setenv("OPCUA_PW", "s3cret")
	data := opcuaHead + `    - name: dcs
      protocol: opcua
      timeout: 2s
      opcua:
        endpoint: opc.tcp://dcs.local:4840
        security_policy: Basic256Sha256
        certificate: gw.der
        private_key: gw.key
        username: eipgw
        password_env: OPCUA_PW
    - {name: m, address: 'h:502'}
  devices:
    - name: chp-2
      bus: dcs
      interval: 2s
      opcua:
        kind: chp
        mode: subscription
        nodes:
          - {name: electric_power, node_id: "ns=2;s=CHP2.P", unit: MW, min: 0, max: 40}
          - {name: steam_flow, browse_path: "2:CHP2/2:SteamFlow", unit: t/h, type: float}
          - {name: running_hours, node_id: "ns=2;s=CHP2.Hours", type: integer}
    - name: cems-2
      bus: dcs
      opcua:
        kind: cems
        nodes: [{name: so2, node_id: "ns=3;i=1001", unit: mg/Nm3}]
    - {name: boiler-1, profile: boiler, bus: m, unit: 1}
`
	f, err := Parse("opcua.yaml", []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := f.Edge.Buses[0]
	if !b.IsOPCUA() || b.Transport != "" || b.Timeout != 2*time.Second || b.BackoffMax != DefaultBackoffMax {
		t.Errorf("bus %+v", b)
	}
	o := b.OPCUA
	if o.SecurityMode != OPCUAModeSignAndEncrypt || o.Password != "s3cret" || o.ApplicationURI != DefaultOPCUAApplicationURI || o.SessionTimeout != DefaultOPCUASessionTimeout {
		t.Errorf("opcua %+v", o)
	}
	if got := b.String(); got != "opcua opc.tcp://dcs.local:4840 (Basic256Sha256, SignAndEncrypt)" {
		t.Errorf("String() = %q", got)
	}
	d := f.Edge.Devices[0].OPCUA
	if d.Mode != OPCUASubscription || d.SamplingInterval != 2*time.Second || d.QueueSize != DefaultOPCUAQueueSize || len(d.Nodes) != 3 || *d.Nodes[0].Max != 40 ||
		d.Nodes[0].Type != "" || d.Nodes[1].Type != OPCUATypeFloat || d.Nodes[2].Type != OPCUATypeInteger {
		t.Errorf("subscription device %+v", d)
	}
	if d := f.Edge.Devices[1].OPCUA; d.Mode != OPCUAPolling || d.SamplingInterval != 0 || d.QueueSize != 0 {
		t.Errorf("polled device %+v", d)
	}
	if f.Edge.Buses[1].Transport != TransportTCP {
		t.Errorf("modbus bus beside opcua: %+v", f.Edge.Buses[1])
	}
}

func TestOPCUAErrors(t *testing.T) {
	const good = `{kind: chp, nodes: [{name: p, node_id: "ns=2;s=P"}]}`
	for _, tt := range []struct{ bus, device, want string }{
		{"{name: b, protocol: opcua}", "opcua: " + good, "edge.buses[0].opcua: required section is missing"},
		{"{name: b, protocol: opcua, opcua: {}}", "opcua: " + good, "edge.buses[0].opcua.endpoint: required field is missing"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'http://h:1'}}", "opcua: " + good, `"http://h:1" must be opc.tcp://`},
		{"{name: b, protocol: opcua, address: 'h:1', opcua: {endpoint: 'opc.tcp://h:1'}}", "opcua: " + good, "edge.buses[0].address: is a Modbus key"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', security_policy: Basic128Rsa15}}", "opcua: " + good, `unsupported security policy "Basic128Rsa15"`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', security_policy: Basic256Sha256}}", "opcua: " + good, "opcua.certificate: required with security policy Basic256Sha256"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', security_mode: Sign}}", "opcua: " + good, "Sign needs a security policy"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', password_env: X}}", "opcua: " + good, "opcua.username: required when a password is set"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', username: u, password_env: OPCUA_UNSET_VAR}}", "opcua: " + good, "edge.buses[0].opcua.password_env: environment variable OPCUA_UNSET_VAR is not set"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1', endpoint_url: x}}", "opcua: " + good, "endpoint_url"},
		{"{name: b, protocol: profinet}", "unit: 1", `unsupported protocol "profinet" (modbus or opcua)`},
		{"{name: b, address: 'h:1', opcua: {endpoint: 'opc.tcp://h:1'}}", "unit: 1", "edge.buses[0].opcua: applies to protocol opcua only"},
		{"{name: b, address: 'h:1'}", "profile: chp, unit: 1, opcua: " + good, "edge.devices[0].opcua: applies to a device on an opcua bus only"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", "profile: chp", "edge.devices[0].profile: profiles are Modbus register maps"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", "", "edge.devices[0].opcua: required section is missing"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {nodes: [{name: p, node_id: "i=1"}]}`, "opcua.kind: required field is missing"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, mode: push, nodes: [{name: p, node_id: "i=1"}]}`, `unsupported mode "push"`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, queue_size: 5, nodes: [{name: p, node_id: "i=1"}]}`, "queue_size: applies to mode subscription only"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp}`, "opcua.nodes: no nodes configured"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p}]}`, "opcua.nodes[0].node_id: required field is missing (or browse_path)"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "ns=x;s=P"}]}`, `namespace index "x" is not 0-65535`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "ns=2;q=P"}]}`, `want [ns=<index>;]i=<number>`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=99999999999"}]}`, `numeric identifier "99999999999"`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "nsu=urn:x;s=P"}]}`, "namespace URIs (nsu=) are not supported"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "ns=2;g=1234"}]}`, `GUID "1234" is not 8-4-4-4-12 hex digits`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "s=a;b"}]}`, "needs its namespace first (ns=0;s=a;b)"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, browse_path: "2:A//2:B"}]}`, "step 2 is empty"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=1", browse_path: "2:A"}]}`, "set node_id or browse_path, not both"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=1"}, {name: p, node_id: "i=2"}]}`, `point "p" is defined twice`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=1", min: 5, max: 1}]}`, "min 5 is above max 1"},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=1", type: double}]}`, `opcua.nodes[0].type: unsupported type "double" (integer or float`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: "p-1", node_id: "i=1"}]}`, `"p-1" is not a valid point name`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: gateway, node_id: "i=1"}]}`, `"gateway" is reserved: it is a tag`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: power_q, node_id: "i=1"}]}`, `"power_q" is reserved`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: chp, nodes: [{name: p, node_id: "i=1", unit: "k W"}]}`, `"k W" is not a unit`},
		{"{name: b, protocol: opcua, opcua: {endpoint: 'opc.tcp://h:1'}}", `opcua: {kind: park_live, nodes: [{name: p, node_id: "i=1"}]}`, `"park_live" names a measurement eipgw writes itself`},
	} {
		data := opcuaHead + "    - " + tt.bus + "\n  devices:\n    - {name: d, bus: b"
		if tt.device != "" {
			data += ", " + tt.device
		}
		data += "}\n"
		_, err := Parse("bad.yaml", []byte(data), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s / %s:\nerror %v\nwant  %q", tt.bus, tt.device, err, tt.want)
		}
	}
}

func TestParseBrowsePath(t *testing.T) {
	got, err := ParseBrowsePath("2:CHP1/Objects/3:Power")
	if err != nil {
		t.Fatal(err)
	}
	want := []BrowseName{{2, "CHP1"}, {0, "Objects"}, {3, "Power"}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestOPCUAWrittenZeros: sampling_interval 0 asks the server for its
// fastest practical rate and is kept; queue_size 0 would run as the
// default and is an error.
func TestOPCUAWrittenZeros(t *testing.T) {
	device := func(opts string) string {
		return opcuaHead + "    - {name: dcs, protocol: opcua, opcua: {endpoint: \"opc.tcp://dcs.local:4840\", security_policy: None}}\n" +
			"  devices:\n    - {name: chp-2, bus: dcs, interval: 2s, opcua: {kind: chp, mode: subscription, " + opts + "nodes: [{name: p, node_id: \"ns=2;s=P\"}]}}\n"
	}
	f, err := Parse("opcua.yaml", []byte(device("sampling_interval: 0s, ")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Edge.Devices[0].OPCUA; d.SamplingInterval != 0 {
		t.Errorf("sampling_interval 0s became %s", d.SamplingInterval)
	}
	if f, err = Parse("opcua.yaml", []byte(device("")), nil); err != nil || f.Edge.Devices[0].OPCUA.SamplingInterval != 2*time.Second {
		t.Errorf("left out: %v, %v (want the device's interval, 2s)", f.Edge.Devices[0].OPCUA, err)
	}
	_, err = Parse("opcua.yaml", []byte(device("queue_size: 0, ")), nil)
	want := "opcua.yaml:10: edge.devices[0].opcua.queue_size: 0 is not a valid setting (it would run as the default, 10)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("queue_size 0: got %v, want %s", err, want)
	}
}

// Two OPC UA devices of one kind configuring one point with two types is
// an error: the point is one InfluxDB field.
func TestOPCUAKindPointTypesAgree(t *testing.T) {
	cfg := `park: p
site: s
mqtt: {broker: "tcp://h:1883"}
edge:
  gateway: gw
  state_dir: /tmp/eipgw-opcua-kind
  buses:
    - {name: ua, protocol: opcua, opcua: {endpoint: "opc.tcp://h:4840", security_policy: None, security_mode: None}}
  devices:
    - {name: a, bus: ua, opcua: {kind: k, nodes: [{name: p, node_id: "ns=1;s=A", type: integer}]}}
    - {name: b, bus: ua, opcua: {kind: k, nodes: [{name: p, node_id: "ns=1;s=B", type: float}, {name: q, node_id: "ns=1;s=Q", type: float}]}}
    - {name: c, bus: ua, opcua: {kind: k2, nodes: [{name: p, node_id: "ns=1;s=C", type: float}]}}
`
	_, err := Parse("x.yaml", []byte(cfg), nil)
	if err == nil || !strings.Contains(err.Error(), `edge.devices[1].opcua.nodes[0].type: float, where device "a"'s point p of kind k is integer`) ||
		strings.Contains(err.Error(), "devices[2]") || strings.Contains(err.Error(), "nodes[1]") {
		t.Errorf("conflicting types: %v", err)
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestExampleRTUBuses(t *testing.T) {
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	f, err := Load("examples/edge.yaml", knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	rtu := f.Edge.Buses[2]
	if rtu.Transport != TransportRTU || rtu.Device != "/dev/ttyUSB0" || rtu.Baud != 19200 || rtu.Parity != "E" || rtu.BitsPerChar() != 11 || rtu.BackoffMax != DefaultBackoffMax {
		t.Errorf("rtu bus %+v", rtu)
	}
	if b := f.Edge.Buses[3]; b.Transport != TransportRTUOverTCP || b.Baud != 0 {
		t.Errorf("rtu-over-tcp bus %+v", b)
	}
	if d := f.Edge.Devices[5]; d.Timeout != 200*time.Millisecond {
		t.Errorf("boiler-1 timeout %s", d.Timeout)
	}
}

func TestBusErrors(t *testing.T) {
	head := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: /tmp/x\n  buses:\n"
	for _, tt := range []struct{ bus, device, want string }{
		{"{name: b, transport: rtu}", "", "edge.buses[0].device: required field is missing"},
		{"{name: b, transport: rtu, device: /dev/ttyS0, address: 'h:1'}", "", "transport rtu takes device, not address"},
		{"{name: b, transport: rtu, device: /dev/ttyS0, baud: 1234}", "", "unsupported baud rate 1234"},
		{"{name: b, transport: rtu, device: /dev/ttyS0, parity: X}", "", `parity: "X": want N`},
		{"{name: b, transport: rtu, device: /dev/ttyS0, data_bits: 6}", "", "data_bits: 6: want 7 or 8"},
		{"{name: b, transport: rtu, device: /dev/ttyS0, stop_bits: 3}", "", "stop_bits: 3: want 1 or 2"},
		{"{name: b, transport: tcp, address: 'h:1', baud: 9600}", "", "baud: applies to transport rtu only"},
		{"{name: b, transport: rtu-over-tcp}", "", "edge.buses[0].address: required field is missing"},
		{"{name: b, transport: serial, address: 'h:1'}", "", `unsupported transport "serial"`},
		{"{name: b, transport: rtu, device: /dev/ttyS0}", "unit: 0", "unit 0 is the RTU broadcast address"},
		{"{name: b, address: 'h:1'}", "timeout: 100us", "timeout 100µs is below 1ms"},
		{"{name: b, address: 'h:1', timeout: 100us}", "", "edge.buses[0].timeout: timeout 100µs is below 1ms"},
		{"{name: b, address: 'h:1', delay: 2s}", "interval: 1s", "edge.devices[0].interval: 1s is not above the delay of bus b between requests (2s)"},
	} {
		dev := "unit: 1"
		if tt.device != "" {
			dev = tt.device
		}
		data := head + "    - " + tt.bus + "\n  devices:\n    - {name: d, profile: chp, bus: b, " + dev + "}\n"
		_, err := Parse("bad.yaml", []byte(data), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s / %s: error %v, want %q", tt.bus, tt.device, err, tt.want)
		}
	}
}

// TestPipelineDefaults: a tcp bus without a delay finds out whether its
// server queues requests (auto); a serial line, a serial device server and
// a bus with a delay send one request at a time; what is written stays.
func TestPipelineDefaults(t *testing.T) {
	head := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: /tmp/x\n  buses:\n"
	for _, tt := range []struct {
		bus  string
		want Pipeline
	}{
		{"{name: b, address: 'h:1'}", PipelineAuto},
		{"{name: b, transport: tcp, address: 'h:1', pipeline: auto}", PipelineAuto},
		{"{name: b, address: 'h:1', pipeline: 1}", 1},
		{"{name: b, address: 'h:1', pipeline: 16}", 16},
		{"{name: b, address: 'h:1', delay: 5ms}", 1},
		{"{name: b, transport: rtu, device: /dev/ttyS0}", 1},
		{"{name: b, transport: rtu-over-tcp, address: 'h:1'}", 1},
	} {
		doc := head + "    - " + tt.bus + "\n  devices:\n    - {name: d, profile: power_meter, bus: b, unit: 1}\n"
		f, err := Parse("t.yaml", []byte(doc), knownProfile)
		if err != nil {
			t.Errorf("%s: %v", tt.bus, err)
			continue
		}
		if got := f.Edge.Buses[0].Pipeline; got != tt.want {
			t.Errorf("%s: pipeline %s, want %s", tt.bus, got, tt.want)
		}
	}
}

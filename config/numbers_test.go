package config

import (
	"strings"
	"testing"
)

// TestIntegersAreDecimal: digits are decimal, leading zeros included (a
// register address copied zero-padded from a manual); only an explicit
// prefix changes the base, and '_' separators are refused.
func TestIntegersAreDecimal(t *testing.T) {
	type doc struct {
		I   int     `yaml:"i"`
		I8  int8    `yaml:"i8"`
		U16 uint16  `yaml:"u16"`
		U64 uint64  `yaml:"u64"`
		F   float64 `yaml:"f"`
	}
	for _, tc := range []struct {
		yml     string
		want    doc
		wantErr string // prefix of the only error; "" for none
	}{
		{"i: 0100", doc{I: 100}, ""},
		{"i: 010", doc{I: 10}, ""},
		{"i: 0108", doc{I: 108}, ""},
		{"i: 08", doc{I: 8}, ""},
		{"i: 0", doc{}, ""},
		{"i: 00", doc{}, ""},
		{"i: -0100", doc{I: -100}, ""},
		{"i: +017", doc{I: 17}, ""},
		{"i: 0x64", doc{I: 100}, ""},
		{"i: 0X1F", doc{I: 31}, ""},
		{"i: -0x10", doc{I: -16}, ""},
		{"i: 0o17", doc{I: 15}, ""},
		{"i: 0b101", doc{I: 5}, ""},
		{"i8: -128", doc{I8: -128}, ""},
		{"i8: 0127", doc{I8: 127}, ""},
		{"u16: 065535", doc{U16: 65535}, ""},
		{"u16: 0xFFFF", doc{U16: 65535}, ""},
		{"u64: 18446744073709551615", doc{U64: 1<<64 - 1}, ""},
		{"f: 0100", doc{F: 100}, ""},
		{"f: 0x10", doc{F: 16}, ""},
		{"f: 0100.5", doc{F: 100.5}, ""},
		{"f: -010", doc{F: -10}, ""},

		{"i: 1_000", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "1_000": write the digits without '_'`},
		{"i: 0x_10", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "0x_10": write the digits without '_'`},
		{"u16: 1_0", doc{}, `x.yaml:1: u16: expected a non-negative integer below 2^16, got "1_0": write the digits without '_'`},
		{"f: 1_000.5", doc{}, `x.yaml:1: f: expected a number, got "1_000.5": write the digits without '_'`},
		{"f: 1_000", doc{}, `x.yaml:1: f: expected a number, got "1_000": write the digits without '_'`},
		{"i: 0x", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "0x"`},
		{"i: 0xG", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "0xG"`},
		{"i: 0o8", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "0o8"`},
		{"i: 1.5", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "1.5"`},
		{"i: 1e3", doc{}, `x.yaml:1: i: expected an integer (64-bit), got "1e3"`},
		{`i: "10"`, doc{}, `x.yaml:1: i: expected an integer (64-bit), got "10"`},
		{"i8: 128", doc{}, `x.yaml:1: i8: "128" is out of range of an 8-bit integer (-128 to 127)`},
		{"i8: -0x81", doc{}, `x.yaml:1: i8: "-0x81" is out of range of an 8-bit integer (-128 to 127)`},
		{"i: 99999999999999999999", doc{}, `x.yaml:1: i: "99999999999999999999" is out of range of a 64-bit integer`},
		{"u16: 65536", doc{}, `x.yaml:1: u16: expected a non-negative integer below 2^16, got "65536"`},
		{"u16: -1", doc{}, `x.yaml:1: u16: expected a non-negative integer below 2^16, got "-1"`},
	} {
		var got doc
		_, errs := Decode("x.yaml", []byte(tc.yml+"\n"), &got)
		switch {
		case tc.wantErr == "" && len(errs) > 0:
			t.Errorf("%s: %v", tc.yml, errs)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("%s: decoded %+v, want %+v", tc.yml, got, tc.want)
		case tc.wantErr != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.wantErr)):
			t.Errorf("%s: errors %v, want one starting %q", tc.yml, errs, tc.wantErr)
		}
	}
}

// A unit id copied zero-padded is the unit written, not an octal number.
func TestUnitWithLeadingZero(t *testing.T) {
	base := "park: p\nsite: s\nmqtt: {broker: tcp://h:1}\nedge:\n  gateway: g\n  state_dir: /tmp/s\n" +
		"  buses: [{name: b, address: 'h:502'}]\n  devices:\n    - {name: d, profile: chp, bus: b, unit: %s}\n"
	for text, want := range map[string]int{"010": 10, "0010": 10, "0x0A": 10, "10": 10} {
		f, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", text, 1)), knownProfile)
		if err != nil {
			t.Errorf("unit: %s: %v", text, err)
			continue
		}
		if got := f.Edge.Devices[0].Unit; got != want {
			t.Errorf("unit: %s = %d, want %d", text, got, want)
		}
	}
	_, err := Parse("x.yaml", []byte(strings.Replace(base, "%s", "1_0", 1)), knownProfile)
	if want := "x.yaml:9: edge.devices[0].unit: expected an integer (64-bit), got \"1_0\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("unit: 1_0: %v, want %s", err, want)
	}
}

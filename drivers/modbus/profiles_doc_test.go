package modbus

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/profiles.md from the embedded profiles")

// renderProfiles writes the register maps of the built-in profiles as
// Markdown tables.
func renderProfiles(ps Profiles) string {
	var b strings.Builder
	b.WriteString("# Built-in device profiles\n\n")
	b.WriteString("Generated from `drivers/modbus/profiles/*.yaml` by `go test ./drivers/modbus -update-docs`;\n")
	b.WriteString("a test fails when this page and the profiles disagree. Addresses are 0-based register\n")
	b.WriteString("addresses; value = raw x scale + offset; a reading outside [min, max] has quality `out_of_range`.\n")
	b.WriteString("In a profile file an address is decimal, leading zeros included (`address: 0100` is 100, never\n")
	b.WriteString("octal), or hexadecimal after `0x` (`address: 0x64` is 100); `_` between digits is an error.\n")
	b.WriteString("Field is the point's type in the payload and in InfluxDB: `integer` (exact) for an integer\n")
	b.WriteString("register type with no scale or offset, `float` otherwise (see contracts.md, Integers).\n")
	b.WriteString("Byte orders, qualities, request planning and troubleshooting: [drivers/modbus/README.md](../drivers/modbus/README.md).\n")
	for _, name := range ps.Names() {
		p := ps[name]
		fmt.Fprintf(&b, "\n## %s\n\n%s. Measurement `%s`, %s registers (function code %d).\n\n", name, p.Description, p.Kind, p.Table, map[string]int{"holding": 3, "input": 4}[p.Table])
		b.WriteString("| point | address | type | order | scale | field | unit | min | max | description |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, pt := range p.Points {
			opt := func(f *float64) string {
				if f == nil {
					return ""
				}
				return fmt.Sprintf("%g", *f)
			}
			field := "float"
			if pt.ValueKind() != FloatValue {
				field = "integer"
			}
			fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", pt.Name, pt.Address, pt.Type, pt.Order, opt(pt.Scale), field, pt.Unit, opt(pt.Min), opt(pt.Max), pt.Description)
		}
		reads := p.Plan()
		fmt.Fprintf(&b, "\nPolled in %d request(s):", len(reads))
		for _, r := range reads {
			fmt.Fprintf(&b, " %s %d+%d;", r.Table, r.Address, r.Quantity)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestProfilesDocIsCurrent(t *testing.T) {
	ps, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	got := renderProfiles(ps)
	const path = "../../docs/profiles.md"
	if *updateDocs {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatalf("%s is out of date: run go test ./drivers/modbus -run TestProfilesDocIsCurrent -update-docs", path)
	}
}

package modbus

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README's profile example loads, and its worked byte-order example
// decodes to the value it names in every order.
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	profiles := 0
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if !strings.HasPrefix(block[1], "kind:") {
			continue
		}
		profiles++
		if _, errs := ParseProfile("README.md", []byte(block[1])); len(errs) > 0 {
			t.Errorf("README profile example: %v", errs)
		}
	}
	if profiles != 1 {
		t.Errorf("%d profile examples in the README, want 1", profiles)
	}
	row := regexp.MustCompile("(?m)^\\| `(ABCD|CDAB|BADC|DCBA)` \\| `0x([0-9A-F]{4})` \\| `0x([0-9A-F]{4})` \\| `0x([0-9A-F]{4})` \\| `0x([0-9A-F]{4})` \\|$")
	rows := row.FindAllStringSubmatch(doc, -1)
	if len(rows) != 4 {
		t.Fatalf("%d rows in the worked example, want 4", len(rows))
	}
	for _, r := range rows {
		var regs []uint16
		for _, h := range r[2:] {
			v, _ := strconv.ParseUint(h, 16, 16)
			regs = append(regs, uint16(v))
		}
		p := mustParse(t, "kind: test\npoints:\n  - {name: e, address: 0, type: uint64, order: "+r[1]+", unit: \"1\"}\n")
		rd := Reading{Point: &p.Points[0]}
		p.Points[0].decodeReading(&rd, regs)
		if rd.Quality != Good || rd.Kind != UintValue || rd.Uint != 1234567890123456789 {
			t.Errorf("order %s registers % X: %+v, want 1234567890123456789", r[1], regs, rd)
		}
	}
}

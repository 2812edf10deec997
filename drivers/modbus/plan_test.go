package modbus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/drivers"
)

// pointsYAML writes one flow-style point per spec "name table type address".
func pointsYAML(header string, specs ...string) string {
	var b strings.Builder
	b.WriteString("kind: test\n")
	b.WriteString(header)
	b.WriteString("points:\n")
	for _, s := range specs {
		f := strings.Fields(s)
		fmt.Fprintf(&b, "  - {name: %s, table: %s, type: %s, address: %s, unit: \"1\"}\n", f[0], f[1], f[2], f[3])
	}
	return b.String()
}

// planString renders a plan as "table@address+quantity[point:offset ...]".
func planString(p *Profile, reads []Read) string {
	var parts []string
	for _, r := range reads {
		var pts []string
		for k, pi := range r.Points {
			pts = append(pts, fmt.Sprintf("%s:%d", p.Points[pi].Name, r.Offsets[k]))
		}
		parts = append(parts, fmt.Sprintf("%s@%d+%d[%s]", r.Table, r.Address, r.Quantity, strings.Join(pts, " ")))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		header string
		points []string
		want   string
	}{
		{"adjacent points merge", "", []string{
			"a holding uint16 0", "b holding float32 1", "c holding int64 3", "d holding int32 7",
		}, "holding@0+9[a:0 b:1 c:3 d:7]"},
		{"gap up to max_gap merges", "max_gap: 2\n", []string{
			"a holding uint16 0", "b holding uint16 3", // registers 1-2 unused
		}, "holding@0+4[a:0 b:3]"},
		{"gap above max_gap splits", "max_gap: 2\n", []string{
			"a holding uint16 0", "b holding uint16 3", "c holding float32 7", // 4-6 unused
		}, "holding@0+4[a:0 b:3] holding@7+2[c:0]"},
		{"default max_gap is 16", "", []string{
			"a holding uint16 0", "b holding uint16 17", "c holding uint16 35",
		}, "holding@0+18[a:0 b:17] holding@35+1[c:0]"},
		{"max_registers 2 reads one float32 each", "max_registers: 2\n", []string{
			"a holding float32 0", "b holding float32 2", "c holding float32 4",
		}, "holding@0+2[a:0] holding@2+2[b:0] holding@4+2[c:0]"},
		{"max_registers caps a merged read", "max_registers: 5\n", []string{
			"a holding float32 0", "b holding float32 2", "c holding float32 4", "d holding uint16 6",
		}, "holding@0+4[a:0 b:2] holding@4+3[c:0 d:2]"},
		{"max_registers counts the gap", "max_registers: 4\n", []string{
			"a holding uint16 0", "b holding uint16 3", "c holding uint16 4",
		}, "holding@0+4[a:0 b:3] holding@4+1[c:0]"},
		{"a point larger than max_registers is read whole", "max_registers: 1\n", []string{
			"a holding uint16 0", "b holding float64 1", "c holding uint16 5",
		}, "holding@0+1[a:0] holding@1+4[b:0] holding@5+1[c:0]"},
		{"holding and input never share a read", "", []string{
			"h0 holding uint16 0", "i0 input uint16 1", "h1 holding uint16 2", "i1 input float32 2",
		}, "holding@0+3[h0:0 h1:2] input@1+3[i0:0 i1:1]"},
		{"same addresses in both tables", "table: input\n", []string{
			"i input float32 10", "h holding float32 10",
		}, "holding@10+2[h:0] input@10+2[i:0]"},
		{"points out of order are sorted", "", []string{
			"c holding uint16 8", "a holding uint16 0", "b holding uint32 4",
		}, "holding@0+9[a:0 b:4 c:8]"},
		{"overlapping points share registers", "", []string{
			"whole holding float32 0", "hi holding uint16 0", "lo holding uint16 1",
		}, "holding@0+2[whole:0 hi:0 lo:1]"},
		{"a point inside a longer one does not shorten the read", "", []string{
			"long holding uint64 0", "inner holding uint16 1", "next holding uint16 4",
		}, "holding@0+5[long:0 inner:1 next:4]"},
		{"125 registers in one read, the 126th in the next", "max_gap: 200\n", []string{
			"a holding uint16 0", "b holding uint16 124", "c holding uint16 125",
		}, "holding@0+125[a:0 b:124] holding@125+1[c:0]"},
		{"last registers of the table", "", []string{
			"a holding uint16 65530", "b holding float32 65534",
		}, "holding@65530+6[a:0 b:4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, pointsYAML(tt.header, tt.points...))
			if got := planString(p, p.Plan()); got != tt.want {
				t.Errorf("plan\n got  %s\n want %s", got, tt.want)
			}
			checkPlanCovers(t, p)
		})
	}
}

func TestPlanPointIndexes(t *testing.T) {
	// Read.Points index the profile's points as written, not as sorted.
	p := mustParse(t, pointsYAML("", "z input uint16 0", "y holding uint16 5", "x holding uint16 1"))
	reads := p.Plan()
	if len(reads) != 2 {
		t.Fatalf("%d reads: %s", len(reads), planString(p, reads))
	}
	if got := fmt.Sprint(reads[0].Points, reads[0].Offsets, reads[1].Points, reads[1].Offsets); got != "[2 1] [0 4] [0] [0]" {
		t.Errorf("points and offsets = %s", got)
	}
	if reads[0].Table != Holding || reads[0].Address != 1 || reads[0].Quantity != 5 {
		t.Errorf("first read = %+v", reads[0])
	}
}

func TestNewDevice(t *testing.T) {
	p := mustParse(t, pointsYAML("", "a holding uint16 0", "b input uint16 0"))
	d := NewDevice(deviceConfig("dev-1", 7), p)
	if d.Name != "dev-1" || d.Kind != "test" || d.Unit != 7 || d.Tenant != "t1" || d.Profile != p {
		t.Errorf("device = %+v", d)
	}
	rs := make([]drivers.Reading, d.numeric)
	d.fill(rs)
	if len(rs) != 2 || rs[0].Name != "a" || rs[1].Name != "b" || rs[0].Unit != p.Points[0].Unit || rs[0].Quality != "" || rs[0].HasValue {
		t.Errorf("readings %+v do not name the profile's points, unread", rs)
	}
	if planString(p, d.plan) != "holding@0+1[a:0] input@0+1[b:0]" {
		t.Errorf("plan = %s", planString(p, d.plan))
	}
}

func TestPlanMaxGapZeroMergesOnlyAdjacent(t *testing.T) {
	p, errs := ParseProfile("gap0.yaml", []byte(`kind: k
max_gap: 0
points:
  - {name: a, address: 0, type: uint16, unit: "1"}
  - {name: b, address: 1, type: uint16, unit: "1"}
  - {name: c, address: 3, type: uint16, unit: "1"}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	reads := p.Plan()
	if len(reads) != 2 || reads[0].Quantity != 2 || reads[1].Address != 3 {
		t.Fatalf("max_gap 0: %+v, want reads 0+2 and 3+1", reads)
	}
}

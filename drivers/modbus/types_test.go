package modbus

import (
	"math"
	"strings"
	"testing"
)

func TestDecodeBCD(t *testing.T) {
	tests := []struct {
		typ, order string
		regs       []uint16
		want       float64
		ok         bool
	}{
		{"bcd16", "", []uint16{0x1234}, 1234, true},
		{"bcd16", "BADC", []uint16{0x3412}, 1234, true},
		{"bcd16", "", []uint16{0x9999}, 9999, true},
		{"bcd16", "", []uint16{0x12A4}, math.NaN(), false},
		{"bcd32", "ABCD", []uint16{0x1234, 0x5678}, 12345678, true},
		{"bcd32", "CDAB", []uint16{0x5678, 0x1234}, 12345678, true},
		{"bcd32", "BADC", []uint16{0x3412, 0x7856}, 12345678, true},
		{"bcd32", "DCBA", []uint16{0x7856, 0x3412}, 12345678, true},
		{"bcd32", "", []uint16{0x0000, 0x00F0}, math.NaN(), false},
	}
	for _, tt := range tests {
		pt := onePoint(t, tt.typ, tt.order)
		v, ok := pt.Decode(tt.regs)
		if ok != tt.ok || (ok && v != tt.want) {
			t.Errorf("%s %s Decode(%04X) = %v, %v; want %v, %v", tt.typ, tt.order, tt.regs, v, ok, tt.want, tt.ok)
		}
		if !tt.ok {
			continue
		}
		back := make([]uint16, len(tt.regs))
		if err := pt.Encode(back, tt.want); err != nil || back[0] != tt.regs[0] || back[len(back)-1] != tt.regs[len(back)-1] {
			t.Errorf("%s %s Encode(%v) = %04X, %v", tt.typ, tt.order, tt.want, back, err)
		}
	}
	if err := onePoint(t, "bcd16", "").Encode(make([]uint16, 1), 10000); err == nil {
		t.Error("bcd16 encoded 10000")
	}
}

func TestDecodeBool(t *testing.T) {
	p := mustParse(t, `kind: test
points:
  - {name: coil, table: coil, address: 3, type: bool, unit: "1"}
  - {name: di, table: discrete, address: 0, type: bool, unit: "1"}
  - {name: bit0, address: 0, type: bool, bit: 0, unit: "1"}
  - {name: bit15, address: 0, type: bool, bit: 15, unit: "1"}
`)
	coil, di, bit0, bit15 := &p.Points[0], &p.Points[1], &p.Points[2], &p.Points[3]
	for _, c := range []struct {
		pt   *Point
		regs []uint16
		want float64
	}{
		{coil, []uint16{1}, 1}, {coil, []uint16{0}, 0}, {di, []uint16{1}, 1},
		{bit0, []uint16{0x0001}, 1}, {bit0, []uint16{0xFFFE}, 0},
		{bit15, []uint16{0x8000}, 1}, {bit15, []uint16{0x7FFF}, 0},
	} {
		if v, ok := c.pt.Decode(c.regs); v != c.want || !ok {
			t.Errorf("%s Decode(%04X) = %v, %v; want %v", c.pt.Name, c.regs, v, ok, c.want)
		}
	}
	// Encoding one bit keeps the register's other bits.
	reg := []uint16{0x00F0}
	bit15.Encode(reg, 1)
	bit0.Encode(reg, 1)
	if reg[0] != 0x80F1 {
		t.Errorf("bits encoded into 0x00F0 = %04X, want 80F1", reg[0])
	}
	bit15.Encode(reg, 0)
	if reg[0] != 0x00F1 {
		t.Errorf("bit 15 cleared = %04X, want 00F1", reg[0])
	}
	// Coils are planned in bits, per table.
	reads := p.Plan()
	if len(reads) != 3 || reads[0].Table != Holding || reads[1].Table != Coil || reads[1].Address != 3 || reads[2].Table != Discrete {
		t.Errorf("plan %+v", reads)
	}
}

func TestDecodeString(t *testing.T) {
	p := mustParse(t, `kind: test
points:
  - {name: serial, address: 0, type: string, length: 4, unit: "1"}
  - {name: swapped, address: 4, type: string, length: 2, order: BADC, unit: "1"}
`)
	s, sw := &p.Points[0], &p.Points[1]
	if s.Words() != 4 || !s.Text() {
		t.Fatalf("words %d text %v", s.Words(), s.Text())
	}
	regs := []uint16{0x4348, 0x502D, 0x3031, 0x0000} // "CHP-01"
	if got := s.DecodeText(regs); got != "CHP-01" {
		t.Errorf("DecodeText = %q", got)
	}
	if got := sw.DecodeText([]uint16{0x3356, 0x312E}); got != "V3.1" {
		t.Errorf("byte-swapped DecodeText = %q", got)
	}
	if got := s.DecodeText([]uint16{0x4142, 0x0120, 0x2020, 0x2020}); got != "AB?" {
		t.Errorf("control bytes and padding: %q", got)
	}
	back := make([]uint16, 2)
	if err := sw.EncodeText(back, "V3.1"); err != nil || back[0] != 0x3356 || back[1] != 0x312E {
		t.Errorf("EncodeText = %04X, %v", back, err)
	}
	if err := sw.EncodeText(back, "too long"); err == nil {
		t.Error("EncodeText accepted 8 characters into 2 registers")
	}
}

func TestAddressBase(t *testing.T) {
	p := mustParse(t, "kind: test\naddress_base: 1\npoints:\n  - {name: a, address: 1, type: uint16, unit: \"1\"}\n  - {name: b, address: 3, type: float32, unit: \"1\"}\n")
	reads := p.Plan()
	if len(reads) != 1 || reads[0].Address != 0 || reads[0].Quantity != 4 || p.Points[1].Register() != 2 {
		t.Errorf("plan %+v", reads)
	}
}

func TestParseNewTypeErrors(t *testing.T) {
	for _, tt := range []struct{ point, want string }{
		{"{name: p, table: coil, address: 0, type: uint16, unit: x}", "use type bool"},
		{"{name: p, address: 0, type: bool, unit: x}", "needs bit: 0-15"},
		{"{name: p, address: 0, type: bool, bit: 16, unit: x}", "bit 16 out of range"},
		{"{name: p, table: coil, address: 0, type: bool, bit: 1, unit: x}", "single bit already"},
		{"{name: p, address: 0, type: uint16, bit: 1, unit: x}", "bit applies to type bool only"},
		{"{name: p, address: 0, type: string, unit: x}", "needs length"},
		{"{name: p, address: 0, type: string, length: 2, order: CDAB, unit: x}", "ABCD or BADC"},
		{"{name: p, address: 0, type: int16, length: 2, unit: x}", "length applies to type string only"},
		{"{name: p, address: 0, type: uint16, unit: x}\naddress_base: 1", "address 0 out of range 1-65536"},
		{"{name: p, address: 0, type: uint16, unit: x}\naddress_base: 2", "want 0"},
		{"{name: p, address: 0, type: uint16, unit: x}\nmax_bits: 2001", "max_bits"},
	} {
		_, errs := ParseProfile("bad.yaml", []byte("kind: test\npoints:\n  - "+tt.point+"\n"))
		if !strings.Contains(errs.Error(), tt.want) {
			t.Errorf("%s: errors %v, want %q", tt.point, errs, tt.want)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

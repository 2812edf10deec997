package modbus

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
)

// mustParse parses a profile from YAML text and fails the test on any error.
func mustParse(t testing.TB, yml string) *Profile {
	t.Helper()
	p, errs := ParseProfile("test.yaml", []byte(yml))
	if len(errs) > 0 {
		t.Fatalf("ParseProfile: %v", errs)
	}
	return p
}

// onePoint parses a one-point profile; extra is more YAML lines of the point,
// each indented by four spaces.
func onePoint(t testing.TB, typ, order string, extra ...string) *Point {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "kind: test\npoints:\n  - name: p\n    address: 0\n    type: %s\n    unit: \"1\"\n", typ)
	if order != "" {
		fmt.Fprintf(&b, "    order: %s\n", order)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	return &mustParse(t, b.String()).Points[0]
}

var orders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

var typeNames = []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}

// decodeVectors are register images worked out by hand from the value's
// big-endian bytes A B C D (E F G H): ABCD keeps them, CDAB reverses the
// order of the 16-bit words, BADC swaps the bytes inside each word, DCBA
// does both. A one-register value has a single word, so CDAB is ABCD and
// DCBA is BADC.
var decodeVectors = []struct {
	typ  string
	want float64
	regs [4][]uint16 // ABCD, CDAB, BADC, DCBA
}{
	// -12345 = 0xCFC7 (two's complement of 0x3039)
	{"int16", -12345, [4][]uint16{{0xCFC7}, {0xCFC7}, {0xC7CF}, {0xC7CF}}},
	// 43981 = 0xABCD
	{"uint16", 43981, [4][]uint16{{0xABCD}, {0xABCD}, {0xCDAB}, {0xCDAB}}},
	// -123456789 = 0xF8A432EB (123456789 = 0x075BCD15)
	{"int32", -123456789, [4][]uint16{
		{0xF8A4, 0x32EB}, {0x32EB, 0xF8A4}, {0xA4F8, 0xEB32}, {0xEB32, 0xA4F8}}},
	// 3000000000 = 0xB2D05E00, above the int32 range
	{"uint32", 3000000000, [4][]uint16{
		{0xB2D0, 0x5E00}, {0x5E00, 0xB2D0}, {0xD0B2, 0x005E}, {0x005E, 0xD0B2}}},
	// -1234567890123 = 0xFFFFFEE08E04FB35 (1234567890123 = 0x0000011F71FB04CB)
	{"int64", -1234567890123, [4][]uint16{
		{0xFFFF, 0xFEE0, 0x8E04, 0xFB35},
		{0xFB35, 0x8E04, 0xFEE0, 0xFFFF},
		{0xFFFF, 0xE0FE, 0x048E, 0x35FB},
		{0x35FB, 0x048E, 0xE0FE, 0xFFFF}}},
	// 0xF123456789ABC000 = 17375808098319187968: above the int64 range and
	// exact in a float64 (49 significant bits)
	{"uint64", 17375808098319187968, [4][]uint16{
		{0xF123, 0x4567, 0x89AB, 0xC000},
		{0xC000, 0x89AB, 0x4567, 0xF123},
		{0x23F1, 0x6745, 0xAB89, 0x00C0},
		{0x00C0, 0xAB89, 0x6745, 0x23F1}}},
	// float32(123.456) = 0x42F6E979
	{"float32", float64(float32(123.456)), [4][]uint16{
		{0x42F6, 0xE979}, {0xE979, 0x42F6}, {0xF642, 0x79E9}, {0x79E9, 0xF642}}},
	// 123.456 = 0x405EDD2F1A9FBE77
	{"float64", 123.456, [4][]uint16{
		{0x405E, 0xDD2F, 0x1A9F, 0xBE77},
		{0xBE77, 0x1A9F, 0xDD2F, 0x405E},
		{0x5E40, 0x2FDD, 0x9F1A, 0x77BE},
		{0x77BE, 0x9F1A, 0x2FDD, 0x5E40}}},
}

func TestDecodeVectors(t *testing.T) {
	for _, v := range decodeVectors {
		for oi, order := range orders {
			t.Run(v.typ+"/"+order, func(t *testing.T) {
				pt := onePoint(t, v.typ, order)
				regs := v.regs[oi]
				if pt.Words() != len(regs) {
					t.Fatalf("Words() = %d, want %d", pt.Words(), len(regs))
				}
				// Trailing registers belong to the next point and must
				// not change the value.
				got, ok := pt.Decode(append(slices.Clone(regs), 0xDEAD, 0xBEEF))
				if got != v.want || !ok {
					t.Errorf("Decode(%04X) = %v, %v; want %v, true", regs, got, ok, v.want)
				}
				enc := make([]uint16, len(regs))
				if err := pt.Encode(enc, v.want); err != nil {
					t.Fatalf("Encode(%v): %v", v.want, err)
				}
				if !slices.Equal(enc, regs) {
					t.Errorf("Encode(%v) = %04X, want %04X", v.want, enc, regs)
				}
			})
		}
	}
}

func TestDecodeDefaultOrderIsABCD(t *testing.T) {
	pt := onePoint(t, "float32", "")
	if pt.Order != "ABCD" {
		t.Errorf("Order = %q, want ABCD", pt.Order)
	}
	if got, _ := pt.Decode([]uint16{0x42F6, 0xE979}); got != float64(float32(123.456)) {
		t.Errorf("Decode = %v, want %v", got, float64(float32(123.456)))
	}
}

func TestDecodeScaleOffset(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		extra []string
		regs  []uint16
		want  float64
	}{
		// Binary-exact scales give exact results.
		{"uint16 scale", "uint16", []string{"scale: 0.5"}, []uint16{300}, 150},
		{"uint16 scale offset", "uint16", []string{"scale: 0.5", "offset: -40"}, []uint16{300}, 110},
		{"int16 negative scale offset", "int16", []string{"scale: 0.25", "offset: 10"}, []uint16{0xFF38}, -40}, // -200/4+10
		{"int32 scale", "int32", []string{"scale: 2"}, []uint16{0xFFFF, 0xFFFE}, -4},
		{"float32 offset", "float32", []string{"offset: 1.5"}, []uint16{0x3F80, 0x0000}, 2.5}, // 1.0 + 1.5
		{"offset only", "uint16", []string{"offset: -273.15"}, []uint16{0}, -273.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := onePoint(t, tt.typ, "", tt.extra...)
			got, ok := pt.Decode(tt.regs)
			if got != tt.want || !ok {
				t.Errorf("Decode(%04X) = %v, %v; want %v, true", tt.regs, got, ok, tt.want)
			}
		})
	}

	// A decimal scale is inexact in binary: the result is raw*scale+offset
	// to within rounding (power_meter's frequency, 0.01 Hz per count).
	pt := onePoint(t, "uint16", "", "scale: 0.01")
	if got, ok := pt.Decode([]uint16{5002}); math.Abs(got-50.02) > 1e-12 || !ok {
		t.Errorf("Decode(5002) with scale 0.01 = %v, %v; want 50.02, true", got, ok)
	}
}

func TestDecodeFloat32Flag(t *testing.T) {
	tests := []struct {
		typ   string
		extra []string
		want  bool
	}{
		{"float32", nil, true},
		{"float32", []string{"scale: 1"}, true},
		{"float32", []string{"scale: 0.1"}, false},
		{"float32", []string{"offset: 1"}, false},
		{"float64", nil, false},
		{"uint16", nil, false},
	}
	for _, tt := range tests {
		if got := onePoint(t, tt.typ, "", tt.extra...).Float32(); got != tt.want {
			t.Errorf("%s %v: Float32() = %v, want %v", tt.typ, tt.extra, got, tt.want)
		}
	}
}

func TestDecodeRange(t *testing.T) {
	pt := onePoint(t, "int16", "", "min: -10", "max: 100")
	tests := []struct {
		raw  int16
		want bool
	}{
		{-11, false},
		{-10, true}, // bounds are inclusive
		{0, true},
		{100, true},
		{101, false},
		{math.MaxInt16, false},
	}
	for _, tt := range tests {
		v, ok := pt.Decode([]uint16{uint16(tt.raw)})
		if v != float64(tt.raw) || ok != tt.want {
			t.Errorf("Decode(%d) = %v, %v; want %v, %v", tt.raw, v, ok, float64(tt.raw), tt.want)
		}
	}

	// The range applies to the scaled value, not the raw one.
	pt = onePoint(t, "uint16", "", "scale: 0.5", "min: 45", "max: 65")
	for raw, want := range map[uint16]bool{89: false, 90: true, 130: true, 131: false} {
		if _, ok := pt.Decode([]uint16{raw}); ok != want {
			t.Errorf("scaled Decode(%d): inRange = %v, want %v", raw, ok, want)
		}
	}

	// Only min, or only max.
	pt = onePoint(t, "int16", "", "min: 0")
	if _, ok := pt.Decode([]uint16{0xFFFF}); ok {
		t.Error("min 0: -1 is in range")
	}
	if _, ok := pt.Decode([]uint16{0x7FFF}); !ok {
		t.Error("min 0: 32767 is out of range")
	}
	pt = onePoint(t, "int16", "", "max: 0")
	if _, ok := pt.Decode([]uint16{1}); ok {
		t.Error("max 0: 1 is in range")
	}
	if _, ok := pt.Decode([]uint16{0x8000}); !ok {
		t.Error("max 0: -32768 is out of range")
	}
}

func TestDecodeNaNInf(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		extra []string
		regs  []uint16
		check func(float64) bool
	}{
		{"float32 NaN", "float32", nil, []uint16{0x7FC0, 0x0000}, math.IsNaN},
		{"float32 signalling NaN", "float32", nil, []uint16{0x7F80, 0x0001}, math.IsNaN},
		{"float32 +Inf", "float32", nil, []uint16{0x7F80, 0x0000}, func(v float64) bool { return math.IsInf(v, 1) }},
		{"float32 -Inf", "float32", nil, []uint16{0xFF80, 0x0000}, func(v float64) bool { return math.IsInf(v, -1) }},
		{"float64 NaN", "float64", nil, []uint16{0x7FF8, 0, 0, 0}, math.IsNaN},
		{"float64 +Inf", "float64", nil, []uint16{0x7FF0, 0, 0, 0}, func(v float64) bool { return math.IsInf(v, 1) }},
		{"float64 -Inf", "float64", nil, []uint16{0xFFF0, 0, 0, 0}, func(v float64) bool { return math.IsInf(v, -1) }},
		// NaN is outside any range, and a range does not hide Inf.
		{"NaN with range", "float32", []string{"min: 0", "max: 10"}, []uint16{0x7FC0, 0x0000}, math.IsNaN},
		// A finite raw value that scaling overflows is not usable either.
		{"float64 max scaled", "float64", []string{"scale: 10"}, []uint16{0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF},
			func(v float64) bool { return math.IsInf(v, 1) }},
		// NaN in CDAB order: the word swap happens before the check.
		{"float32 NaN CDAB", "float32", []string{"order: CDAB"}, []uint16{0x0000, 0x7FC0}, math.IsNaN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := onePoint(t, tt.typ, "", tt.extra...)
			v, ok := pt.Decode(tt.regs)
			if ok || !tt.check(v) {
				t.Errorf("Decode(%04X) = %v, %v; want NaN or Inf, false", tt.regs, v, ok)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	values := map[string][]float64{
		"int16":   {0, 1, -1, 12345, math.MinInt16, math.MaxInt16},
		"uint16":  {0, 1, 50000, math.MaxUint16},
		"int32":   {0, -1, 70000, -70000, math.MinInt32, math.MaxInt32},
		"uint32":  {0, 1, 65536, 3000000000, math.MaxUint32},
		"int64":   {0, -1, 1 << 40, -(1 << 53), 1 << 53, math.MinInt64},
		"uint64":  {0, 1, 1 << 53, 1 << 63, 18446744073709549568}, // largest float64 below 2^64
		"float32": {0, -1.5, float64(float32(123.456)), math.MaxFloat32, math.SmallestNonzeroFloat32, math.Inf(1)},
		"float64": {0, -1.5, 123.456, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(-1)},
	}
	for _, typ := range typeNames {
		for _, order := range orders {
			pt := onePoint(t, typ, order)
			for _, want := range values[typ] {
				regs := make([]uint16, pt.Words())
				if err := pt.Encode(regs, want); err != nil {
					t.Errorf("%s %s: Encode(%v): %v", typ, order, want, err)
					continue
				}
				got, _ := pt.Decode(regs)
				if got != want {
					t.Errorf("%s %s: Decode(Encode(%v)) = %v (regs %04X)", typ, order, want, got, regs)
				}
			}
		}
	}

	// NaN survives a float round trip (and is reported unusable).
	for _, typ := range []string{"float32", "float64"} {
		pt := onePoint(t, typ, "DCBA")
		regs := make([]uint16, pt.Words())
		if err := pt.Encode(regs, math.NaN()); err != nil {
			t.Fatalf("%s: Encode(NaN): %v", typ, err)
		}
		if v, ok := pt.Decode(regs); !math.IsNaN(v) || ok {
			t.Errorf("%s: Decode(Encode(NaN)) = %v, %v", typ, v, ok)
		}
	}
}

func TestEncodeScaledRoundTrip(t *testing.T) {
	tests := []struct {
		typ   string
		extra []string
		v     float64
		regs  []uint16
	}{
		// raw = (v - offset) / scale, rounded to nearest
		{"uint16", []string{"scale: 0.5", "offset: -40"}, 110, []uint16{300}},
		{"uint16", []string{"scale: 0.01"}, 50.02, []uint16{5002}},
		{"uint16", []string{"scale: 0.01"}, 50.024, []uint16{5002}},
		{"uint16", []string{"scale: 0.01"}, 50.026, []uint16{5003}},
		{"int16", []string{"scale: 0.1", "offset: -50"}, -60, []uint16{0xFF9C}}, // raw -100
		{"uint32", []string{"scale: 0.1", "order: CDAB"}, 300000000, []uint16{0x5E00, 0xB2D0}},
		{"float32", []string{"scale: 2", "offset: 1"}, 3, []uint16{0x3F80, 0x0000}}, // raw 1.0
	}
	for _, tt := range tests {
		pt := onePoint(t, tt.typ, "", tt.extra...)
		regs := make([]uint16, pt.Words())
		if err := pt.Encode(regs, tt.v); err != nil {
			t.Errorf("%s %v: Encode(%v): %v", tt.typ, tt.extra, tt.v, err)
			continue
		}
		if !slices.Equal(regs, tt.regs) {
			t.Errorf("%s %v: Encode(%v) = %04X, want %04X", tt.typ, tt.extra, tt.v, regs, tt.regs)
		}
	}
}

func TestEncodeDoesNotFit(t *testing.T) {
	tests := []struct {
		typ   string
		extra []string
		v     float64
	}{
		{"int16", nil, 32768},
		{"int16", nil, 32767.5}, // rounds to 32768
		{"int16", nil, -32769},
		{"uint16", nil, -1},
		{"uint16", nil, 65536},
		{"uint16", []string{"scale: 0.1"}, 6553.6}, // raw 65536
		{"uint16", []string{"offset: 100"}, 99},    // raw -1
		{"int32", nil, 2147483648},
		{"int32", nil, -2147483649},
		{"uint32", nil, -1},
		{"uint32", nil, 4294967296},
		{"int64", nil, 9223372036854775808}, // 2^63
		{"int64", nil, -1e19},
		{"int64", nil, 1e300},
		{"uint64", nil, -1},
		{"uint64", nil, 18446744073709551616}, // 2^64
		{"uint64", nil, 1e300},
	}
	for _, typ := range typeNames[:6] { // integers hold neither NaN nor infinities
		tests = append(tests,
			struct {
				typ   string
				extra []string
				v     float64
			}{typ, nil, math.NaN()},
			struct {
				typ   string
				extra []string
				v     float64
			}{typ, nil, math.Inf(1)},
			struct {
				typ   string
				extra []string
				v     float64
			}{typ, nil, math.Inf(-1)})
	}
	for _, tt := range tests {
		pt := onePoint(t, tt.typ, "", tt.extra...)
		regs := []uint16{0x1111, 0x2222, 0x3333, 0x4444}[:pt.Words()]
		err := pt.Encode(regs, tt.v)
		if err == nil {
			t.Errorf("%s %v: Encode(%v) = nil error, regs %04X", tt.typ, tt.extra, tt.v, regs)
			continue
		}
		if want := "point p:"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.typ) {
			t.Errorf("%s: error %q does not name the point and type", tt.typ, err)
		}
		if want := []uint16{0x1111, 0x2222, 0x3333, 0x4444}[:pt.Words()]; !slices.Equal(regs, want) {
			t.Errorf("%s %v: failed Encode(%v) changed regs to %04X", tt.typ, tt.extra, tt.v, regs)
		}
	}

	// The extremes themselves fit.
	fits := []struct {
		typ string
		v   float64
	}{
		{"int16", -32768}, {"int16", 32767.4}, {"uint16", -0.4}, {"uint16", 65535},
		{"int32", -2147483648}, {"uint32", 4294967295},
		{"int64", -9223372036854775808}, {"uint64", 18446744073709549568},
	}
	for _, f := range fits {
		pt := onePoint(t, f.typ, "")
		if err := pt.Encode(make([]uint16, pt.Words()), f.v); err != nil {
			t.Errorf("%s: Encode(%v): %v", f.typ, f.v, err)
		}
	}
}

// decodeFuzzPoints are one point per type and byte order, indexed
// type*4+order, without range limits.
func decodeFuzzPoints(t testing.TB) []*Point {
	var pts []*Point
	for _, typ := range typeNames {
		for _, order := range orders {
			pts = append(pts, onePoint(t, typ, order))
		}
	}
	return pts
}

func FuzzDecode(f *testing.F) {
	for i, v := range decodeVectors {
		for oi := range orders {
			var b []byte
			for _, r := range v.regs[oi] {
				b = append(b, byte(r>>8), byte(r))
			}
			f.Add(b, uint8(i), uint8(oi))
		}
	}
	f.Add([]byte{}, uint8(7), uint8(3))
	f.Add([]byte{0x7F, 0xC0, 0, 0}, uint8(6), uint8(0))
	pts := decodeFuzzPoints(f)
	f.Fuzz(func(t *testing.T, data []byte, typ, order uint8) {
		pt := pts[int(typ%8)*4+int(order%4)]
		// Decode is given at least the point's registers, as Poll does.
		regs := make([]uint16, max(pt.Words(), (len(data)+1)/2))
		for i, c := range data {
			regs[i/2] |= uint16(c) << (8 * (1 - i%2))
		}
		v, ok := pt.Decode(regs)
		if usable := !math.IsNaN(v) && !math.IsInf(v, 0); ok != usable {
			t.Fatalf("%s %s: Decode(%04X) = %v, %v", pt.Type, pt.Order, regs, v, ok)
		}
		// The poll's decoding agrees, and a 64-bit integer is exact: its
		// bits give back the registers.
		var rd Reading
		pt.decodeReading(&rd, regs)
		if (rd.Quality == Good) != ok || (ok && rd.Value != v) || rd.Kind != pt.ValueKind() {
			t.Fatalf("%s %s: decodeReading(%04X) = %+v, Decode %v, %v", pt.Type, pt.Order, regs, rd, v, ok)
		}
		if bits := uint64(rd.Int); pt.Words() == 4 && rd.Kind != FloatValue {
			if rd.Kind == UintValue {
				bits = rd.Uint
			}
			if got := regsOf(pt.Order, bits); !slices.Equal(got, regs[:4]) {
				t.Fatalf("%s %s: exact value %d of %04X is not the registers' (%04X)", pt.Type, pt.Order, bits, regs[:4], got)
			}
		}
		// Whatever decodes exactly encodes back to the same registers.
		exact := pt.Words() < 4 || math.Abs(v) <= 1<<53
		if pt.Type == "float32" || pt.Type == "float64" {
			exact = !math.IsNaN(v)
		}
		if !exact {
			return
		}
		back := make([]uint16, pt.Words())
		if err := pt.Encode(back, v); err != nil {
			t.Fatalf("%s %s: Encode(%v): %v", pt.Type, pt.Order, v, err)
		}
		// Zero is the exception: an integer -0 decodes to 0, which
		// encodes as +0.
		if v == 0 {
			if z, _ := pt.Decode(back); z != 0 {
				t.Fatalf("%s %s: Decode(Encode(0)) = %v", pt.Type, pt.Order, z)
			}
			return
		}
		if !slices.Equal(back, regs[:pt.Words()]) {
			t.Fatalf("%s %s: Encode(Decode(%04X) = %v) = %04X", pt.Type, pt.Order, regs[:pt.Words()], v, back)
		}
	})
}

// A float32 energy counter stored low word first (CDAB), as many meters do.
func ExamplePoint_Decode() {
	p, errs := ParseProfile("example.yaml", []byte(`kind: meter
points:
  - name: energy
    address: 0
    type: float32
    order: CDAB
    unit: kWh
    min: 0
`))
	if errs != nil {
		fmt.Println(errs)
		return
	}
	v, ok := p.Points[0].Decode([]uint16{0xE979, 0x42F6})
	fmt.Printf("%.3f %v\n", v, ok)
	v, ok = p.Points[0].Decode([]uint16{0x0000, 0xBF80})
	fmt.Printf("%.3f %v\n", v, ok)
	// Output:
	// 123.456 true
	// -1.000 false
}

func TestValueKind(t *testing.T) {
	tests := []struct {
		typ   string
		extra []string
		want  ValueKind
	}{
		{"int16", nil, IntValue},
		{"uint16", nil, IntValue},
		{"int32", nil, IntValue},
		{"uint32", []string{"order: CDAB"}, IntValue},
		{"int64", nil, IntValue},
		{"uint64", nil, UintValue},
		{"bcd16", nil, IntValue},
		{"bcd32", nil, IntValue},
		{"bool", []string{"bit: 3"}, IntValue},
		{"uint32", []string{"scale: 1"}, IntValue},
		{"uint32", []string{"scale: 1.0", "offset: 0"}, IntValue},
		{"int64", []string{"min: -5", "max: 5"}, IntValue},
		// Scaled or offset integers are floats.
		{"uint32", []string{"scale: 0.1"}, FloatValue},
		{"uint64", []string{"scale: 2"}, FloatValue},
		{"int16", []string{"offset: -40"}, FloatValue},
		{"float32", nil, FloatValue},
		{"float64", nil, FloatValue},
		{"string", []string{"length: 2"}, FloatValue},
	}
	for _, tt := range tests {
		if got := onePoint(t, tt.typ, "", tt.extra...).ValueKind(); got != tt.want {
			t.Errorf("%s %v: ValueKind() = %v, want %v", tt.typ, tt.extra, got, tt.want)
		}
	}
}

// regsOf lays the big-endian 64 bits u out as the four registers of order.
func regsOf(order string, u uint64) []uint16 {
	var b [8]byte
	for i := range b {
		b[i] = byte(u >> (56 - 8*i))
	}
	regs := make([]uint16, 4)
	byteOrders[order].fromCanonical(regs, b[:])
	return regs
}

func TestDecodeExact64(t *testing.T) {
	// Values a float64 cannot hold, and the extremes.
	signed := []int64{math.MinInt64, math.MaxInt64, 1<<53 + 1, -(1<<53 + 1), 9007199254740993, -1, 0}
	unsigned := []uint64{math.MaxUint64, 1<<64 - 2, 1<<63 + 1, 1<<53 + 1, 0}
	// The hand-worked image of 2^53+1 = 0x0020000000000001 in each order.
	if got := regsOf("ABCD", 1<<53+1); !slices.Equal(got, []uint16{0x0020, 0, 0, 0x0001}) {
		t.Fatalf("ABCD image %04X", got)
	}
	if got := regsOf("DCBA", 1<<53+1); !slices.Equal(got, []uint16{0x0100, 0, 0, 0x2000}) {
		t.Fatalf("DCBA image %04X", got)
	}
	for _, order := range orders {
		pt := onePoint(t, "int64", order)
		for _, want := range signed {
			var rd Reading
			pt.decodeReading(&rd, regsOf(order, uint64(want)))
			if rd.Quality != Good || rd.Kind != IntValue || rd.Int != want || rd.Uint != 0 || rd.Value != float64(want) {
				t.Errorf("int64 %s %d: got %+v", order, want, rd)
			}
		}
		pt = onePoint(t, "uint64", order)
		for _, want := range unsigned {
			var rd Reading
			pt.decodeReading(&rd, regsOf(order, want))
			if rd.Quality != Good || rd.Kind != UintValue || rd.Uint != want || rd.Int != 0 || rd.Value != float64(want) {
				t.Errorf("uint64 %s %d: got %+v", order, want, rd)
			}
		}
	}
	// The float64 of 2^53+1 is 2^53: only Int tells them apart.
	var a, b Reading
	pt := onePoint(t, "int64", "")
	pt.decodeReading(&a, regsOf("ABCD", 1<<53))
	pt.decodeReading(&b, regsOf("ABCD", 1<<53+1))
	if a.Value != b.Value || a.Int == b.Int {
		t.Errorf("2^53: %+v, 2^53+1: %+v", a, b)
	}
}

func TestDecodeExactSmallTypes(t *testing.T) {
	tests := []struct {
		typ, order string
		extra      []string
		regs       []uint16
		want       int64
	}{
		{"int16", "", nil, []uint16{0x8000}, math.MinInt16},
		{"uint16", "BADC", nil, []uint16{0xFFFF}, math.MaxUint16},
		{"int32", "CDAB", nil, []uint16{0x0000, 0x8000}, math.MinInt32},
		{"uint32", "", nil, []uint16{0xFFFF, 0xFFFF}, math.MaxUint32},
		{"bcd16", "", nil, []uint16{0x9999}, 9999},
		{"bcd32", "CDAB", nil, []uint16{0x5678, 0x1234}, 12345678},
		{"bool", "", []string{"bit: 15"}, []uint16{0x8000}, 1},
		{"bool", "", []string{"bit: 14"}, []uint16{0x8000}, 0},
	}
	for _, tt := range tests {
		pt := onePoint(t, tt.typ, tt.order, tt.extra...)
		var rd Reading
		pt.decodeReading(&rd, tt.regs)
		if rd.Quality != Good || rd.Kind != IntValue || rd.Int != tt.want || rd.Value != float64(tt.want) {
			t.Errorf("%s %s %04X: got %+v, want %d", tt.typ, tt.order, tt.regs, rd, tt.want)
		}
	}
	// An invalid BCD digit is out of range, with no value.
	var rd Reading
	onePoint(t, "bcd32", "").decodeReading(&rd, []uint16{0x0000, 0x00F0})
	if rd.Quality != OutOfRange || rd.Int != 0 || rd.Value != 0 {
		t.Errorf("invalid BCD: %+v", rd)
	}
	// A scaled integer stays a float.
	onePoint(t, "uint32", "", "scale: 0.5").decodeReading(&rd, []uint16{0, 3})
	if rd.Quality != Good || rd.Kind != FloatValue || rd.Value != 1.5 || rd.Int != 0 {
		t.Errorf("scaled uint32: %+v", rd)
	}
}

func TestDecodeExactRange(t *testing.T) {
	const two53 = 1 << 53
	tests := []struct {
		typ    string
		limits []string
		in     []uint64 // bits of values in range
		out    []uint64 // and out of range
	}{
		// A float64 max of 2^53 would let 2^53+1 through.
		{"int64", []string{"max: 9007199254740992"}, []uint64{two53, 0, 1 << 63}, []uint64{two53 + 1, math.MaxInt64}},
		{"int64", []string{"min: -9007199254740992"}, []uint64{-two53 & math.MaxUint64, 0}, []uint64{-(two53 + 1) & math.MaxUint64, 1 << 63}},
		{"int64", []string{"min: 9223372036854775807"}, []uint64{math.MaxInt64}, []uint64{math.MaxInt64 - 1, 0}},
		{"int64", []string{"min: -9223372036854775808", "max: -9223372036854775808"}, []uint64{1 << 63}, []uint64{1<<63 + 1, math.MaxInt64}},
		{"uint64", []string{"min: 18446744073709551615"}, []uint64{math.MaxUint64}, []uint64{math.MaxUint64 - 1, 0}},
		{"uint64", []string{"max: 18446744073709551614"}, []uint64{math.MaxUint64 - 1, 0}, []uint64{math.MaxUint64}},
		{"uint64", []string{"min: 9007199254740993", "max: 9007199254740993"}, []uint64{two53 + 1}, []uint64{two53, two53 + 2}},
		// Beyond the type, and fractional bounds: ceil(min), floor(max).
		{"uint64", []string{"min: -1e30", "max: 1e30"}, []uint64{0, math.MaxUint64}, nil},
		{"int64", []string{"min: -0.5", "max: 2.5"}, []uint64{0, 2}, []uint64{3, math.MaxUint64}},
		{"int64", []string{"min: 1e3"}, []uint64{1000}, []uint64{999}},
		{"uint64", []string{"max: .inf", "min: -.inf"}, []uint64{0, math.MaxUint64}, nil},
	}
	for _, tt := range tests {
		pt := onePoint(t, tt.typ, "", tt.limits...)
		for _, set := range []struct {
			bits []uint64
			want Quality
		}{{tt.in, Good}, {tt.out, OutOfRange}} {
			for _, u := range set.bits {
				var rd Reading
				regs := regsOf("ABCD", u)
				pt.decodeReading(&rd, regs)
				if rd.Quality != set.want {
					t.Errorf("%s %v: bits %#x: quality %s, want %s", tt.typ, tt.limits, u, rd.Quality, set.want)
				}
				if _, ok := pt.Decode(regs); ok != (set.want == Good) {
					t.Errorf("%s %v: bits %#x: Decode in range = %v", tt.typ, tt.limits, u, ok)
				}
			}
		}
	}
}

// TestExactRangeEmptyIsAnError: a min or max that no value of the
// point's type can meet is a profile error at its line, with one bound as
// with two (before, only a min above the max was found, in 64 bits: a
// uint16 with min 70000 passed and read out_of_range at every poll).
func TestExactRangeEmptyIsAnError(t *testing.T) {
	for _, tc := range []struct{ point, want string }{
		{"type: int64, min: 9007199254740993, max: 9007199254740992", "points[0].min: min 9007199254740993 is above max 9007199254740992: no int64 value is in range"},
		{"type: uint16, min: 70000, max: 80000", "points[0].min: min 70000 is above the largest uint16, 65535: no value is in range"},
		{"type: uint16, max: -1", "points[0].max: max -1 is below the smallest uint16, 0: no value is in range"},
		{"type: int16, min: 40000", "points[0].min: min 40000 is above the largest int16, 32767: no value is in range"},
		{"type: int32, max: -2147483649", "points[0].max: max -2147483649 is below the smallest int32, -2147483648: no value is in range"},
		{"type: uint64, max: -1", "points[0].max: max -1 is below the smallest uint64, 0: no value is in range"},
		{"type: bcd16, min: 10000", "points[0].min: min 10000 is above the largest bcd16, 9999: no value is in range"},
		{"type: int32, min: 2.5, max: 2.7", "points[0].min: no int32 value lies between min 2.5 and max 2.7: its values are whole numbers"},
		{"type: uint32, min: .inf", "points[0].min: min .inf is above the largest uint32, 4294967295: no value is in range"},
		{"type: uint16, offset: 10, max: 5", "points[0].max: max 5 is below the smallest value of this uint16 with its scale and offset, 10: no value is in range"},
		{"type: int16, scale: 0.1, min: 4000", "points[0].min: min 4000 is above the largest value of this int16 with its scale and offset, 3276.7000000000003: no value is in range"},
	} {
		_, errs := ParseProfile("p.yaml", []byte("kind: k\npoints:\n  - {name: total, address: 0, unit: Wh, "+tc.point+"}\n"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) || errs[0].Line != 3 {
			t.Errorf("%s: errors %v, want %q at line 3", tc.point, errs, tc.want)
		}
	}
	// The type's own bounds are a range, and so is a scaled integer's
	// (a float) beyond them.
	for _, point := range []string{"type: uint16, min: 0, max: 65535", "type: int16, min: -32768, max: 32767", "type: uint16, min: 70000, scale: 10", "type: int16, scale: -1, min: 30000"} {
		if _, errs := ParseProfile("p.yaml", []byte("kind: k\npoints:\n  - {name: total, address: 0, unit: Wh, "+point+"}\n")); len(errs) != 0 {
			t.Errorf("%s: %v", point, errs)
		}
	}
}

func TestDecodeReadingDoesNotAllocate(t *testing.T) {
	for _, pt := range []*Point{onePoint(t, "uint64", "CDAB", "max: 100"), onePoint(t, "int32", ""), onePoint(t, "float32", "")} {
		rd := drivers.Reading{Name: pt.Name, Unit: pt.Unit}
		regs := []uint16{1, 2, 3, 4}
		if n := testing.AllocsPerRun(100, func() { pt.decodeInto(&rd, regs) }); n != 0 {
			t.Errorf("%s: %v allocations per reading", pt.Type, n)
		}
	}
}

// The contract's form of a reading: a good one carries its value, exact
// for an integer point and marked for an unscaled float32; any other one
// carries its quality only, whatever it held before.
func TestDecodeIntoContract(t *testing.T) {
	tests := []struct {
		pt   *Point
		regs []uint16
		want drivers.Reading
	}{
		{onePoint(t, "int64", ""), regsOf("ABCD", 1<<53+1), drivers.Reading{Quality: Good, HasValue: true, Kind: drivers.Int, Int: 1<<53 + 1, Float: 1 << 53}},
		{onePoint(t, "uint64", ""), regsOf("ABCD", math.MaxUint64), drivers.Reading{Quality: Good, HasValue: true, Kind: drivers.Uint, Uint: math.MaxUint64, Float: 1 << 64}},
		{onePoint(t, "float32", ""), []uint16{0x41E3, 0x3333}, drivers.Reading{Quality: Good, HasValue: true, Float32: true, Float: float64(float32(28.4))}},
		{onePoint(t, "uint32", "", "scale: 0.1"), []uint16{0, 2500}, drivers.Reading{Quality: Good, HasValue: true, Float: 250}},
		{onePoint(t, "bcd32", ""), []uint16{0x0000, 0x00F0}, drivers.Reading{Quality: OutOfRange}},
		{onePoint(t, "float32", ""), []uint16{0x7FC0, 0}, drivers.Reading{Quality: OutOfRange}},
	}
	for _, tt := range tests {
		tt.want.Name, tt.want.Unit = tt.pt.Name, tt.pt.Unit
		// A reading that held another value before.
		rd := drivers.Reading{Name: tt.pt.Name, Unit: tt.pt.Unit, Quality: Good, HasValue: true, Kind: drivers.Uint, Uint: 9, Int: 9, Float: 9, Float32: true}
		tt.pt.decodeInto(&rd, tt.regs)
		if rd != tt.want {
			t.Errorf("%s %04X: %+v, want %+v", tt.pt.Type, tt.regs, rd, tt.want)
		}
	}
}

// decodeInto sets reading c from the point's registers as a poll and its
// sink's buffer do (decodeBits, then goodReading or out_of_range).
func (pt *Point) decodeInto(c *drivers.Reading, regs []uint16) {
	bits, ok := pt.decodeBits(regs)
	if !ok {
		*c = drivers.Reading{Name: pt.Name, Unit: pt.Unit, Quality: OutOfRange}
		return
	}
	pt.goodReading(c, bits)
}

// decodeReading decodes registers as a poll does and gives the reading in
// the form of Poll.
func (pt *Point) decodeReading(rd *Reading, regs []uint16) {
	c := drivers.Reading{Name: pt.Name, Unit: pt.Unit}
	pt.decodeInto(&c, regs)
	*rd = readingOf(pt, &c)
}

// A device keeps qualities as numbers: every quality comes back as it
// went in, and only a timeout, a failed connection and exceptions 0x0A and
// 0x0B say that the device did not answer.
func TestQualityCodes(t *testing.T) {
	qs := []Quality{"", Good, OutOfRange, Timeout, CommError, drivers.Stale, drivers.Substituted, "exception:07", "other"}
	for c := range 256 {
		qs = append(qs, drivers.Exception(byte(c)))
	}
	for _, q := range qs {
		c := qcodeOf(q)
		if got := c.quality(); got != q {
			t.Errorf("quality %q: code %d gives %q", q, c, got)
		}
		want := q == Timeout || q == CommError || q == drivers.Exception(0x0A) || q == drivers.Exception(0x0B)
		if c.noAnswer() != want {
			t.Errorf("quality %q: noAnswer %v", q, !want)
		}
	}
	// A quality outside the contract keeps one code, which gives it back.
	if a, b := qcodeOf("other"), qcodeOf("other"); a != b || a.quality() != "other" {
		t.Errorf("quality \"other\": codes %d and %d, giving %q", a, b, a.quality())
	}
	if c := qcodeOf("exception:07"); c == qcodeOf(drivers.Exception(7)) || c.quality() != "exception:07" {
		t.Errorf("quality \"exception:07\" (not the contract's spelling of exception 7): code %d, giving %q", c, c.quality())
	}
}

// The readings lent to sinks: at most as many at once as the lender was
// made with, each as long as asked for.
func TestLender(t *testing.T) {
	l := newLender(2)
	a, b := l.get(3), l.get(1000)
	if len(a) != 3 || len(b) != 1000 {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	got := make(chan []drivers.Reading)
	go func() { got <- l.get(5) }()
	select {
	case <-got:
		t.Fatal("a third buffer lent while two are out")
	case <-time.After(50 * time.Millisecond):
	}
	l.put(b)
	if c := <-got; len(c) != 5 || cap(c) != 1000 {
		t.Fatalf("len %d cap %d: want the buffer given back", len(c), cap(c))
	}
}

// TestValueMatchesCanonicalBytes checks the decoder's integer assembly of
// a value's registers against the byte layout of each order (canonical),
// for every width and order, on varied register contents.
func TestValueMatchesCanonicalBytes(t *testing.T) {
	regs := []uint16{0x0102, 0x0304, 0x0506, 0x0708}
	for trial := range 500 {
		for i := range regs {
			regs[i] = uint16(trial*7919 + i*104729 + trial*i*31)
		}
		for _, o := range []byteOrder{orderABCD, orderCDAB, orderBADC, orderDCBA} {
			for _, n := range []int{1, 2, 4} {
				var b [8]byte
				o.canonical(b[:2*n], regs[:n])
				var want uint64
				for _, c := range b[:2*n] {
					want = want<<8 | uint64(c)
				}
				if got := o.value(regs[:n]); got != want {
					t.Fatalf("order %d, %d registers %04x: value %x, canonical bytes %x", o, n, regs[:n], got, want)
				}
			}
		}
	}
}

package batch

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendFloatIsAFloatToken: a value is written in its shortest form,
// with ".0" added exactly when that form has neither a '.' nor an
// exponent, for integers and fractions of every size, in float32 and
// float64 precision, and for a float64 marked float32 that rounds to an
// integer (1234.0000001 is written 1234.0).
func TestAppendFloatIsAFloatToken(t *testing.T) {
	want := func(v float64, f32 bool) []byte {
		bits := 64
		if f32 {
			bits = 32
		}
		s := strconv.AppendFloat(nil, v, 'g', -1, bits)
		if !bytes.ContainsAny(s, ".e") {
			s = append(s, ".0"...)
		}
		return s
	}
	check := func(v float64, f32 bool) {
		t.Helper()
		if got, w := appendFloat([]byte("x"), v, f32), want(v, f32); string(got[1:]) != string(w) {
			t.Fatalf("appendFloat(%v, f32 %v) = %q, want %q", v, f32, got[1:], w)
		}
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 7, 123456, 999999, 1e6, 1e7, 16777216, 16777217, 1 << 53, 1<<53 + 2, 1e21, 1e22, 0.5, 1e-5, 0.0001, 123456.5, 999999.94, math.MaxFloat32, math.SmallestNonzeroFloat32, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		check(v, false)
		check(-v, false)
		check(float64(float32(v)), true)
		check(-float64(float32(v)), true)
		check(v+1e-9, true)
		check(-v-1e-9, true)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		f := math.Float32frombits(rng.Uint32())
		d := math.Float64frombits(rng.Uint64())
		n := float64(rng.IntN(1<<25) - 1<<24) // integers around float32's exact range
		for _, v := range []float64{float64(f), d, n, n / 4, n * 1024} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			check(v, false)
			check(float64(float32(v)), true)
			// A float64 marked float32 is written as the float32 it
			// rounds to, which may be an integer when it is not.
			check(v, true)
			check(math.Trunc(v)+1e-9, true)
		}
	}
}

// TestScannerNumberMatchesParseNumber: the scanner converts the short
// decimals it meets as it scans them; every token, short or not, must
// come out as parseNumber makes it (the value to the bit, its kind and
// the decimal kept), and the scan must end where the token does.
func TestScannerNumberMatchesParseNumber(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 12))
	digits := func(n int, lead bool) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if lead && n > 1 && b[0] == '0' {
			b[0] = byte('1' + r.IntN(9))
		}
		return string(b)
	}
	tokens := []string{
		"0", "-0", "0.0", "-0.0", "0.05", "-12.25", "100.000", "250.0", "1.5e3", "0.1E-1", "7e+0",
		"123456789012345.6", "12345678901234.5", "999999999999999.9", "0.000000000000001234567890123456",
		"0.0000000000000000000001", "0.00000000000000000000001", "1.10000000000000000000000000000001",
		"9007199254740993.0", "18446744073709551616.5", "3.4028235e38", "1.17549435e-38",
	}
	for range 20000 {
		tok := ""
		if r.IntN(4) == 0 {
			tok = "-"
		}
		if r.IntN(3) == 0 {
			tok += "0"
		} else {
			tok += digits(1+r.IntN(18), true)
		}
		if r.IntN(5) != 0 {
			tok += "." + digits(1+r.IntN(24), false)
		}
		if r.IntN(8) == 0 {
			tok += "e" + []string{"", "+", "-"}[r.IntN(3)] + digits(1+r.IntN(2), false)
		}
		tokens = append(tokens, tok)
	}
	for _, tok := range tokens {
		want, werr := parseNumber(tok)
		s := scanner{src: tok + ","}
		got, ok := s.number()
		if ok != (werr == nil) {
			t.Fatalf("%s: scanner ok %v, parseNumber error %v", tok, ok, werr)
		}
		if !ok {
			continue
		}
		if s.i != len(tok) {
			t.Fatalf("%s: the scan ended at %d, want %d", tok, s.i, len(tok))
		}
		if math.Float64bits(got.f) != math.Float64bits(want.f) || got.kind != want.kind || got.i != want.i ||
			got.u != want.u || got.isInt != want.isInt || got.decimal != want.decimal {
			t.Fatalf("%s: scanner %+v, parseNumber %+v", tok, got, want)
		}
	}
}

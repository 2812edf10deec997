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

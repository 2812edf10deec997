package steam

import (
	"math"
	"testing"
)

// FuzzProperties checks that no (p, T) input panics, and that every state
// returned without error is physical: finite, positive v, T and w.
func FuzzProperties(f *testing.F) {
	for _, s := range [][2]float64{
		{3, 300}, {0.0035, 300}, {30, 700}, {25.58, 650}, {0.5, 1500},
		{-1, 300}, {1, -1}, {math.NaN(), 300}, {1, math.Inf(1)}, {100, 273.15},
		{1e-9, 1073.15}, {16.5291643, 623.15}, {22.064, 647.096},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, T float64) {
		st, err := Properties(p, T)
		if err != nil {
			return
		}
		for _, v := range []float64{st.V, st.H, st.U, st.S, st.Cp, st.W} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("Properties(%v, %v) = %+v: not finite", p, T, st)
			}
		}
		if st.V <= 0 || st.W <= 0 || st.Cp <= 0 {
			t.Fatalf("Properties(%v, %v) = %+v: unphysical", p, T, st)
		}
	})
}

// FuzzSaturation checks that Ts and ps never panic and invert each other.
func FuzzSaturation(f *testing.F) {
	for _, p := range []float64{0.1, 1, 10, 22.064, 611.213e-6, 0, -1, 30, math.NaN()} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p float64) {
		ts, err := SaturationTemperature(p)
		if err != nil {
			return
		}
		back, err := SaturationPressure(ts)
		if err != nil {
			t.Fatalf("SaturationPressure(Ts(%v) = %v): %v", p, ts, err)
		}
		if math.Abs(back-p) > 1e-9*p {
			t.Fatalf("ps(Ts(%v)) = %v", p, back)
		}
		if _, _, err := Saturation(p); err != nil && ts <= t13 {
			t.Fatalf("Saturation(%v): %v", p, err)
		}
	})
}

func BenchmarkEnthalpyRegion2(b *testing.B) {
	for b.Loop() {
		if _, err := Enthalpy(1.0, 523.15); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnthalpyRegion1(b *testing.B) {
	for b.Loop() {
		if _, err := Enthalpy(1.6, 378.15); err != nil {
			b.Fatal(err)
		}
	}
}

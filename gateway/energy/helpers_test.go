package energy

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// printed formats got with the precision of the printed reference value s:
// significant digits of the mantissa for E-notation ("0.100215168E-2" has 9),
// decimals after the point otherwise ("417.436486" has 6). It returns the
// two strings to compare: got rounded that way, and s re-formatted the same
// way.
func printed(t *testing.T, got float64, s string) (gotS, wantS string) {
	t.Helper()
	want, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad vector %q: %v", s, err)
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		m := strings.TrimLeft(strings.Replace(strings.TrimLeft(s[:i], "+-"), ".", "", 1), "0")
		sig := len(m)
		return strconv.FormatFloat(got, 'e', sig-1, 64), strconv.FormatFloat(want, 'e', sig-1, 64)
	}
	dec := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		dec = len(s) - i - 1
	}
	return strconv.FormatFloat(got, 'f', dec, 64), strconv.FormatFloat(want, 'f', dec, 64)
}

// checkPrinted fails the test unless got rounds to the printed value s.
func checkPrinted(t *testing.T, name string, got float64, s string) {
	t.Helper()
	g, w := printed(t, got, s)
	if g != w {
		t.Errorf("%s = %s (%.12g), want %s (printed %s)", name, g, got, w, s)
	}
}

// checkExact fails the test unless got equals want to 1e-12 relative: for
// vector values that are exact decimals (0.30, 154.25), where rounding to the
// printed digits alone would accept 0.304.
func checkExact(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("%s = %.15g, want %.15g", name, got, want)
	}
}

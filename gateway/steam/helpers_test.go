package steam

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

// checkRel fails the test unless |got − want| <= tol·|want|.
func checkRel(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.12g, want %.12g (relative tolerance %g, off by %.3g)", name, got, want, tol, (got-want)/want)
	}
}

// mustFloat parses a vector value.
func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad vector %q: %v", s, err)
	}
	return v
}

func TestPrintedHelperCanFail(t *testing.T) {
	for _, c := range []struct {
		got  float64
		s    string
		same bool
	}{
		{0.00100215168, "0.100215168E-2", true},
		{0.001002151684, "0.100215168E-2", true},
		{0.001002151686, "0.100215168E-2", false},
		{417.4364864, "417.436486", true},
		{417.4364866, "417.436486", false},
		{0.3922947924, "0.392294792", true},
		{0.3922947926, "0.392294792", false},
	} {
		g, w := printed(t, c.got, c.s)
		if (g == w) != c.same {
			t.Errorf("printed(%v, %q) = %q vs %q, want same=%v", c.got, c.s, g, w, c.same)
		}
	}
}

// Package vectortest compares computed values with reference values as they
// are printed in their source (an official verification table such as those
// of IAPWS R7-97(2012), or a worked example of the project): to the printed
// digits, exactly, or to a relative tolerance. The steam, energy and
// emission tests share it. Its tests also guard the repository's
// documentation: sources are cited by the keys of docs/references.md.
package vectortest

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// Printed formats got with the precision of the printed reference value s:
// significant digits of the mantissa for E-notation ("0.100215168E-2" has 9),
// decimals after the point otherwise ("417.436486" has 6). It returns the
// two strings to compare: got rounded that way, and s re-formatted the same
// way.
func Printed(t testing.TB, got float64, s string) (gotS, wantS string) {
	t.Helper()
	want := MustFloat(t, s)
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

// CheckPrinted fails the test unless got rounds to the printed value s.
func CheckPrinted(t testing.TB, name string, got float64, s string) {
	t.Helper()
	g, w := Printed(t, got, s)
	if g != w {
		t.Errorf("%s = %s (%.12g), want %s (printed %s)", name, g, got, w, s)
	}
}

// CheckExact fails the test unless got equals want to 1e-12 relative: for
// vector values that are exact decimals (0.30, 154.25), where rounding to
// the printed digits alone would accept 0.304.
func CheckExact(t testing.TB, name string, got, want float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("%s = %.15g, want %.15g", name, got, want)
	}
}

// CheckRel fails the test unless |got − want| <= tol·|want|.
func CheckRel(t testing.TB, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.12g, want %.12g (relative tolerance %g, off by %.3g)", name, got, want, tol, (got-want)/want)
	}
}

// MustFloat parses a vector value.
func MustFloat(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad vector %q: %v", s, err)
	}
	return v
}

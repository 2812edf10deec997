package vectortest

import "testing"

func TestPrintedCanFail(t *testing.T) {
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
		g, w := Printed(t, c.got, c.s)
		if (g == w) != c.same {
			t.Errorf("Printed(%v, %q) = %q vs %q, want same=%v", c.got, c.s, g, w, c.same)
		}
	}
}

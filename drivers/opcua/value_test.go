package opcua

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

func TestQuality(t *testing.T) {
	for _, tt := range []struct {
		sc   ua.StatusCode
		q    drivers.Quality
		keep bool
	}{
		{ua.StatusOK, drivers.Good, true},
		{ua.StatusGoodLocalOverride, drivers.Good, true},
		{ua.StatusUncertainLastUsableValue, drivers.Stale, true},
		{ua.StatusUncertainNoCommunicationLastUsableValue, drivers.Stale, true},
		{ua.StatusUncertainSubstituteValue, drivers.Substituted, true},
		{ua.StatusUncertainInitialValue, drivers.Substituted, true},
		{ua.StatusUncertainEngineeringUnitsExceeded, drivers.OutOfRange, false},
		{ua.StatusUncertain, drivers.OutOfRange, false},
		{ua.StatusBadTimeout, drivers.Timeout, false},
		{ua.StatusBadOutOfRange, drivers.OutOfRange, false},
		{ua.StatusBadNodeIDUnknown, drivers.CommError, false},
		{ua.StatusBadSensorFailure, drivers.CommError, false},
		{ua.StatusUncertainLastUsableValue | 0x0400, drivers.Stale, true}, // info bits (overflow) kept apart
	} {
		q, keep := Quality(tt.sc)
		if q != tt.q || keep != tt.keep || !q.Valid() {
			t.Errorf("%s: %s %v, want %s %v", StatusName(tt.sc), q, keep, tt.q, tt.keep)
		}
	}
	if got := StatusName(ua.StatusBadNodeIDUnknown); got != "BadNodeIdUnknown (0x80340000)" {
		t.Errorf("StatusName = %q", got)
	}
}

func TestRangeExact(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tt := range []struct {
		r      drivers.Reading
		lo, hi *float64
		in     bool
	}{
		{drivers.Reading{Kind: drivers.Int, Int: math.MaxInt64}, nil, f(0x1p63), true},
		{drivers.Reading{Kind: drivers.Int, Int: math.MaxInt64}, nil, f(9223372036854774784), false}, // float64 just below 2^63
		{drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint64}, f(0), f(0x1p64), true},
		{drivers.Reading{Kind: drivers.Uint, Uint: 1<<53 + 1}, nil, f(1 << 53), false}, // would pass as float64
		{drivers.Reading{Kind: drivers.Int, Int: -5}, f(-4.5), nil, false},
		{drivers.Reading{Kind: drivers.Int, Int: -4}, f(-4.5), f(-4), true},
		{drivers.Reading{Kind: drivers.Float, Float: 20.0001}, f(0), f(20), false},
	} {
		if got := inRange(&tt.r, tt.lo, tt.hi); got != tt.in {
			t.Errorf("%+v in [%v, %v] = %v", tt.r, tt.lo, tt.hi, got)
		}
	}
}

func TestConvertNotNumbers(t *testing.T) {
	for _, v := range []any{"running", "", "NaN", "Inf", "1_000", "0x1p4", "1e400", math.Inf(1), float32(math.NaN()), []int32{1}, nil} {
		r := drivers.Reading{Name: "p"}
		p := newPoint(config.OPCUANode{Name: "p", Type: config.OPCUATypeFloat})
		why := fill(&r, &p, &ua.DataValue{Value: mustVariant(t, v)})
		if r.Quality != drivers.OutOfRange || r.HasValue || r.Float != 0 || why == "" {
			t.Errorf("%#v: %+v (%s), want out_of_range without a value and a reason", v, r, why)
		}
	}
}

func mustVariant(t *testing.T, v any) *ua.Variant {
	if v == nil {
		return nil
	}
	vv, err := ua.NewVariant(v)
	if err != nil {
		t.Fatal(err)
	}
	return vv
}

// TestFailureQuality: a failure's quality is read through the text the
// source wraps around it (endpoint, device, status code name).
func TestFailureQuality(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("endpoint opc.tcp://h:4840: device d: read: %w", named{err})
	}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want drivers.Quality
	}{
		{wrap(context.DeadlineExceeded), drivers.Timeout},
		{wrap(ua.StatusBadTimeout), drivers.Timeout},
		{wrap(ua.StatusBadRequestTimeout), drivers.Timeout},
		{wrap(fmt.Errorf("get endpoints: %w", timeout)), drivers.Timeout},
		{wrap(ua.StatusBadSessionIDInvalid), drivers.CommError},
		{wrap(io.EOF), drivers.CommError},
	} {
		if got := failureQuality(tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
	if got := wrap(ua.StatusBadTimeout).Error(); got != "endpoint opc.tcp://h:4840: device d: read: BadTimeout (0x800A0000)" {
		t.Errorf("text %q", got)
	}
}

// TestPointType: a point reads values of its one type, whatever each
// value's variant type; a value that does not fit is out_of_range with a
// reason naming the type.
func TestPointType(t *testing.T) {
	dt := func(n uint32) *ua.DataValue {
		return &ua.DataValue{Value: ua.MustVariant(ua.NewNumericNodeID(0, n))}
	}
	typed := func(d *ua.DataValue) point {
		p := newPoint(config.OPCUANode{Name: "p"})
		p.setType(d)
		return p
	}
	for _, tc := range []struct {
		name string
		p    point
		v    any
		want drivers.Reading
		why  string
	}{
		{"String 100", typed(dt(id.String)), "100", drivers.Reading{Kind: drivers.Float, Float: 100}, ""},
		{"String 100.5", typed(dt(id.String)), "100.5", drivers.Reading{Kind: drivers.Float, Float: 100.5}, ""},
		{"BaseDataType Int32", typed(dt(id.BaseDataType)), int32(7), drivers.Reading{Kind: drivers.Float, Float: 7}, ""},
		{"BaseDataType Double", typed(dt(id.BaseDataType)), 7.5, drivers.Reading{Kind: drivers.Float, Float: 7.5}, ""},
		{"Int64 exact", typed(dt(id.Int64)), int64(math.MinInt64 + 1), drivers.Reading{Kind: drivers.Int, Int: math.MinInt64 + 1, Float: math.MinInt64 + 1}, ""},
		{"UInt64 exact", typed(dt(id.UInt64)), uint64(math.MaxUint64), drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint64, Float: math.MaxUint64}, ""},
		{"Enumeration", typed(dt(id.Enumeration)), int32(3), drivers.Reading{Kind: drivers.Int, Int: 3, Float: 3}, ""},
		{"Int32 point, whole Double", typed(dt(id.Int32)), 8.0, drivers.Reading{Kind: drivers.Int, Int: 8, Float: 8}, ""},
		{"Int32 point, Double 7.5", typed(dt(id.Int32)), 7.5, drivers.Reading{Quality: drivers.OutOfRange}, "value 7.5 is not a whole number: the point is integer (DataType Int32)"},
		{"configured integer, String 100", newPoint(config.OPCUANode{Type: "integer"}), "100", drivers.Reading{Kind: drivers.Int, Int: 100, Float: 100}, ""},
		// A String on an integer point is read exactly, not through a
		// float64 (which makes 12345678901234567.5 a whole number).
		{"configured integer, String with a fraction past float64's digits", newPoint(config.OPCUANode{Type: "integer"}), "12345678901234567.5", drivers.Reading{Quality: drivers.OutOfRange},
			"value 12345678901234567.5 is not a whole number: the point is integer (configured)"},
		{"configured integer, String 1e3", newPoint(config.OPCUANode{Type: "integer"}), " 1e3", drivers.Reading{Kind: drivers.Int, Int: 1000, Float: 1000}, ""},
		{"configured integer, String 100.000", newPoint(config.OPCUANode{Type: "integer"}), "100.000", drivers.Reading{Kind: drivers.Int, Int: 100, Float: 100}, ""},
		{"configured integer, String 12345678901234567.0e0", newPoint(config.OPCUANode{Type: "integer"}), "12345678901234567.0e0", drivers.Reading{Kind: drivers.Int, Int: 12345678901234567, Float: 12345678901234567}, ""},
		{"configured integer, String MaxUint64.0", newPoint(config.OPCUANode{Type: "integer"}), "18446744073709551615.0", drivers.Reading{Kind: drivers.Uint, Uint: math.MaxUint64, Float: math.MaxUint64}, ""},
		{"configured integer, String MinInt64", newPoint(config.OPCUANode{Type: "integer"}), "-922337203685477580.8e1", drivers.Reading{Kind: drivers.Int, Int: math.MinInt64, Float: math.MinInt64}, ""},
		{"configured integer, String 2^64", newPoint(config.OPCUANode{Type: "integer"}), "18446744073709551616", drivers.Reading{Quality: drivers.OutOfRange},
			"value 18446744073709551616 is beyond the 64-bit integers: the point is integer (configured)"},
		{"configured integer, String 1e999999999", newPoint(config.OPCUANode{Type: "integer"}), "1e999999999", drivers.Reading{Quality: drivers.OutOfRange},
			"value 1e999999999 is beyond the 64-bit integers: the point is integer (configured)"},
		{"configured integer, String 5e-999999999", newPoint(config.OPCUANode{Type: "integer"}), "5e-999999999", drivers.Reading{Quality: drivers.OutOfRange},
			"value 5e-999999999 is not a whole number: the point is integer (configured)"},
		{"configured integer, String -0.0e-999999999", newPoint(config.OPCUANode{Type: "integer"}), "-0.0e-999999999", drivers.Reading{Kind: drivers.Int, Int: 0, Float: 0}, ""},
		{"configured integer, String 0x10", newPoint(config.OPCUANode{Type: "integer"}), "0x10", drivers.Reading{Quality: drivers.OutOfRange},
			`string "0x10" is not a decimal number: the point is integer (configured)`},
		{"configured integer, String 1.2.3", newPoint(config.OPCUANode{Type: "integer"}), "1.2.3", drivers.Reading{Quality: drivers.OutOfRange},
			`string "1.2.3" is not a decimal number: the point is integer (configured)`},
		{"configured integer, Float 2^64", newPoint(config.OPCUANode{Type: "integer"}), float32(0x1p64), drivers.Reading{Quality: drivers.OutOfRange}, "value 1.8446744073709552e+19 is beyond the 64-bit integers: the point is integer (configured)"},
		{"configured integer, 2^63", newPoint(config.OPCUANode{Type: "integer"}), 0x1p63, drivers.Reading{Kind: drivers.Uint, Uint: 1 << 63, Float: 0x1p63}, ""},
		{"configured float, UInt64", newPoint(config.OPCUANode{Type: "float"}), uint64(math.MaxUint64), drivers.Reading{Kind: drivers.Float, Float: math.MaxUint64}, ""},
		{"unknown type", typed(&ua.DataValue{Status: ua.StatusBadAttributeIDInvalid}), 7.5, drivers.Reading{Quality: drivers.CommError},
			"the node's data type is unknown (DataType: BadAttributeIdInvalid (0x80350000)): set the point's type (integer or float), or the next session reads it again"},
	} {
		r := drivers.Reading{}
		why := fill(&r, &tc.p, &ua.DataValue{Value: mustVariant(t, tc.v)})
		want := tc.want
		if want.Quality == "" {
			want.Quality, want.HasValue = drivers.Good, true
		}
		if r != want || why != tc.why {
			t.Errorf("%s: %+v %q, want %+v %q", tc.name, r, why, want, tc.why)
		}
	}
}

// TestKindTypesOneTypePerKindPoint: device a's point p of kind k is typed
// from an Int32 node; device b's p, of the same kind, from a Double node
// reads no value, naming the conflict and the cure (its batches would be
// refused whole by InfluxDB: one field, two types), while b's q and
// another kind's p are free; a configured type stays.
func TestKindTypesOneTypePerKindPoint(t *testing.T) {
	dt := func(n uint32) *ua.DataValue {
		return &ua.DataValue{Value: ua.MustVariant(ua.NewNumericNodeID(0, n))}
	}
	dev := func(name, kind string) config.Device {
		return config.Device{Name: name, OPCUA: &config.OPCUADevice{Kind: kind}}
	}
	var k KindTypes
	typed := func(d config.Device, point string, n uint32) *point {
		p := newPoint(config.OPCUANode{Name: point})
		p.setType(dt(n))
		k.settle(d, &p)
		return &p
	}
	a := typed(dev("a", "k"), "p", id.Int32)
	b := typed(dev("b", "k"), "p", id.Double)
	bq := typed(dev("b", "k"), "q", id.Double)
	other := typed(dev("c", "k2"), "p", id.Double)
	if a.typ != typeInteger || bq.typ != typeFloat || other.typ != typeFloat {
		t.Fatalf("types %s %s %s", a.typ, bq.typ, other.typ)
	}
	r := drivers.Reading{}
	why := fill(&r, b, &ua.DataValue{Value: mustVariant(t, 42.5)})
	if r.Quality == drivers.Good || !strings.Contains(why, "point p of kind k is integer on device a") || !strings.Contains(why, "set the point's type (integer or float) on every device of kind k") {
		t.Errorf("b's p: %+v %q", r, why)
	}
	conf := newPoint(config.OPCUANode{Name: "p", Type: "float"})
	k.settle(dev("d", "k"), &conf)
	if conf.typ != typeFloat {
		t.Errorf("a configured type changed to %s", conf.typ)
	}
	var none *KindTypes
	free := newPoint(config.OPCUANode{Name: "p"})
	free.setType(dt(id.Double))
	none.settle(dev("e", "k"), &free)
	if free.typ != typeFloat {
		t.Errorf("without KindTypes: %s", free.typ)
	}
}

// FuzzDecimalInteger checks the exact reading of a decimal text for an
// integer point against math/big's rationals: whether the value is whole,
// and the integer it is (exponents are kept short for big.Rat's sake).
func FuzzDecimalInteger(f *testing.F) {
	for _, s := range []string{"100", "100.5", "1e3", "-0.0", "12345678901234567.5", "18446744073709551615.0", ".5", "5.", "1.2.3", "-922337203685477580.8e1", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64 {
			return
		}
		text, whole, ok := decimalInteger(s)
		if !ok {
			if _, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_iInN") {
				t.Fatalf("%q: refused, but it is a decimal number", s)
			}
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 && len(strings.TrimLeft(strings.TrimLeft(s[i+1:], "+-"), "0")) > 3 {
			return
		}
		x, rok := new(big.Rat).SetString(s)
		if !rok {
			t.Fatalf("%q: read, but big.Rat refuses it", s)
		}
		if whole != x.IsInt() {
			t.Fatalf("%q: whole %v, big.Rat says %v", s, whole, x.IsInt())
		}
		if whole && len(x.Num().String()) <= 21 && text != x.Num().String() {
			t.Fatalf("%q: %s, big.Rat says %s", s, text, x.Num().String())
		}
	})
}

// TestConvertNumberText: a String node on a float point holding a decimal
// number is read as that number.
func TestConvertNumberText(t *testing.T) {
	for s, want := range map[string]float64{"-42.125": -42.125, " 28.4 ": 28.4, "1e3": 1000, "+.5": 0.5, "7.": 7} {
		r := drivers.Reading{Name: "p"}
		p := newPoint(config.OPCUANode{Name: "p", Type: config.OPCUATypeFloat})
		why := fill(&r, &p, &ua.DataValue{Value: mustVariant(t, s)})
		if r.Quality != drivers.Good || r.Float != want || why != "" {
			t.Errorf("%q: %+v (%s), want %g", s, r, why, want)
		}
	}
}

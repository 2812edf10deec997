package opcua

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
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
	for _, v := range []any{"running", "", "NaN", math.Inf(1), float32(math.NaN()), []int32{1}, nil} {
		r := drivers.Reading{Name: "p"}
		p := point{cfg: config.OPCUANode{Name: "p"}}
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

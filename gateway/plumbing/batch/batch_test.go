package batch

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func sample() *Batch {
	return &Batch{
		Gateway: "gw-1", Seq: 1042, Device: "chp-1", Kind: "chp", Site: "plant",
		Time: time.Date(2026, 11, 26, 18, 0, 1, 234_567_000, time.FixedZone("CST", 8*3600)),
		Points: []Point{
			{Name: "electric_power", Value: float64(float32(28.4)), HasValue: true, Float32: true, Unit: "MW", Quality: Good},
			{Name: "electric_energy", Value: 123456.7, HasValue: true, Unit: "MWh", Quality: Good},
			{Name: "steam_flow", Unit: "t/h", Quality: Timeout},
			{Name: "ng_flow", Unit: "Nm3/h", Quality: "exception:2"},
		},
	}
}

const sampleJSON = `{"v":2,"gateway":"gw-1","seq":1042,"device":"chp-1","kind":"chp","site":"plant","ts":"2026-11-26T10:00:01.234Z","points":[{"n":"electric_power","v":28.4,"u":"MW","q":"good"},{"n":"electric_energy","v":123456.7,"u":"MWh","q":"good"},{"n":"steam_flow","u":"t/h","q":"timeout"},{"n":"ng_flow","u":"Nm3/h","q":"exception:2"}]}`

func TestAppendJSONCanonical(t *testing.T) {
	got := string(sample().AppendJSON(nil))
	if got != sampleJSON {
		t.Fatalf("got\n%s\nwant\n%s", got, sampleJSON)
	}
}

func TestRoundTripIsByteStable(t *testing.T) {
	b, err := Decode([]byte(sampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	// Decoded values lose the float32 flag; the float64 shortest form of a
	// value printed at float32 precision is the same text.
	if got := string(b.AppendJSON(nil)); got != sampleJSON {
		t.Fatalf("re-encoded\n%s\nwant\n%s", got, sampleJSON)
	}
	if b.Points[0].Value != 28.4 || b.Points[2].HasValue || b.Time.Nanosecond() != 234_000_000 {
		t.Errorf("decoded %+v", b)
	}
}

func TestEscaping(t *testing.T) {
	b := sample()
	b.Points = []Point{{Name: `a"b\c` + "\x01", Quality: Good, Value: -0.5, HasValue: true}}
	b.Tenant = "t01"
	got := string(b.AppendJSON(nil))
	if !strings.Contains(got, `"tenant":"t01"`) || !strings.Contains(got, `{"n":"a\"b\\c\u0001","v":-0.5,"q":"good"}`) {
		t.Fatalf("got %s", got)
	}
	back, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if back.Points[0].Name != `a"b\c`+"\x01" {
		t.Errorf("name round trip: %q", back.Points[0].Name)
	}
}

func TestNonFiniteValueNeverEncoded(t *testing.T) {
	b := sample()
	b.Points = []Point{{Name: "x", Value: math.NaN(), HasValue: true, Quality: OutOfRange}}
	if got := string(b.AppendJSON(nil)); strings.Contains(got, "NaN") || strings.Contains(got, `"n":"x","v"`) {
		t.Fatalf("got %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{`not json`, "invalid character"},
		{`{"v":3,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`, "unsupported version v=3 (want 2 or 1)"},
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":18446744073709551616,"q":"good"}]}`, `points[0] (a): "v" 18446744073709551616: integer outside the 64-bit range`},
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"b","v":-9223372036854775809,"q":"good"}]}`, `points[0] (b): "v" -9223372036854775809: integer outside the 64-bit range`},
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":"1","q":"good"}]}`, `points[0] (a): "v" is not a number: "1"`},
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":true,"q":"good"}]}`, `points[0] (a): "v" is not a number: true`},
		{`{"v":1,"seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`, `missing "gateway"`},
		{`{"v":1,"gateway":"g","device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`, `missing or zero "seq"`},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"yesterday","points":[{"n":"a","v":1,"q":"good"}]}`, `"ts" "yesterday" is not an RFC 3339 time`},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[]}`, "no points"},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","q":"good"}]}`, "quality good without a value"},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":3,"q":"timeout"}]}`, "quality timeout must not carry a value"},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":3,"q":"great"}]}`, `unknown quality "great"`},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":3,"q":"good"},{"n":"a","v":3,"q":"good"}]}`, `point "a" appears twice`},
		{`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]} {}`, "trailing data"},
	} {
		_, err := Decode([]byte(tc.payload))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid containing %q", tc.payload, err, tc.want)
		}
	}
}

// integerBatch holds the integers a float64 cannot tell apart and the
// extremes, beside floats with integral values.
func integerBatch() *Batch {
	b := sample()
	b.Points = []Point{
		{Name: "i53", Kind: IntValue, Int: 1<<53 + 1, Value: 1 << 53, HasValue: true, Quality: Good},
		{Name: "neg53", Kind: IntValue, Int: -(1<<53 + 1), Value: -(1 << 53), HasValue: true, Quality: Good},
		{Name: "min", Kind: IntValue, Int: math.MinInt64, Value: math.MinInt64, HasValue: true, Quality: Good},
		{Name: "max", Kind: IntValue, Int: math.MaxInt64, Value: 1 << 63, HasValue: true, Quality: Good},
		{Name: "u63", Kind: UintValue, Uint: 1<<63 + 1, Value: 1 << 63, HasValue: true, Quality: Good},
		{Name: "u64", Kind: UintValue, Uint: math.MaxUint64, Value: 1 << 64, HasValue: true, Quality: Good},
		{Name: "zero", Kind: IntValue, HasValue: true, Quality: Good},
		{Name: "f250", Value: 250, HasValue: true, Quality: Good},
		{Name: "f32zero", Value: 0, HasValue: true, Float32: true, Quality: Good},
		{Name: "fneg0", Value: math.Copysign(0, -1), HasValue: true, Quality: Good},
		{Name: "fbig", Value: 1e21, HasValue: true, Quality: Good},
		{Name: "f53", Value: 1 << 53, HasValue: true, Quality: Good},
		{Name: "stale", Kind: IntValue, Int: 7, Value: 7, HasValue: true, Quality: Stale},
		{Name: "gone", Kind: IntValue, Quality: Timeout},
	}
	return b
}

const integerPoints = `"points":[{"n":"i53","v":9007199254740993,"q":"good"},{"n":"neg53","v":-9007199254740993,"q":"good"},` +
	`{"n":"min","v":-9223372036854775808,"q":"good"},{"n":"max","v":9223372036854775807,"q":"good"},` +
	`{"n":"u63","v":9223372036854775809,"q":"good"},{"n":"u64","v":18446744073709551615,"q":"good"},` +
	`{"n":"zero","v":0,"q":"good"},{"n":"f250","v":250.0,"q":"good"},{"n":"f32zero","v":0.0,"q":"good"},` +
	`{"n":"fneg0","v":-0.0,"q":"good"},{"n":"fbig","v":1e+21,"q":"good"},{"n":"f53","v":9.007199254740992e+15,"q":"good"},` +
	`{"n":"stale","v":7,"q":"stale"},{"n":"gone","q":"timeout"}]}`

func TestIntegersExact(t *testing.T) {
	b := integerBatch()
	got := string(b.AppendJSON(nil))
	if !strings.HasSuffix(got, integerPoints) {
		t.Fatalf("got\n%s\nwant points\n%s", got, integerPoints)
	}
	back, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	// Byte-stable, and every value exact, with its nearest float64 for
	// consumers that compute.
	if again := string(back.AppendJSON(nil)); again != got {
		t.Fatalf("re-encoded\n%s\nwant\n%s", again, got)
	}
	for i, want := range b.Points {
		p := back.Points[i]
		switch {
		case want.Kind == UintValue && want.Uint <= math.MaxInt64:
			t.Fatalf("test data: %s", want.Name)
		case p.HasValue != want.HasValue || (p.HasValue && (p.Kind != want.Kind || p.Int != want.Int || p.Uint != want.Uint)):
			t.Errorf("%s: decoded %+v, want %+v", want.Name, p, want)
		case p.HasValue && p.Value != want.Value:
			t.Errorf("%s: Value %v, want %v", want.Name, p.Value, want.Value)
		}
	}
	if !math.Signbit(back.Points[9].Value) {
		t.Error("-0.0 lost its sign")
	}
	// A uint64 reading that fits int64 encodes as the same integer and
	// decodes as IntValue.
	b.Points = []Point{{Name: "u", Kind: UintValue, Uint: 42, Value: 42, HasValue: true, Quality: Good}}
	enc := b.AppendJSON(nil)
	if !strings.Contains(string(enc), `"v":42,`) {
		t.Fatalf("got %s", enc)
	}
	if d, err := Decode(enc); err != nil || d.Points[0].Kind != IntValue || d.Points[0].Int != 42 {
		t.Fatalf("decoded %+v, %v", d, err)
	}
}

// Version 1 payloads (before exact integers) are read as they were: every
// number a float, integers beyond 64 bits included.
func TestDecodeVersion1(t *testing.T) {
	payload := `{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[` +
		`{"n":"a","v":250,"q":"good"},{"n":"b","v":9007199254740993,"q":"good"},{"n":"c","v":100000000000000000000000,"q":"good"},{"n":"d","v":1.5,"q":"good"}]}`
	for _, decode := range []func([]byte) (*Batch, error){Decode, decodeSlow} {
		b, err := decode([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []float64{250, 1 << 53, 1e23, 1.5} {
			if p := b.Points[i]; p.Kind != FloatValue || p.Value != want || p.Int != 0 || !p.HasValue {
				t.Errorf("points[%d]: %+v, want float %v", i, p, want)
			}
		}
		// Re-encoded, they are the current version's floats.
		if got := string(b.AppendJSON(nil)); !strings.Contains(got, `{"n":"a","v":250.0,"q":"good"}`) || !strings.HasPrefix(got, `{"v":2,`) {
			t.Errorf("re-encoded %s", got)
		}
	}
	if _, ok := decodeFast(strings.Replace(payload, `"v":1,`, `"v":1 ,`, 1), nil, nil); ok {
		t.Error("the fast path took an integer beyond 64 bits")
	}
}

func TestValidQuality(t *testing.T) {
	for q, want := range map[string]bool{
		"good": true, "timeout": true, "comm_error": true, "out_of_range": true, "stale": true,
		"substituted": true, "exception:1": true, "exception:255": true,
		"exception:0": false, "exception:256": false, "exception:02": false, "exception:": false, "bad": false,
	} {
		if got := ValidQuality(q); got != want {
			t.Errorf("ValidQuality(%q) = %v", q, got)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	bt := sample()
	pts := make([]Point, 100)
	for i := range pts {
		pts[i] = Point{Name: "point_name", Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: Good}
	}
	bt.Points = pts
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = bt.AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pts)), "ns/value")
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes to the
		// same batch.
		enc := b.AppendJSON(nil)
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		// The encoding is a fixed point: values (integers exact) survive.
		if got := again.AppendJSON(nil); string(got) != string(enc) {
			t.Fatalf("encoding is not byte-stable:\n%s\n%s", enc, got)
		}
		if again.Seq != b.Seq || len(again.Points) != len(b.Points) || !again.Time.Equal(b.Time.Truncate(time.Millisecond)) {
			t.Fatalf("round trip changed the batch: %+v vs %+v", b, again)
		}
	})
}

// FuzzDecodeFastMatchesSlow: whatever the fast path accepts, encoding/json
// accepts too, with the same batch.
func FuzzDecodeFastMatchesSlow(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Add([]byte(` { "points" : [ {"q":"good","v":-1.5e3,"n":"a"} ] , "ts":"2026-01-01T00:00:00+08:00","kind":"k","device":"d","seq":7,"gateway":"g","v":1 } `))
	f.Add([]byte(`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"},{"n":"b","q":"exception:2"}]}`))
	f.Add([]byte(`{"v":2,"gateway":"g","seq":9,"part":3,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`))
	f.Add([]byte(`{"v":1,"gateway":"g\u00e9","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`))
	// Integers near 2^53, 2^63 and 2^64, in both versions.
	for _, version := range []string{"1", "2"} {
		for _, v := range []string{
			"9007199254740992", "9007199254740993", "-9007199254740993", "9007199254740993.0", "9.007199254740993e15",
			"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
			"18446744073709551615", "18446744073709551616", "-0", "0", "0.0", "1e2",
		} {
			f.Add([]byte(`{"v":` + version + `,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":` + v + `,"q":"good"}]}`))
		}
	}
	f.Add(integerBatch().AppendJSON(nil))
	// Decimals at the bounds of the scanner's own conversion (15
	// significant digits, 22 fraction digits), and a point's keys with
	// whitespace or of more than one letter.
	for _, v := range []string{"123456789012345.6", "12345678901234.5", "0.0000000000000000000001", "0.00000000000000000000001", "-0.05"} {
		f.Add([]byte(`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":` + v + `,"q":"good"}]}`))
	}
	f.Add([]byte(`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n" :"a", "v":1.5,"q":"good","nn":"b"}]}`))
	for _, pts := range edgePointVariants {
		f.Add([]byte(edgePointsHead + pts + `]}`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(string(data), nil, nil)
		// With the names of earlier inputs remembered, twice: the same.
		for range 2 {
			remembered, rok := decodeFast(string(data), nil, &fuzzNames)
			if rok != ok || (ok && !reflect.DeepEqual(remembered, fast)) {
				t.Fatalf("with remembered names: ok %v, without %v, on %q", rok, ok, data)
			}
		}
		if !ok {
			return
		}
		slow, err := decodeSlow(data)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast and slow differ on %q:\n%+v\n%+v", data, fast, slow)
		}
	})
}

const edgePointsHead = `{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[`

// edgePointVariants are points as the edge writes them (members n, v, u,
// q, no whitespace, plain ASCII), and near misses of that form that the
// scanner reads member by member instead.
var edgePointVariants = []string{
	`{"n":"a","v":1.5,"u":"kW","q":"good"},{"n":"b","v":-0,"u":"","q":"good"}`,
	`{"n":"a","v":12345678901234567890,"u":"kW","q":"good"}`,
	`{"n":"a","v":1e400,"u":"kW","q":"good"}`,
	`{"n":"a","v": 2,"u":"kW","q":"good"}`,
	`{"n":"a","v":2 ,"u":"kW","q":"good"}`,
	`{"n":"a","v":2,"u":"°C","q":"good"}`,
	`{"n":"a\u0041","v":2,"u":"kW","q":"good"}`,
	`{"n":"a","v":2,"u":"kW","q":"good" }`,
	`{"n":"a","u":"kW","v":2,"q":"good"}`,
	`{"n":"a","v":2,"u":"kW","q":"good","n":"b"}`,
	`{"n":"a","v":2,"u":"kW"}`,
	`{"n":"a","v":2,"u":"kW","q":"good"`,
	`{"n":"a","v":2,"u":"kW","q":"good}`,
	`{"n":"a","v":,"u":"kW","q":"good"}`,
	`{"n":"a","v":2,"u":"kW","q":"timeout"},{"n":"a","u":"kW","q":"timeout"}`,
	"{\"n\":\"a\x01\",\"v\":2,\"u\":\"kW\",\"q\":\"good\"}",
}

// TestEdgePointsReadAsAnyOther: the scanner's short way through points
// written as the edge writes them gives what encoding/json gives, and
// so do its near misses (or the fast path refuses them, as it may).
func TestEdgePointsReadAsAnyOther(t *testing.T) {
	for _, pts := range edgePointVariants {
		data := edgePointsHead + pts + `]}`
		fast, ok := decodeFast(data, nil, nil)
		slow, err := decodeSlow([]byte(data))
		switch {
		case ok && err != nil:
			t.Errorf("fast path accepted what encoding/json refuses (%v): %s", err, data)
		case ok && !reflect.DeepEqual(fast, slow):
			t.Errorf("fast and slow differ on %s:\n%+v\n%+v", data, fast.Points, slow.Points)
		}
	}
	// The edge's own form takes the fast path.
	if _, ok := decodeFast(edgePointsHead+edgePointVariants[0]+`]}`, nil, nil); !ok {
		t.Error("points in the edge's form missed the fast path")
	}
}

func TestFastPathTakesCanonicalPayloads(t *testing.T) {
	b, ok := decodeFast(sampleJSON, nil, nil)
	if !ok {
		t.Fatal("the canonical payload missed the fast path")
	}
	slow, err := decodeSlow([]byte(sampleJSON))
	if err != nil || !reflect.DeepEqual(b, slow) {
		t.Fatalf("fast %+v\nslow %+v (%v)", b, slow, err)
	}
	for _, odd := range []string{
		`{"v":1,"gateway":"g\"","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`,
		`{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":null,"q":"timeout"}]}`,
	} {
		if _, ok := decodeFast(odd, nil, nil); ok {
			t.Errorf("fast path took %s", odd)
		}
		if _, err := Decode([]byte(odd)); err != nil {
			t.Errorf("Decode refused %s: %v", odd, err)
		}
	}
}

// DecodeReuse writes the points into the given array when it is large
// enough, whatever it held, and decodes exactly as Decode does.
func TestDecodeReuse(t *testing.T) {
	want, err := Decode([]byte(sampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]Point, 64)
	for i := range junk {
		junk[i] = Point{Name: "junk", Value: 9, Int: 9, Uint: 9, Kind: UintValue, HasValue: true, Float32: true, Unit: "x", Quality: Stale}
	}
	got, err := DecodeReuse([]byte(sampleJSON), junk[:3])
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("reusing a larger array: %+v (%v)\nwant %+v", got, err, want)
	}
	if &got.Points[0] != &junk[0] {
		t.Error("the points are not in the array given")
	}
	small := junk[:1:1]
	got, err = DecodeReuse([]byte(sampleJSON), small)
	if err != nil || !reflect.DeepEqual(got, want) || &got.Points[0] == &small[0] {
		t.Fatalf("an array too small: %+v (%v)", got, err)
	}
	// The slow path ignores the array.
	odd := `{"v":1,"gateway":"g\"","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`
	got, err = DecodeReuse([]byte(odd), junk)
	if err != nil || got.Gateway != `g"` || len(got.Points) != 1 || got.Points[0].Name != "a" {
		t.Fatalf("slow path: %+v (%v)", got, err)
	}
}

// TestDecodeSharedAndReuse: DecodeShared decodes as Decode does, its
// strings slices of the payload itself; DecodeReuse's strings are its own
// copy, untouched when the caller reuses the payload's buffer.
func TestDecodeSharedAndReuse(t *testing.T) {
	payload := []byte(sampleJSON)
	want, err := Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := DecodeShared(payload, nil, nil)
	if err != nil || !reflect.DeepEqual(shared, want) {
		t.Fatalf("DecodeShared = %+v, %v; want %+v", shared, err, want)
	}
	name := shared.Points[0].Name
	if at := strings.Index(string(payload), `"`+name+`"`) + 1; unsafe.StringData(name) != &payload[at] {
		t.Errorf("DecodeShared's point name %q is a copy, not the payload's bytes", name)
	}
	buf := append([]byte(nil), payload...)
	reused, err := DecodeReuse(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	clear(buf)
	if !reflect.DeepEqual(reused, want) {
		t.Errorf("DecodeReuse's batch changed with its payload's buffer:\n%+v\nwant %+v", reused, want)
	}
}

// TestShortDecimalMatchesParseFloat: the short path gives strconv's float64,
// bit for bit, for the decimals edges write (float32 and float64 values in
// their shortest form) and for decimals of every length and point
// position, padded, with leading zeros and negative zero; what it does not
// take, strconv does.
func TestShortDecimalMatchesParseFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	forms := []string{"0.0", "-0.0", "0.5", "28.4", "28.400000", "0.000123", "-273.15",
		"999999999999999.0", "0.1000000000000000055511151231257827", "9007199254740993.0",
		"1234567890123456.5", "0." + strings.Repeat("0", 21) + "1", "0." + strings.Repeat("0", 22) + "1"}
	for range 200000 {
		switch r.IntN(4) {
		case 0:
			f := math.Float32frombits(r.Uint32())
			if !math.IsInf(float64(f), 0) && !math.IsNaN(float64(f)) {
				forms = append(forms, strconv.FormatFloat(float64(f), 'f', -1, 32))
			}
		case 1:
			forms = append(forms, strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(12)-4)), 'f', -1, 64))
		case 2:
			forms = append(forms, strconv.FormatFloat(r.Float64()*1e6, 'f', r.IntN(12), 64))
		default:
			digits := make([]byte, 1+r.IntN(20))
			for k := range digits {
				digits[k] = byte('0' + r.IntN(10))
			}
			at := r.IntN(len(digits)) + 1
			forms = append(forms, string(digits[:at])+"."+string(digits[at:])+"0")
		}
	}
	fast := 0
	for _, form := range forms {
		if !strings.Contains(form, ".") {
			form += ".0" // a float, as edges write an integral one
		}
		want, err := strconv.ParseFloat(form, 64)
		if err != nil {
			t.Fatalf("%q: %v", form, err)
		}
		got, ok := shortDecimal(form)
		if ok {
			fast++
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("shortDecimal(%q) = %v (%#x), strconv %v (%#x)", form, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		}
		n, err := parseNumber(form)
		if err != nil || math.Float64bits(n.f) != math.Float64bits(want) {
			t.Fatalf("parseNumber(%q) = %v, %v; want %v", form, n.f, err, want)
		}
	}
	if fast < len(forms)/2 {
		t.Errorf("the short path took %d of %d decimals", fast, len(forms))
	}
	t.Logf("%d decimals, %d by the short path", len(forms), fast)
}

// fuzzNames is remembered across the inputs of FuzzDecodeFastMatchesSlow.
var fuzzNames Names

// TestNamesSpareOnlyTheSameNames: a device's batch with the names of its
// last batch free of repeats needs no set of names; any other sequence
// of names, a repeat above all, is checked in full, whichever device it
// claims to be from.
func TestNamesSpareOnlyTheSameNames(t *testing.T) {
	payload := func(device string, names ...string) []byte {
		var pts []string
		for i, n := range names {
			pts = append(pts, fmt.Sprintf(`{"n":"%s","v":%d.5,"u":"kW","q":"good"}`, n, i))
		}
		return []byte(`{"v":2,"gateway":"gw-1","seq":1,"device":"` + device + `","kind":"k","ts":"2026-11-26T18:00:01.500Z","points":[` + strings.Join(pts, ",") + `]}`)
	}
	var names Names
	decode := func(what string, data []byte, wantOK bool) {
		t.Helper()
		_, err := DecodeShared(data, nil, &names)
		if (err == nil) != wantOK {
			t.Errorf("%s: err %v, want ok %v", what, err, wantOK)
		}
	}
	decode("first batch", payload("d1", "a", "b", "c"), true)
	if n := len(names.known); n != 1 {
		t.Fatalf("%d devices remembered, want 1", n)
	}
	decode("the same names", payload("d1", "a", "b", "c"), true)
	decode("a repeated name", payload("d1", "a", "b", "a"), false)
	decode("the repeat once more", payload("d1", "a", "b", "a"), false)
	decode("names joined differently", payload("d1", "ab", "c", "b"), true)
	decode("a repeat across the join", payload("d1", "ab", "c", "ab"), false)
	decode("another device's repeat", payload("d2", "a", "b", "c", "c"), false)
	decode("the first names again", payload("d1", "a", "b", "c"), true)
	// Fingerprints of the names in order, length-prefixed: "ab"+"c" is
	// not "a"+"bc".
	p1 := []Point{{Name: "ab"}, {Name: "c"}}
	p2 := []Point{{Name: "a"}, {Name: "bc"}}
	if names.fingerprint(p1) == names.fingerprint(p2) {
		t.Error("names joined differently hash alike")
	}
}

// TestTooManyPoints: a batch of more than MaxPoints points is refused as
// ErrTooManyPoints by both decoders, which stop at the first point past
// the limit (the slow one's per-object checks would otherwise take
// gigabytes for a few million points).
func TestTooManyPoints(t *testing.T) {
	defer func(n int) { pointLimit = n }(pointLimit)
	pointLimit = 1000
	for _, tc := range []struct{ name, point string }{
		{"fast path", `{"n":"p%d","v":1,"q":"good"}`},
		// An escaped name is not for the fast path.
		{"slow path", `{"n":"p\u0031%d","v":1,"q":"good"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			sb.WriteString(`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[`)
			for i := range pointLimit + 5 {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, tc.point, i)
			}
			sb.WriteString(`]}`)
			_, err := DecodeShared([]byte(sb.String()), nil, nil)
			if !errors.Is(err, ErrTooManyPoints) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeShared: %v, want ErrTooManyPoints", err)
			}
			// At the limit itself, the batch is taken.
			at := strings.Replace(sb.String(), ","+fmt.Sprintf(tc.point, pointLimit), "]}", 1)
			at = at[:strings.Index(at, "]}")+2]
			if b, err := DecodeShared([]byte(at), nil, nil); err != nil || len(b.Points) != pointLimit {
				t.Fatalf("%d points: %v", pointLimit, err)
			}
		})
	}
}

// TestErrorsSayWhereAndStayShort: an error names the byte where the
// JSON breaks, an empty payload says so, and a long string of the
// payload is cut in the message.
func TestErrorsSayWhereAndStayShort(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, tc := range []struct{ payload, want string }{
		{"", "empty payload (0 bytes)"},
		{" \n", "empty payload (2 bytes)"},
		{`{"v":2,"gateway":"g",x}`, "at byte 22"},
		{`{"v":2,"gateway":"g"`, "ends inside the JSON object"},
		{`{"v":2,"gateway":"g","seq":"1"}`, "at byte"},
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","q":"` + long + `"}]}`, "… (100000 bytes)"},
	} {
		_, err := DecodeShared([]byte(tc.payload), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 400 {
			t.Errorf("%.60q: error %.300q, want it to say %q in at most 400 bytes", tc.payload, err, tc.want)
		}
	}
}

// The part of a split poll after its first is carried as "part", after
// "seq", through both decoders; a whole poll and a first part leave it out.
func TestPart(t *testing.T) {
	b := sample()
	b.Part = 2
	enc := string(b.AppendJSON(nil))
	if !strings.Contains(enc, `"seq":1042,"part":2,"device"`) {
		t.Fatalf("encoded %s", enc)
	}
	fast, ok := decodeFast(enc, nil, nil)
	slow, err := decodeSlow([]byte(enc))
	if !ok || err != nil || fast.Part != 2 || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast %+v (%v)\nslow %+v (%v)", fast, ok, slow, err)
	}
	if got := string(slow.AppendJSON(nil)); got != enc {
		t.Errorf("re-encoded\n%s\nwant\n%s", got, enc)
	}
	if strings.Contains(string(sample().AppendJSON(nil)), `"part"`) {
		t.Error("a whole poll carries part")
	}
	for _, bad := range []string{`"part":0`, `"part":-1`, `"part":1.5`, `"part":"1"`, `"part":1000001`, `"part":1,"part":2`} {
		payload := strings.Replace(sampleJSON, `"seq":1042`, `"seq":1042,`+bad, 1)
		if _, err := Decode([]byte(payload)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestNamesSum: Sum gives the hash of the last decoded batch's names for
// its points only: equal for the same names, different for others, and
// nothing for points it did not decode (another slice, or a batch the
// slow path decoded).
func TestNamesSum(t *testing.T) {
	payload := func(names ...string) []byte {
		var pts []string
		for i, n := range names {
			pts = append(pts, fmt.Sprintf(`{"n":"%s","v":%d.5,"q":"good"}`, n, i))
		}
		return []byte(`{"v":2,"gateway":"gw-1","seq":1,"device":"d","kind":"k","ts":"2026-11-26T18:00:01.500Z","points":[` + strings.Join(pts, ",") + `]}`)
	}
	var names Names
	sum := func(data []byte) (uint64, bool) {
		t.Helper()
		b, err := DecodeShared(data, nil, &names)
		if err != nil {
			t.Fatal(err)
		}
		return names.Sum(b.Points)
	}
	a, okA := sum(payload("x", "y"))
	a2, okA2 := sum(payload("x", "y"))
	b, okB := sum(payload("x", "z"))
	if !okA || !okA2 || !okB || a != a2 || a == b {
		t.Errorf("sums %x %v, %x %v, %x %v: want equal for the same names, another for others", a, okA, a2, okA2, b, okB)
	}
	if _, ok := names.Sum([]Point{{Name: "x"}, {Name: "z"}}); ok {
		t.Error("a sum for points Names did not decode")
	}
	// An escaped name: the slow path decodes it, with points of its own.
	slow, err := DecodeShared([]byte(`{"v":2,"gateway":"gw-1","seq":1,"device":"d","kind":"k","ts":"2026-11-26T18:00:01.500Z","points":[{"n":"\u0078","v":1.5,"q":"good"}]}`), nil, &names)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := names.Sum(slow.Points); ok {
		t.Error("a sum for points the slow path decoded")
	}
}

package batch

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
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

const sampleJSON = `{"v":1,"gateway":"gw-1","seq":1042,"device":"chp-1","kind":"chp","site":"plant","ts":"2026-11-26T10:00:01.234Z","points":[{"n":"electric_power","v":28.4,"u":"MW","q":"good"},{"n":"electric_energy","v":123456.7,"u":"MWh","q":"good"},{"n":"steam_flow","u":"t/h","q":"timeout"},{"n":"ng_flow","u":"Nm3/h","q":"exception:2"}]}`

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
		{`{"v":2,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`, "unsupported version v=2"},
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
		again, err := Decode(b.AppendJSON(nil))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
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
	f.Add([]byte(`{"v":1,"gateway":"g\u00e9","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z","points":[{"n":"a","v":1,"q":"good"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(data)
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

func TestFastPathTakesCanonicalPayloads(t *testing.T) {
	b, ok := decodeFast([]byte(sampleJSON))
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
		if _, ok := decodeFast([]byte(odd)); ok {
			t.Errorf("fast path took %s", odd)
		}
		if _, err := Decode([]byte(odd)); err != nil {
			t.Errorf("Decode refused %s: %v", odd, err)
		}
	}
}

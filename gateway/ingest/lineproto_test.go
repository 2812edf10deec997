package ingest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func TestAppendLine(t *testing.T) {
	b := &batch.Batch{
		Gateway: "gw-1", Seq: 7, Device: "steam-t01", Kind: "steam_meter", Site: "plant a", Tenant: "t01",
		Time: time.Date(2026, 11, 26, 18, 0, 1, 500_000_000, time.UTC),
		Points: []batch.Point{
			{Name: "mass_flow", Value: 4.25, HasValue: true, Quality: batch.Good},
			{Name: "pressure", Quality: "exception:2"},
			{Name: "temperature", Value: 250, HasValue: true, Quality: batch.Stale},
		},
	}
	got := string(appendLine(nil, "park,1", b))
	want := `steam_meter,device=steam-t01,gateway=gw-1,park=park\,1,site=plant\ a,tenant=t01 mass_flow=4.25,pressure_q="exception:2",temperature_q="stale",batch_seq=7i 1795716001500`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSeqConflicts(t *testing.T) {
	w := &worker{seen: map[string]*seqWindow{}}
	if w.conflicts("gw", 1, []byte("a"), 0) {
		t.Fatal("a first delivery is not a conflict")
	}
	if w.conflicts("gw", 1, []byte("a"), 0) {
		t.Fatal("an exact redelivery is not a conflict")
	}
	if !w.conflicts("gw", 1, []byte("b"), 0) {
		t.Fatal("same seq, other content: conflict expected")
	}
	if w.conflicts("gw-2", 1, []byte("b"), 0) {
		t.Fatal("sequences are per gateway")
	}
	for s := uint64(2); s < 2*seqMemory+10; s++ {
		w.conflicts("gw", s, []byte("x"), 0)
	}
	if n := len(w.seen["gw"].hashes); n > 2*seqMemory+1 {
		t.Fatalf("window holds %d numbers", n)
	}
}

// BenchmarkDecodeAndLine is ingest's work per message without the network:
// decode and validate a 1000-point batch (into the previous batch's
// points and sharing its payload, as a worker does), then write its line
// protocol.
func BenchmarkDecodeAndLine(b *testing.B) {
	bt := batch.Batch{Gateway: "gw-1", Seq: 1, Device: "d", Kind: "chp", Site: "s", Time: time.Now()}
	for i := range 1000 {
		bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("p%04d", i), Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: batch.Good})
	}
	payload := bt.AppendJSON(nil)
	var line []byte
	var pts []batch.Point
	var names batch.Names
	b.ReportAllocs()
	for b.Loop() {
		d, err := batch.DecodeShared(payload, pts, &names)
		if err != nil {
			b.Fatal(err)
		}
		line = appendLine(line[:0], "park", d)
		pts = d.Points[:0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
}

func TestAppendLineIntegers(t *testing.T) {
	b := &batch.Batch{
		Gateway: "gw-1", Seq: 9, Device: "m1", Kind: "power_meter",
		Time: time.UnixMilli(1795716001500),
		Points: []batch.Point{
			{Name: "i53", Kind: batch.IntValue, Int: 1<<53 + 1, Value: 1 << 53, HasValue: true, Quality: batch.Good},
			{Name: "min", Kind: batch.IntValue, Int: math.MinInt64, Value: math.MinInt64, HasValue: true, Quality: batch.Good},
			{Name: "u_small", Kind: batch.UintValue, Uint: math.MaxInt64, Value: 1 << 63, HasValue: true, Quality: batch.Good},
			{Name: "u_big", Kind: batch.UintValue, Uint: math.MaxUint64, Value: 1 << 64, HasValue: true, Quality: batch.Good},
			{Name: "whole", Value: 250, HasValue: true, Quality: batch.Good},
			{Name: "stale", Kind: batch.IntValue, Int: 3, Value: 3, HasValue: true, Quality: batch.Stale},
		},
	}
	line := appendLine(nil, "p", b)
	want := `power_meter,device=m1,gateway=gw-1,park=p i53=9007199254740993i,min=-9223372036854775808i,u_small=9223372036854775807i,u_big_q="out_of_range",whole=250,stale_q="stale",batch_seq=9i 1795716001500`
	if string(line) != want {
		t.Fatalf("got\n%s\nwant\n%s", line, want)
	}
	// InfluxDB 1.8.10's parser reads the integers exactly, and 250 as a
	// float.
	fields := influxFields(t, line)
	for k, v := range map[string]any{"i53": int64(1<<53 + 1), "min": int64(math.MinInt64), "u_small": int64(math.MaxInt64), "whole": 250.0, "u_big_q": "out_of_range"} {
		if fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, fields[k], v)
		}
	}
}

// influxFields parses one line with InfluxDB 1.8.10's own line-protocol
// parser (millisecond precision, as ingest writes) and returns its fields.
func influxFields(t *testing.T, line []byte) models.Fields {
	t.Helper()
	pts, err := models.ParsePointsWithPrecision(line, time.Now(), "ms")
	if err != nil || len(pts) != 1 {
		t.Fatalf("InfluxDB's parser: %d points, %v", len(pts), err)
	}
	fields, err := pts[0].Fields()
	if err != nil {
		t.Fatal(err)
	}
	return fields
}

// influxWrite posts line protocol to InfluxDB's v2 write API, as ingest
// does, and returns the status and the response body.
func influxWrite(t *testing.T, in *testenv.Influx, lines string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.URL+"/api/v2/write?bucket=eip/autogen&precision=ms", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token :")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestIntegersInInfluxDB18: integers of a payload reach the real InfluxDB
// 1.8.10 exactly (2^53+1, the int64 extremes), as integer fields; a float
// with an integral value stays a float field; unsigned fields, which 1.8
// refuses, are never written.
func TestIntegersInInfluxDB18(t *testing.T) {
	in := testenv.StartInflux(t, "eip")
	src := &batch.Batch{
		Gateway: "gw-1", Seq: 1, Device: "m1", Kind: "power_meter", Time: time.UnixMilli(1795716001500),
		Points: []batch.Point{
			{Name: "i53", Kind: batch.IntValue, Int: 1<<53 + 1, HasValue: true, Quality: batch.Good},
			{Name: "neg53", Kind: batch.IntValue, Int: -(1<<53 + 1), HasValue: true, Quality: batch.Good},
			{Name: "min", Kind: batch.IntValue, Int: math.MinInt64, HasValue: true, Quality: batch.Good},
			{Name: "max", Kind: batch.IntValue, Int: math.MaxInt64, HasValue: true, Quality: batch.Good},
			{Name: "u53", Kind: batch.UintValue, Uint: 9007199254740993, HasValue: true, Quality: batch.Good},
			{Name: "u64", Kind: batch.UintValue, Uint: math.MaxUint64, HasValue: true, Quality: batch.Good},
			{Name: "whole", Value: 250, HasValue: true, Quality: batch.Good},
		},
	}
	// Through the payload, as edge and ingest pass it.
	b, err := batch.Decode(src.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := influxWrite(t, in, string(appendLine(nil, "p", b))); code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, body)
	}
	series, err := in.Query("eip", `SELECT "i53", "neg53", "min", "max", "u53", "u64_q", "whole" FROM "power_meter"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Values) != 1 {
		t.Fatalf("series %+v", series)
	}
	want := []string{"1795716001500", "9007199254740993", "-9007199254740993", "-9223372036854775808", "9223372036854775807", "9007199254740993", "out_of_range", "250"}
	for i, v := range series[0].Values[0] {
		if got := fmt.Sprint(v); got != want[i] {
			t.Errorf("%s = %s, want %s", series[0].Columns[i], got, want[i])
		}
	}
	t.Logf("read back: %v %v", series[0].Columns, series[0].Values[0])
	// Field types: integers for the integer points, float for the float.
	keys, err := in.Query("eip", `SHOW FIELD KEYS FROM "power_meter"`)
	if err != nil || len(keys) != 1 {
		t.Fatalf("field keys %+v, %v", keys, err)
	}
	types := map[string]string{}
	for _, row := range keys[0].Values {
		types[fmt.Sprint(row[0])] = fmt.Sprint(row[1])
	}
	for k, v := range map[string]string{"i53": "integer", "min": "integer", "u53": "integer", "whole": "float", "u64_q": "string", "batch_seq": "integer"} {
		if types[k] != v {
			t.Errorf("field %s is %q, want %s (%v)", k, types[k], v, types)
		}
	}
	// Why u64 is not stored: 1.8 refuses unsigned fields.
	if code, body := influxWrite(t, in, "probe u=18446744073709551615u 1795716001500"); code != http.StatusBadRequest || !strings.Contains(body, "invalid number") {
		t.Errorf("unsigned field: %d %s; want 400 invalid number", code, body)
	}
	// And why a database needs care when a float point becomes an integer
	// one: within a shard a field keeps its first type.
	if code, body := influxWrite(t, in, "power_meter,device=m1,gateway=gw-1,park=p whole=251i 1795716002500"); code != http.StatusBadRequest || !strings.Contains(body, "field type conflict") {
		t.Errorf("type change: %d %s; want 400 field type conflict", code, body)
	}
}

// decimalForms are float values as a payload may write them: shortest,
// padded, with more digits than a float64 holds, halfway between two
// float64s, subnormal written out in full, and with exponents.
var decimalForms = []string{
	"28.4", "28.400000", "-0.0", "0.5", "-273.15",
	"0.1000000000000000055511151231257827021181583404541015625",
	"3.14159265358979323846264338327950288419716939937510582097494459",
	"1.00000000000000011102230246251565404236316680908203125", // halfway: rounds to even
	"1.00000000000000011102230246251565404236316680908203126", // just above halfway
	"123456789012345678901234567890.5",
	"0.000000000000000000000000000000000000000000001",
	"0." + strings.Repeat("0", 323) + "4940656458412465441765687928682213723651", // the smallest subnormal
	"179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000.0",
	"1e-7", "1.5E+10", "-2.5e-300", "4.9406564584124654e-324",
}

// TestDecimalsAsWritten: a float is passed to InfluxDB as the payload wrote
// it when that is a short plain decimal, formatted again otherwise; either
// way InfluxDB's parser reads the line's text as the payload's value.
func TestDecimalsAsWritten(t *testing.T) {
	b := decimalsBatch(t)
	line := string(appendLine(nil, "p", b))
	// InfluxDB's own line-protocol parser reads the line.
	parsed, err := models.ParsePointsString(line)
	if err != nil || len(parsed) != 1 {
		t.Fatalf("InfluxDB's parser: %d points, %v", len(parsed), err)
	}
	fields, err := parsed[0].Fields()
	if err != nil {
		t.Fatal(err)
	}
	for i, form := range decimalForms {
		p := b.Points[i]
		field := p.Name + "="
		at := strings.Index(line, field)
		if at < 0 {
			t.Fatalf("%s missing from %s", field, line)
		}
		text := line[at+len(field):]
		text = text[:strings.IndexAny(text, ", ")]
		plain := !strings.ContainsAny(form, "eE") && len(form) <= batch.MaxDecimal
		if plain && text != form {
			t.Errorf("%s: the plain decimal %q written as %q", p.Name, form, text)
		}
		if len(text) > max(batch.MaxDecimal, 24) {
			t.Errorf("%s: %q written in %d characters", p.Name, form, len(text))
		}
		got, ok := fields[p.Name].(float64)
		want, _ := strconv.ParseFloat(form, 64)
		if !ok || math.Float64bits(got) != math.Float64bits(want) || math.Float64bits(p.Value) != math.Float64bits(want) {
			t.Errorf("%s: %q written as %q reads %v (%T), want %v", p.Name, form, text, fields[p.Name], fields[p.Name], want)
		}
	}
}

// decimalsBatch decodes a payload carrying decimalForms as points d00, d01, …
func decimalsBatch(t *testing.T) *batch.Batch {
	t.Helper()
	var pts []string
	for i, v := range decimalForms {
		pts = append(pts, fmt.Sprintf(`{"n":"d%02d","v":%s,"u":"1","q":"good"}`, i, v))
	}
	payload := `{"v":2,"gateway":"gw-1","seq":1,"device":"m1","kind":"power_meter","ts":"2026-11-26T18:00:01.500Z","points":[` + strings.Join(pts, ",") + `]}`
	b, err := batch.Decode([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecimalsInInfluxDB18: the real InfluxDB 1.8.10 stores every form of
// decimalForms as the float64 the payload's text denotes.
func TestDecimalsInInfluxDB18(t *testing.T) {
	in := testenv.StartInflux(t, "eip")
	b := decimalsBatch(t)
	if code, body := influxWrite(t, in, string(appendLine(nil, "p", b))); code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, body)
	}
	series, err := in.Query("eip", `SELECT * FROM "power_meter"`)
	if err != nil || len(series) != 1 || len(series[0].Values) != 1 {
		t.Fatalf("series %+v, %v", series, err)
	}
	stored := map[string]any{}
	for i, c := range series[0].Columns {
		stored[c] = series[0].Values[0][i]
	}
	for i, form := range decimalForms {
		name := fmt.Sprintf("d%02d", i)
		want, _ := strconv.ParseFloat(form, 64)
		got, err := strconv.ParseFloat(fmt.Sprint(stored[name]), 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: %q stored as %v, want %v", name, form, stored[name], want)
		}
	}
}

// TestFloatValuesStayFloats: a float value goes from the edge's payload
// through ingest's decoder to a float field, also when it is whole or
// rounds to a whole float32 (a float64 marked float32 is sent as the
// float32 it rounds to). An integer token in the payload would become an
// integer field, which InfluxDB refuses beside the float ones already
// stored for the same field.
func TestFloatValuesStayFloats(t *testing.T) {
	vals := []struct {
		v   float64
		f32 bool
	}{
		{250, false}, {250, true}, {1234.0000001, true}, {16777217, true}, {-0.5, true}, {1e21, false},
		{1e7, true}, {123456, true}, {0, true}, {math.Copysign(0, -1), false}, {4.25, false}, {1 << 53, false},
	}
	b := &batch.Batch{Gateway: "gw-1", Seq: 3, Device: "d", Kind: "chp", Time: time.UnixMilli(1795716001500)}
	for i, v := range vals {
		b.Points = append(b.Points, batch.Point{Name: fmt.Sprintf("p%02d", i), Value: v.v, HasValue: true, Float32: v.f32, Quality: batch.Good})
	}
	var names batch.Names
	d, err := batch.DecodeShared(b.AppendJSON(nil), nil, &names)
	if err != nil {
		t.Fatal(err)
	}
	fields := influxFields(t, appendLine(nil, "p", d))
	for i, v := range vals {
		want := v.v
		if v.f32 {
			want = float64(float32(v.v))
		}
		if got, ok := fields[fmt.Sprintf("p%02d", i)].(float64); !ok || got != want {
			t.Errorf("%v (float32 %v): field %#v, want the float %v", v.v, v.f32, fields[fmt.Sprintf("p%02d", i)], want)
		}
	}
}

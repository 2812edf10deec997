package influxwrite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// jsonFloat writes a float as encoding/json does (the text of InfluxDB's
// JSON answers), over the ranges where its two forms meet.
func TestJSONFloatIsEncodingJSONs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 1e-6, 9.999999e-7, 1e-7, 1e20, 1e21, 9.99e20, 1234567, 16777217,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1, 1.0 / 3, 123456789012345680000, 5e-324}
	for range 100000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()), rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)))
	}
	for _, f := range vals {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonFloat(f); string(got) != string(want) {
			t.Fatalf("%v (%#x): %s, encoding/json %s", f, math.Float64bits(f), got, want)
		}
	}
}

// An answer in MessagePack, written the way InfluxDB 1.8's formatter
// writes it, decodes to what its JSON form decodes to.
func TestDecodeMsgpackMatchesJSON(t *testing.T) {
	var b []byte
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "results")
	b = msgp.AppendArrayHeader(b, 2)
	// A result with a message and two series.
	b = msgp.AppendMapHeader(b, 3)
	b = msgp.AppendString(b, "statement_id")
	b = msgp.AppendInt(b, 0)
	b = msgp.AppendString(b, "messages")
	b = msgp.AppendArrayHeader(b, 1)
	b = msgp.AppendMapHeader(b, 2)
	b = msgp.AppendString(b, "level")
	b = msgp.AppendString(b, "warning")
	b = msgp.AppendString(b, "text")
	b = msgp.AppendString(b, "deprecated")
	b = msgp.AppendString(b, "series")
	b = msgp.AppendArrayHeader(b, 2)
	b = msgp.AppendMapHeader(b, 4)
	b = msgp.AppendString(b, "name")
	b = msgp.AppendString(b, "chp")
	b = msgp.AppendString(b, "tags")
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "device")
	b = msgp.AppendString(b, "chp-1")
	b = msgp.AppendString(b, "columns")
	b = msgp.AppendArrayHeader(b, 6)
	for _, c := range []string{"time", "f", "i", "s", "b", "n"} {
		b = msgp.AppendString(b, c)
	}
	b = msgp.AppendString(b, "values")
	b = msgp.AppendArrayHeader(b, 2)
	b = msgp.AppendArrayHeader(b, 6)
	b = msgp.AppendInt64(b, 1764000000123)
	b = msgp.AppendFloat64(b, 1234567)
	b = msgp.AppendInt64(b, math.MinInt64)
	b = msgp.AppendString(b, `{"v":2,"q":"good\"\\ ünï"}`)
	b = msgp.AppendBool(b, true)
	b = msgp.AppendNil(b)
	b = msgp.AppendArrayHeader(b, 6)
	b = msgp.AppendInt64(b, -5)
	b = msgp.AppendFloat64(b, 1e-7)
	b = msgp.AppendInt64(b, math.MaxInt64)
	b = msgp.AppendString(b, "")
	b = msgp.AppendBool(b, false)
	b = msgp.AppendFloat32(b, 0.5)
	b = msgp.AppendMapHeader(b, 3)
	b = msgp.AppendString(b, "name")
	b = msgp.AppendString(b, "boiler")
	b = msgp.AppendString(b, "columns")
	b = msgp.AppendArrayHeader(b, 1)
	b = msgp.AppendString(b, "time")
	b = msgp.AppendString(b, "partial")
	b = msgp.AppendBool(b, true)
	// A result with an error.
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "error")
	b = msgp.AppendString(b, "measurement not found")

	js := `{"results":[{"statement_id":0,"messages":[{"level":"warning","text":"deprecated"}],"series":[
		{"name":"chp","tags":{"device":"chp-1"},"columns":["time","f","i","s","b","n"],"values":[
			[1764000000123,1234567,-9223372036854775808,"{\"v\":2,\"q\":\"good\\\"\\\\ ünï\"}",true,null],
			[-5,1e-7,9223372036854775807,"",false,0.5]]},
		{"name":"boiler","columns":["time"],"partial":true}]},
		{"error":"measurement not found"}]}`
	var want answer
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	got, err := decodeMsgpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("msgpack %+v\njson    %+v", *got, want)
	}

	// Truncated anywhere, or followed by more bytes: an error, never a
	// shorter answer.
	for n := range len(b) {
		if _, err := decodeMsgpack(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	if _, err := decodeMsgpack(append(bytes.Clone(b), 0xc0)); err == nil || !strings.Contains(err.Error(), "after its end") {
		t.Fatalf("trailing byte: %v", err)
	}
	// A value of a type an answer never holds.
	bad := msgp.AppendMapHeader(nil, 1)
	bad = msgp.AppendString(bad, "results")
	bad = msgp.AppendArrayHeader(bad, 1)
	bad = msgp.AppendMapHeader(bad, 1)
	bad = msgp.AppendString(bad, "series")
	bad = msgp.AppendArrayHeader(bad, 1)
	bad = msgp.AppendMapHeader(bad, 1)
	bad = msgp.AppendString(bad, "values")
	bad = msgp.AppendArrayHeader(bad, 1)
	bad = msgp.AppendArrayHeader(bad, 1)
	bad = msgp.AppendBytes(bad, []byte{1, 2})
	if _, err := decodeMsgpack(bad); err == nil || !strings.Contains(err.Error(), "row 0 column 0") {
		t.Fatalf("binary value: %v", err)
	}
}

// Against InfluxDB 1.8.10: Series asks for MessagePack and gets it, and
// reads the same series as the JSON answer, for every field type and the
// floats whose text is tricky; an error InfluxDB reports in either form is
// an error.
func TestSeriesMsgpackAgainstInfluxDB(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	lines := "m,device=d1 f=1234567,i=-9223372036854775807i,s=\"a \\\"quoted\\\" ünï \\\\ text\",b=true 1764000000000000000\n" +
		"m,device=d1 f=1e-7,i=42i,s=\"\",b=false 1764000001000000000\n" +
		"m,device=d2 f=1e21,g=0.1 1764000002000000000\n"
	resp, err := http.Post(ifx.URL+"/write?db=eipgw", "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
	q, err := NewQuery(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw", Timeout: 5 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stmt := "SELECT * FROM m GROUP BY device"
	body, ct, err := q.post(ctx, stmt, 1<<20, msgpackType+", application/json;q=0.9", new(bytes.Buffer))
	if err != nil || ct != msgpackType {
		t.Fatalf("answer of type %q: %v (%d bytes)", ct, err, len(body))
	}
	got, err := q.Series(ctx, stmt, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	js, err := q.Post(ctx, stmt, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want answer
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if len(want.Results) != 1 || !reflect.DeepEqual(got, want.Results[0].Series) {
		t.Fatalf("msgpack %+v\njson    %s", got, js)
	}
	if n := len(got); n != 2 || len(got[0].Values) != 2 || fmt.Sprint(got[0].Values[0][2]) != "1234567" {
		t.Fatalf("series %+v", got)
	}
	// The answers' buffer is reused: what one answer decoded to holds
	// nothing of the buffer the next answers are read into.
	before := fmt.Sprintf("%+v", got)
	for range 3 {
		if _, err := q.Series(ctx, "SELECT s, i FROM m WHERE device = 'd1'", 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if after := fmt.Sprintf("%+v", got); after != before {
		t.Fatalf("an answer changed under later ones:\nbefore %s\nafter  %s", before, after)
	}
	for _, bad := range []string{"SELECT * FROM", "SELECT * FROM m WHERE time > now() +"} {
		if _, err := q.Series(ctx, bad, 1<<20); err == nil || !strings.Contains(err.Error(), "error parsing query") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err := q.Series(ctx, "SELECT * FROM m; SELECT nope(f) FROM m", 1<<20); err != nil {
		t.Fatalf("first statement of two: %v", err)
	}
	if _, err := q.Series(ctx, "SELECT nope(f) FROM m", 1<<20); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("statement error: %v", err)
	}
}

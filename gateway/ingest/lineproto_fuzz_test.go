package ingest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// FuzzAppendLineParsesBack: every line appendLine emits parses with
// InfluxDB's own parser (v1.8.10, the server eipgw targets) into exactly
// one point with the measurement, tags, fields and time intended, whatever
// bytes the names hold. Names line protocol cannot carry are written with
// the replacements of lineName, never as a second line or another key.
func FuzzAppendLineParsesBack(f *testing.F) {
	f.Add("chp", "plant", "t01", "electric_power", "good", 28.4, uint64(1042), int64(1795716001500))
	f.Add("injected_kind,park=bad,device=zz fake=42\nx", "a\\", "t\n", "p=1,q 2", `x"y\`, -1.5, uint64(1), int64(0))
	f.Add("#comment", "site\\ x", "\\", "a\\", "exception:2", 0.0, uint64(math.MaxInt64), int64(-1))
	f.Add(`m\`, `\,`, " ", `"`, "good", 1e300, uint64(7), int64(1))
	f.Fuzz(func(t *testing.T, kind, site, tenant, point, quality string, value float64, seq uint64, ms int64) {
		if kind == "" || point == "" || seq > math.MaxInt64 || math.IsNaN(value) || math.IsInf(value, 0) {
			return // refused by validation before any line is made
		}
		if ms < -9e15 || ms > 9e15 {
			return
		}
		b := &batch.Batch{Gateway: "gw-1", Seq: seq, Device: "dev", Kind: kind, Site: site, Tenant: tenant, Time: time.UnixMilli(ms),
			Points: []batch.Point{{Name: point, Quality: quality, Value: value, HasValue: quality == batch.Good}}}
		if quality != batch.Good {
			b.Points = append(b.Points, batch.Point{Name: "other", Quality: batch.Good, Value: 1, HasValue: true})
		}
		line := appendLine(nil, "park", b)
		pts, err := models.ParsePointsWithPrecision(line, time.Now(), "ms")
		if err != nil {
			t.Fatalf("line does not parse: %v\n%q", err, line)
		}
		if len(pts) != 1 {
			t.Fatalf("%d points from one line %q", len(pts), line)
		}
		p := pts[0]
		wantName := lineName(kind)
		if strings.HasPrefix(wantName, "#") {
			wantName = "\uFFFD" + wantName[1:]
		}
		if got, want := string(p.Name()), wantName; got != want {
			t.Errorf("measurement %q, want %q (line %q)", got, want, line)
		}
		wantTags := map[string]string{"device": "dev", "gateway": "gw-1", "park": "park"}
		if site != "" {
			wantTags["site"] = lineName(site)
		}
		if tenant != "" {
			wantTags["tenant"] = lineName(tenant)
		}
		gotTags := map[string]string{}
		for _, tg := range p.Tags() {
			gotTags[string(tg.Key)] = string(tg.Value)
		}
		if len(gotTags) != len(wantTags) {
			t.Errorf("tags %q, want %q (line %q)", gotTags, wantTags, line)
		}
		for k, v := range wantTags {
			if gotTags[k] != v {
				t.Errorf("tag %s = %q, want %q (line %q)", k, gotTags[k], v, line)
			}
		}
		fields, err := p.Fields()
		if err != nil {
			t.Fatalf("fields: %v (line %q)", err, line)
		}
		want := map[string]any{SeqField: int64(seq)}
		if quality == batch.Good {
			want[lineName(point)] = value
		} else {
			want[lineName(point)+QualitySuffix] = quality
			want["other"] = 1.0
		}
		if len(fields) != len(want) {
			t.Errorf("fields %v, want %v (line %q)", fields, want, line)
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("field %q = %#v, want %#v (line %q)", k, fields[k], v, line)
			}
		}
		if p.Time().UnixMilli() != ms {
			t.Errorf("time %d, want %d", p.Time().UnixMilli(), ms)
		}
	})
}

// TestAppendLineHostileNames: the cases of the security review, written
// without validation, stay one point with the names intended.
func TestAppendLineHostileNames(t *testing.T) {
	b := &batch.Batch{Gateway: "gw", Seq: 1, Device: "d", Kind: "chp\ninjected_kind,park=bad,device=zz fake=42", Site: `plant\`,
		Time: time.UnixMilli(1), Points: []batch.Point{{Name: "x", Value: 1, HasValue: true, Quality: batch.Good}}}
	line := appendLine(nil, "p", b)
	pts, err := models.ParsePointsWithPrecision(line, time.Now(), "ms")
	if err != nil || len(pts) != 1 {
		t.Fatalf("%q: %d points, %v", line, len(pts), err)
	}
	if strings.Contains(string(pts[0].Name()), "\n") || pts[0].Tags().GetString("site") != lineName(`plant\`) || pts[0].Tags().GetString("park") != "p" {
		t.Fatalf("parsed %v from %q", pts[0], line)
	}
}

package influxwrite

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"
)

// parseOne parses line with InfluxDB 1.8.10's parser and wants one point.
func parseOne(t *testing.T, line []byte) models.Point {
	t.Helper()
	pts, err := models.ParsePointsWithPrecision(line, time.Now(), "ms")
	if err != nil {
		t.Fatalf("line does not parse: %v\n%q", err, line)
	}
	if len(pts) != 1 {
		t.Fatalf("%d points from one line %q", len(pts), line)
	}
	return pts[0]
}

func TestLineBuildsWhatInfluxDBParses(t *testing.T) {
	var l Line
	l.Start("park_hourly")
	l.Tag("metric", "steam_energy_gj")
	l.Tag("park", "p 1,x=y")
	l.Tag("tenant", "") // left out
	l.Float("value", 12.5)
	l.String("reason", `no "valid" samples \ at all`)
	l.Bool("valid", false)
	l.Int("samples", -3)
	ts := time.UnixMilli(1795716000000)
	line, err := l.End(ts)
	if err != nil {
		t.Fatal(err)
	}
	want := `park_hourly,metric=steam_energy_gj,park=p\ 1\,x\=y value=12.5,reason="no \"valid\" samples \\ at all",valid=false,samples=-3i 1795716000000`
	if string(line) != want {
		t.Fatalf("line\n%s\nwant\n%s", line, want)
	}
	p := parseOne(t, line)
	if p.Tags().GetString("park") != "p 1,x=y" || !p.Time().Equal(ts) {
		t.Errorf("parsed %v", p)
	}
	f, _ := p.Fields()
	if f["reason"] != `no "valid" samples \ at all` || f["samples"] != int64(-3) || f["value"] != 12.5 || f["valid"] != false {
		t.Errorf("fields %v", f)
	}
	// The builder is reused: Start drops the previous line.
	l.Start("m")
	l.Int("x", 1)
	if line2, _ := l.End(ts); string(line2) != "m x=1i 1795716000000" || string(line) != want {
		t.Errorf("reuse: %q, first line now %q", line2, line)
	}
}

func TestLineRefusesWhatLineProtocolCannotCarry(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(l *Line)
		want  string
	}{
		{"NaN", func(l *Line) { l.Start("m"); l.Float("value", math.NaN()) }, "field value is NaN"},
		{"Inf", func(l *Line) { l.Start("m"); l.Int("a", 1); l.Float("value", math.Inf(-1)) }, "field value is -Inf"},
		{"no fields", func(l *Line) { l.Start("m"); l.Tag("a", "b") }, "m: no fields"},
		{"tag after field", func(l *Line) { l.Start("m"); l.Int("a", 1); l.Tag("b", "c") }, `tag "b" after the fields`},
		{"empty measurement", func(l *Line) { l.Start(""); l.Int("a", 1) }, "empty measurement"},
	} {
		var l Line
		c.build(&l)
		if line, err := l.End(time.UnixMilli(0)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, %v; want error %q", c.name, line, err, c.want)
		}
	}
}

// FuzzLineParsesBack: whatever bytes the names and the string value hold,
// a line parses with InfluxDB 1.8.10's parser into exactly one point whose
// names are the inputs with Name's replacements.
func FuzzLineParsesBack(f *testing.F) {
	f.Add("park_live", "metric", "steam_power_mw", "value", "ok")
	f.Add("#m", "a\\", "t\n", "p=1,q 2", `x"y\`)
	f.Add(`m\`, `\,`, " ", `"`, "\x00\n")
	f.Fuzz(func(t *testing.T, measurement, tagKey, tagValue, field, str string) {
		if measurement == "" || tagKey == "" || field == "" {
			return
		}
		var l Line
		l.Start(measurement)
		l.Tag(tagKey, tagValue)
		l.String(field, str)
		l.Int(field+"_n", 7)
		line, err := l.End(time.UnixMilli(1000))
		if err != nil {
			t.Fatal(err)
		}
		p := parseOne(t, line)
		wantM := Name(measurement)
		if strings.HasPrefix(wantM, "#") {
			wantM = replacement + wantM[1:]
		}
		if string(p.Name()) != wantM {
			t.Errorf("measurement %q, want %q (%q)", p.Name(), wantM, line)
		}
		if tagValue != "" {
			if got := p.Tags().GetString(Name(tagKey)); got != Name(tagValue) || len(p.Tags()) != 1 {
				t.Errorf("tags %v, want %q=%q (%q)", p.Tags(), Name(tagKey), Name(tagValue), line)
			}
		}
		fields, err := p.Fields()
		if err != nil {
			t.Fatalf("fields: %v (%q)", err, line)
		}
		if len(fields) != 2 && Name(field) != Name(field+"_n") {
			t.Errorf("fields %v (%q)", fields, line)
		}
		if got, ok := fields[Name(field+"_n")]; !ok || got != int64(7) {
			t.Errorf("fields %v, want %s=7 (%q)", fields, Name(field+"_n"), line)
		}
	})
}

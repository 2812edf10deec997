package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// TestFieldTypeMismatches: readings whose type differs from their field's in
// InfluxDB (a profile that changed a register's type, a publisher writing 12
// for 12.0, a field created by another writer) are stored in the field's
// type where that is exact, else as quality type_conflict, with the batch's
// other readings: nothing is dead-lettered. The types come from InfluxDB
// when a kind is first seen, from the batches written, and from a write's
// conflict for a field created while ingest ran. A publisher stamping the
// first point of an empty shard with the wrong type does not fix the
// field's type there for the devices that follow.
func TestFieldTypeMismatches(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	now := time.Now().Truncate(time.Second)
	write := func(line string) {
		t.Helper()
		resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=s", "text/plain", strings.NewReader(line))
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("writing %q: %v %v", line, err, resp)
		}
		resp.Body.Close()
	}
	earlier := now.Add(-11 * time.Minute).Unix()
	write(fmt.Sprintf("boiler,park=p steam_flow=5.5 %d\nchp,park=p electric_power=\"text\" %d\nmeter,park=p total=7i %d", earlier, earlier, earlier))

	var logs testenv.LogBuffer
	in := runIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: types-ingest}
ingest:
  batch_size: 1
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
`, mq.URL, ifx.URL), slog.New(slog.NewTextHandler(&logs, nil)))

	pub := newPublisher(t, mq.URL, "types-test")
	pub.waitIngest()
	publish := pub.numbered()
	// stored waits for the row of kind at `at` and returns its columns.
	stored := func(kind string, at time.Time) map[string]string {
		t.Helper()
		var row map[string]string
		waitFor(t, kind+" at "+at.String(), func() bool {
			series, err := ifx.Query("eipgw", fmt.Sprintf(`SELECT * FROM %s WHERE time = %dms`, kind, at.UnixMilli()))
			if err != nil || len(series) != 1 || len(series[0].Values) != 1 {
				return false
			}
			row = map[string]string{}
			for i, col := range series[0].Columns {
				if v := series[0].Values[0][i]; v != nil {
					row[col] = fmt.Sprint(v)
				}
			}
			return true
		})
		return row
	}
	want := func(row map[string]string, col, v string) {
		t.Helper()
		if row[col] != v {
			t.Errorf("%s = %q, want %q (row %v)", col, row[col], v, row)
		}
	}
	fieldType := func(kind, field string) string {
		t.Helper()
		series, err := ifx.Query("eipgw", `SHOW FIELD KEYS FROM `+kind)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, s := range series {
			for _, v := range s.Values {
				if fmt.Sprint(v[0]) == field {
					types = append(types, fmt.Sprint(v[1]))
				}
			}
		}
		return strings.Join(types, ",")
	}

	t0 := now.Add(-10 * time.Minute)
	// Known from InfluxDB at the kind's first sight.
	publish("gw", "boiler-1", "boiler", t0, integer("steam_flow", 12), float("pressure", 1.25))
	want(stored("boiler", t0), "steam_flow", "12")
	publish("gw", "chp-1", "chp", t0, float("electric_power", 1.5), float("fuel", 2.5))
	row := stored("chp", t0)
	want(row, "electric_power_q", QualityTypeConflict)
	want(row, "fuel", "2.5")
	publish("gw", "meter-1", "meter", t0, float("total", 9))
	want(stored("meter", t0), "total", "9")
	publish("gw", "meter-1", "meter", t0.Add(time.Second), float("total", 9.5))
	want(stored("meter", t0.Add(time.Second)), "total_q", QualityTypeConflict)

	// A field another writer created after ingest read the kind's types:
	// learnt from the conflict, and the batch written again.
	write(fmt.Sprintf("boiler,park=p level=1i %d", earlier))
	publish("gw", "boiler-1", "boiler", t0.Add(time.Second), float("steam_flow", 13.5), float("level", 2))
	row = stored("boiler", t0.Add(time.Second))
	want(row, "steam_flow", "13.5")
	want(row, "level", "2")
	publish("gw", "boiler-1", "boiler", t0.Add(2*time.Second), float("steam_flow", 14.5), float("level", 2.5))
	row = stored("boiler", t0.Add(2*time.Second))
	want(row, "steam_flow", "14.5")
	want(row, "level_q", QualityTypeConflict)

	// A publisher stamps the first point of an empty shard (three weeks
	// back: shards of the default policy span a week) with an integer
	// steam_flow: it is written as the float the field is, and the
	// gateway's float readings there are stored.
	old := t0.Add(-21 * 24 * time.Hour)
	publish("evil", "boiler-9", "boiler", old, integer("steam_flow", 5))
	want(stored("boiler", old), "steam_flow", "5")
	publish("gw", "boiler-1", "boiler", old.Add(time.Second), float("steam_flow", 6.5))
	want(stored("boiler", old.Add(time.Second)), "steam_flow", "6.5")
	if got := fieldType("boiler", "steam_flow"); got != "float" {
		t.Errorf("boiler steam_flow is of type %q in InfluxDB, want float", got)
	}

	if dead := pub.deadLetters(); len(dead) != 0 {
		t.Errorf("%d dead letters, want none: %v", len(dead), dead)
	}
	for outcome, n := range map[string]float64{"converted": 4, "flagged": 3} {
		var m dto.Metric
		if err := in.m.typeMismatches.WithLabelValues(outcome).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != n {
			t.Errorf(`eipgw_ingest_field_type_mismatches_total{outcome=%q} = %g, want %g`, outcome, got, n)
		}
	}
	if !strings.Contains(logs.String(), "a reading's type differs from its field's in InfluxDB") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

// TestConvert checks each conversion of a reading to its field's type at
// its bounds: exact or flagged, never rounded.
func TestConvert(t *testing.T) {
	in := &Ingest{m: newMetrics(prometheus.NewRegistry()), log: slog.New(slog.DiscardHandler)}
	w := &worker{in: in}
	for _, c := range []struct {
		p    batch.Point
		to   fieldType
		want string // the field appendField writes
	}{
		{batch.Point{Name: "a", Int: 1 << 53, Kind: batch.IntValue}, typeFloat, "a=9.007199254740992e+15"},
		{batch.Point{Name: "a", Int: -1 << 53, Kind: batch.IntValue}, typeFloat, "a=-9.007199254740992e+15"},
		{batch.Point{Name: "a", Int: 1<<53 + 1, Kind: batch.IntValue}, typeFloat, `a_q="type_conflict"`},
		{batch.Point{Name: "a", Uint: 1 << 53, Kind: batch.UintValue}, typeFloat, "a=9.007199254740992e+15"},
		{batch.Point{Name: "a", Uint: math.MaxUint64, Kind: batch.UintValue}, typeFloat, `a_q="type_conflict"`},
		{batch.Point{Name: "a", Value: math.Copysign(0, -1)}, typeInteger, "a=0i"},
		{batch.Point{Name: "a", Value: 0x1p62}, typeInteger, "a=4611686018427387904i"},
		{batch.Point{Name: "a", Value: 0x1p63}, typeInteger, `a_q="type_conflict"`},
		{batch.Point{Name: "a", Value: -0x1p63}, typeInteger, "a=-9223372036854775808i"},
		{batch.Point{Name: "a", Value: 28.4, Decimal: "28.4"}, typeInteger, `a_q="type_conflict"`},
		{batch.Point{Name: "a", Value: 7, Decimal: "7.0", Float32: true}, typeInteger, "a=7i"},
		{batch.Point{Name: "a", Int: 3, Kind: batch.IntValue}, typeOther, `a_q="type_conflict"`},
	} {
		p := c.p
		p.HasValue, p.Quality = true, batch.Good
		if p.Kind != batch.FloatValue {
			p.Value = float64(p.Int)
		}
		w.convert(&batch.Batch{Kind: "k"}, &p, c.to, false)
		if got := string(appendField(nil, &p)); got != c.want {
			t.Errorf("%+v to %v: %s, want %s", c.p, c.to, got, c.want)
		}
	}
}

// TestParseConflict reads InfluxDB 1.8's answer to a field type conflict.
func TestParseConflict(t *testing.T) {
	err := &ihttp.Error{StatusCode: 400, Message: `partial write: field type conflict: input field "level" on measurement "boiler" is type float, already exists as type integer dropped=1`}
	kind, field, stored, ok := parseConflict(err)
	if !ok || kind != "boiler" || field != "level" || stored != typeInteger {
		t.Errorf("got %q %q %v %v", kind, field, stored, ok)
	}
	if _, _, _, ok := parseConflict(errors.New("partial write: points beyond retention policy dropped=1")); ok {
		t.Error("a retention refusal read as a type conflict")
	}
}

// BenchmarkDecodeFixTypesAndLine is BenchmarkDecodeAndLine with the check of
// the points' types against their fields' (fixTypes) that a worker makes:
// for a device checked before, a pass over its points' types and one hash.
func BenchmarkDecodeFixTypesAndLine(b *testing.B) {
	bt := batch.Batch{Gateway: "gw-1", Seq: 1, Device: "d", Kind: "chp", Site: "s", Time: time.Now()}
	for i := range 1000 {
		bt.Points = append(bt.Points, batch.Point{Name: fmt.Sprintf("p%04d", i), Value: float64(float32(i) * 1.1), HasValue: true, Float32: true, Unit: "kW", Quality: batch.Good})
	}
	payload := bt.AppendJSON(nil)
	in := &Ingest{m: newMetrics(prometheus.NewRegistry()), log: slog.New(slog.DiscardHandler), types: newFieldTypes(nil, time.Second, slog.New(slog.DiscardHandler))}
	w := &worker{in: in}
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		d, err := batch.DecodeShared(payload, w.points, &w.names)
		if err != nil {
			b.Fatal(err)
		}
		w.fixTypes(d)
		line = appendLine(line[:0], "park", d)
		w.points = d.Points[:0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/point")
}

// TestFieldTypeHoles: (1) a publisher writes a new field first, as an
// integer, into an empty shard three weeks back; a device's float
// readings of that field now, in the current shard where it does not
// exist, are stored as floats, before and after ingest reads the
// measurement's types again (a restart). (2) Another writer made a field
// a string in an hour's shard; eight batches of that hour, in one write
// request, are all stored with that reading flagged and the others kept:
// none is dead-lettered.
func TestFieldTypeHoles(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	now := time.Now().Truncate(time.Second)
	yaml := fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: holes-ingest}
ingest:
  batch_size: 100
  batch_wait: 300ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
`, mq.URL, ifx.URL)
	_, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
	pub := newPublisher(t, mq.URL, "holes-test")
	pub.waitIngest()
	publish := pub.numbered()
	count := func(q string) int {
		s, err := ifx.Query("eipgw", q)
		if err != nil || len(s) == 0 || len(s[0].Values) == 0 {
			return 0
		}
		n, _ := s[0].Values[0][1].(json.Number).Int64()
		return int(n)
	}
	old := now.Add(-21 * 24 * time.Hour)
	publish("evil", "turbine-9", "turbine", old, batch.Point{Name: "power", Int: 5, Value: 5, Kind: batch.IntValue, HasValue: true, Quality: batch.Good})
	waitFor(t, "the publisher's integer", func() bool { return count(`SELECT count("power") FROM turbine`) == 1 })
	t0 := now.Add(-5 * time.Minute)
	for i := range 3 {
		publish("gw", "turbine-1", "turbine", t0.Add(time.Duration(i)*time.Second), float("power", 12.3), float("speed", 3000.5))
	}
	waitFor(t, "the device's floats", func() bool { return count(`SELECT count("power") FROM turbine WHERE gateway = 'gw'`) == 3 })
	stop()
	_, stop = startIngest(t, yaml, slog.New(slog.DiscardHandler))
	defer stop()
	pub.waitIngest()
	publish("gw", "turbine-1", "turbine", t0.Add(10*time.Second), float("power", 12.7), float("speed", 3000.5))
	waitFor(t, "the device's float after a restart", func() bool {
		return count(`SELECT count("power") FROM turbine WHERE gateway = 'gw'`) == 4
	})
	if n := count(`SELECT count("power_q") FROM turbine`); n != 0 {
		t.Errorf("%d of the device's readings flagged type_conflict, want none", n)
	}

	// (2) A string field in the shard, then a burst of eight batches.
	resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=s", "text/plain", strings.NewReader(fmt.Sprintf("pump,park=p flow=\"text\" %d", t0.Add(-time.Minute).Unix())))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("seeding the string field: %v %v", err, resp)
	}
	resp.Body.Close()
	for i := range 8 {
		publish("gw", fmt.Sprintf("pump-%d", i), "pump", t0.Add(time.Duration(i)*time.Second), float("flow", 1.5), float("head", 20.25))
	}
	waitFor(t, "eight pump batches", func() bool { return count(`SELECT count("head") FROM pump`) == 8 })
	if n := count(`SELECT count("flow_q") FROM pump`); n != 8 {
		t.Errorf("%d pump readings flagged, want 8", n)
	}
	if dead := pub.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters %v, want none", dead)
	}
}

// numbered returns a function publishing a batch of gateway, device and
// kind at at, numbered 1, 2, ... per gateway.
func (p *publisher) numbered() func(gateway, device, kind string, at time.Time, pts ...batch.Point) {
	seqs := map[string]uint64{}
	return func(gateway, device, kind string, at time.Time, pts ...batch.Point) {
		p.t.Helper()
		seqs[gateway]++
		p.publish(batch.Batch{Gateway: gateway, Seq: seqs[gateway], Device: device, Kind: kind, Time: at, Points: pts})
	}
}

// float and integer are good points of a value.
func float(name string, v float64) batch.Point {
	return batch.Point{Name: name, Value: v, HasValue: true, Quality: batch.Good}
}

func integer(name string, v int64) batch.Point {
	return batch.Point{Name: name, Int: v, Value: float64(v), Kind: batch.IntValue, HasValue: true, Quality: batch.Good}
}

// TestFieldTypesBounded: a publisher inventing kinds costs at most
// unverifiedLookups SHOW FIELD KEYS a second (the other kinds are read at
// a later batch), and the kinds kept are bounded.
func TestFieldTypesBounded(t *testing.T) {
	var queries atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		queries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"results":[{"statement_id":0}]}`)
	}))
	defer srv.Close()
	ft := newFieldTypes(newInfluxQL(srv.URL, "eipgw/autogen", "", time.Second), time.Second, slog.New(slog.DiscardHandler))
	start := time.Now()
	for i := range 3 * unverifiedLookups {
		ft.plan(&batch.Batch{Kind: fmt.Sprintf("k%d", i), Time: time.Now(), Points: []batch.Point{float("x", 1)}})
	}
	// The budget is a burst of unverifiedLookups and as many again a
	// second: on a slow machine the 300 plans take a part of a second,
	// which adds its share (under 2 s, fewer than all 300).
	elapsed := time.Since(start)
	most := unverifiedLookups + int64(elapsed.Seconds()*unverifiedLookups) + 1
	if n := queries.Load(); n < unverifiedLookups || n > most {
		t.Errorf("%d SHOW FIELD KEYS for %d new kinds in %v, want %d to %d", n, 3*unverifiedLookups, elapsed, unverifiedLookups, most)
	}
	off := newFieldTypes(nil, time.Second, slog.New(slog.DiscardHandler))
	for i := range maxKinds + 10 {
		off.plan(&batch.Batch{Kind: fmt.Sprintf("k%d", i), Time: time.Now(), Points: []batch.Point{float("x", 1)}})
	}
	if n := len(off.kinds); n > maxKinds {
		t.Errorf("%d kinds kept, want at most %d", n, maxKinds)
	}
}

package park

import (
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// Derived records in InfluxDB (docs/contracts.md, "InfluxDB (derived
// records)"):
//
//	park_live       one point per valid live metric and interval
//	                tags   park, metric, [tenant|device|link|header]
//	                fields value, completeness, samples
//	                time   interval start
//	park_hourly     one point per metric and hour, valid or not
//	                tags   park, metric, [tenant|device|link|header]
//	                fields value (valid only), flag, valid, reason (unless
//	                       valid), completeness, valid_minutes, samples,
//	                       hours, valid_hours (cumulative metrics)
//	                time   hour start
//	park_statement  one point per tenant and day or month
//	                tags   park, period (day|month), tenant
//	                fields steam_mass_t, steam_energy_gj, loss_share_gj,
//	                       electric_energy_mwh, hours, valid_hours,
//	                       expected_hours, complete
//	                time   period start (in the statement time zone)
//
// Records are idempotent: the same record written twice is the same point.
// Lines are built by influxwrite.Line, with the escaping rules ingest
// uses.
const (
	MeasurementLive      = "park_live"
	MeasurementHourly    = "park_hourly"
	MeasurementStatement = "park_statement"
)

// Record is one derived record as one line of line protocol.
type Record struct {
	Measurement string
	// Line is the record's line, without a newline; nil when Err is set.
	Line []byte
	// Err says why the record cannot be written as line protocol (a value
	// that is not finite, which the engine flags invalid before it gets
	// here).
	Err error
}

// record finishes the line l holds as a Record.
func record(m string, l *influxwrite.Line, t time.Time) Record {
	b, err := l.End(t)
	return Record{Measurement: m, Line: b, Err: err}
}

// metricLine starts l as a record of measurement for metric m: tags park,
// metric and the metric's entity, in lexical key order.
func metricLine(l *influxwrite.Line, measurement, park string, m *Metric) {
	l.Start(measurement)
	if m.EntityKey != "" && m.EntityKey < "metric" {
		l.Tag(m.EntityKey, m.Entity)
	}
	l.Tag("metric", m.Name)
	l.Tag("park", park)
	if m.EntityKey != "" && m.EntityKey > "park" {
		l.Tag(m.EntityKey, m.Entity)
	}
}

// LiveRecords returns the records of a live interval: one per valid
// metric.
func LiveRecords(park string, iv Interval) []Record {
	var out []Record
	var l influxwrite.Line
	for i := range iv.Metrics {
		m := &iv.Metrics[i]
		if m.Flag != Valid {
			continue
		}
		metricLine(&l, MeasurementLive, park, m)
		l.Float("value", m.Value)
		l.Float("completeness", m.Completeness)
		l.Int("samples", int64(m.Samples))
		out = append(out, record(MeasurementLive, &l, iv.Start))
	}
	return out
}

// HourRecords returns the records of an hour: one per metric, valid or
// not.
func HourRecords(park string, h Hour) []Record {
	out := make([]Record, 0, len(h.Metrics))
	var l influxwrite.Line
	for i := range h.Metrics {
		m := &h.Metrics[i]
		metricLine(&l, MeasurementHourly, park, m)
		if m.Flag == Valid {
			l.Float("value", m.Value)
		}
		l.String("flag", string(m.Flag))
		l.Bool("valid", m.Flag == Valid)
		if m.Reason != "" {
			l.String("reason", m.Reason)
		}
		l.Float("completeness", m.Completeness)
		l.Int("valid_minutes", int64(m.ValidMinutes))
		l.Int("samples", int64(m.Samples))
		if m.Hours > 0 {
			l.Int("hours", int64(m.Hours))
			l.Int("valid_hours", int64(m.ValidHours))
		}
		out = append(out, record(MeasurementHourly, &l, h.Start))
	}
	return out
}

// StatementRecord returns the record of a statement.
func StatementRecord(park string, s Statement) Record {
	var l influxwrite.Line
	l.Start(MeasurementStatement)
	l.Tag("park", park)
	l.Tag("period", s.Period)
	l.Tag("tenant", s.Tenant)
	l.Float("steam_mass_t", s.SteamMass)
	l.Float("steam_energy_gj", s.Steam)
	l.Float("loss_share_gj", s.LossShare)
	l.Float("electric_energy_mwh", s.Electric)
	l.Int("hours", int64(s.Hours))
	l.Int("valid_hours", int64(s.ValidHours))
	l.Int("steam_valid_hours", int64(s.SteamValidHours))
	l.Int("electric_valid_hours", int64(s.ElectricValidHours))
	l.Int("expected_hours", int64(s.ExpectedHours))
	l.Bool("complete", s.Complete())
	return record(MeasurementStatement, &l, s.Start)
}

// Lines returns the line protocol of an output's records (millisecond
// precision), one record per line, each ended by a newline. A record that
// cannot be written (Record.Err) is left out.
func Lines(park string, o Output) []byte {
	var recs []Record
	for _, iv := range o.Live {
		recs = append(recs, LiveRecords(park, iv)...)
	}
	for _, h := range o.Hours {
		recs = append(recs, HourRecords(park, h)...)
	}
	for _, s := range o.Statements {
		recs = append(recs, StatementRecord(park, s))
	}
	var b []byte
	for _, r := range recs {
		if r.Err == nil {
			b = append(b, r.Line...)
			b = append(b, '\n')
		}
	}
	return b
}

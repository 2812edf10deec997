package park

import (
	"strconv"
	"strings"
	"time"
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
const (
	MeasurementLive      = "park_live"
	MeasurementHourly    = "park_hourly"
	MeasurementStatement = "park_statement"
)

var (
	keyEscaper    = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	stringEscaper = strings.NewReplacer(`"`, `\"`, `\`, `\\`)
)

type line struct {
	b      []byte
	fields int
}

func (l *line) start(measurement string, tags ...string) {
	l.b = append(l.b, measurement...)
	// tags come as key, value pairs already in lexical key order
	for i := 0; i+1 < len(tags); i += 2 {
		if tags[i+1] == "" {
			continue
		}
		l.b = append(l.b, ',')
		l.b = append(l.b, tags[i]...)
		l.b = append(l.b, '=')
		l.b = append(l.b, keyEscaper.Replace(tags[i+1])...)
	}
	l.b = append(l.b, ' ')
	l.fields = 0
}

func (l *line) sep(key string) {
	if l.fields > 0 {
		l.b = append(l.b, ',')
	}
	l.fields++
	l.b = append(l.b, key...)
	l.b = append(l.b, '=')
}

func (l *line) float(key string, v float64) {
	l.sep(key)
	l.b = strconv.AppendFloat(l.b, v, 'g', -1, 64)
}

func (l *line) int(key string, v int) {
	l.sep(key)
	l.b = strconv.AppendInt(l.b, int64(v), 10)
	l.b = append(l.b, 'i')
}

func (l *line) bool(key string, v bool) {
	l.sep(key)
	l.b = strconv.AppendBool(l.b, v)
}

func (l *line) str(key, v string) {
	l.sep(key)
	l.b = append(l.b, '"')
	l.b = append(l.b, stringEscaper.Replace(v)...)
	l.b = append(l.b, '"')
}

func (l *line) end(t time.Time) {
	l.b = append(l.b, ' ')
	l.b = strconv.AppendInt(l.b, t.UnixMilli(), 10)
	l.b = append(l.b, '\n')
}

// metricTags returns the tags of a metric in lexical key order.
func metricTags(park string, m *Metric) []string {
	tags := make([]string, 0, 6)
	if m.EntityKey != "" && m.EntityKey < "metric" {
		tags = append(tags, m.EntityKey, m.Entity)
	}
	tags = append(tags, "metric", m.Name, "park", park)
	if m.EntityKey != "" && m.EntityKey > "park" {
		tags = append(tags, m.EntityKey, m.Entity)
	}
	return tags
}

// Lines returns the line protocol of an output's records (millisecond
// precision), one record per line.
func Lines(park string, o Output) []byte {
	var l line
	for _, iv := range o.Live {
		for i := range iv.Metrics {
			m := &iv.Metrics[i]
			if m.Flag != Valid {
				continue
			}
			l.start(MeasurementLive, metricTags(park, m)...)
			l.float("value", m.Value)
			l.float("completeness", m.Completeness)
			l.int("samples", m.Samples)
			l.end(iv.Start)
		}
	}
	for _, h := range o.Hours {
		for i := range h.Metrics {
			m := &h.Metrics[i]
			l.start(MeasurementHourly, metricTags(park, m)...)
			if m.Flag == Valid {
				l.float("value", m.Value)
			}
			l.str("flag", string(m.Flag))
			l.bool("valid", m.Flag == Valid)
			if m.Reason != "" {
				l.str("reason", m.Reason)
			}
			l.float("completeness", m.Completeness)
			l.int("valid_minutes", m.ValidMinutes)
			l.int("samples", m.Samples)
			if m.Hours > 0 {
				l.int("hours", m.Hours)
				l.int("valid_hours", m.ValidHours)
			}
			l.end(h.Start)
		}
	}
	for _, s := range o.Statements {
		l.start(MeasurementStatement, "park", park, "period", s.Period, "tenant", s.Tenant)
		l.float("steam_mass_t", s.SteamMass)
		l.float("steam_energy_gj", s.Steam)
		l.float("loss_share_gj", s.LossShare)
		l.float("electric_energy_mwh", s.Electric)
		l.int("hours", s.Hours)
		l.int("valid_hours", s.ValidHours)
		l.int("expected_hours", s.ExpectedHours)
		l.bool("complete", s.Complete())
		l.end(s.Start)
	}
	return l.b
}

package ingest

import (
	"math"
	"strconv"

	"github.com/eipgw/eipgw/config"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// Schema of raw readings in InfluxDB (documented in docs/schema.md):
//
//	measurement  device kind (chp, cems, bds, boiler, steam_meter, ...)
//	tags         park, site, gateway, device, tenant (when set)
//	fields       <point>       for each point of quality good: integer for
//	                           an exact integer point (payload integer),
//	                           float otherwise
//	             <point>_q     string quality, for each point not good, and
//	                           out_of_range for an integer above 2^63-1
//	             batch_seq     integer, the gateway's batch sequence number
//	             batch_seq_<k> the same, of part k >= 1 of a split poll
//	                           (the parts share device and time: one point)
//	time         poll time, millisecond precision
//
// A batch written twice yields the same series, time and fields, so the
// second write replaces the first with identical values (idempotent).

const (
	// QualitySuffix is appended to a point name for its quality field.
	QualitySuffix = config.QualitySuffix
	// SeqField holds the batch sequence number.
	SeqField = config.SeqField
)

// Names are escaped by influxwrite, the one set of line-protocol rules
// of eipgw: what line protocol cannot carry in a name (control
// characters, backslashes, a '#' starting a measurement) becomes U+FFFD,
// so a name can never end the line or leak into the next key. Validation
// (validate.go) refuses such names before a line is made; the writer is
// correct on its own all the same (FuzzAppendLineParsesBack).

// lineName replaces what line protocol cannot carry in a name.
func lineName(s string) string { return influxwrite.Name(s) }

// escapeTag escapes a tag key, tag value or field key.
func escapeTag(s string) string { return influxwrite.EscapeKey(s) }

// appendField appends the field of one point: its value if good, else its
// quality. An integer point is an integer field (123i) and a float point a
// float field, so a point's field type follows its register type, never
// its value. InfluxDB 1.8 refuses unsigned fields (123u: "invalid number"
// unless built with the uint tag, which released builds are not), so a
// uint64 value above 2^63-1 cannot be stored in the point's integer field:
// it is written as quality out_of_range, visible and countable, never
// wrapped, rounded or stored as another type.
func appendField(dst []byte, p *batch.Point) []byte {
	dst = influxwrite.AppendKey(dst, p.Name)
	quality := p.Quality
	switch {
	case quality != batch.Good:
	case p.Kind == batch.IntValue:
		dst = append(dst, '=')
		dst = strconv.AppendInt(dst, p.Int, 10)
		return append(dst, 'i')
	case p.Kind == batch.UintValue && p.Uint <= math.MaxInt64:
		dst = append(dst, '=')
		dst = strconv.AppendUint(dst, p.Uint, 10)
		return append(dst, 'i')
	case p.Kind == batch.UintValue:
		quality = batch.OutOfRange
	case p.Decimal != "":
		// The payload's own decimal: InfluxDB reads it as the same
		// float64 as Value, and formatting Value again costs more than
		// decoding did.
		dst = append(dst, '=')
		return append(dst, p.Decimal...)
	default:
		dst = append(dst, '=')
		return strconv.AppendFloat(dst, p.Value, 'g', -1, 64)
	}
	dst = append(dst, QualitySuffix+`="`...)
	dst = influxwrite.AppendString(dst, quality)
	return append(dst, '"')
}

// appendLine appends one line-protocol line for b to dst.
func appendLine(dst []byte, park string, b *batch.Batch) []byte {
	dst = influxwrite.AppendMeasurement(dst, b.Kind)
	tag := func(k, v string) {
		if v == "" {
			return
		}
		dst = append(dst, ',')
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = influxwrite.AppendKey(dst, v)
	}
	// Tag keys in lexical order, as InfluxDB stores them.
	tag("device", b.Device)
	tag("gateway", b.Gateway)
	tag("park", park)
	tag("site", b.Site)
	tag("tenant", b.Tenant)
	dst = append(dst, ' ')
	for i := range b.Points {
		dst = appendField(dst, &b.Points[i])
		dst = append(dst, ',')
	}
	if b.Part == 0 {
		dst = append(dst, SeqField+"="...)
	} else {
		// A later part of a split poll: the parts are one point in
		// InfluxDB, each number in a field of its own.
		dst = append(dst, config.SeqFieldOf(b.Part)...)
		dst = append(dst, '=')
	}
	dst = strconv.AppendUint(dst, b.Seq, 10)
	dst = append(dst, 'i', ' ')
	dst = strconv.AppendInt(dst, b.Time.UnixMilli(), 10)
	return dst
}

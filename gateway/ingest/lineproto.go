package ingest

import (
	"strconv"
	"strings"

	"github.com/eipgw/eipgw/gateway/batch"
)

// Schema of raw readings in InfluxDB (documented in docs/schema.md):
//
//	measurement  device kind (chp, cems, bds, boiler, steam_meter, ...)
//	tags         park, site, gateway, device, tenant (when set)
//	fields       <point>       float, for each point of quality good
//	             <point>_q     string quality, for each point not good
//	             batch_seq     integer, the gateway's batch sequence number
//	time         poll time, millisecond precision
//
// A batch written twice yields the same series, time and fields, so the
// second write replaces the first with identical values (idempotent).

const (
	// QualitySuffix is appended to a point name for its quality field.
	QualitySuffix = "_q"
	// SeqField holds the batch sequence number.
	SeqField = "batch_seq"
)

var (
	measurementEscaper = strings.NewReplacer(",", `\,`, " ", `\ `)
	keyEscaper         = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	stringEscaper      = strings.NewReplacer(`"`, `\"`, `\`, `\\`)
)

// appendLine appends one line-protocol line for b to dst.
func appendLine(dst []byte, park string, b *batch.Batch) []byte {
	dst = append(dst, measurementEscaper.Replace(b.Kind)...)
	tag := func(k, v string) {
		if v == "" {
			return
		}
		dst = append(dst, ',')
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, keyEscaper.Replace(v)...)
	}
	// Tag keys in lexical order, as InfluxDB stores them.
	tag("device", b.Device)
	tag("gateway", b.Gateway)
	tag("park", park)
	tag("site", b.Site)
	tag("tenant", b.Tenant)
	dst = append(dst, ' ')
	for _, p := range b.Points {
		name := keyEscaper.Replace(p.Name)
		if p.Quality == batch.Good {
			dst = append(dst, name...)
			dst = append(dst, '=')
			dst = strconv.AppendFloat(dst, p.Value, 'g', -1, 64)
		} else {
			dst = append(dst, name...)
			dst = append(dst, QualitySuffix+`="`...)
			dst = append(dst, stringEscaper.Replace(p.Quality)...)
			dst = append(dst, '"')
		}
		dst = append(dst, ',')
	}
	dst = append(dst, SeqField+"="...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	dst = append(dst, 'i', ' ')
	dst = strconv.AppendInt(dst, b.Time.UnixMilli(), 10)
	return dst
}

// Package batch is the MQTT data payload of eipgw: one JSON batch per device
// per poll, published by edge and consumed by ingest and park.
//
// The encoding is canonical: fields in a fixed order, no insignificant
// whitespace, numbers in their shortest round-trip form (float32 precision
// for values read as IEEE float32). The same batch always encodes to the same
// bytes, so a signature over them survives the trip through MQTT.
//
//	{"v":1,"gateway":"gw-1","seq":1042,"device":"chp-1","kind":"chp","site":"plant",
//	 "ts":"2026-11-26T18:00:01.000Z","points":[{"n":"electric_power","v":28.4,"u":"MW","q":"good"}]}
//
// site and tenant (omitted when empty) extend the DESIGN contract so that
// ingest can tag readings without a second source of truth.
package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Version is the payload format version carried in "v".
const Version = 1

// Qualities other than exception:<code>.
const (
	Good        = "good"
	CommError   = "comm_error"
	Timeout     = "timeout"
	OutOfRange  = "out_of_range"
	Stale       = "stale"
	Substituted = "substituted"
)

// Point is one reading in a batch.
type Point struct {
	Name string
	// Value is meaningful when HasValue; a non-good point normally has none.
	Value    float64
	HasValue bool
	// Float32 marks a value read as IEEE float32: it is printed with float32
	// precision (28.4, not 28.399999618530273).
	Float32 bool
	Unit    string
	Quality string
}

// Batch is one poll of one device.
type Batch struct {
	Gateway string
	Seq     uint64
	Device  string
	Kind    string
	Site    string
	Tenant  string
	// Time is the poll time; it is encoded in UTC with millisecond precision.
	Time   time.Time
	Points []Point
}

// TimeLayout is the layout of "ts": RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// AppendJSON appends the canonical encoding of b to dst.
func (b *Batch) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendString(dst, b.Gateway)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	dst = append(dst, `,"device":`...)
	dst = appendString(dst, b.Device)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, b.Kind)
	if b.Site != "" {
		dst = append(dst, `,"site":`...)
		dst = appendString(dst, b.Site)
	}
	if b.Tenant != "" {
		dst = append(dst, `,"tenant":`...)
		dst = appendString(dst, b.Tenant)
	}
	dst = append(dst, `,"ts":"`...)
	dst = b.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `","points":[`...)
	for i := range b.Points {
		p := &b.Points[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"n":`...)
		dst = appendString(dst, p.Name)
		if p.HasValue && !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			dst = append(dst, `,"v":`...)
			bits := 64
			if p.Float32 {
				bits = 32
			}
			dst = strconv.AppendFloat(dst, p.Value, 'g', -1, bits)
		}
		if p.Unit != "" {
			dst = append(dst, `,"u":`...)
			dst = appendString(dst, p.Unit)
		}
		dst = append(dst, `,"q":`...)
		dst = appendString(dst, p.Quality)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

const hexDigits = "0123456789abcdef"

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// wire is the decoded JSON shape.
type wire struct {
	V       *int    `json:"v"`
	Gateway string  `json:"gateway"`
	Seq     *uint64 `json:"seq"`
	Device  string  `json:"device"`
	Kind    string  `json:"kind"`
	Site    string  `json:"site"`
	Tenant  string  `json:"tenant"`
	TS      string  `json:"ts"`
	Points  []struct {
		N string   `json:"n"`
		V *float64 `json:"v"`
		U string   `json:"u"`
		Q string   `json:"q"`
	} `json:"points"`
}

// ErrInvalid wraps every decoding failure.
var ErrInvalid = errors.New("invalid batch")

// Decode parses and validates a payload. Every error wraps ErrInvalid and
// names the offending field.
//
// Well-formed payloads take a fast path (one copy of the payload, no
// allocation per point); anything it does not handle — escapes in strings,
// unknown or repeated keys, nulls, invalid input — goes through
// encoding/json, which decides and explains.
func Decode(data []byte) (*Batch, error) {
	if b, ok := decodeFast(data); ok {
		return b, nil
	}
	return decodeSlow(data)
}

// decodeSlow is Decode through encoding/json.
func decodeSlow(data []byte) (*Batch, error) {
	if err := checkStrict(data); err != nil {
		return nil, err
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	bad := func(format string, args ...any) (*Batch, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case w.V == nil:
		return bad("missing \"v\"")
	case *w.V != Version:
		return bad("unsupported version v=%d (want %d)", *w.V, Version)
	case w.Gateway == "":
		return bad("missing \"gateway\"")
	case w.Seq == nil || *w.Seq == 0:
		return bad("missing or zero \"seq\"")
	case w.Device == "":
		return bad("missing \"device\"")
	case w.Kind == "":
		return bad("missing \"kind\"")
	case len(w.Points) == 0:
		return bad("no points")
	}
	ts, err := time.Parse(time.RFC3339Nano, w.TS)
	if err != nil {
		return bad("\"ts\" %q is not an RFC 3339 time", w.TS)
	}
	b := &Batch{
		Gateway: w.Gateway, Seq: *w.Seq, Device: w.Device, Kind: w.Kind,
		Site: w.Site, Tenant: w.Tenant, Time: ts.UTC(), Points: make([]Point, len(w.Points)),
	}
	seen := make(map[string]bool, len(w.Points))
	for i, p := range w.Points {
		switch {
		case p.N == "":
			return bad("points[%d]: missing \"n\"", i)
		case seen[p.N]:
			return bad("points[%d]: point %q appears twice", i, p.N)
		case !ValidQuality(p.Q):
			return bad("points[%d] (%s): unknown quality %q", i, p.N, p.Q)
		case p.Q == Good && p.V == nil:
			return bad("points[%d] (%s): quality good without a value", i, p.N)
		case p.V != nil && p.Q != Good && p.Q != Stale && p.Q != Substituted:
			return bad("points[%d] (%s): quality %s must not carry a value", i, p.N, p.Q)
		}
		seen[p.N] = true
		b.Points[i] = Point{Name: p.N, Unit: p.U, Quality: p.Q}
		if p.V != nil {
			b.Points[i].Value, b.Points[i].HasValue = *p.V, true
		}
	}
	return b, nil
}

// ValidQuality reports whether q is one of the contract's qualities.
func ValidQuality(q string) bool {
	switch q {
	case Good, CommError, Timeout, OutOfRange, Stale, Substituted:
		return true
	}
	code, ok := strings.CutPrefix(q, "exception:")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(code)
	return err == nil && n >= 1 && n <= 255 && strconv.Itoa(n) == code
}

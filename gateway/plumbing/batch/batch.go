// Package batch is the MQTT data payload of eipgw: one JSON batch per device
// per poll, published by edge and consumed by ingest and park.
//
// The encoding is canonical: fields in a fixed order, no insignificant
// whitespace, numbers in their shortest round-trip form (float32 precision
// for values read as IEEE float32). The same batch always encodes to the same
// bytes, so a signature over them survives the trip through MQTT.
//
//	{"v":2,"gateway":"gw-1","seq":1042,"device":"chp-1","kind":"chp","site":"plant",
//	 "ts":"2026-11-26T18:00:01.000Z","points":[{"n":"electric_power","v":28.4,"u":"MW","q":"good"},
//	 {"n":"running","v":1,"u":"1","q":"good"},{"n":"valve","v":0.0,"u":"%","q":"good"}]}
//
// Integers are exact (version 2): a value is an integer token (digits, no
// '.', no exponent) exactly when it is an integer reading (int64, or uint64
// above the int64 range), and a float always has a '.' or an exponent
// (0.0, 250.0, 1e+06). Version 1 payloads, in which every number is a float,
// are still read.
//
// site and tenant (omitted when empty) extend the DESIGN contract so that
// ingest can tag readings without a second source of truth.
package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/eipgw/eipgw/drivers"
	f32fmt "github.com/eipgw/eipgw/gateway/plumbing/batch/internal/f32"
)

// Version is the payload format version written in "v". Decode reads it
// and version 1, whose numbers are all floats.
const Version = 2

// legacyVersion is the version before exact integers.
const legacyVersion = 1

// Qualities other than exception:<code>: the driver contract's vocabulary
// (package drivers), as the strings the payload carries.
const (
	Good        = string(drivers.Good)
	CommError   = string(drivers.CommError)
	Timeout     = string(drivers.Timeout)
	OutOfRange  = string(drivers.OutOfRange)
	Stale       = string(drivers.Stale)
	Substituted = string(drivers.Substituted)
)

// ValueKind says in which form a point's value is exact.
type ValueKind uint8

const (
	// FloatValue: the value is Value.
	FloatValue ValueKind = iota
	// IntValue: the value is exactly Int; Value holds its nearest float64.
	IntValue
	// UintValue: the value is exactly Uint; Value holds its nearest
	// float64. Decode yields it only above the int64 range.
	UintValue
)

// Point is one reading in a batch.
type Point struct {
	Name string
	// Value is meaningful when HasValue; a non-good point normally has none.
	// For an integer point it is the nearest float64 of Int or Uint, for
	// consumers that compute with it.
	Value float64
	// Int or Uint hold the exact value when Kind is IntValue or UintValue:
	// it is encoded as a JSON integer.
	Int      int64
	Uint     uint64
	Kind     ValueKind
	HasValue bool
	// Float32 marks a value read as IEEE float32: it is printed with float32
	// precision (28.4, not 28.399999618530273).
	Float32 bool
	Unit    string
	Quality string
	// Decimal is the text of a float value as the payload wrote it, when
	// that is a plain decimal (digits, a point, digits; no exponent) of at
	// most MaxDecimal characters:
	// Value is the float64 nearest to it, and every reader of a decimal
	// (InfluxDB's line protocol included) rounds it to the same Value, so
	// it can be passed on instead of formatting Value again. Empty
	// otherwise; set only by Decode.
	Decimal string
}

// Batch is one poll of one device.
type Batch struct {
	Gateway string
	Seq     uint64
	// Part is the index of the batch among the parts of a split poll
	// (more points than edge.max_batch_points): 0 for a whole poll and
	// for the first part ("part" is then left out), 1, 2, ... for the
	// others, which follow with consecutive sequence numbers and the same
	// poll time.
	Part int
	// Prev and Key (omitted when empty) chain and name the signing key of
	// a signed batch: the hex hash of the gateway's previous batch and the
	// key id; Sig is the base64 signature that follows the points. Package
	// evidence writes and checks them; their bytes are the payload's.
	Prev   string
	Key    string
	Sig    string
	Device string
	Kind   string
	Site   string
	Tenant string
	// Time is the poll time; it is encoded in UTC with millisecond precision.
	Time   time.Time
	Points []Point
}

// TimeLayout is the layout of "ts": RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// MaxClockSkew is how far ahead of the receiver's clock a batch's poll
// time may lie: a gateway's clock a few minutes fast (no NTP on the plant
// network yet) is still stored by ingest and counted by the park engine,
// both by this one bound.
const MaxClockSkew = 10 * time.Minute

// AppendJSON appends the canonical encoding of b to dst.
func (b *Batch) AppendJSON(dst []byte) []byte {
	dst = b.appendHead(dst)
	for i := range b.Points {
		p := &b.Points[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPoint(dst, p.Name, p.Unit, p.Quality, p.HasValue, p.Kind, p.Value, p.Int, p.Uint, p.Float32)
	}
	return append(dst, "]}"...)
}

// AppendReadingsJSON appends the canonical encoding of b with rs as its
// points (b.Points is not read): the same bytes as AppendJSON of the
// batch whose points are PointOf of each reading, without building those
// points. It does not allocate beyond growing dst.
func (b *Batch) AppendReadingsJSON(dst []byte, rs []drivers.Reading) []byte {
	dst = b.appendHead(dst)
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		kind := FloatValue
		switch {
		case !r.HasValue:
		case r.Kind == drivers.Int:
			kind = IntValue
		case r.Kind == drivers.Uint:
			kind = UintValue
		}
		dst = appendPoint(dst, r.Name, r.Unit, string(r.Quality), r.HasValue, kind, r.Float, r.Int, r.Uint, r.Float32)
	}
	return append(dst, "]}"...)
}

// PointOf is the batch point of one reading of the driver contract: a
// good reading carries its value, exact for an integer point (encoded as
// a JSON integer), at float32 precision for a float32 register; any other
// reading carries its quality only. It does not allocate.
func PointOf(r drivers.Reading) Point {
	p := Point{Name: r.Name, Unit: r.Unit, Quality: string(r.Quality)}
	if !r.HasValue {
		return p
	}
	p.Value, p.HasValue = r.Float, true
	switch r.Kind {
	case drivers.Int:
		p.Kind, p.Int = IntValue, r.Int
	case drivers.Uint:
		p.Kind, p.Uint = UintValue, r.Uint
	default:
		p.Float32 = r.Float32
	}
	return p
}

// appendHead appends the members before the points and the points'
// opening bracket.
func (b *Batch) appendHead(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"gateway":`...)
	dst = appendString(dst, b.Gateway)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	if b.Part > 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendInt(dst, int64(b.Part), 10)
	}
	if b.Prev != "" {
		dst = append(dst, `,"prev":`...)
		dst = appendString(dst, b.Prev)
	}
	if b.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, b.Key)
	}
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
	return append(dst, `","points":[`...)
}

// appendPoint appends one point's object: its value only when it has
// one (a float that is NaN or infinite has none in JSON), its unit only
// when not empty.
func appendPoint(dst []byte, name, unit, quality string, hasValue bool, kind ValueKind, v float64, i int64, u uint64, f32 bool) []byte {
	dst = append(dst, `{"n":`...)
	dst = appendString(dst, name)
	switch {
	case !hasValue:
	case kind == IntValue:
		dst = append(dst, `,"v":`...)
		dst = strconv.AppendInt(dst, i, 10)
	case kind == UintValue:
		dst = append(dst, `,"v":`...)
		dst = strconv.AppendUint(dst, u, 10)
	case !math.IsNaN(v) && !math.IsInf(v, 0):
		dst = append(dst, `,"v":`...)
		dst = appendFloat(dst, v, f32)
	}
	if unit != "" {
		dst = append(dst, `,"u":`...)
		dst = appendString(dst, unit)
	}
	dst = append(dst, `,"q":`...)
	dst = appendString(dst, quality)
	return append(dst, '}')
}

// appendFloat appends v in its shortest round-trip form (float32
// precision if f32), always as a float token: ".0" is added where the
// shortest form has neither a '.' nor an exponent.
func appendFloat(dst []byte, v float64, f32 bool) []byte {
	start := len(dst)
	if f32 {
		dst = f32fmt.AppendShortest(dst, float32(v))
	} else {
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	if f32 {
		v = float64(float32(v)) // the value written, which v may round to
	}
	if v != math.Trunc(v) {
		// Not an integer: its shortest form has a '.' or an exponent,
		// since every integer below 2^24 (2^53 for a float64) is exact
		// and so could not stand for it.
		return dst
	}
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// MaxDecimal bounds Point.Decimal: a longer decimal is formatted again
// (at most 24 characters), so a payload cannot make a line longer than
// its values need.
const MaxDecimal = 32

// number is the value of a JSON number token.
type number struct {
	kind  ValueKind
	f     float64
	i     int64
	u     uint64
	isInt bool // an integer token: no fraction, no exponent
	// decimal is a float token without exponent, as written.
	decimal string
}

// errIntRange is the error of an integer token beyond the 64-bit range.
var errIntRange = errors.New("integer outside the 64-bit range (-9223372036854775808 to 18446744073709551615)")

// parseNumber reads a JSON number token (valid JSON syntax). An integer
// token is exact: IntValue if it fits int64, UintValue if it fits uint64
// only, errIntRange beyond.
func parseNumber(tok string) (number, error) {
	isInt, exponent := true, false
	for i := 0; i < len(tok); i++ {
		switch tok[i] {
		case '.':
			isInt = false
		case 'e', 'E':
			isInt, exponent = false, true
		}
	}
	if !isInt {
		n := number{}
		if !exponent && len(tok) <= MaxDecimal {
			n.decimal = tok
		}
		if !exponent {
			if f, ok := shortDecimal(tok); ok {
				n.f = f
				return n, nil
			}
		}
		var err error
		n.f, err = strconv.ParseFloat(tok, 64)
		return n, err
	}
	if tok[0] == '-' {
		i, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return number{isInt: true}, errIntRange
		}
		return number{kind: IntValue, i: i, f: float64(i), isInt: true}, nil
	}
	u, err := strconv.ParseUint(tok, 10, 64)
	switch {
	case err != nil:
		return number{isInt: true}, errIntRange
	case u <= math.MaxInt64:
		return number{kind: IntValue, i: int64(u), f: float64(u), isInt: true}, nil
	}
	return number{kind: UintValue, u: u, f: float64(u), isInt: true}, nil
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// shortDecimal converts a JSON number without exponent of at most 15
// significant digits and 22 fraction digits, as strconv.ParseFloat does,
// without its general machinery: the digits as an integer (below 10^15,
// exact in a float64) divided by a power of ten (exact up to 10^22) is
// one correctly rounded operation, so the result is the float64 nearest
// to the decimal (Clinger's fast path, which strconv takes for these too).
// ok is false for any other token.
func shortDecimal(tok string) (f float64, ok bool) {
	i, neg := 0, false
	if i < len(tok) && tok[i] == '-' {
		i, neg = 1, true
	}
	var mant uint64
	digits, frac, point := 0, 0, false
	for ; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.' && !point:
			point = true
			continue
		case c < '0' || c > '9':
			return 0, false
		}
		if point {
			frac++
		}
		if mant == 0 && c == '0' {
			continue // a leading zero is no significant digit
		}
		if digits++; digits > 15 {
			return 0, false
		}
		mant = mant*10 + uint64(c-'0')
	}
	if frac >= len(exactPow10) {
		return 0, false
	}
	f = float64(mant) / exactPow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// set stores n as p's value.
func (n number) set(p *Point) {
	p.Value, p.Kind, p.Int, p.Uint, p.HasValue, p.Decimal = n.f, n.kind, n.i, n.u, true, n.decimal
}

// asLegacy makes the integer points of a version 1 payload floats, as
// that version read every number.
func asLegacy(ps []Point) {
	for i := range ps {
		ps[i].Kind, ps[i].Int, ps[i].Uint = FloatValue, 0, 0
	}
}

// rawNumber keeps a point value's JSON text for parseNumber.
type rawNumber string

func (r *rawNumber) UnmarshalJSON(b []byte) error {
	*r = rawNumber(b)
	return nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string: quote, backslash and
// control characters escaped, every other byte as it is (s must be UTF-8
// for the result to be JSON).
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

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
	Part    *int64  `json:"part"`
	Prev    string  `json:"prev"`
	Key     string  `json:"key"`
	Device  string  `json:"device"`
	Kind    string  `json:"kind"`
	Site    string  `json:"site"`
	Tenant  string  `json:"tenant"`
	TS      string  `json:"ts"`
	Points  []struct {
		N string     `json:"n"`
		V *rawNumber `json:"v"`
		U string     `json:"u"`
		Q string     `json:"q"`
	} `json:"points"`
	Sig string `json:"sig"`
}

// ErrInvalid wraps every decoding failure.
var ErrInvalid = errors.New("invalid batch")

// MaxPoints is the most points a batch may carry: ten times the largest
// edge.max_batch_points, so that a batch of an edge that does not split
// its polls (120,000 points, 5 MB) is still taken.
const MaxPoints = 1_000_000

// MaxParts bounds a batch's part index: a poll of at most MaxPoints
// points split one point a batch.
const MaxParts = MaxPoints

// ErrTooManyPoints is the error of a batch of more than MaxPoints points,
// found while decoding: the points past the limit are not decoded. It
// wraps ErrInvalid.
var ErrTooManyPoints = fmt.Errorf("%w: more than %d points", ErrInvalid, MaxPoints)

// maxErrorText is the most of a payload's string an error message quotes.
const maxErrorText = 80

// pointLimit is MaxPoints, lowered by tests.
var pointLimit = MaxPoints

// Decode parses and validates a payload. Every error wraps ErrInvalid and
// names the offending field.
//
// Well-formed payloads take a fast path (one copy of the payload, no
// allocation per point); anything it does not handle — escapes in strings,
// unknown or repeated keys, nulls, invalid input — goes through
// encoding/json, which decides and explains.
func Decode(data []byte) (*Batch, error) {
	return DecodeReuse(data, nil)
}

// DecodeReuse is Decode for a caller that decodes batch after batch and
// keeps nothing of a batch's points once it decodes the next: the points
// are written into the array of pts when it is large enough (the batches
// eipgw edges produce), instead of a new one per batch.
func DecodeReuse(data []byte, pts []Point) (*Batch, error) {
	if b, ok := decodeFast(string(data), pts, nil); ok { // one copy; every string of b is a slice of it
		return b, nil
	}
	return decodeSlow(data)
}

// DecodeShared is DecodeReuse without its copy of data: the batch's
// strings (names, units, qualities, decimals, identifiers) share data's
// memory, so data must not change for as long as the batch or any of its
// strings is in use. For a consumer that is handed each payload for good,
// as an MQTT client hands over a message's. names, when not nil,
// remembers each device's names from batch to batch, so that a batch with
// the names of the device's last one is known free of repeated names
// without a set of them (see Names).
func DecodeShared(data []byte, pts []Point, names *Names) (*Batch, error) {
	b, ok, tooMany := decodeFastLimited(unsafe.String(unsafe.SliceData(data), len(data)), pts, names)
	switch {
	case ok:
		return b, nil
	case tooMany:
		return nil, ErrTooManyPoints
	}
	return decodeSlow(data)
}

// decodeSlow is Decode through encoding/json.
func decodeSlow(data []byte) (*Batch, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty payload (%d bytes)", ErrInvalid, len(data))
	}
	if err := checkStrict(data); err != nil {
		return nil, err
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return nil, fmt.Errorf("%w: %v, at byte %d", ErrInvalid, err, syntax.Offset)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("%w: %v, at byte %d", ErrInvalid, err, typ.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("%w: the payload ends inside the JSON object, after %d bytes", ErrInvalid, len(data))
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	bad := func(format string, args ...any) (*Batch, error) {
		// The payload's strings are cut to a readable length: a name or
		// quality of 100 kB makes no error message of 100 kB.
		for i, a := range args {
			if s, ok := a.(string); ok && len(s) > maxErrorText {
				args[i] = fmt.Sprintf("%s… (%d bytes)", s[:maxErrorText], len(s))
			}
		}
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case w.V == nil:
		return bad("missing \"v\"")
	case *w.V != Version && *w.V != legacyVersion:
		return bad("unsupported version v=%d (want %d or %d)", *w.V, Version, legacyVersion)
	case w.Gateway == "":
		return bad("missing \"gateway\"")
	case w.Seq == nil || *w.Seq == 0:
		return bad("missing or zero \"seq\"")
	case w.Part != nil && (*w.Part < 1 || *w.Part > MaxParts):
		return bad("\"part\" %d out of range 1-%d (a whole poll and a split poll's first part leave it out)", *w.Part, MaxParts)
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
	if ts.Nanosecond()%int(time.Millisecond) != 0 {
		// InfluxDB stores milliseconds: two batches of a device 0.1 ms
		// apart would be one point there, the later overwriting the
		// earlier, while the park engine counted both.
		return bad("\"ts\" %q is finer than a millisecond, the precision of the contract", w.TS)
	}
	part := 0
	if w.Part != nil {
		part = int(*w.Part)
	}
	b := &Batch{
		Gateway: w.Gateway, Seq: *w.Seq, Part: part, Prev: w.Prev, Key: w.Key, Sig: w.Sig, Device: w.Device, Kind: w.Kind,
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
		if p.V == nil {
			continue
		}
		tok := string(*p.V)
		if c := tok[0]; c != '-' && (c < '0' || c > '9') {
			return bad("points[%d] (%s): \"v\" is not a number: %s", i, p.N, tok)
		}
		n, err := parseNumber(tok)
		if err != nil && n.isInt && *w.V == legacyVersion {
			n.f, err = strconv.ParseFloat(tok, 64) // version 1: every number is a float
		}
		if err != nil {
			return bad("points[%d] (%s): \"v\" %s: %v", i, p.N, tok, err)
		}
		n.set(&b.Points[i])
	}
	if *w.V == legacyVersion {
		asLegacy(b.Points)
	}
	return b, nil
}

// ValidQuality reports whether q is one of the contract's qualities.
func ValidQuality(q string) bool { return drivers.Quality(q).Valid() }

package opcua

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Severity bits of an OPC UA status code (Part 4, 7.39): 00 good,
// 01 uncertain, 10 or 11 bad.
const (
	severityMask      = 0xC0000000
	severityUncertain = 0x40000000
	subCodeMask       = 0xFFFF0000
)

// Quality maps an OPC UA status code to the contract's vocabulary and
// says whether the reading keeps the server's value:
//
//	Good, Good_*                                      good
//	Uncertain_LastUsableValue, _NoCommunication...    stale (value kept)
//	Uncertain_SubstituteValue, Uncertain_InitialValue substituted (value kept)
//	Uncertain, every other Uncertain_*                out_of_range (no value)
//	Bad_Timeout, Bad_RequestTimeout                   timeout
//	Bad_OutOfRange                                    out_of_range
//	every other Bad_*                                 comm_error
//
// The status code's name goes with the device's error, so a point marked
// comm_error can be told apart (Bad_NodeIdUnknown, Bad_SensorFailure...).
func Quality(sc ua.StatusCode) (q drivers.Quality, keepValue bool) {
	code := ua.StatusCode(uint32(sc) & subCodeMask)
	switch uint32(sc) & severityMask {
	case 0:
		return drivers.Good, true
	case severityUncertain:
		switch code {
		case ua.StatusUncertainLastUsableValue, ua.StatusUncertainNoCommunicationLastUsableValue:
			return drivers.Stale, true
		case ua.StatusUncertainSubstituteValue, ua.StatusUncertainInitialValue:
			return drivers.Substituted, true
		}
		return drivers.OutOfRange, false
	}
	switch code {
	case ua.StatusBadTimeout, ua.StatusBadRequestTimeout:
		return drivers.Timeout, false
	case ua.StatusBadOutOfRange:
		return drivers.OutOfRange, false
	}
	return drivers.CommError, false
}

// StatusName is a status code's symbolic name as the OPC UA specification
// writes it with its value, e.g. "BadNodeIdUnknown (0x80340000)".
func StatusName(sc ua.StatusCode) string {
	code := ua.StatusCode(uint32(sc) & subCodeMask)
	if d, ok := ua.StatusCodes[code]; ok && code != 0 {
		name := strings.TrimPrefix(d.Name, "Status")
		name = strings.ReplaceAll(name, "ID", "Id")
		return fmt.Sprintf("%s (0x%08X)", name, uint32(sc))
	}
	if code == 0 {
		return fmt.Sprintf("Good (0x%08X)", uint32(sc))
	}
	return fmt.Sprintf("0x%08X", uint32(sc))
}

// pointType is a point's value type: its InfluxDB field type, which must
// stay one for the point's whole life (InfluxDB refuses a second type for
// a field, and ingest dead-letters the whole batch).
type pointType uint8

const (
	typeUnknown pointType = iota // not known yet: the point reads no value
	typeInteger
	typeFloat
)

func (t pointType) String() string {
	switch t {
	case typeInteger:
		return config.OPCUATypeInteger
	case typeFloat:
		return config.OPCUATypeFloat
	}
	return "unknown"
}

// point is one configured node with its range and type.
type point struct {
	cfg config.OPCUANode
	// typ is the point's type: configured, or from its node's DataType
	// attribute (read by the first session that can, kept for the
	// source's life); from says which. typeErr is why typ is unknown.
	typ           pointType
	from, typeErr string
	// conflict: typeErr is a conflict with the kind's type (KindTypes).
	conflict bool
}

// newPoint is the point of a configured node, typed when the
// configuration gives its type.
func newPoint(n config.OPCUANode) point {
	p := point{cfg: n}
	switch n.Type {
	case config.OPCUATypeInteger:
		p.typ, p.from = typeInteger, "configured"
	case config.OPCUATypeFloat:
		p.typ, p.from = typeFloat, "configured"
	}
	return p
}

// integerTypes are the standard DataTypes (namespace 0) whose values a
// point keeps as exact integers: Boolean, the integer types, DateTime
// (nanoseconds) and Enumeration, with their standard subtypes.
var integerTypes = map[uint32]bool{
	id.Boolean: true, id.SByte: true, id.Byte: true, id.Int16: true, id.UInt16: true,
	id.Int32: true, id.UInt32: true, id.Int64: true, id.UInt64: true,
	id.Integer: true, id.UInteger: true, id.DateTime: true, id.UtcTime: true, id.Enumeration: true,
	id.IntegerID: true, id.Counter: true,
}

// dataTypeNames names the standard DataTypes a point is likely to have,
// for messages. (gopcua's id.Name knows every standard node, and its table
// alone would add 2 MB to the edge's binary and to its resident memory.)
var dataTypeNames = map[uint32]string{
	id.Boolean: "Boolean", id.SByte: "SByte", id.Byte: "Byte", id.Int16: "Int16", id.UInt16: "UInt16",
	id.Int32: "Int32", id.UInt32: "UInt32", id.Int64: "Int64", id.UInt64: "UInt64",
	id.Float: "Float", id.Double: "Double", id.String: "String", id.DateTime: "DateTime",
	id.ByteString: "ByteString", id.LocalizedText: "LocalizedText", id.BaseDataType: "BaseDataType",
	id.Number: "Number", id.Integer: "Integer", id.UInteger: "UInteger", id.Enumeration: "Enumeration",
	id.UtcTime: "UtcTime", id.Duration: "Duration", id.IntegerID: "IntegerId", id.Counter: "Counter",
	id.Decimal: "Decimal",
}

// dataTypeOf is the point type of a node whose DataType attribute is dt:
// integer for Boolean, SByte to UInt64, Integer, UInteger, DateTime,
// UtcTime and Enumeration (and IntegerId, Counter); float for Float,
// Double, Number, BaseDataType, String and any other. name names the
// DataType for messages.
func dataTypeOf(dt *ua.NodeID) (t pointType, name string) {
	if dt.Namespace() == 0 && dt.Type() <= ua.NodeIDTypeNumeric {
		n := dataTypeNames[dt.IntID()]
		if n == "" {
			n = dt.String()
		}
		if integerTypes[dt.IntID()] {
			return typeInteger, n
		}
		return typeFloat, n
	}
	return typeFloat, dt.String()
}

// setType sets an untyped point's type from the data value of its node's
// DataType attribute; a bad status or an odd value leaves it unknown,
// with the reason.
func (p *point) setType(dv *ua.DataValue) {
	switch {
	case dv == nil:
		p.typeErr = "DataType: no data value"
		return
	case dv.Status != ua.StatusOK:
		p.typeErr = "DataType: " + StatusName(dv.Status)
		return
	}
	var nid *ua.NodeID
	if dv.Value != nil {
		switch v := dv.Value.Value().(type) {
		case *ua.NodeID:
			nid = v
		case *ua.ExpandedNodeID:
			if v != nil {
				nid = v.NodeID
			}
		}
	}
	if nid == nil {
		p.typeErr = "DataType: not a node id"
		return
	}
	t, name := dataTypeOf(nid)
	p.typ, p.from, p.typeErr = t, "DataType "+name, ""
}

// coerce makes the value of reading r (converted from the node's value)
// a value of the point's type: an integer on a float point becomes its
// float64; a float on an integer point is kept if it is a whole number
// within the 64-bit range, and refused otherwise. A point never reads
// a value of another type.
func (p *point) coerce(r *drivers.Reading) error {
	switch p.typ {
	case typeFloat:
		if r.Kind != drivers.Float {
			r.Kind, r.Int, r.Uint = drivers.Float, 0, 0
		}
		return nil
	case typeInteger:
		if r.Kind != drivers.Float {
			return nil
		}
		f := r.Float
		r.Float32 = false
		switch {
		case f != math.Trunc(f):
			return fmt.Errorf("value %s is not a whole number: the point is %s (%s)", valueText(r), p.typ, p.from)
		case f >= -0x1p63 && f < 0x1p63:
			setInt(r, int64(f))
		case f >= 0 && f < 0x1p64:
			setUint(r, uint64(f))
		default:
			return fmt.Errorf("value %s is beyond the 64-bit integers: the point is %s (%s)", valueText(r), p.typ, p.from)
		}
		return nil
	}
	if p.conflict {
		return errors.New(p.typeErr)
	}
	why := p.typeErr
	if why == "" {
		why = "not read yet"
	}
	return fmt.Errorf("the node's data type is unknown (%s): set the point's type (integer or float), or the next session reads it again", why)
}

// convert turns a variant into the value of reading r: booleans 0 or 1
// and integers exact, Float marked float32, Double as is, DateTime as
// nanoseconds since the Unix epoch (exact: OPC UA counts 100 ns), a
// String holding a decimal number as that number (exact when it is an
// integer). Anything else is not representable: out_of_range, with an
// error saying why.
func convert(v any, r *drivers.Reading) error {
	r.HasValue = true
	r.Float32 = false
	switch x := v.(type) {
	case bool:
		r.Kind, r.Uint = drivers.Uint, 0
		if x {
			r.Uint = 1
		}
		r.Float = float64(r.Uint)
	case int8:
		setInt(r, int64(x))
	case int16:
		setInt(r, int64(x))
	case int32:
		setInt(r, int64(x))
	case int64:
		setInt(r, x)
	case uint8:
		setUint(r, uint64(x))
	case uint16:
		setUint(r, uint64(x))
	case uint32:
		setUint(r, uint64(x))
	case uint64:
		setUint(r, x)
	case float32:
		r.Kind, r.Float, r.Float32 = drivers.Float, float64(x), true
		if math.IsNaN(r.Float) || math.IsInf(r.Float, 0) {
			r.HasValue = false
			return fmt.Errorf("value %v is not a finite number", x)
		}
	case float64:
		r.Kind, r.Float = drivers.Float, x
		if math.IsNaN(x) || math.IsInf(x, 0) {
			r.HasValue = false
			return fmt.Errorf("value %v is not a finite number", x)
		}
	case time.Time:
		if x.Before(minTime) || x.After(maxTime) {
			r.HasValue = false
			return fmt.Errorf("date %s is outside the nanosecond range of 1678-2262", x.UTC().Format(time.RFC3339))
		}
		setInt(r, x.UnixNano())
	case string:
		return parseNumber(x, r)
	case nil:
		r.HasValue = false
		return fmt.Errorf("the server returned no value")
	default:
		r.HasValue = false
		return fmt.Errorf("a value of type %T is not a number", v)
	}
	return nil
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func setInt(r *drivers.Reading, v int64) {
	r.Kind, r.Int, r.Float = drivers.Int, v, float64(v)
}

func setUint(r *drivers.Reading, v uint64) {
	r.Kind, r.Uint, r.Float = drivers.Uint, v, float64(v)
}

// parseNumber reads a String variable holding a decimal number: an integer
// exactly (int64, or uint64 above its range), otherwise a finite float64.
func parseNumber(s string, r *drivers.Reading) error {
	t := strings.TrimSpace(s)
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		setInt(r, i)
		return nil
	}
	if u, err := strconv.ParseUint(t, 10, 64); err == nil {
		setUint(r, u)
		return nil
	}
	// The grammar of decimalInteger, as for an integer point: Go's own
	// literals ("1_000", "0x1p4", "Inf") are not a device's numbers.
	_, _, decimal := decimalInteger(t)
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || !decimal || math.IsNaN(f) || math.IsInf(f, 0) || t == "" {
		r.HasValue = false
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return fmt.Errorf("string %q is not a number", s)
	}
	r.Kind, r.Float = drivers.Float, f
	return nil
}

// parseInteger reads a String variable holding a decimal number for an
// integer point, exactly: its value must be a whole number within the
// 64-bit integers ("1e3" and "100.0" are, "100.5" and
// "12345678901234567.5" are not).
func (p *point) parseInteger(s string, r *drivers.Reading) error {
	t := strings.TrimSpace(s)
	if len(t) > 40 {
		t = t[:40] + "..."
	}
	text, whole, ok := decimalInteger(strings.TrimSpace(s))
	switch {
	case !ok:
		return fmt.Errorf("string %q is not a decimal number: the point is %s (%s)", t, p.typ, p.from)
	case !whole:
		return fmt.Errorf("value %s is not a whole number: the point is %s (%s)", t, p.typ, p.from)
	}
	r.HasValue, r.Float32 = true, false
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		setInt(r, i)
		return nil
	}
	if u, err := strconv.ParseUint(text, 10, 64); err == nil {
		setUint(r, u)
		return nil
	}
	return fmt.Errorf("value %s is beyond the 64-bit integers: the point is %s (%s)", t, p.typ, p.from)
}

// decimalInteger reads a decimal number ([+-]digits[.digits][e[+-]digits])
// exactly, without arithmetic: whole reports whether its value is a
// whole number, and text is then that number in plain digits (at most 21
// digits and a sign; a longer one is "9" repeated, beyond every 64-bit
// integer). ok is false for any other text.
func decimalInteger(s string) (text string, whole, ok bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", false, false
	}
	e := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		sign := 1
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			if exp[0] == '-' {
				sign = -1
			}
			exp = exp[1:]
		}
		if exp == "" || !allDigits(exp) {
			return "", false, false
		}
		exp = strings.TrimLeft(exp, "0")
		if len(exp) > 6 {
			exp = "999999" // far beyond any digit count this reads
		}
		n, _ := strconv.Atoi("0" + exp)
		e = sign * n
	}
	// value = digits × 10^e, digits without leading or trailing zeros
	digits := strings.TrimLeft(intPart+frac, "0")
	e -= len(frac)
	for digits != "" && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	switch {
	case digits == "":
		return "0", true, true
	case e < 0:
		return "", false, true
	case len(digits)+e > 21:
		digits, e = strings.Repeat("9", 22), 0
	}
	text = digits + strings.Repeat("0", e)
	if neg {
		text = "-" + text
	}
	return text, true, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// inRange reports whether the reading's value lies within [min, max],
// compared exactly for an integer.
func inRange(r *drivers.Reading, lo, hi *float64) bool {
	if lo != nil && cmpValue(r, *lo) < 0 {
		return false
	}
	if hi != nil && cmpValue(r, *hi) > 0 {
		return false
	}
	return true
}

// cmpValue compares the reading's value with a bound: -1, 0 or +1.
func cmpValue(r *drivers.Reading, b float64) int {
	switch r.Kind {
	case drivers.Int:
		switch {
		case b >= 0x1p63:
			return -1
		case b < -0x1p63:
			return 1
		}
		fl := math.Floor(b)
		bi := int64(fl)
		switch {
		case r.Int < bi:
			return -1
		case r.Int > bi:
			return 1
		case fl < b:
			return -1
		}
		return 0
	case drivers.Uint:
		switch {
		case b >= 0x1p64:
			return -1
		case b < 0:
			return 1
		}
		fl := math.Floor(b)
		bu := uint64(fl)
		switch {
		case r.Uint < bu:
			return -1
		case r.Uint > bu:
			return 1
		case fl < b:
			return -1
		}
		return 0
	}
	switch {
	case r.Float < b:
		return -1
	case r.Float > b:
		return 1
	}
	return 0
}

// fill sets reading r (name and unit already set) from one data value of
// node p; it returns the reason when the reading is not good.
func fill(r *drivers.Reading, p *point, dv *ua.DataValue) string {
	r.HasValue, r.Float32 = false, false
	r.Kind, r.Float, r.Int, r.Uint = drivers.Float, 0, 0, 0
	if dv == nil {
		r.Quality = drivers.CommError
		return "no data value"
	}
	q, keep := Quality(dv.Status)
	r.Quality = q
	var why string
	if q != drivers.Good {
		why = StatusName(dv.Status)
	}
	if !keep {
		return why
	}
	var v any
	if dv.Value != nil {
		v = dv.Value.Value()
	}
	if p.typ == typeUnknown {
		err := p.coerce(r)
		noValue(r, drivers.CommError)
		return err.Error()
	}
	if x, ok := v.(string); ok && p.typ == typeInteger {
		// Through a float64 the text's last digits and fraction would
		// be lost (12345678901234567.5 read as a whole number).
		if err := p.parseInteger(x, r); err != nil {
			noValue(r, drivers.OutOfRange)
			return err.Error()
		}
	} else if err := convert(v, r); err != nil {
		noValue(r, drivers.OutOfRange)
		return err.Error()
	}
	if err := p.coerce(r); err != nil {
		noValue(r, drivers.OutOfRange)
		return err.Error()
	}
	if !inRange(r, p.cfg.Min, p.cfg.Max) {
		why := fmt.Sprintf("value %s outside [%s, %s]", valueText(r), bound(p.cfg.Min), bound(p.cfg.Max))
		noValue(r, drivers.OutOfRange)
		return why
	}
	return why
}

// noValue makes r a reading of quality q without a value.
func noValue(r *drivers.Reading, q drivers.Quality) {
	r.Quality, r.HasValue, r.Float32 = q, false, false
	r.Kind, r.Float, r.Int, r.Uint = drivers.Float, 0, 0, 0
}

func valueText(r *drivers.Reading) string {
	switch r.Kind {
	case drivers.Int:
		return strconv.FormatInt(r.Int, 10)
	case drivers.Uint:
		return strconv.FormatUint(r.Uint, 10)
	}
	return strconv.FormatFloat(r.Float, 'g', -1, 64)
}

func bound(b *float64) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatFloat(*b, 'g', -1, 64)
}

// KindTypes is the type of each point name of each device kind in a
// process (Driver.Types): the first device of a kind whose point is typed
// (configured, or its node's DataType read) sets it. A point of another
// device of that kind whose node's DataType differs (an Int32 there, a
// Double here) reads no value, naming the conflict and its cure (the
// point's type set on every device of the kind): written, it would make
// InfluxDB refuse each of that device's batches whole (one field of one
// measurement, two types), its good points with it.
type KindTypes struct {
	mu sync.Mutex
	m  map[[2]string]kindType
}

type kindType struct {
	t      pointType
	device string
}

// settle records the type of p, a point of device d just typed, for its
// kind and name, or, when the kind's point has another type already and
// p's comes from its node, leaves p untyped with the conflict as the
// reason. A configured type is the configuration's word and stays
// (validation refuses two configured types for one kind's point).
func (k *KindTypes) settle(d config.Device, p *point) {
	if k == nil || p.typ == typeUnknown || d.OPCUA == nil {
		return
	}
	key := [2]string{d.OPCUA.Kind, p.cfg.Name}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[[2]string]kindType{}
	}
	have, ok := k.m[key]
	switch {
	case !ok:
		k.m[key] = kindType{p.typ, d.Name}
	case have.t != p.typ && p.from != "configured":
		p.typeErr = fmt.Sprintf("point %s of kind %s is %s on device %s, and this node's %s would make it %s, which InfluxDB refuses: set the point's type (integer or float) on every device of kind %s",
			p.cfg.Name, d.OPCUA.Kind, have.t, have.device, p.from, p.typ, d.OPCUA.Kind)
		p.typ, p.from, p.conflict = typeUnknown, "", true
	}
}

// register records the configured types of devs, so that devices typed
// from their nodes later take them.
func (k *KindTypes) register(devs []*device) {
	for _, d := range devs {
		for i := range d.points {
			if d.points[i].from == "configured" {
				k.settle(d.cfg, &d.points[i])
			}
		}
	}
}

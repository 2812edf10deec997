package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/eipgw/eipgw/drivers"
)

// Table is a Modbus register table.
type Table uint8

const (
	Holding  Table = iota // holding registers, function code 3
	Input                 // input registers, function code 4
	Coil                  // coils, function code 1
	Discrete              // discrete inputs, function code 2
)

var tables = map[string]Table{"holding": Holding, "input": Input, "coil": Coil, "discrete": Discrete}

func (t Table) String() string {
	switch t {
	case Input:
		return "input"
	case Coil:
		return "coil"
	case Discrete:
		return "discrete"
	}
	return "holding"
}

// Bits reports whether the table holds single bits (coils, discrete
// inputs) rather than 16-bit registers.
func (t Table) Bits() bool { return t == Coil || t == Discrete }

// FunctionCode is the Modbus function code that reads the table.
func (t Table) FunctionCode() byte {
	switch t {
	case Input:
		return fcReadInput
	case Coil:
		return fcReadCoils
	case Discrete:
		return fcReadDiscrete
	}
	return fcReadHolding
}

type dataType uint8

const (
	typeInt16 dataType = iota
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat32
	typeFloat64
	typeBCD16  // 4 decimal digits in one register
	typeBCD32  // 8 decimal digits in two registers
	typeBool   // a coil, a discrete input or one bit of a register
	typeString // ASCII, two characters per register
)

var dataTypes = map[string]dataType{
	"int16": typeInt16, "uint16": typeUint16, "int32": typeInt32, "uint32": typeUint32,
	"int64": typeInt64, "uint64": typeUint64, "float32": typeFloat32, "float64": typeFloat64,
	"bcd16": typeBCD16, "bcd32": typeBCD32, "bool": typeBool, "string": typeString,
}

// typeList is the accepted type names, for error messages.
const typeList = "int16, uint16, int32, uint32, int64, uint64, float32, float64, bcd16, bcd32, bool, string"

// words is the number of registers of a numeric type (a bool is one bit
// or one register; a string's length is configured).
func (t dataType) words() int {
	if int(t) < len(typeWords) {
		return int(typeWords[t])
	}
	return 4
}

var typeWords = [...]uint8{
	typeInt16: 1, typeUint16: 1, typeBCD16: 1, typeBool: 1,
	typeInt32: 2, typeUint32: 2, typeFloat32: 2, typeBCD32: 2,
	typeInt64: 4, typeUint64: 4, typeFloat64: 4, typeString: 4,
}

// byteOrder names where the bytes A (most significant) .. of a value sit in
// the register stream. ABCD is Modbus's big-endian default.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // big-endian words, big-endian bytes
	orderCDAB                  // little-endian words (word swap)
	orderBADC                  // big-endian words, swapped bytes
	orderDCBA                  // little-endian
)

var byteOrders = map[string]byteOrder{"ABCD": orderABCD, "CDAB": orderCDAB, "BADC": orderBADC, "DCBA": orderDCBA}

// canonical rearranges the n registers of one value (as received, each
// already in host order from the big-endian wire) into big-endian byte order
// in dst (2*n bytes).
func (o byteOrder) canonical(dst []byte, regs []uint16) {
	n := len(regs)
	for i, r := range regs {
		w := i
		if o == orderCDAB || o == orderDCBA {
			w = n - 1 - i // word order reversed
		}
		hi, lo := byte(r>>8), byte(r)
		if o == orderBADC || o == orderDCBA {
			hi, lo = lo, hi
		}
		dst[2*w], dst[2*w+1] = hi, lo
	}
}

// fromCanonical is the inverse of canonical: it lays big-endian bytes src out
// as registers in this order.
func (o byteOrder) fromCanonical(regs []uint16, src []byte) {
	n := len(regs)
	for i := range regs {
		w := i
		if o == orderCDAB || o == orderDCBA {
			w = n - 1 - i
		}
		hi, lo := src[2*w], src[2*w+1]
		if o == orderBADC || o == orderDCBA {
			hi, lo = lo, hi
		}
		regs[i] = uint16(hi)<<8 | uint16(lo)
	}
}

// value is the integer whose big-endian bytes are the n registers of one
// value (as received, each already in host order from the big-endian wire)
// in this order, n at most 4: what canonical's bytes read big-endian are,
// without going through them.
func (o byteOrder) value(regs []uint16) uint64 {
	n := len(regs)
	if o == orderABCD && n == 2 { // float32, int32, uint32 in Modbus's default order
		return uint64(regs[0])<<16 | uint64(regs[1])
	}
	var u uint64
	for i := range n {
		r := regs[i]
		if o == orderCDAB || o == orderDCBA {
			r = regs[n-1-i] // word order reversed
		}
		if o == orderBADC || o == orderDCBA {
			r = bits.ReverseBytes16(r)
		}
		u = u<<16 | uint64(r)
	}
	return u
}

// raw decodes the registers of one value to float64 before scaling. An
// invalid BCD digit yields NaN.
func (pt *Point) raw(regs []uint16) float64 {
	if pt.dtype == typeBool {
		if pt.table.Bits() {
			return float64(regs[0] & 1)
		}
		return float64(regs[0] >> pt.bit & 1)
	}
	n := pt.dtype.words()
	u := pt.order.value(regs[:n])
	switch pt.dtype {
	case typeBCD16, typeBCD32:
		v, ok := bcdDigits(u, 4*n)
		if !ok {
			return math.NaN()
		}
		return float64(v)
	case typeInt16:
		return float64(int16(u))
	case typeUint16:
		return float64(uint16(u))
	case typeInt32:
		return float64(int32(u))
	case typeUint32:
		return float64(uint32(u))
	case typeInt64:
		return float64(int64(u))
	case typeUint64:
		return float64(u)
	case typeFloat32:
		return float64(math.Float32frombits(uint32(u)))
	default:
		return math.Float64frombits(u)
	}
}

// bcdDigits decodes the n packed BCD digits in the low 4n bits of u, most
// significant first; ok is false if a digit is above 9.
func bcdDigits(u uint64, n int) (uint64, bool) {
	var v uint64
	for i := n - 1; i >= 0; i-- {
		d := u >> (4 * i) & 0xF
		if d > 9 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// ValueKind says in which form a reading's value is exact.
type ValueKind uint8

const (
	// FloatValue: the value is Value, a float64.
	FloatValue ValueKind = iota
	// IntValue: the value is exactly Int; Value is its nearest float64.
	IntValue
	// UintValue: the value is exactly Uint; Value is its nearest float64.
	UintValue
)

func (k ValueKind) String() string {
	switch k {
	case IntValue:
		return "int"
	case UintValue:
		return "uint"
	}
	return "float"
}

// exactKind is the kind of a point's readings: an integer register type
// (int16, uint16, int32, uint32, int64, uint64, bcd16, bcd32, bool) read
// with scale 1 and offset 0 is exact, uint64 as UintValue and the others as
// IntValue (their whole range fits int64); anything scaled, offset or
// floating-point is FloatValue.
func exactKind(dt dataType, scale, offset float64) ValueKind {
	if scale != 1 || offset != 0 {
		return FloatValue
	}
	switch dt {
	case typeInt16, typeUint16, typeInt32, typeUint32, typeInt64, typeBCD16, typeBCD32, typeBool:
		return IntValue
	case typeUint64:
		return UintValue
	}
	return FloatValue
}

// rawBits decodes the registers of an integer point to its 64 bits: the
// two's complement of a signed value, sign-extended; ok is false for an
// invalid BCD digit.
func (pt *Point) rawBits(regs []uint16) (u uint64, ok bool) {
	if pt.dtype == typeBool {
		if pt.table.Bits() {
			return uint64(regs[0] & 1), true
		}
		return uint64(regs[0] >> pt.bit & 1), true
	}
	n := pt.dtype.words()
	u = pt.order.value(regs[:n])
	switch pt.dtype {
	case typeBCD16, typeBCD32:
		return bcdDigits(u, 4*n)
	case typeInt16:
		return uint64(int64(int16(u))), true
	case typeInt32:
		return uint64(int64(int32(u))), true
	}
	return u, true // uint16, uint32, int64, uint64
}

// decodeBits decodes a numeric point's registers for its reading: the
// value's 64 bits (an integer point's exact value, a signed one in two's
// complement; the float64 bits of any other) and whether it is good: false
// for a value out of range or not representable (quality out_of_range).
func (pt *Point) decodeBits(regs []uint16) (bits uint64, ok bool) {
	switch pt.kind {
	case IntValue:
		u, ok := pt.rawBits(regs)
		return u, ok && pt.intInRange(int64(u))
	case UintValue:
		u, ok := pt.rawBits(regs)
		return u, ok && pt.uintInRange(u)
	}
	if pt.dtype == typeString {
		return 0, true // as Decode; a string's reading is its text
	}
	v, ok := pt.scaled(regs)
	return math.Float64bits(v), ok
}

// goodReading sets c to the point's good reading of value bits (from
// decodeBits), in the contract's form: exact for an integer point, marked
// for an unscaled float32.
func (pt *Point) goodReading(c *drivers.Reading, bits uint64) {
	switch pt.kind {
	case IntValue:
		*c = drivers.Reading{Name: pt.Name, Unit: pt.Unit, Quality: Good, HasValue: true,
			Int: int64(bits), Float: float64(int64(bits)), Kind: drivers.Int}
	case UintValue:
		*c = drivers.Reading{Name: pt.Name, Unit: pt.Unit, Quality: Good, HasValue: true,
			Uint: bits, Float: float64(bits), Kind: drivers.Uint}
	default:
		*c = drivers.Reading{Name: pt.Name, Unit: pt.Unit, Quality: Good, HasValue: true,
			Float: math.Float64frombits(bits), Kind: drivers.Float, Float32: pt.fromF32}
	}
}

// intInRange and uintInRange compare an exact value with the point's
// [Min, Max] without rounding it to a float64.
func (pt *Point) intInRange(v int64) bool {
	return !pt.emptyRange && v >= pt.minInt && v <= pt.maxInt
}

func (pt *Point) uintInRange(v uint64) bool {
	return !pt.emptyRange && v >= pt.minUint && v <= pt.maxUint
}

// Decode returns the point's engineering value from its registers (regs
// starts at the point's first register; for coils and discrete inputs each
// element is one bit, 0 or 1) and whether it is usable: NaN, infinities,
// invalid BCD digits and values outside [Min, Max] are not. A string point
// decodes to 0 with ok true; its text comes from DecodeText. An exact
// integer point (ValueKind) returns the nearest float64 of its value, its
// range checked exactly.
func (pt *Point) Decode(regs []uint16) (v float64, inRange bool) {
	switch pt.kind {
	case IntValue, UintValue:
		u, ok := pt.rawBits(regs)
		switch {
		case !ok:
			return math.NaN(), false // an invalid BCD digit
		case pt.kind == UintValue:
			return float64(u), pt.uintInRange(u)
		}
		return float64(int64(u)), pt.intInRange(int64(u))
	}
	if pt.dtype == typeString {
		return 0, true
	}
	return pt.scaled(regs)
}

// scaled is a numeric point's value from its registers, scaled, and
// whether it is usable: finite and within [Min, Max]. (A NaN fails every
// comparison, and an infinity the first.)
func (pt *Point) scaled(regs []uint16) (v float64, ok bool) {
	// An offset of 0 is not added: -0 + 0 is +0, and a device's -0.0
	// would lose its sign.
	if v = pt.raw(regs) * pt.scale; pt.Offset != 0 {
		v += pt.Offset
	}
	return v, math.Abs(v) <= math.MaxFloat64 && v >= pt.minValue && v <= pt.maxValue
}

// Encode writes the registers that a device would hold for engineering value
// v (the inverse of Decode, rounding integers to nearest). regs must hold
// Words() registers. It is what the simulator serves.
func (pt *Point) Encode(regs []uint16, v float64) error {
	raw := (v - pt.Offset) / pt.scale
	switch pt.dtype {
	case typeBool:
		on := math.Round(raw) != 0
		switch {
		case pt.table.Bits():
			regs[0] = 0
			if on {
				regs[0] = 1
			}
		case on:
			regs[0] |= 1 << pt.bit
		default:
			regs[0] &^= 1 << pt.bit
		}
		return nil
	case typeString:
		return fmt.Errorf("point %s: a string is encoded with EncodeText", pt.Name)
	case typeBCD16, typeBCD32:
		r := math.Round(raw)
		limit := 1e4
		if pt.dtype == typeBCD32 {
			limit = 1e8
		}
		if !(r >= 0 && r < limit) {
			return fmt.Errorf("point %s: %g does not fit %s", pt.Name, v, pt.Type)
		}
		var b [4]byte
		n := 2 * pt.dtype.words()
		u := uint64(r)
		for i := n - 1; i >= 0; i-- {
			b[i] = byte(u%10) | byte(u/10%10)<<4
			u /= 100
		}
		pt.order.fromCanonical(regs[:n/2], b[:n])
		return nil
	}
	var b [8]byte
	n := pt.dtype.words()
	r := math.Round(raw)
	if math.IsNaN(r) && pt.dtype != typeFloat32 && pt.dtype != typeFloat64 {
		return fmt.Errorf("point %s: %g does not fit %s", pt.Name, v, pt.Type)
	}
	switch pt.dtype {
	case typeInt16:
		if r < math.MinInt16 || r > math.MaxInt16 {
			return fmt.Errorf("point %s: %g does not fit int16", pt.Name, v)
		}
		binary.BigEndian.PutUint16(b[:], uint16(int16(r)))
	case typeUint16:
		if r < 0 || r > math.MaxUint16 {
			return fmt.Errorf("point %s: %g does not fit uint16", pt.Name, v)
		}
		binary.BigEndian.PutUint16(b[:], uint16(r))
	case typeInt32:
		if r < math.MinInt32 || r > math.MaxInt32 {
			return fmt.Errorf("point %s: %g does not fit int32", pt.Name, v)
		}
		binary.BigEndian.PutUint32(b[:], uint32(int32(r)))
	case typeUint32:
		if r < 0 || r > math.MaxUint32 {
			return fmt.Errorf("point %s: %g does not fit uint32", pt.Name, v)
		}
		binary.BigEndian.PutUint32(b[:], uint32(r))
	case typeInt64:
		if r < math.MinInt64 || r >= 1<<63 {
			return fmt.Errorf("point %s: %g does not fit int64", pt.Name, v)
		}
		binary.BigEndian.PutUint64(b[:], uint64(int64(r)))
	case typeUint64:
		if r < 0 || r >= 1<<64 {
			return fmt.Errorf("point %s: %g does not fit uint64", pt.Name, v)
		}
		binary.BigEndian.PutUint64(b[:], uint64(r))
	case typeFloat32:
		binary.BigEndian.PutUint32(b[:], math.Float32bits(float32(raw)))
	default:
		binary.BigEndian.PutUint64(b[:], math.Float64bits(raw))
	}
	pt.order.fromCanonical(regs[:n], b[:2*n])
	return nil
}

// DecodeText returns a string point's text: two ASCII characters per
// register, the first in the high byte (order ABCD) or the low byte
// (BADC); it ends at the first NUL, trailing spaces are trimmed and bytes
// outside printable ASCII become '?'.
func (pt *Point) DecodeText(regs []uint16) string {
	n := pt.Words()
	var buf [2 * maxStringRegisters]byte
	b := buf[:0]
	for _, r := range regs[:n] {
		hi, lo := byte(r>>8), byte(r)
		if pt.order == orderBADC {
			hi, lo = lo, hi
		}
		b = append(b, hi, lo)
	}
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// EncodeText writes s into a string point's registers, NUL-padded; it is
// what the simulator and the tests serve.
func (pt *Point) EncodeText(regs []uint16, s string) error {
	n := pt.Words()
	if len(s) > 2*n {
		return fmt.Errorf("point %s: %q is longer than %d characters", pt.Name, s, 2*n)
	}
	for i := range regs[:n] {
		var hi, lo byte
		if 2*i < len(s) {
			hi = s[2*i]
		}
		if 2*i+1 < len(s) {
			lo = s[2*i+1]
		}
		if pt.order == orderBADC {
			hi, lo = lo, hi
		}
		regs[i] = uint16(hi)<<8 | uint16(lo)
	}
	return nil
}

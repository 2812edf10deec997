package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Table is a Modbus register table.
type Table uint8

const (
	Holding Table = iota // function code 3
	Input                // function code 4
)

var tables = map[string]Table{"holding": Holding, "input": Input}

func (t Table) String() string {
	if t == Input {
		return "input"
	}
	return "holding"
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
)

var dataTypes = map[string]dataType{
	"int16": typeInt16, "uint16": typeUint16, "int32": typeInt32, "uint32": typeUint32,
	"int64": typeInt64, "uint64": typeUint64, "float32": typeFloat32, "float64": typeFloat64,
}

func (t dataType) words() int {
	switch t {
	case typeInt16, typeUint16:
		return 1
	case typeInt32, typeUint32, typeFloat32:
		return 2
	}
	return 4
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

// raw decodes the registers of one value to float64 before scaling.
func (pt *Point) raw(regs []uint16) float64 {
	var b [8]byte
	n := pt.dtype.words()
	pt.order.canonical(b[:2*n], regs[:n])
	switch pt.dtype {
	case typeInt16:
		return float64(int16(binary.BigEndian.Uint16(b[:])))
	case typeUint16:
		return float64(binary.BigEndian.Uint16(b[:]))
	case typeInt32:
		return float64(int32(binary.BigEndian.Uint32(b[:])))
	case typeUint32:
		return float64(binary.BigEndian.Uint32(b[:]))
	case typeInt64:
		return float64(int64(binary.BigEndian.Uint64(b[:])))
	case typeUint64:
		return float64(binary.BigEndian.Uint64(b[:]))
	case typeFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[:])))
	default:
		return math.Float64frombits(binary.BigEndian.Uint64(b[:]))
	}
}

// Decode returns the point's engineering value from its registers (regs
// starts at the point's first register) and whether it is usable: NaN,
// infinities and values outside [Min, Max] are not.
func (pt *Point) Decode(regs []uint16) (v float64, inRange bool) {
	v = pt.raw(regs)*pt.scale + pt.Offset
	if math.IsNaN(v) || math.IsInf(v, 0) || v < pt.minValue || v > pt.maxValue {
		return v, false
	}
	return v, true
}

// Encode writes the registers that a device would hold for engineering value
// v (the inverse of Decode, rounding integers to nearest). regs must hold
// Words() registers. It is what the simulator serves.
func (pt *Point) Encode(regs []uint16, v float64) error {
	raw := (v - pt.Offset) / pt.scale
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

package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// ReadBlock reads quantity registers (or bits, in the coil and discrete
// tables) of table from protocol address on, from unit, with the bus's
// timeout: the engineer's probe. Each returned element is one register, or
// one bit (0 or 1).
func (b *Bus) ReadBlock(unit byte, table Table, address, quantity uint16) ([]uint16, error) {
	limit := uint16(maxRegistersPerRead)
	if table.Bits() {
		limit = maxBitsPerRead
	}
	if quantity < 1 || quantity > limit {
		return nil, fmt.Errorf("unit %d %s %d: count %d out of range 1-%d", unit, table, address, quantity, limit)
	}
	b.transport.setTimeout(b.timeout)
	b.setUnit(unit)
	r := &Read{Table: table, Address: address, Quantity: quantity}
	data, err := b.request(r)
	if err != nil {
		if classify(err) == CommError {
			b.transport.Close()
		}
		return nil, fmt.Errorf("unit %d %s %d+%d: %w", unit, table, address, quantity, err)
	}
	out := make([]uint16, quantity)
	for i := range out {
		if table.Bits() {
			out[i] = uint16(data[i/8] >> (i % 8) & 1)
		} else {
			out[i] = binary.BigEndian.Uint16(data[2*i:])
		}
	}
	return out, nil
}

// Interpretation is the value of the registers at one offset read as one
// type in one byte order.
type Interpretation struct {
	Type, Order string
	// Value is the decoded number; NaN for an invalid BCD digit.
	Value float64
	// Text is Value printed exactly ("-" for an invalid BCD digit).
	Text string
}

// Interpretations returns every numeric type in every byte order that fits
// in regs from its first register on (a one-register type has two orders
// only: ABCD and BADC).
func Interpretations(regs []uint16) []Interpretation {
	var out []Interpretation
	for _, typ := range []string{"int16", "uint16", "bcd16", "int32", "uint32", "float32", "bcd32", "int64", "uint64", "float64"} {
		dt := dataTypes[typ]
		if dt.words() > len(regs) {
			continue
		}
		for _, order := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
			if dt.words() == 1 && (order == "CDAB" || order == "DCBA") {
				continue
			}
			pt := Point{dtype: dt, order: byteOrders[order], words: dt.words(), scale: 1}
			v := pt.raw(regs)
			text := formatValue(typ, v)
			if dt == typeInt64 || dt == typeUint64 {
				var b [8]byte
				pt.order.canonical(b[:], regs[:4])
				u := binary.BigEndian.Uint64(b[:])
				text = strconv.FormatUint(u, 10)
				if dt == typeInt64 {
					text = strconv.FormatInt(int64(u), 10)
				}
			}
			out = append(out, Interpretation{Type: typ, Order: order, Value: v, Text: text})
		}
	}
	return out
}

// ASCII returns regs as text, two characters per register (first in the
// high byte, or the low byte when swapped), non-printable bytes as '.'.
func ASCII(regs []uint16, swapped bool) string {
	b := make([]byte, 0, 2*len(regs))
	for _, r := range regs {
		hi, lo := byte(r>>8), byte(r)
		if swapped {
			hi, lo = lo, hi
		}
		b = append(b, hi, lo)
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '.'
		}
	}
	return string(b)
}

// formatValue prints an interpreted value: integers in full, floats in
// their shortest form, an invalid BCD as "-".
func formatValue(typ string, v float64) string {
	switch {
	case math.IsNaN(v) && (typ == "bcd16" || typ == "bcd32"):
		return "-"
	case typ == "float32":
		return strconv.FormatFloat(v, 'g', -1, 32)
	case typ == "float64":
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

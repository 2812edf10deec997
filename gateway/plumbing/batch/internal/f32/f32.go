// Package f32 formats float32 values the way
// strconv.AppendFloat(dst, float64(f), 'g', -1, 32) does, byte for byte,
// in a fraction of the time.
//
// The digits come from an implementation of Schubfach, the shortest
// round-trip algorithm described by Raffaello Giulietti in "The Schubfach
// way to render doubles" (2020), specialised here for binary32. Of all the
// decimals that read back as the same float32, it picks one with the
// fewest significant digits; if several have that many, the one nearest
// to the exact binary value. strconv chooses the same decimal (on an
// exact tie between two candidates it mostly takes the even one, and
// AppendShortest reproduces its one exception), so what remains is the
// layout, which AppendShortest writes directly in strconv's shortest %g
// form instead of going through a general-purpose formatter.
//
// The scaling by powers of ten uses 128-bit multipliers (pow10.go): exact
// for 10^0 to 10^45, and rounded up, with the error bounded well inside
// what the algorithm's comparisons tolerate, for 10^-1 to 10^-31 (see
// roundOdd3). The package's tests compare it with strconv on millions of
// values; its exhaustive test, which compares all 2^32 bit patterns, runs
// on request with EIPGW_F32_EXHAUSTIVE=1.
package f32

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// AppendShortest appends f in the form
// strconv.AppendFloat(dst, float64(f), 'g', -1, 32) gives and returns the
// extended buffer: the fewest significant digits that read back as f, in
// %e form ("1.5e+07", "-2.5e-05") when the decimal exponent is below -4
// or at least 6, and in %f form ("0.001", "123456", "-17.25") otherwise.
// It does not allocate when dst has room for 16 more bytes, and it
// writes nothing past the end of what it appends. NaN and infinities are
// handed to strconv.
//
// The work is done in one function, in three steps: finding the
// decimal, laying out its text, appending that. (Split into functions,
// the calls and the spilling of registers around them add about an
// eighth to the instructions per value.)
func AppendShortest(dst []byte, f float32) []byte {
	u := math.Float32bits(f)
	biased := u >> 23 & 0xff
	fraction := u & (1<<23 - 1)
	if biased == 0xff {
		return strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
	}
	// f = ±c · 2^q with c the integer significand and q = biased-150;
	// subnormals have the q of biased = 1.
	c := fraction
	switch {
	case biased != 0:
		c |= 1 << 23
	case fraction != 0: // subnormal
		biased = 1
	default:
		if u>>31 != 0 {
			return append(dst, '-', '0')
		}
		return append(dst, '0')
	}

	// Step 1: the decimal d · 10^e that strconv picks for c · 2^q.
	//
	// Every decimal within half a gap of c · 2^q, on either side, reads
	// back as that float; the interval includes its ends when c is even,
	// because a tie rounds to the even significand. Measured in units of
	// 2^(q-2) the interval runs from 4c-2 to 4c+2, with the value itself
	// at 4c, except when the float below is nearer than the one above:
	// then the interval is narrower below, starting at 4c-1. That is the
	// case for powers of two (fraction 0) above the smallest normal.
	narrowBelow := fraction == 0 && biased > 1
	//
	// The scale 10^k is the largest power of ten no wider than the
	// interval. So the interval holds at least one multiple of 10^k (of
	// the two bracketing the value, the nearer one), and at most one
	// multiple of 10^(k+1), since 10^(k+1) is wider than the interval. If
	// that multiple of 10^(k+1) exists it is the answer: no decimal in
	// the interval can have fewer digits without also being a multiple
	// of 10^(k+1). Otherwise the answer has digits down to 10^k, and it
	// is whichever of the two multiples of 10^k bracketing the value is
	// inside and nearer.
	//
	// So first scale the three points by 10^-k, keeping two bits below
	// the units place (the factor 4 that makes up for the points' unit,
	// 2^(q-2)). The scaling for the exponent holds k and g, a 128-bit
	// number with 10^-k · 2^(q-2) · 4 ≈ g · 16 / 2^128. The scaled point
	// 4c is then (c << 6) · g / 2^128: a 192-bit product whose top word
	// is the integer part and whose two lower words are the fraction.
	//
	// Only the value itself is multiplied out. The ends are the same
	// product plus or minus g times the half-gap in the same units,
	// 2 << 4 (1 << 4 on the narrow lower side): g shifted left.
	p := &scalings[(biased<<1|uint32(b2u(narrowBelow)))&511]
	k := int(p.k)
	x := uint64(c) << 6
	var vv, vl, vu uint64
	if g := p.hi; p.lo == 0 {
		// The common case: g fits in one word, which it does for k
		// from -25 to 0 (f from about 10^-18 to 10^8) and for some
		// exponents with k = -26 or -27; 10^-k is exact in it. The
		// product's top word is the integer part and the word below it
		// the fraction (the lowest word is zero, as g's low word is).
		v1, v0 := bits.Mul64(x, g)
		g0, g1 := g<<5, g>>59
		u0, cu := bits.Add64(v0, g0, 0)
		u1 := v1 + g1 + cu
		if narrowBelow {
			g0, g1 = g<<4, g>>60
		}
		l0, bl := bits.Sub64(v0, g0, 0)
		l1 := v1 - g1 - bl
		// Round to odd (see roundOdd3): the integer part, with its
		// lowest bit set when the fraction is not zero.
		vv = v1 | b2u(v0 != 0)
		vl = l1 | b2u(l0 != 0)
		vu = u1 | b2u(u0 != 0)
	} else {
		vv, vl, vu = scaleTwoWords(x, p.hi, p.lo, narrowBelow, k > 0)
	}

	// Compare the ends of the interval with candidates, all multiples of
	// four in these units. The rounded-to-odd vl and vu give the same
	// answers as the exact ends would: an exact integer is kept as it
	// is, and anything between two integers becomes odd, so it can never
	// equal a multiple of four and lies on the same side of it as the
	// exact value does. The ends count as inside unless the interval is
	// open (c odd).
	open := uint64(c & 1)
	low := vl + open  // a candidate 4m is inside from below if low <= 4m
	high := vu - open // and from above if 4m <= high
	s := vv >> 2      // the multiple of 10^k at or below the value, in units of 10^k
	s10 := s / 10
	in10Below := b2u(low <= s10*40)
	in10Above := b2u(s10*40+40 <= high)

	// If neither multiple of 10^(k+1) qualifies, the answer is s or s+1,
	// and at least one of them is inside: take s+1 if s is outside, or
	// if both are inside and s+1 is nearer.
	//
	// The midpoint between them is 4s+2 in the scaled units. On a tie
	// strconv takes the even one, except for powers of two, where it
	// rounds half up. (A power of two can tie only when 2^(q+23) · 10^-k
	// is an odd multiple of 1/2, which for float32 happens for
	// 2^-12 = 0.000244140625 alone: strconv gives 0.00024414063.)
	//
	// Both outcomes are computed, and the choices are made with 0/1
	// integers rather than branches, because which way they go is hard
	// to predict.
	sInside := b2u(low <= s<<2)
	tInside := b2u(s<<2+4 <= high)
	tieUp := s&1 | b2u(narrowBelow)
	tNearer := b2u(vv&3+tieUp > 2)
	d := s + (sInside ^ 1 | tInside&tNearer)
	e := k
	if in10Below|in10Above != 0 {
		// The one multiple of 10^(k+1) inside (both cannot be). It
		// may end in more zeros; they are dropped below.
		d = s10 + in10Above
		e = k + 1
	}
	// Now 0 < d < 2·10^8, and d ends in a zero only if it is below 10^8.

	// Step 2: the text, at most 15 bytes, built in registers as a
	// 128-bit little-endian string: byte i of the text is byte i of lo
	// for i < 8, byte i-8 of hi after that. (Built in memory instead,
	// with overlapping stores, it would have the processor forward
	// stores to wider loads.) The masks on shift counts below change
	// nothing, the counts being less than 64, but spare the compiler the
	// code for larger ones.
	//
	// first holds the significant digits, the first one in the low byte,
	// with zero bytes after the last, up to eight of them; rest holds the
	// ninth, if any. A nine-digit d starts with a 1.
	var first, rest uint64
	var n int
	if d < 1e8 {
		// Eight digits with the leading zeros; the count of zero
		// digits at either end of it gives the length, and how many
		// zeros d ends in.
		w := asciiDigits8(uint32(d))
		v := w - asciiZeros // the digits' values
		lead := uint(bits.TrailingZeros64(v)) / 8
		trail := uint(bits.LeadingZeros64(v)) / 8
		first = w << (8 * trail & 63) >> (8 * (lead + trail) & 63)
		n = int(8 - lead - trail)
		e += int(trail)
	} else {
		w := asciiDigits8(uint32(d) - 1e8)
		first = w<<8 | '1'
		rest = w >> 56
		n = 9
	}

	// The number is 0.d₁d₂…dₙ · 10^point, and in scientific notation
	// d₁.d₂…dₙ · 10^(point-1). strconv uses %e when that exponent is
	// below -4 or at least 6 (the precision it uses for this decision
	// when formatting the shortest decimal).
	var lo, hi uint64
	var size int
	point := n + e
	switch {
	case point < -3 || point > 6:
		// d₁[.d₂…dₙ]e±XX; float32 exponents need at most two digits.
		x := point - 1
		sign := uint64('+')
		if x < 0 {
			sign = '-'
			x = -x
		}
		tens := uint64(x) * 103 >> 10 // x/10 for x < 100
		ones := uint64(x) - 10*tens
		exp := 'e' | sign<<8 | (tens+'0')<<16 | (ones+'0')<<24
		if n == 1 {
			lo, size = first|exp<<8, 5
			break
		}
		// Move d₂…dₙ up a byte to make room for the point.
		lo = first&0xff | '.'<<8 | (first&^0xff)<<8
		hi = rest<<8 | first>>56
		// Then the 4 bytes of exp go at byte n+1, which may be in
		// either word or straddle them.
		if b := uint(8 * (n + 1)); b < 64 {
			lo |= exp << (b & 63)
			hi |= exp >> ((64 - b) & 63)
		} else {
			hi |= exp << ((b - 64) & 63)
		}
		size = n + 5
	case point <= 0:
		// 0.ddd, 0.0ddd, 0.00ddd or 0.000ddd.
		s := uint(8*(2-point)) & 63
		lo = zeroPointZeros&(1<<s-1) | first<<s
		hi = rest<<s | first>>((64-s)&63)
		size = 2 - point + n
	case point < n:
		// ddd.ddd: the digits from d_point+1 on move up a byte.
		s := uint(8*point) & 63
		m := uint64(1)<<s - 1
		lo = first&m | '.'<<s | (first&^m)<<8
		hi = rest<<8 | first>>56
		size = n + 1
	default:
		// ddd000: n <= point <= 6.
		lo = first | asciiZeros<<(8*n&63)&(1<<(8*point&63)-1)
		size = point
	}
	if u>>31 != 0 {
		hi = hi<<8 | lo>>56
		lo = lo<<8 | '-'
		size++
	}

	// Step 3: append the first size bytes of lo, hi. With 16 bytes of
	// spare capacity, copy them with two overlapping stores, one from
	// the start and one ending at the end, which for text this short is
	// quicker than the memmove call of append. Either way nothing is
	// written past the new end of dst.
	end := len(dst)
	if cap(dst)-end < 16 {
		var b [16]byte
		le.PutUint64(b[:8], lo)
		le.PutUint64(b[8:], hi)
		return append(dst, b[:size]...)
	}
	out := (*[16]byte)(dst[end : end+16])
	switch {
	case size >= 8:
		// The bytes past size are zero, so for size 8, where hi is 0,
		// the second store repeats the first. The masks on the
		// indexes change nothing (size <= 15) but let the compiler drop
		// the bounds checks.
		le.PutUint64(out[:8], lo)
		t := uint(8*(size-8)) & 63
		le.PutUint64(out[(size-8)&7:], lo>>t|hi<<((64-t)&63))
	case size >= 4:
		le.PutUint32(out[:4], uint32(lo))
		le.PutUint32(out[(size-4)&7:], uint32(lo>>(8*(size-4)&63)))
	default:
		out[0] = byte(lo)
		out[(size/2)&3] = byte(lo >> (8 * (size / 2) & 63))
		out[(size-1)&3] = byte(lo >> (8 * (size - 1) & 63))
	}
	return dst[:end+size]
}

// b2u returns 1 for true and 0 for false, without a branch.
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// scaleTwoWords computes vv, vl and vu for AppendShortest when g, hi·2^64 + lo,
// needs two words, so the product has a top word for the integer part
// and two for the fraction. inexact says g is an approximation (k > 0).
func scaleTwoWords(x, hi, lo uint64, narrowBelow, inexact bool) (vv, vl, vu uint64) {
	hiOfLo, v0 := bits.Mul64(x, lo)
	hiOfHi, loOfHi := bits.Mul64(x, hi)
	v1, carry := bits.Add64(loOfHi, hiOfLo, 0)
	v2 := hiOfHi + carry

	g0, g1, g2 := lo<<5, hi<<5|lo>>59, hi>>59
	u0, cu0 := bits.Add64(v0, g0, 0)
	u1, cu1 := bits.Add64(v1, g1, cu0)
	u2 := v2 + g2 + cu1
	if narrowBelow {
		g0, g1, g2 = lo<<4, hi<<4|lo>>60, hi>>60
	}
	l0, bl0 := bits.Sub64(v0, g0, 0)
	l1, bl1 := bits.Sub64(v1, g1, bl0)
	l2 := v2 - g2 - bl1

	sticky := ^uint64(0)
	if inexact {
		sticky = inexactSticky
	}
	return roundOdd3(v2, v1, v0, sticky), roundOdd3(l2, l1, l0, sticky), roundOdd3(u2, u1, u0, sticky)
}

// inexactSticky selects the fraction bits that count when 10^-k is only
// approximated (k > 0): those worth 2^-80 and more. See roundOdd3.
const inexactSticky = ^uint64(1<<48 - 1)

// roundOdd3 rounds the 192-bit fixed-point number top + (mid·2^64 +
// low)/2^128 to odd: it returns the integer part, top, with its lowest
// bit set when the fraction is not zero. Only the bits of low that are
// set in sticky count.
//
// The number is x · g / 2^128 for an integer x < 2^31 (a point of the
// interval, shifted left by 4) and g the scaling's multiplier. When
// 10^-k is exact in it (k <= 0) the product is exact and any fraction
// bit counts, so sticky is all ones. When it is not (k > 0) g is rounded
// up by less than one, and the product exceeds the exact value by less
// than 2^31 · 2^-128 = 2^-97. The exact value, 4 · 2^(q-2) · 10^-k times
// an integer, is then a multiple of 5^-k (q >= k here), so its fraction
// is either zero or at least 5^-31 > 2^-72, and at most 1 - 5^-31.
// Counting only fraction bits worth 2^-80 or more (sticky =
// inexactSticky) therefore ignores the error, sees every true fraction,
// and the integer part cannot be pushed up by the error either.
func roundOdd3(top, mid, low, sticky uint64) uint64 {
	return top | b2u(mid|low&sticky != 0)
}

// scaling holds what AppendShortest needs for the floats of one exponent and
// interval shape: k, and g = hi·2^64 + lo, the least integer at or above
// 10^-k · 2^(q+124). (So 10^-k · 2^(q-2) · 4 ≈ g · 16 / 2^128.)
type scaling struct {
	hi, lo uint64
	k      int32
}

// scalings[biased<<1 | narrow] is the scaling for the floats with the
// biased exponent (1 to 254; subnormals use 1), narrow = 1 for those
// whose predecessor is closer than their successor. Looking it up by
// the exponent spares AppendShortest working out k and a shift for every
// value.
var scalings [512]scaling

func init() {
	for biased := 1; biased <= 254; biased++ {
		q := biased - 150
		for narrow := range 2 {
			k := decimalScale(q, narrow == 1)
			// pow10 has 10^-k ≈ g · 2^(e2-128) with g normalised to
			// 128 bits, rounded up; the scaling wants it times
			// 2^(q+e2-4), and q+e2 is between 0 and 4 (checked by
			// the tests). Shift right, rounding up. For the exact
			// entries (k <= 0) only zero bits go: there g is 5^-k
			// shifted left to fill 128 bits, and 5^45 has 105.
			p := pow10[k-minK]
			j := uint(4 - (q + int(p.e2)))
			hi, lo := p.hi>>j, p.lo>>j|p.hi<<(64-j)
			if p.lo&(1<<j-1) != 0 {
				var carry uint64
				lo, carry = bits.Add64(lo, 1, 0)
				hi += carry
			}
			scalings[biased<<1|narrow] = scaling{hi: hi, lo: lo, k: int32(k)}
		}
	}
}

// decimalScale returns the k of AppendShortest: ⌊log10(2^q)⌋, or
// ⌊log10(3/4 · 2^q)⌋ when narrowBelow. log10(2) is about 78913 / 2^18
// and log10(3/4) about -32752 / 2^18, which is close enough for the q of
// float32 (the tests check every one).
func decimalScale(q int, narrowBelow bool) int {
	return (q*78913 - int(b2u(narrowBelow))*32752) >> 18
}

var le = binary.LittleEndian

const (
	asciiZeros     = 0x3030303030303030 // "00000000"
	zeroPointZeros = 0x3030303030302e30 // "0.000000"
)

// asciiDigits8 returns the eight decimal digits of d < 10^8, leading
// zeros included, as ASCII in a little-endian word: the first digit in
// the lowest byte.
//
// It splits the number in lanes of the word and divides all lanes at
// once: two 32-bit lanes of four digits, then four 16-bit lanes of two,
// then eight bytes of one. Each division by a small constant is a
// multiplication and a shift that is exact in the lane's range, and the
// bits a shift drags in from the next lane are masked off.
func asciiDigits8(d uint32) uint64 {
	hi := d / 10000
	lo := d - hi*10000
	v := uint64(hi) | uint64(lo)<<32 // lanes < 10^4
	// x/100 = x·5243 >> 19 for x < 43699.
	hundreds := (v * 5243 >> 19) & 0x0000007f_0000007f
	v = hundreds | (v-hundreds*100)<<16 // 16-bit lanes < 100
	// x/10 = x·103 >> 10 for x < 179.
	tens := (v * 103 >> 10) & 0x000f_000f_000f_000f
	v = tens | (v-tens*10)<<8 // byte lanes < 10
	return v + asciiZeros
}

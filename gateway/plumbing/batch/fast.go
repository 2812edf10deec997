package batch

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// decodeFast parses the payloads eipgw edges produce (and any JSON of the
// same shape without escapes, nulls or extra keys) and validates them. It
// returns ok only when encoding/json would accept the payload and yield
// the same batch; otherwise the caller falls back to decodeSlow.
//
// The points go into the array of reuse when it is large enough.
func decodeFast(data string, reuse []Point, names *Names) (*Batch, bool) {
	b, ok, _ := decodeFastLimited(data, reuse, names)
	return b, ok
}

// decodeFastLimited is decodeFast that also reports (tooMany, ok false) a
// points array of more than MaxPoints points, which it stops reading at
// the first one past the limit.
func decodeFastLimited(data string, reuse []Point, names *Names) (*Batch, bool, bool) {
	s := scanner{src: data, reuse: reuse} // every string below is a slice of data
	b := &Batch{}
	if !s.byte('{') {
		return nil, false, s.tooMany
	}
	var version uint64
	var haveSeq, haveTS, havePoints bool
	var seen uint16 // top-level keys, to refuse repeats
	for first := true; ; first = false {
		if s.byte('}') {
			break
		}
		if !first && !s.byte(',') {
			return nil, false, s.tooMany
		}
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return nil, false, s.tooMany
		}
		bit := topKeys[key]
		if bit == 0 || seen&bit != 0 {
			return nil, false, s.tooMany
		}
		seen |= bit
		switch key {
		case "v":
			var ok bool
			version, ok = s.uint()
			if !ok || (version != Version && version != legacyVersion) {
				return nil, false, s.tooMany
			}
		case "seq":
			v, ok := s.uint()
			if !ok || v == 0 {
				return nil, false, s.tooMany
			}
			b.Seq, haveSeq = v, true
		case "part":
			v, ok := s.uint()
			if !ok || v == 0 || v > MaxParts {
				return nil, false, s.tooMany
			}
			b.Part = int(v)
		case "gateway":
			b.Gateway, ok = s.str()
		case "device":
			b.Device, ok = s.str()
		case "kind":
			b.Kind, ok = s.str()
		case "prev":
			b.Prev, ok = s.str()
		case "key":
			b.Key, ok = s.str()
		case "sig":
			b.Sig, ok = s.str()
		case "site":
			b.Site, ok = s.str()
		case "tenant":
			b.Tenant, ok = s.str()
		case "ts":
			var ts string
			ts, ok = s.str()
			if ok {
				t, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil || t.Nanosecond()%int(time.Millisecond) != 0 {
					return nil, false, s.tooMany // the strict decoder says why
				}
				b.Time, haveTS = t.UTC(), true
			}
		case "points":
			ok = s.points(b)
			havePoints = ok
		}
		if !ok {
			return nil, false, s.tooMany
		}
	}
	s.ws()
	if s.i != len(s.src) {
		return nil, false, s.tooMany
	}
	if version == 0 || !haveSeq || !haveTS || !havePoints || b.Gateway == "" || b.Device == "" || b.Kind == "" || len(b.Points) == 0 {
		return nil, false, s.tooMany
	}
	if version == legacyVersion {
		asLegacy(b.Points)
	}
	return b, validPoints(b.Points, names, b.Gateway, b.Device), false
}

var topKeys = map[string]uint16{
	"v": 1, "gateway": 2, "seq": 4, "device": 8, "kind": 16, "site": 32, "tenant": 64, "ts": 128, "points": 256,
	"prev": 512, "key": 1024, "sig": 2048, "part": 4096,
}

// nameSets are the sets validPoints finds repeated names with, reused:
// making one per batch cost as much memory as the batch's points.
var nameSets = sync.Pool{New: func() any { return map[string]struct{}{} }}

// maxPooledNames bounds the sets kept for reuse: a set grown by a batch
// of tens of thousands of points is left to the collector.
const maxPooledNames = 8192

// Names remembers, per gateway and device, the names of the last batch
// found free of repeated names, as a keyed 64-bit hash of the names in
// order: a device's next batch with the same names is known free of
// repeats without a set of them. The seed is random per Names, so a
// publisher cannot make another sequence of names hash alike. Not safe
// for concurrent use; the zero value is ready.
type Names struct {
	seed  maphash.Seed
	known map[string]uint64
	// last is the fingerprint of the last points checked, lastAt and
	// lastLen those points (Sum).
	last    uint64
	lastAt  *Point
	lastLen int
}

// SumOf is the keyed hash of the names of ps, in order: Sum when ps are the
// points of the last batch decoded with n, else hashed now.
func (n *Names) SumOf(ps []Point) uint64 {
	if s, ok := n.Sum(ps); ok {
		return s
	}
	if n.known == nil {
		n.seed, n.known = maphash.MakeSeed(), map[string]uint64{}
	}
	return n.fingerprint(ps)
}

// Sum returns the keyed hash of the names of ps, in order, when ps are the
// points of the last batch decoded with n (DecodeShared): ok is false for
// any other points, whose names n has not hashed.
func (n *Names) Sum(ps []Point) (sum uint64, ok bool) {
	if len(ps) == 0 || n.lastAt != &ps[0] || n.lastLen != len(ps) {
		return 0, false
	}
	return n.last, true
}

// maxKnownDevices bounds Names: past it, it starts afresh.
const maxKnownDevices = 100000

func (n *Names) fingerprint(ps []Point) uint64 {
	var h maphash.Hash
	h.SetSeed(n.seed)
	var l [2]byte
	for i := range ps {
		name := ps[i].Name
		l[0], l[1] = byte(len(name)>>8), byte(len(name))
		h.Write(l[:])
		h.WriteString(name)
	}
	return h.Sum64()
}

// validPoints applies the point rules of decodeSlow; names, when not
// nil, spares the set of names for a device's batch whose names are
// those of its last batch.
func validPoints(ps []Point, names *Names, gateway, device string) bool {
	for i := range ps {
		p := &ps[i]
		if p.Name == "" || len(p.Name) > 0xFFFF || !ValidQuality(p.Quality) {
			return false
		}
		if p.Quality == Good && !p.HasValue {
			return false
		}
		if p.HasValue && p.Quality != Good && p.Quality != Stale && p.Quality != Substituted {
			return false
		}
	}
	if names == nil {
		return !repeatedName(ps)
	}
	if names.known == nil || len(names.known) >= maxKnownDevices {
		if names.known == nil {
			names.seed = maphash.MakeSeed()
		}
		names.known = map[string]uint64{}
	}
	// A key of its own memory: gateway and device may be slices of a
	// shared payload (DecodeShared), which the map must not keep.
	key := gateway + "\x00" + device
	fp := names.fingerprint(ps)
	names.last, names.lastAt, names.lastLen = fp, nil, 0
	if len(ps) > 0 {
		names.lastAt, names.lastLen = &ps[0], len(ps)
	}
	if known, ok := names.known[key]; ok && known == fp {
		return true
	}
	if repeatedName(ps) {
		return false
	}
	names.known[key] = fp
	return true
}

// repeatedName reports whether two points share a name.
func repeatedName(ps []Point) bool {
	seen := nameSets.Get().(map[string]struct{})
	defer func() {
		if len(seen) <= maxPooledNames {
			clear(seen)
			nameSets.Put(seen)
		}
	}()
	for i := range ps {
		if _, dup := seen[ps[i].Name]; dup {
			return true
		}
		seen[ps[i].Name] = struct{}{}
	}
	return false
}

type scanner struct {
	src   string
	i     int
	reuse []Point // an array for the points, if large enough
	// tooMany: the points array went on past MaxPoints.
	tooMany bool
}

func (s *scanner) ws() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c (after whitespace) if it is next. An edge's payload
// has no whitespace, so c is looked for first.
func (s *scanner) byte(c byte) bool {
	if s.i < len(s.src) {
		switch n := s.src[s.i]; {
		case n == c:
			s.i++
			return true
		case n > ' ':
			return false // neither c nor whitespace before it
		}
	}
	s.ws()
	if s.i < len(s.src) && s.src[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plain marks the bytes a string can hold as they are: not the quote,
// the backslash, a control character or a byte of a multi-byte UTF-8
// sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string without escapes; anything else is not for the fast
// path.
func (s *scanner) str() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	src, i := s.src, s.i
	for i < len(src) && plain[src[i]] {
		i++
	}
	s.i = i
	ascii := true
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '"':
			out := s.src[start:s.i]
			s.i++
			if !ascii && !utf8.ValidString(out) {
				return "", false // encoding/json would substitute U+FFFD
			}
			return out, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// uint reads a JSON integer that fits uint64.
func (s *scanner) uint() (uint64, bool) {
	s.ws()
	start := s.i
	for s.i < len(s.src) && s.src[s.i] >= '0' && s.src[s.i] <= '9' {
		s.i++
	}
	lit := s.src[start:s.i]
	if lit == "" || (len(lit) > 1 && lit[0] == '0') || s.numberContinues() {
		return 0, false
	}
	v, err := strconv.ParseUint(lit, 10, 64)
	return v, err == nil
}

// numberContinues reports a number that goes on as a fraction or exponent
// (not an integer for encoding/json).
func (s *scanner) numberContinues() bool {
	return s.i < len(s.src) && (s.src[s.i] == '.' || s.src[s.i] == 'e' || s.src[s.i] == 'E')
}

// number reads a JSON number: an integer token exactly (parseNumber); an
// integer beyond the 64-bit range is not for the fast path. A decimal
// without exponent of at most 15 significant digits, what an edge writes
// for its floats, is converted as it is scanned, as shortDecimal would.
func (s *scanner) number() (number, bool) {
	s.ws()
	var none number
	src, i := s.src, s.i
	start := i
	neg := i < len(src) && src[i] == '-'
	if neg {
		i++
	}
	// mant holds the significant digits (leading zeros skipped), sig
	// their count; past 15 mant is not used.
	var mant uint64
	sig := 0
	digits := func() int {
		from := i
		for i < len(src) && src[i]-'0' <= 9 {
			if d := uint64(src[i] - '0'); mant != 0 || d != 0 {
				mant = mant*10 + d
				sig++
			}
			i++
		}
		return i - from
	}
	intStart := i
	if n := digits(); n == 0 || (n > 1 && src[intStart] == '0') {
		return none, false
	}
	frac, short := 0, false
	if i < len(src) && src[i] == '.' {
		i++
		if frac = digits(); frac == 0 {
			return none, false
		}
		short = sig <= 15 && frac < len(exactPow10)
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		short = false
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			return none, false
		}
	}
	s.i = i
	tok := src[start:i]
	if !short {
		n, err := parseNumber(tok)
		return n, err == nil
	}
	n := number{f: float64(mant) / exactPow10[frac]}
	if neg {
		n.f = -n.f
	}
	if len(tok) <= MaxDecimal {
		n.decimal = tok
	}
	return n, true
}

// maxPrealloc caps the points allocated before a batch's points are read
// (4.7 MB); a larger batch grows from there.
const maxPrealloc = 1 << 16

// pointKey is a point member's bit (0: not a member); a switch, not a map
// lookup, as it runs for every member of every point.
func pointKey(k string) uint8 {
	switch k {
	case "n":
		return 1
	case "v":
		return 2
	case "u":
		return 4
	case "q":
		return 8
	}
	return 0
}

// points reads the points array into b.Points.
func (s *scanner) points(b *Batch) bool {
	if !s.byte('[') {
		return false
	}
	// Every point opens with '{': their count bounds the points (a brace
	// inside a string only over-counts), so the slice does not grow. The
	// first allocation is capped, so that a payload of braces cannot make
	// it larger than real points would.
	n := strings.Count(s.src[s.i:], "{")
	if n > pointLimit {
		// Perhaps more points than a batch may carry: count them first,
		// keeping none, so that a payload of millions of points is
		// refused before it takes memory.
		c := *s
		if _, ok := c.scanPoints(nil, false); c.tooMany || !ok {
			s.tooMany = c.tooMany
			return false
		}
	}
	if n = min(n, maxPrealloc); cap(s.reuse) >= n {
		b.Points = s.reuse[:0]
	} else {
		b.Points = make([]Point, 0, n)
	}
	var ok bool
	b.Points, ok = s.scanPoints(b.Points, true)
	return ok
}

// edgePoint reads a point as the edge writes one, from after its '{'
// through its '}': the members n, v, u and q in that order, no
// whitespace between them, strings of printable ASCII without escapes. It
// gives the point the general reading below would, in fewer steps; for
// anything else it leaves s and p as they were, for the general reading.
func (s *scanner) edgePoint(p *Point) bool {
	src, i := s.src, s.i
	if !strings.HasPrefix(src[i:], `"n":"`) {
		return false
	}
	name, i, ok := plainString(src, i+5)
	if !ok || !strings.HasPrefix(src[i:], `,"v":`) {
		return false
	}
	start := s.i
	s.i = i + 5
	n, ok := s.number()
	i = s.i
	s.i = start
	if !ok || !strings.HasPrefix(src[i:], `,"u":"`) {
		return false
	}
	unit, i, ok := plainString(src, i+6)
	if !ok || !strings.HasPrefix(src[i:], `,"q":"`) {
		return false
	}
	quality, i, ok := plainString(src, i+6)
	if !ok || i >= len(src) || src[i] != '}' {
		return false
	}
	s.i = i + 1
	p.Name, p.Unit, p.Quality = name, unit, quality
	n.set(p)
	return true
}

// plainString reads the rest of a string that opened before i and holds
// only bytes that plain marks, up to its closing quote: the string and
// the index after the quote. false: another byte comes first.
func plainString(src string, i int) (string, int, bool) {
	start := i
	for i < len(src) && plain[src[i]] {
		i++
	}
	if i >= len(src) || src[i] != '"' {
		return "", 0, false
	}
	return src[start:i], i + 1, true
}

// scanPoints reads the points after the array's '[' up to its ']',
// appending them to dst when keep is set. Past pointLimit points it sets
// s.tooMany and fails.
func (s *scanner) scanPoints(dst []Point, keep bool) ([]Point, bool) {
	count := 0
	for first := true; ; first = false {
		if s.byte(']') {
			return dst, true
		}
		if !first && !s.byte(',') {
			return dst, false
		}
		if count == pointLimit {
			s.tooMany = true
			return dst, false
		}
		if !s.byte('{') {
			return dst, false
		}
		var p Point
		if s.edgePoint(&p) {
			count++
			if keep {
				dst = append(dst, p)
			}
			continue
		}
		var seen uint8
		for pf := true; ; pf = false {
			if s.byte('}') {
				break
			}
			if !pf && !s.byte(',') {
				return dst, false
			}
			var key string
			var ok bool
			if k := s.src[s.i:]; len(k) >= 4 && k[0] == '"' && k[2] == '"' && k[3] == ':' && plain[k[1]] {
				// a one-letter key, as point members have
				s.i += 4
				key = k[1:2]
			} else if key, ok = s.str(); !ok || !s.byte(':') {
				return dst, false
			}
			bit := pointKey(key)
			if bit == 0 || seen&bit != 0 {
				return dst, false
			}
			seen |= bit
			switch key {
			case "n":
				p.Name, ok = s.str()
			case "u":
				p.Unit, ok = s.str()
			case "q":
				p.Quality, ok = s.str()
			case "v":
				var n number
				if n, ok = s.number(); ok {
					n.set(&p)
				}
			}
			if !ok {
				return dst, false
			}
		}
		count++
		if keep {
			dst = append(dst, p)
		}
	}
}

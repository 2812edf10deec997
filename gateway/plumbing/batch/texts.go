package batch

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/eipgw/eipgw/drivers"
)

// Texts keeps the JSON text around the values of a run of readings — each
// point's name and unit, quoted and escaped, and the members' keys — from
// one encoding to the next. A device's readings carry the same names and
// units at every poll, so AppendReadingsJSONTexts copies that text instead
// of writing it out again a byte at a time. The zero value is ready; any
// reading whose name or unit differs from the kept one is encoded afresh
// and the text rebuilt, so the output never depends on what was kept.
type Texts struct {
	pts  []pointText
	text []byte
}

// pointText is one position's text: text[at:val] is `{"n":<name>` and
// text[val:mid] `,"v":`; text[mid:q] is `,"u":<unit>` (empty without a
// unit) and text[q:end] is `,"q":"good"}`.
type pointText struct {
	name, unit           string
	at, val, mid, q, end uint32
}

// goodTail ends a point of quality good.
const goodTail = `,"q":"good"}`

// rebuild records the text of every reading of rs.
func (n *Texts) rebuild(rs []drivers.Reading) {
	n.text = n.text[:0]
	if cap(n.pts) < len(rs) {
		n.pts = make([]pointText, len(rs))
	}
	n.pts = n.pts[:len(rs)]
	for i := range rs {
		r := &rs[i]
		p := pointText{name: r.Name, unit: r.Unit, at: uint32(len(n.text))}
		n.text = append(n.text, `{"n":`...)
		n.text = appendString(n.text, r.Name)
		p.val = uint32(len(n.text))
		n.text = append(n.text, `,"v":`...)
		p.mid = uint32(len(n.text))
		if r.Unit != "" {
			n.text = append(n.text, `,"u":`...)
			n.text = appendString(n.text, r.Unit)
		}
		p.q = uint32(len(n.text))
		n.text = append(n.text, goodTail...)
		p.end = uint32(len(n.text))
		n.pts[i] = p
	}
}

// AppendReadingsJSONTexts appends the same bytes as AppendReadingsJSON,
// taking the names' and units' text from n (and bringing n up to date
// with rs). It does not allocate once dst and n have grown.
func (b *Batch) AppendReadingsJSONTexts(dst []byte, rs []drivers.Reading, n *Texts) []byte {
	if len(n.pts) != len(rs) {
		n.rebuild(rs)
	}
	dst = b.appendHead(dst)
	for i := range rs {
		r := &rs[i]
		p := &n.pts[i]
		if !sameString(p.name, r.Name) || !sameString(p.unit, r.Unit) {
			n.rebuild(rs)
			p = &n.pts[i]
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		switch {
		case !r.HasValue:
			dst = append(dst, n.text[p.at:p.val]...)
		case r.Kind == drivers.Int:
			dst = append(dst, n.text[p.at:p.mid]...)
			dst = strconv.AppendInt(dst, r.Int, 10)
		case r.Kind == drivers.Uint:
			dst = append(dst, n.text[p.at:p.mid]...)
			dst = strconv.AppendUint(dst, r.Uint, 10)
		case math.IsNaN(r.Float) || math.IsInf(r.Float, 0):
			dst = append(dst, n.text[p.at:p.val]...)
		default:
			dst = append(dst, n.text[p.at:p.mid]...)
			dst = appendFloat(dst, r.Float, r.Float32)
		}
		if r.Quality == drivers.Good {
			dst = append(dst, n.text[p.mid:p.end]...)
			continue
		}
		dst = append(dst, n.text[p.mid:p.q]...)
		dst = append(dst, `,"q":`...)
		dst = appendString(dst, string(r.Quality))
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// sameString is a == b, without comparing the bytes of the same string:
// a device's readings carry its profile's names and units at every poll.
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

package influxwrite

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Escaping, as InfluxDB's parser (1.8 models, 2.x, 3.x) reads it: in a
// measurement ',' and ' ' are escaped; in tag keys, tag values and field
// keys also '='; in string field values '"' and '\'. Line protocol has no
// escape for a newline or another control character in a name (a newline
// ends the line, NUL is lost), nor for a backslash before an escapable
// character or at the end of a name (it would escape the separator): each
// of these is written as U+FFFD, and so is a '#' starting a measurement
// (it would make the line a comment). A name can therefore never end the
// line or leak into the next key, whatever it holds. Callers validate
// names before they get here (ingest refuses such names); the writer is
// correct on its own all the same.

// replacement stands for a byte line protocol cannot carry in a name.
const replacement = "\uFFFD"

// unsafe reports whether c cannot be carried in a name.
func unsafe(c byte) bool { return c < 0x20 || c == '\\' || c == 0x7f }

// Name returns s with what line protocol cannot carry in a name replaced
// by U+FFFD: control characters and backslashes.
func Name(s string) string {
	i := 0
	for i < len(s) && !unsafe(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	sb.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; unsafe(c) {
			sb.WriteString(replacement)
		} else {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// AppendMeasurement appends measurement name s, escaped.
func AppendMeasurement(dst []byte, s string) []byte {
	if strings.HasPrefix(s, "#") {
		dst = append(dst, replacement...)
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case unsafe(c):
			dst = append(dst, replacement...)
		case c == ',' || c == ' ':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendKey appends a tag key, tag value or field key s, escaped.
func AppendKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case unsafe(c):
			dst = append(dst, replacement...)
		case c == ',' || c == ' ' || c == '=':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendString appends the content of a string field value s (without its
// quotes), escaped.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\', c)
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// EscapeMeasurement and EscapeKey are AppendMeasurement and AppendKey
// returning a string.
func EscapeMeasurement(s string) string { return string(AppendMeasurement(nil, s)) }

// EscapeKey is AppendKey returning a string.
func EscapeKey(s string) string { return string(AppendKey(nil, s)) }

// Line builds one line-protocol line:
//
//	var l Line
//	l.Start("park_hourly")
//	l.Tag("metric", "steam_energy_gj") // keys in lexical order
//	l.Float("value", 12.5)
//	line, err := l.End(t)
//
// Every name is escaped. Tags with an empty value are left out (line
// protocol has no empty tag values). A float that is not finite cannot be
// written (line protocol has no NaN or infinity): End then returns an
// error naming the field. A line needs at least one field.
type Line struct {
	b      []byte
	fields int
	err    error
}

// Start begins a new line of measurement m, dropping what the builder
// held.
func (l *Line) Start(m string) {
	l.b = AppendMeasurement(l.b[:0], m)
	l.fields, l.err = 0, nil
	if m == "" {
		l.err = fmt.Errorf("line protocol: empty measurement")
	}
}

// Tag adds a tag; tags go before fields, in lexical key order.
func (l *Line) Tag(key, value string) {
	if value == "" {
		return
	}
	if l.fields > 0 && l.err == nil {
		l.err = fmt.Errorf("line protocol: %s: tag %q after the fields", l.name(), key)
		return
	}
	l.b = append(l.b, ',')
	l.b = AppendKey(l.b, key)
	l.b = append(l.b, '=')
	l.b = AppendKey(l.b, value)
}

func (l *Line) name() string {
	m, _, _ := strings.Cut(string(l.b), ",")
	m, _, _ = strings.Cut(m, " ")
	return m
}

func (l *Line) field(key string) {
	if l.fields == 0 {
		l.b = append(l.b, ' ')
	} else {
		l.b = append(l.b, ',')
	}
	l.fields++
	l.b = AppendKey(l.b, key)
	l.b = append(l.b, '=')
}

// Float adds a float field; a value that is not finite makes End fail.
func (l *Line) Float(key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if l.err == nil {
			l.err = fmt.Errorf("line protocol: %s: field %s is %v, which line protocol cannot carry", l.name(), key, v)
		}
		return
	}
	l.field(key)
	l.b = strconv.AppendFloat(l.b, v, 'g', -1, 64)
}

// Int adds an integer field.
func (l *Line) Int(key string, v int64) {
	l.field(key)
	l.b = strconv.AppendInt(l.b, v, 10)
	l.b = append(l.b, 'i')
}

// Bool adds a boolean field.
func (l *Line) Bool(key string, v bool) {
	l.field(key)
	l.b = strconv.AppendBool(l.b, v)
}

// String adds a string field.
func (l *Line) String(key, v string) {
	l.field(key)
	l.b = append(l.b, '"')
	l.b = AppendString(l.b, v)
	l.b = append(l.b, '"')
}

// End appends the time (milliseconds) and returns the line, without a
// newline, in a slice of its own, or the first problem found.
func (l *Line) End(t time.Time) ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	if l.fields == 0 {
		return nil, fmt.Errorf("line protocol: %s: no fields", l.name())
	}
	l.b = append(l.b, ' ')
	l.b = strconv.AppendInt(l.b, t.UnixMilli(), 10)
	return append([]byte(nil), l.b...), nil
}

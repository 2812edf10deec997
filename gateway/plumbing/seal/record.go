package seal

import (
	"fmt"
	"strconv"
	"strings"
)

// Record is a sealed line of line protocol, read back.
type Record struct {
	Measurement string
	Tags        map[string]string
	// Fields hold float64, int64, bool or string values.
	Fields map[string]any
	Millis int64
}

// ParseRecord reads one line as the park engine writes it
// (influxwrite.Line): measurement, tags, fields and a time in
// milliseconds, with backslash escapes in names and string values.
func ParseRecord(line string) (Record, error) {
	r := Record{Tags: map[string]string{}, Fields: map[string]any{}}
	p := &lineParser{s: line}
	m, stop := p.name(",  ")
	r.Measurement = m
	for stop == ',' {
		k, st := p.name("=")
		if st != '=' {
			return r, fmt.Errorf("record %q: tag %q without a value", line, k)
		}
		v, st2 := p.name(", ")
		r.Tags[k] = v
		stop = st2
	}
	if stop != ' ' {
		return r, fmt.Errorf("record %q: no fields", line)
	}
	for {
		k, st := p.name("=")
		if st != '=' {
			return r, fmt.Errorf("record %q: field %q without a value", line, k)
		}
		v, err := p.value()
		if err != nil {
			return r, fmt.Errorf("record %q: field %s: %w", line, k, err)
		}
		r.Fields[k] = v
		c := p.next()
		if c == ' ' {
			break
		}
		if c != ',' {
			return r, fmt.Errorf("record %q: unexpected end after field %s", line, k)
		}
	}
	ms, err := strconv.ParseInt(p.s[p.i:], 10, 64)
	if err != nil {
		return r, fmt.Errorf("record %q: time: %w", line, err)
	}
	r.Millis = ms
	return r, nil
}

type lineParser struct {
	s string
	i int
}

func (p *lineParser) next() byte {
	if p.i >= len(p.s) {
		return 0
	}
	c := p.s[p.i]
	p.i++
	return c
}

// name reads an escaped name up to one of the stop bytes, which it
// consumes and returns (0 at the end of the line).
func (p *lineParser) name(stops string) (string, byte) {
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		if c == '\\' && p.i < len(p.s) {
			b.WriteByte(p.s[p.i])
			p.i++
			continue
		}
		if strings.IndexByte(stops, c) >= 0 {
			return b.String(), c
		}
		b.WriteByte(c)
	}
	return b.String(), 0
}

// value reads a field value: "string", 12i, true/false, or a float.
func (p *lineParser) value() (any, error) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		var b strings.Builder
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			switch c {
			case '\\':
				if p.i < len(p.s) {
					b.WriteByte(p.s[p.i])
					p.i++
				}
			case '"':
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return nil, fmt.Errorf("unterminated string")
	}
	j := p.i
	for j < len(p.s) && p.s[j] != ',' && p.s[j] != ' ' {
		j++
	}
	tok := p.s[p.i:j]
	p.i = j
	switch {
	case tok == "true" || tok == "false":
		return tok == "true", nil
	case strings.HasSuffix(tok, "i"):
		return strconv.ParseInt(tok[:len(tok)-1], 10, 64)
	}
	return strconv.ParseFloat(tok, 64)
}

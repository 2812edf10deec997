package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is one problem found in a configuration file. It names the file, the
// line and the field path (for example "edge.devices[2].bus").
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one or more files, in file and line order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		return es[i].Line < es[j].Line
	})
}

// Source keeps a decoded file's document, so that checks made after
// decoding can still point at the line of a field path, or read a value
// as it was written. Paths are looked up when asked for, by walking the
// document, rather than recorded for every node while decoding.
type Source struct {
	File string
	// root is the document's top node; nil when the file was empty or
	// did not parse.
	root *yaml.Node
	// maps holds the mapping nodes decoded into Go maps: the line of one
	// of their entries is its value's, where a struct field's is its
	// key's.
	maps map[*yaml.Node]bool
	// zeros holds the fields written as a zero (0, 0s, ""), for
	// DefaultedZeros.
	zeros []writtenZero
	// kept are the lines of the paths kept once the document is let go
	// (Parse): those of files a role reads only when it starts.
	kept map[string]int
}

// writtenZero is a field the file set to its type's zero value: where it
// lives in the decoded value, so that a check made after the defaults were
// applied can tell whether a default replaced it.
type writtenZero struct {
	path string
	line int
	v    reflect.Value
}

// Written reports whether the file gives path a value: a scalar that is
// not null. A default must not replace such a value, even a zero one.
func (s *Source) Written(path string) bool {
	_, n := s.walk(path)
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null"
}

// DefaultedZeros returns an error for every field the file set to zero (0,
// 0s or "") that the defaults then replaced: a key written as 0 would
// otherwise run with the default, unlike what it says, and a value outside
// the key's range would pass unnoticed. Call it once the defaults are
// applied; fields where zero is a valid setting keep it and are not
// reported.
func (s *Source) DefaultedZeros() Errors {
	if s == nil {
		return nil
	}
	var errs Errors
	for _, z := range s.zeros {
		if z.v.IsZero() {
			continue
		}
		written, dflt := "0", fmt.Sprint(z.v.Interface())
		switch z.v.Kind() {
		case reflect.String:
			written, dflt = `""`, strconv.Quote(dflt)
		case reflect.Int64:
			if z.v.Type() == durationType {
				written = "0s"
			}
		}
		errs = append(errs, &Error{File: s.File, Line: z.line, Path: z.path,
			Msg: fmt.Sprintf("%s is not a valid setting (it would run as the default, %s): leave the key out for the default or give a value in its range", written, dflt)})
	}
	return errs
}

// Line returns the line of path, or of its nearest ancestor written in the
// file (a missing field is reported at its parent), or 0.
func (s *Source) Line(path string) int {
	if s != nil && s.root == nil && s.kept != nil {
		return s.kept[path]
	}
	line, _ := s.walk(path)
	return line
}

// Scalar returns the text of the scalar written at path (through an
// alias), as written: "1e3" stays "1e3", where decoding made it 1000.
func (s *Source) Scalar(path string) (string, bool) {
	_, n := s.walk(path)
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

// walk follows path ("edge.devices[2].bus") from the document's top node.
// It returns the line of the deepest node the path reaches, and that node
// when the path reaches it whole. A key may hold dots; of duplicate keys
// the first is taken, as decoding keeps the first.
func (s *Source) walk(path string) (line int, node *yaml.Node) {
	if s == nil || s.root == nil {
		return 0, nil
	}
	n, rest := s.root, path
	line = n.Line
	for rest != "" {
		m := n
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 || m.Kind != yaml.SequenceNode {
				return line, nil
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i >= len(m.Content) {
				return line, nil
			}
			n, rest = m.Content[i], rest[end+1:]
			line = n.Line
			continue
		}
		if n != s.root || rest[0] == '.' {
			if rest[0] != '.' {
				return line, nil
			}
			rest = rest[1:]
		}
		if m.Kind != yaml.MappingNode {
			return line, nil
		}
		// The longest key that the path goes on from: "gw.1" before
		// "gw" for "gw.1[0]"; the first of equal keys.
		best := -1
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i].Value
			if strings.HasPrefix(rest, k) && (len(rest) == len(k) || rest[len(k)] == '.' || rest[len(k)] == '[') &&
				(best < 0 || len(k) > len(m.Content[best].Value)) {
				best = i
			}
		}
		if best < 0 {
			return line, nil
		}
		n, rest = m.Content[best+1], rest[len(m.Content[best].Value):]
		if s.maps[m] {
			line = n.Line
		} else {
			line = m.Content[best].Line
		}
	}
	return line, n
}

// Errorf builds an Error at path.
func (s *Source) Errorf(path, format string, args ...any) *Error {
	file := ""
	if s != nil {
		file = s.File
	}
	for i, a := range args {
		// A value of megabytes (a pasted file, a hostile one) would be
		// echoed whole: its start is enough to find it.
		if v, ok := a.(string); ok && len(v) > maxEchoed {
			args[i] = fmt.Sprintf("%s... (%d bytes)", strings.ToValidUTF8(v[:maxEchoed], ""), len(v))
		}
	}
	return &Error{File: file, Line: s.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// maxEchoed is the most of a value an error message repeats.
const maxEchoed = 120

// Decode strictly decodes YAML data into out, which must be a pointer to a
// struct whose fields carry `yaml:"name"` tags. Unknown keys, wrong types,
// duplicate keys and malformed YAML are errors; decoding goes on after an
// error so that every problem in the file is reported at once.
func Decode(file string, data []byte, out any) (*Source, Errors) {
	return decode(file, data, out, nil)
}

// decode is Decode, calling trace (when not nil) with each field path it
// decodes and the line that Source.Line must give for it.
func decode(file string, data []byte, out any, trace func(path string, line int)) (*Source, Errors) {
	src := &Source{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return src, Errors{syntaxError(file, data, err)}
	}
	d := &decoder{src: src, trace: trace}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return src, Errors{{File: file, Line: 1, Msg: "file is empty"}}
	}
	// What follows the first document is read before the first is
	// decoded and reported after its decoding errors, which come out too.
	later := laterDocument(file, data, dec)
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("config.Decode: out must be a non-nil pointer")
	}
	src.root = doc.Content[0]
	d.value(doc.Content[0], rv.Elem(), "")
	if later != nil {
		d.errs = append(d.errs, later)
	}
	return src, d.errs
}

// laterDocument reads what dec holds after the first document of data: an
// error at the line where a second document starts, or nil. Each file is
// one document; a second one (after a "---" line) would otherwise be
// dropped unread, its keys silently ignored. A document with nothing in
// it, such as a "---" ending the file, is no second document.
func laterDocument(file string, data []byte, dec *yaml.Decoder) *Error {
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return syntaxError(file, data, err)
		case !emptyDocument(&doc):
			return &Error{File: file, Line: doc.Line, Msg: "a second YAML document starts here: one YAML document per file"}
		}
	}
}

// emptyDocument reports whether doc holds nothing written: no value, no
// tag (comments alone).
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Style == 0
}

var yamlLine = strings.NewReplacer("yaml: ", "")

func syntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	line := 0
	// yaml.v3 reports "yaml: line N: message".
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	if strings.HasPrefix(msg, "did not find expected") && line > 0 {
		line = parserErrorLine(data, line, msg)
	}
	if line == 0 && !utf8.Valid(data) {
		// yaml.v3 says "invalid leading UTF-8 octet" without a line:
		// find the first bad byte.
		bad := 0
		for bad < len(data) {
			r, n := utf8.DecodeRune(data[bad:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			bad += n
		}
		line = 1 + bytes.Count(data[:bad], []byte("\n"))
		msg = fmt.Sprintf("not UTF-8: byte 0x%02x at column %d (save the file as UTF-8)", data[bad], bad-bytes.LastIndexByte(data[:bad], '\n'))
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + yamlLine.Replace(msg)}
}

// maxErrorSearch bounds the lines parserErrorLine tries, and
// maxErrorSearchBytes the bytes it parses in all: an error near the end of
// a large file falls back to the construct's line rather than parse the
// file hundreds of times.
const (
	maxErrorSearch      = 200
	maxErrorSearchBytes = 16 << 20
)

// parserErrorLine finds the line of a parser error ("did not find expected
// key", "... ',' or '}'"). yaml.v3 (v3.0.1) reports such an error at the
// line before the construct it was parsing started (a 0-based line where
// its other lines are 1-based), or, for the top-level mapping, at the line
// before the problem: both one line above anything useful. The problem
// lies on a line after that: the first prefix of the file that ends on a
// line and fails with the same message ends on the line to report (an
// unclosed '{' on its own line; an entry indented wrongly). When no prefix
// does, the construct's first line is the best there is.
func parserErrorLine(data []byte, reported int, msg string) int {
	start := 0 // offset of line reported+1
	for n := 1; n <= reported && start < len(data); n++ {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			return reported + 1
		}
		start += i + 1
	}
	end, parsed := start, 0
	for n := reported + 1; n <= reported+maxErrorSearch && end < len(data) && parsed < maxErrorSearchBytes; n++ {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			end = len(data)
		} else {
			end += i + 1
		}
		parsed += end
		var doc yaml.Node
		err := yaml.Unmarshal(data[:end], &doc)
		if err != nil && strings.HasSuffix(err.Error(), ": "+msg) {
			return n
		}
	}
	return reported + 1
}

type decoder struct {
	src   *Source
	errs  Errors
	trace func(path string, line int)
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.src.File, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	pipelineType = reflect.TypeOf(Pipeline(0))
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.trace != nil {
		d.trace(path, n.Line)
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // explicit null leaves the zero value
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if v.Type() == pipelineType && n.Kind == yaml.ScalarNode {
		switch {
		case n.Tag == "!!str" && n.Value == "auto":
			v.SetInt(int64(PipelineAuto))
			return
		case n.Tag == "!!str":
			d.fail(n, path, "expected auto or a number of requests, 1 to %d, got %q", MaxPipeline, n.Value)
			return
		case strings.HasPrefix(n.Value, "-"):
			// Not to be read as PipelineAuto.
			d.fail(n, path, "%s requests in flight: want auto or 1 to %d", n.Value, MaxPipeline)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			panic("config: map keys must be strings")
		}
		if d.src.maps == nil {
			d.src.maps = map[*yaml.Node]bool{}
		}
		d.src.maps[n] = true
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k, p, "duplicate key %q", k.Value)
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(val, e, p)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if !d.scalar(n, path, "a string") {
			return
		}
		v.SetString(n.Value)
		d.noteZero(n, v, path)
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "expected true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "an integer") {
			return
		}
		bits := v.Type().Bits()
		neg, mag, err := parseInteger(n)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			d.fail(n, path, "expected an integer (%d-bit), got %q%s", bits, n.Value, integerHint(err))
			return
		}
		hi := uint64(1)<<(bits-1) - 1
		if errors.Is(err, strconv.ErrRange) || mag > hi && !(neg && mag == hi+1) {
			d.fail(n, path, "%q is out of range of %s %d-bit integer (%d to %d)", n.Value, article(bits), bits, -int64(hi)-1, hi)
			return
		}
		i := int64(mag) // 1<<63 wraps to the lowest int64, which negating keeps
		if neg {
			i = -i
		}
		v.SetInt(i)
		d.noteZero(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, path, "a non-negative integer") {
			return
		}
		bits := v.Type().Bits()
		neg, u, err := parseInteger(n)
		if err == nil && (neg && u != 0 || bits < 64 && u >= 1<<bits) {
			err = strconv.ErrRange
		}
		if err != nil {
			d.fail(n, path, "expected a non-negative integer below 2^%d, got %q%s", bits, n.Value, integerHint(err))
			return
		}
		v.SetUint(u)
		d.noteZero(n, v, path)
	case reflect.Float32, reflect.Float64:
		if !d.scalar(n, path, "a number") {
			return
		}
		var f float64
		switch {
		case strings.Contains(n.Value, "_"):
			d.fail(n, path, "expected a number, got %q%s", n.Value, integerHint(errSeparator))
			return
		case n.Tag == "!!int":
			// An integer in a number field reads as one in an
			// integer field: 0100 is 100, not octal 64.
			neg, mag, err := parseInteger(n)
			if err != nil {
				d.fail(n, path, "expected a number, got %q%s", n.Value, integerHint(err))
				return
			}
			f = float64(mag)
			if neg {
				f = -f
			}
		case n.Tag != "!!float" || n.Decode(&f) != nil || math.IsNaN(f):
			d.fail(n, path, "expected a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
		d.noteZero(n, v, path)
	default:
		panic(fmt.Sprintf("config: unsupported field type %s at %s", v.Type(), path))
	}
}

// errSeparator is an integer written with '_' between its digits, which
// YAML's resolver drops silently.
var errSeparator = errors.New("'_' in a number")

// parseInteger reads the integer written at n as a sign and a magnitude.
// Digits are decimal, leading zeros included: a register address copied
// zero-padded from a manual (0100) is that number, never octal. Only an
// explicit prefix changes the base: 0x (hexadecimal), 0o (octal), 0b
// (binary), in either case. '_' separators are refused. The text must
// have been resolved as a number: a quoted "10" is a string. An error is
// errSeparator, strconv.ErrRange (beyond 64 bits) or strconv.ErrSyntax.
func parseInteger(n *yaml.Node) (neg bool, mag uint64, err error) {
	// YAML resolves plain digits with a leading zero and an 8 or 9
	// (0108) as a float, not as an octal integer: both tags are read by
	// the rule below, which refuses a fraction or an exponent.
	if n.Tag != "!!int" && n.Tag != "!!float" {
		return false, 0, strconv.ErrSyntax
	}
	return ParseInteger(n.Value)
}

// ParseInteger reads an integer written as a configuration writes it
// (parseInteger): decimal digits, leading zeros included; 0x, 0o or 0b for
// another base; no '_'. Command-line flags of numbers take the same rule.
func ParseInteger(s string) (neg bool, mag uint64, err error) {
	if strings.Contains(s, "_") {
		return false, 0, errSeparator
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			s = s[2:]
		}
	}
	// ParseUint with a base takes no sign, prefix or separator: s must
	// be digits alone.
	mag, err = strconv.ParseUint(s, base, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return neg, 0, strconv.ErrRange
		}
		return neg, 0, strconv.ErrSyntax
	}
	return neg, mag, nil
}

// integerHint is what to add to a message about a number parseInteger
// refused.
func integerHint(err error) string {
	if errors.Is(err, errSeparator) {
		return ": write the digits without '_'"
	}
	return ""
}

// article is the indefinite article of the number of bits.
func article(bits int) string {
	if bits == 8 {
		return "an"
	}
	return "a"
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if !d.scalar(n, path, "a duration") {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, path, "expected a duration such as 500ms, 10s or 1m, got %q", n.Value)
		return
	}
	if dur < 0 {
		d.fail(n, path, "duration must not be negative, got %s", n.Value)
		return
	}
	v.SetInt(int64(dur))
	d.noteZero(n, v, path)
}

// noteZero records a scalar field decoded to its zero value.
func (d *decoder) noteZero(n *yaml.Node, v reflect.Value, path string) {
	if v.IsZero() {
		d.src.zeros = append(d.src.zeros, writtenZero{path: path, line: n.Line, v: v})
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.fail(k, p, "unknown field %q (known: %s)", k.Value, knownList(fields))
			continue
		}
		if seen[k.Value] {
			d.fail(k, p, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		d.value(val, v.Field(idx), p)
		if d.trace != nil {
			d.trace(p, k.Line)
		}
	}
}

// fieldsOf returns the YAML names of struct type t's fields and their
// indexes, worked out once per type (a profile has a mapping per point):
// the map is shared and must not be changed.
func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fieldsCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := fieldsByName(t)
	fieldsCache.Store(t, m)
	return m
}

var fieldsCache sync.Map // reflect.Type -> map[string]int

func fieldsByName(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = i
	}
	return m
}

func knownList(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// ErrorsOf unwraps err into Errors when it holds them.
func ErrorsOf(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}

package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Strictness of the slow decoding path. encoding/json on its own accepts
// keys in any letter case ("Gateway" for "gateway"), keeps the last of
// repeated keys, replaces invalid UTF-8 by U+FFFD and ignores unknown keys
// (DisallowUnknownFields stops only the last). A payload that says one
// thing to this decoder and another to a different JSON reader (or to a
// signature check over its bytes) must not be stored, so checkStrict
// refuses, before decoding:
//
//   - bytes that are not valid UTF-8, and a byte order mark;
//   - a key of the batch or of a point that is not spelled exactly as in
//     the contract, or that appears twice in one object;
//   - nesting deeper than the contract's shape (object, points array,
//     point object).
//
// The fast path refuses all of these too (it falls back to this path),
// so both paths agree.

// maxDepth is the deepest nesting of the contract: batch object, points
// array, point object.
const maxDepth = 3

// topLevelKeys and pointKeysExact are the JSON names of wire and of its
// point elements, read from the struct tags so that they follow wire.
var topLevelKeys, pointKeysExact = jsonKeys()

func jsonKeys() (top, point map[string]bool) {
	names := func(t reflect.Type) map[string]bool {
		m := map[string]bool{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				m[name] = true
			}
		}
		return m
	}
	wt := reflect.TypeFor[wire]()
	pf, ok := wt.FieldByName("Points")
	if !ok {
		panic("batch: wire has no Points field")
	}
	return names(wt), names(pf.Type.Elem())
}

// checkStrict applies the rules above; the error names what and where.
func checkStrict(data []byte) error {
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrInvalid, i)
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return fmt.Errorf("%w: byte order mark before the JSON object", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// A level is an open object (keys seen so far, keys allowed) or array
	// (keys nil; index of the current element), named for errors.
	type level struct {
		keys    map[string]bool
		allowed map[string]bool
		name    string
		index   int
	}
	var stack []*level
	expectKey := func() bool {
		return len(stack) > 0 && stack[len(stack)-1].keys != nil
	}
	where := func() string {
		var sb strings.Builder
		for _, l := range stack {
			if l.name != "" {
				if sb.Len() > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(l.name)
			}
			if l.keys == nil {
				fmt.Fprintf(&sb, "[%d]", l.index)
			}
		}
		if sb.Len() == 0 {
			return "the batch"
		}
		return sb.String()
	}
	// afterValue advances the array index of the enclosing array.
	afterValue := func() {
		if len(stack) > 0 && stack[len(stack)-1].keys == nil {
			stack[len(stack)-1].index++
		}
	}
	// trailing: once the batch ended only whitespace may follow
	// (json.Decoder's More takes a stray '}' or ']' for the end).
	trailing := func() error {
		if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
			return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
		}
		return nil
	}
	var pendingKey string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // encoding/json reports syntax errors itself
		}
		if expectKey() {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				afterValue()
				if len(stack) == 0 {
					return trailing()
				}
				continue
			}
			key, _ := tok.(string)
			top := stack[len(stack)-1]
			if top.allowed != nil && !top.allowed[key] {
				return fmt.Errorf("%w: %s: unknown key %q", ErrInvalid, where(), key)
			}
			if top.keys[key] {
				return fmt.Errorf("%w: %s: key %q appears twice", ErrInvalid, where(), key)
			}
			top.keys[key] = true
			pendingKey = key
			// The value follows; object and array values push a level.
			tok, err = dec.Token()
			if err != nil {
				return nil
			}
		}
		name := pendingKey
		pendingKey = ""
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxDepth {
				return fmt.Errorf("%w: %s: nested deeper than the batch format allows", ErrInvalid, where())
			}
			l := &level{name: name}
			if d == '{' {
				l.keys = map[string]bool{}
				switch {
				case len(stack) == 0:
					l.allowed = topLevelKeys
				case len(stack) == 2 && stack[0].keys != nil && stack[1].name == "points":
					if stack[1].index >= pointLimit {
						return ErrTooManyPoints
					}
					l.allowed = pointKeysExact
				}
			}
			stack = append(stack, l)
		case ']', '}':
			stack = stack[:len(stack)-1]
			afterValue()
		default:
			afterValue()
		}
		if len(stack) == 0 {
			return trailing()
		}
	}
}

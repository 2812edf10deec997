package batch

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeStrict: what encoding/json alone would take with a meaning of
// its own (other letter case, repeated keys, unknown keys, U+FFFD for
// invalid bytes) is refused on both decoding paths, with the place named.
func TestDecodeStrict(t *testing.T) {
	const head = `{"v":1,"gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z"`
	const pts = `"points":[{"n":"a","v":1,"q":"good"}]`
	for _, tc := range []struct{ name, payload, want string }{
		{"key in other case", `{"v":1,"Gateway":"g","seq":1,"device":"d","kind":"k","ts":"2026-01-01T00:00:00Z",` + pts + `}`, `the batch: unknown key "Gateway"`},
		{"unknown top-level key", head + `,"extra":1,` + pts + `}`, `the batch: unknown key "extra"`},
		{"unknown point key", head + `,"points":[{"n":"a","v":1,"q":"good"},{"n":"b","v":1,"q":"good","x":{}}]}`, `points[1]: unknown key "x"`},
		{"repeated key", head + `,"kind":"park_hourly",` + pts + `}`, `the batch: key "kind" appears twice`},
		{"repeated point key", head + `,"points":[{"n":"a","v":1,"v":2,"q":"good"}]}`, `points[0]: key "v" appears twice`},
		{"key differing only in case", head + `,"KIND":"x",` + pts + `}`, `unknown key "KIND"`},
		{"invalid UTF-8", head + `,"site":"a` + "\xff" + `",` + pts + `}`, "invalid UTF-8 at byte"},
		{"byte order mark", "\xef\xbb\xbf" + head + `,` + pts + `}`, "byte order mark"},
		{"deep nesting", head + `,"points":[{"n":[[[[1]]]],"q":"good"}]}`, "nested deeper"},
		{"nested object for a string", head + `,"site":{"a":"b"},` + pts + `}`, "cannot unmarshal object"},
		{"stray closing brace after the batch", head + `,` + pts + `}}`, "trailing data"},
		{"garbage after the batch", head + `,` + pts + `} x`, "trailing data"},
		{"array for a string", head + `,"site":["a"],` + pts + `}`, "cannot unmarshal array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := decodeFast(tc.payload, nil, nil); ok {
				t.Fatalf("fast path accepted %q", tc.payload)
			}
			_, err := Decode([]byte(tc.payload))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalid containing %q", tc.payload, err, tc.want)
			}
		})
	}
	// Escapes and valid non-ASCII text still decode (slow path).
	b, err := Decode([]byte(head + `,"site":"caf\u00e9 \"x\"",` + pts + `}`))
	if err != nil || b.Site != `café "x"` {
		t.Fatalf("escaped site: %+v, %v", b, err)
	}
}

func TestJSONKeysFollowWire(t *testing.T) {
	for _, k := range []string{"v", "gateway", "seq", "device", "kind", "site", "tenant", "ts", "points"} {
		if !topLevelKeys[k] {
			t.Errorf("top-level key %q missing", k)
		}
	}
	for _, k := range []string{"n", "v", "u", "q"} {
		if !pointKeysExact[k] {
			t.Errorf("point key %q missing", k)
		}
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lineOracle is the line of every field path as decoding meets it (the
// last line given for a path wins, as when a struct field's key line
// follows its value's), with the nearest-ancestor rule of Source.Line.
type lineOracle map[string]int

func (o lineOracle) line(path string) int {
	for p := path; ; {
		if l, ok := o[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return o[""]
		}
		p = p[:i]
	}
}

// sourceDoc has the shapes a configuration or a profile has: lists of
// mappings, optional numbers, maps of structs and of lists.
type sourceDoc struct {
	Kind   string `yaml:"kind"`
	Points []struct {
		Name string   `yaml:"name"`
		Min  *float64 `yaml:"min"`
		Max  *float64 `yaml:"max"`
	} `yaml:"points"`
	Buses map[string]struct {
		Port  string `yaml:"port"`
		Speed int    `yaml:"speed"`
	} `yaml:"buses"`
	Keys map[string][]string `yaml:"keys"`
	Next *sourceDoc          `yaml:"next"`
}

// TestSourceLinesAsDecoded: Source.Line, which walks the document when
// asked, gives for every field path the line decoding saw it at, and for
// a path not written the line of its nearest written ancestor. The files
// are the examples, the broken test files and documents with anchors,
// aliases, nulls, duplicate and unknown keys, keys holding dots and
// brackets, and block and flow styles.
func TestSourceLinesAsDecoded(t *testing.T) {
	check := func(t *testing.T, name string, data []byte, out any) {
		t.Helper()
		oracle := lineOracle{}
		src, _ := decode(name, data, out, func(path string, line int) { oracle[path] = line })
		if len(oracle) == 0 {
			if l := src.Line("anything"); l != 0 {
				t.Errorf("%s: nothing decoded, yet line %d", name, l)
			}
			return
		}
		for path := range oracle {
			for _, p := range []string{path, path + ".not_written", path + "[999]", path + "[x"} {
				if got, want := src.Line(p), oracle.line(p); got != want {
					t.Errorf("%s: line of %q is %d, want %d", name, p, got, want)
				}
			}
		}
	}
	var files []string
	for _, pattern := range []string{"examples/*.yaml", "testdata/broken/*.yaml", "../dashboards/compose/*.yaml"} {
		fs, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var file File
		check(t, f, data, &file)
	}
	docs := []string{
		"kind: k\npoints:\n  - {name: a, min: 1e3, max: 2}\n  - name: b\n    min: -1\n    max:\n  - &p {name: c, min: 0}\n  - *p\n",
		"kind: k\nbuses:\n  rs485.1:\n    port: /dev/ttyS0\n    speed: 9600\n  \"x[2]\": {port: /dev/ttyS1}\n  plain:\n    port: p\n",
		"kind: k\nkeys:\n  gw-1:\n    - aa\n    - bb\n  gw-2: [cc]\n",
		"kind: k\nkind: again\nunknown: 1\npoints: []\nnext:\n  kind: inner\n  points:\n    - {name: n}\n  next: ~\n",
		"base: &b\n  port: a\nbuses:\n  one: *b\n  two:\n    <<: *b\n    speed: 3\n",
		"kind: [not, a, string]\npoints: {not: a list}\nbuses: [1]\n",
		"\n\n# comment only\nkind: k\n",
		"",
		"kind: [\n",
	}
	for i, y := range docs {
		var d sourceDoc
		check(t, "doc"+string(rune('0'+i)), []byte(y), &d)
	}
}

// TestSourceScalar: a value is read back as written, through an alias;
// a mapping, a list or a path not written has no text.
func TestSourceScalar(t *testing.T) {
	y := "kind: k\npoints:\n  - {name: a, min: 1e3, max: 0x10}\n  - &p {name: b, min: 9007199254740993}\n  - *p\nbuses:\n  rs485.1: {port: \"/dev/tty S0\", speed: 9600}\nkeys:\n  gw: [a]\n  gw.1: [b]\n"
	var d sourceDoc
	src, errs := Decode("s.yaml", []byte(y), &d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for path, want := range map[string]string{
		"kind":                "k",
		"points[0].min":       "1e3",
		"points[0].max":       "0x10",
		"points[1].min":       "9007199254740993",
		"points[2].min":       "9007199254740993",
		"points[2].name":      "b",
		"buses.rs485.1.port":  "/dev/tty S0",
		"buses.rs485.1.speed": "9600",
		"keys.gw[0]":          "a",
		"keys.gw.1[0]":        "b",
	} {
		if got, ok := src.Scalar(path); !ok || got != want {
			t.Errorf("%s: %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"points", "points[0]", "points[3].min", "points[0].unit", "buses.rs485", "buses", "points[0].min.x", ""} {
		if got, ok := src.Scalar(path); ok {
			t.Errorf("%s: %q, want no text", path, got)
		}
	}
	var none *Source
	if _, ok := none.Scalar("kind"); ok || none.Line("kind") != 0 {
		t.Error("a nil Source has text or lines")
	}
}

// TestParseLetsTheDocumentGo: once Parse has checked a file, its File
// names the file but no longer holds the document.
func TestParseLetsTheDocumentGo(t *testing.T) {
	data, err := os.ReadFile("examples/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EIPGW_MQTT_PASSWORD", "secret")
	f, err := Parse("examples/edge.yaml", data, knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	if f.Source == nil || f.Source.File != "examples/edge.yaml" || f.Source.root != nil || f.Source.maps != nil {
		t.Errorf("after Parse the File's source is %+v, want the file's name alone", f.Source)
	}
}

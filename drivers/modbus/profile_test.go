package modbus

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/config"
)

// builtinNames are the device kinds that config.Device documents as built in.
var builtinNames = []string{"bds", "boiler", "cems", "chp", "heat_meter", "power_meter", "steam_meter"}

func TestBuiltin(t *testing.T) {
	ps, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	if got := ps.Names(); !slices.Equal(got, builtinNames) {
		t.Fatalf("Names() = %v, want %v", got, builtinNames)
	}
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			p := ps[name]
			if !ps.Has(name) || p == nil {
				t.Fatal("missing")
			}
			if want := "profiles/" + name + ".yaml"; p.Source != want {
				t.Errorf("Source = %q, want %q", p.Source, want)
			}
			if p.Kind == "" || p.Description == "" {
				t.Errorf("kind %q, description %q: both are required", p.Kind, p.Description)
			}
			if p.MaxGap != 16 || p.MaxRegisters != 125 {
				t.Errorf("max_gap %d, max_registers %d: want the defaults 16 and 125", p.MaxGap, p.MaxRegisters)
			}
			used := map[Table]map[int]string{Holding: {}, Input: {}}
			for i := range p.Points {
				pt := &p.Points[i]
				if pt.Unit == "" {
					t.Errorf("point %s has no unit", pt.Name)
				}
				if strings.TrimSpace(pt.Description) == "" {
					t.Errorf("point %s has no description", pt.Name)
				}
				if pt.Min != nil && pt.Max != nil && *pt.Min >= *pt.Max {
					t.Errorf("point %s: min %v is not below max %v", pt.Name, *pt.Min, *pt.Max)
				}
				for a := pt.Address; a < pt.Address+pt.Words(); a++ {
					if other, ok := used[pt.table][a]; ok {
						t.Errorf("point %s overlaps point %s at %s register %d", pt.Name, other, pt.TableName(), a)
					}
					used[pt.table][a] = pt.Name
				}
			}
			checkPlanCovers(t, p)
		})
	}
	if !ps.Has("chp") || ps.Has("nope") {
		t.Error("Has is wrong")
	}
}

// checkPlanCovers checks the invariants every plan keeps: each point is read
// exactly once, inside its read, from its own table, within the limits.
func checkPlanCovers(t *testing.T, p *Profile) {
	t.Helper()
	seen := make([]int, len(p.Points))
	for _, r := range p.Plan() {
		if r.Quantity < 1 || r.Quantity > 125 {
			t.Errorf("read %+v: quantity out of 1-125", r)
		}
		if len(r.Points) != len(r.Offsets) {
			t.Errorf("read %+v: %d points, %d offsets", r, len(r.Points), len(r.Offsets))
			continue
		}
		words := 0
		for k, pi := range r.Points {
			pt := &p.Points[pi]
			seen[pi]++
			words = max(words, pt.Words())
			if pt.table != r.Table {
				t.Errorf("point %s (%s) in a %s read", pt.Name, pt.table, r.Table)
			}
			if int(r.Address)+r.Offsets[k] != pt.Address {
				t.Errorf("point %s at %d: read %d + offset %d", pt.Name, pt.Address, r.Address, r.Offsets[k])
			}
			if r.Offsets[k]+pt.Words() > int(r.Quantity) {
				t.Errorf("point %s runs past the end of read %+v", pt.Name, r)
			}
		}
		if int(r.Quantity) > max(p.MaxRegisters, words) {
			t.Errorf("read %+v exceeds max_registers %d", r, p.MaxRegisters)
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("point %s is read %d times", p.Points[i].Name, n)
		}
	}
}

// badHead is lines 1-7 of the broken profiles below; their second point
// starts on line 8.
const badHead = `kind: test
table: holding
points:
  - name: a
    address: 0
    type: uint16
    unit: "1"
`

func TestParseProfileErrors(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		// want are substrings of the error, the first one
		// "bad.yaml:LINE: PATH".
		want []string
	}{
		{"unknown key", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "1"
    colour: red
`, []string{"bad.yaml:12: points[1].colour:", `unknown field "colour"`}},
		{"wrong type", badHead + `  - name: b
    address: two
    type: uint16
    unit: "1"
`, []string{"bad.yaml:9: points[1].address:", `expected an integer`, `"two"`}},
		{"list instead of string", badHead + `  - name: b
    address: 1
    type: [uint16]
    unit: "1"
`, []string{"bad.yaml:10: points[1].type:", "expected a string, got a list"}},
		{"unknown data type", badHead + `  - name: b
    address: 1
    type: float16
    unit: "1"
`, []string{"bad.yaml:10: points[1].type:", `unknown type "float16"`}},
		{"missing data type", badHead + `  - name: b
    address: 1
    unit: "1"
`, []string{"bad.yaml:8: points[1].type:", `unknown type ""`}},
		{"unknown byte order", badHead + `  - name: b
    address: 1
    type: uint32
    unit: "1"
    order: ADBC
`, []string{"bad.yaml:12: points[1].order:", `unknown byte order "ADBC"`}},
		{"duplicate point name", badHead + `  - name: a
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `point "a" is defined twice`}},
		{"max_registers above 125", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "1"
max_registers: 126
`, []string{"bad.yaml:12: max_registers:", "126 out of range 1-125"}},
		{"max_registers written as 0", badHead + `max_registers: 0
`, []string{"bad.yaml:8: max_registers:", "0 is not a valid setting (it would run as the default, 125)"}},
		{"byte order written empty", badHead + `  - {name: b, address: 1, type: uint32, unit: "1", order: ""}
`, []string{"bad.yaml:8: points[1].order:", `"" is not a valid setting (it would run as the default, "ABCD")`}},
		{"float32 off by one", `kind: test
points:
  - {name: a, address: 100, type: float32, unit: "1"}
  - {name: w, address: 100, type: uint16, unit: "1"}
  - {name: b, address: 101, type: float32, unit: "1"}
`, []string{"bad.yaml:5: points[2].address:", "the float32 at holding registers 101-102 (b) starts inside the float32 at holding registers 100-101 (a) and ends past it"}},
		{"earlier point straddles a later one, counted from 1", `kind: test
address_base: 1
points:
  - {name: b, address: 41, type: uint32, unit: "1"}
  - {name: a, address: 40, type: uint32, unit: "1"}
`, []string{"bad.yaml:5: points[1].address:", "the uint32 at holding registers 41-42 (b) starts inside the uint32 at holding registers 40-41 (a)"}},
		{"negative max_gap", badHead + `max_gap: -1
`, []string{"bad.yaml:8: max_gap:", "must not be negative"}},
		{"min above max", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "1"
    min: 10
    max: 5
`, []string{"bad.yaml:12: points[1].min:", "min 10 is above max 5"}},
		{"missing unit", badHead + `  - name: b
    address: 1
    type: uint16
`, []string{"bad.yaml:8: points[1].unit:", "required field is missing"}},
		{"unknown point table", badHead + `  - name: b
    address: 1
    table: coils
    type: uint16
    unit: "1"
`, []string{"bad.yaml:10: points[1].table:", `unknown table "coils"`}},
		{"unknown profile table", strings.Replace(badHead, "table: holding", "table: registers", 1),
			[]string{"bad.yaml:2: table:", `unknown table "registers"`}},
		{"zero scale", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "1"
    scale: 0
`, []string{"bad.yaml:12: points[1].scale:", "scale must not be 0"}},
		{"address past the last register", badHead + `  - name: b
    address: 65535
    type: float32
    unit: "1"
`, []string{"bad.yaml:9: points[1].address:", "a float32 at address 65535 takes 2 registers, past the last address 65535"}},
		{"address out of range", badHead + `  - name: b
    address: 65536
    type: uint16
    unit: "1"
`, []string{"bad.yaml:9: points[1].address:", "address 65536 out of range 0-65535"}},
		// A point's name becomes a field key in InfluxDB beside ingest's
		// own fields and tags: ingest would refuse every batch.
		{"point named like a tag", badHead + `  - name: gateway
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `"gateway" is reserved`, "tag"}},
		{"point named time", badHead + `  - name: time
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `"time" is reserved`}},
		{"point named like a quality field", badHead + `  - name: power_q
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `"power_q" is reserved`, "_q"}},
		{"point named batch_seq", badHead + `  - name: batch_seq
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `"batch_seq" is reserved`}},
		{"point name with a space", badHead + `  - name: bad name
    address: 1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:8: points[1].name:", `"bad name" is not a valid point name`}},
		{"unit with a space", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "k W"
`, []string{"bad.yaml:11: points[1].unit:", `"k W" is not a unit`}},
		{"unit with a comma", badHead + `  - name: b
    address: 1
    type: uint16
    unit: "a,b"
`, []string{"bad.yaml:11: points[1].unit:", `"a,b" is not a unit`}},
		{"reserved kind", "kind: completeness\n" + badHead[len("kind: test\n"):], []string{"bad.yaml:1: kind:", `"completeness" names a measurement eipgw writes itself`}},
		{"kind with a space", "kind: my kind\n" + badHead[len("kind: test\n"):], []string{"bad.yaml:1: kind:", `"my kind" is not a valid name`}},
		{"negative address", badHead + `  - name: b
    address: -1
    type: uint16
    unit: "1"
`, []string{"bad.yaml:9: points[1].address:", "address -1 out of range"}},
		{"missing kind", strings.Replace(badHead, "kind: test\n", "description: x\n", 1),
			[]string{"bad.yaml:1: kind:", "required field is missing"}},
		{"no points", "kind: test\npoints: []\n", []string{"bad.yaml:2: points:", "no points defined"}},
		{"duplicate key", badHead + "kind: again\n", []string{"bad.yaml:8: kind:", `duplicate key "kind"`}},
		{"invalid YAML", badHead + "  - name: [b\n", []string{"bad.yaml:", "invalid YAML"}},
		{"empty file", "", []string{"bad.yaml:1:", "file is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, errs := ParseProfile("bad.yaml", []byte(tt.yml))
			if p != nil {
				t.Errorf("got a profile along with errors")
			}
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			msg := errs.Err().Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestParseProfileErrorFields(t *testing.T) {
	// Several problems are all reported, in line order, each inspectable.
	yml := badHead + `  - name: b
    address: 1
    type: int24
    unit: "1"
  - name: c
    address: 2
    type: uint16
    order: XYZW
`
	_, errs := ParseProfile("bad.yaml", []byte(yml))
	es, ok := config.ErrorsOf(errs.Err())
	if !ok {
		t.Fatalf("ErrorsOf(%v) = false", errs)
	}
	type pos struct {
		line int
		path string
	}
	var got []pos
	for _, e := range es {
		if e.File != "bad.yaml" {
			t.Errorf("error %q: File = %q", e, e.File)
		}
		got = append(got, pos{e.Line, e.Path})
	}
	want := []pos{{10, "points[1].type"}, {12, "points[2].unit"}, {15, "points[2].order"}}
	if !slices.Equal(got, want) {
		t.Errorf("errors at %v, want %v\n%v", got, want, errs)
	}
}

func TestParseProfileDefaults(t *testing.T) {
	p := mustParse(t, `kind: test
description: defaults
points:
  - name: a
    address: 3
    type: float32
    unit: kW
  - name: b
    address: 0
    table: input
    type: int16
    order: BADC
    unit: "1"
`)
	if p.Table != "holding" || p.MaxGap != 16 || p.MaxRegisters != 125 || p.Source != "test.yaml" {
		t.Errorf("table %q, max_gap %d, max_registers %d, source %q", p.Table, p.MaxGap, p.MaxRegisters, p.Source)
	}
	a, b := &p.Points[0], &p.Points[1]
	if a.TableName() != "holding" || b.TableName() != "input" {
		t.Errorf("tables %s, %s; want holding, input", a.TableName(), b.TableName())
	}
	if a.Order != "ABCD" || b.Order != "BADC" {
		t.Errorf("orders %s, %s", a.Order, b.Order)
	}
	if a.Words() != 2 || b.Words() != 1 {
		t.Errorf("words %d, %d", a.Words(), b.Words())
	}
	// Without min and max every finite value is in range.
	if v, ok := a.Decode([]uint16{0xFF7F, 0xFFFF}); !ok || v != -3.4028234663852886e38 {
		t.Errorf("Decode(-MaxFloat32) = %v, %v", v, ok)
	}
	// The last register is addressable.
	mustParse(t, "kind: t\npoints:\n  - {name: x, address: 65532, type: uint64, unit: \"1\"}\n")
}

const userPowerMeter = `kind: power_meter
description: a site-specific meter
points:
  - name: active_power
    address: 100
    type: float32
    unit: kW
`

const userPump = `kind: pump
description: a pump
table: input
points:
  - name: speed
    address: 0
    type: uint16
    unit: rpm
`

// brokenProfile has an unknown type on line 6.
const brokenProfile = `kind: broken
points:
  - name: a
    address: 0
    unit: "1"
    type: double
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadUserProfiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"power_meter.yaml": userPowerMeter,
		"pump.yaml":        userPump,
		"README.md":        "not a profile",
		"pump.yml":         "not read: only *.yaml",
	})
	ps, err := Load([]string{dir})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := append(slices.Clone(builtinNames), "pump")
	slices.Sort(want)
	if got := ps.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	pm := ps["power_meter"]
	if pm.Source != filepath.Join(dir, "power_meter.yaml") || pm.Description != "a site-specific meter" ||
		len(pm.Points) != 1 || pm.Points[0].Address != 100 {
		t.Errorf("power_meter was not replaced by the user profile: %+v", pm)
	}
	if ps["pump"].Points[0].TableName() != "input" {
		t.Errorf("pump table = %s", ps["pump"].Points[0].TableName())
	}
	if ps["chp"].Source != "profiles/chp.yaml" {
		t.Errorf("chp source = %q", ps["chp"].Source)
	}

	// Later directories win over earlier ones.
	dir2 := writeFiles(t, map[string]string{"pump.yaml": strings.Replace(userPump, "a pump", "the second pump", 1)})
	ps, err = Load([]string{dir, dir2})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if ps["pump"].Description != "the second pump" {
		t.Errorf("pump from %s, want %s", ps["pump"].Source, dir2)
	}

	// No directories: the built-in profiles alone.
	ps, err = Load(nil)
	if err != nil || !slices.Equal(ps.Names(), builtinNames) {
		t.Errorf("Load(nil) = %v, %v", ps.Names(), err)
	}
}

func TestLoadBrokenProfile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"pump.yaml":   userPump,
		"broken.yaml": brokenProfile,
		// A broken replacement leaves the built-in profile in place.
		"chp.yaml": "kind: chp\npoints: 3\n",
	})
	ps, err := Load([]string{dir})
	if err == nil {
		t.Fatal("Load: no error for broken profiles")
	}
	es, ok := config.ErrorsOf(err)
	if !ok || len(es) != 2 {
		t.Fatalf("Load error %q: want 2 config.Errors", err)
	}
	msg := err.Error()
	for _, w := range []string{
		filepath.Join(dir, "broken.yaml") + ":6: points[0].type:",
		filepath.Join(dir, "chp.yaml") + ":2: points:",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	want := append(slices.Clone(builtinNames), "pump")
	slices.Sort(want)
	if ps == nil || !slices.Equal(ps.Names(), want) {
		t.Fatalf("profiles = %v, want %v", ps.Names(), want)
	}
	if ps["chp"].Source != "profiles/chp.yaml" {
		t.Errorf("chp source = %q, want the built-in", ps["chp"].Source)
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	ps, err := Load([]string{missing})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "profile directory") {
		t.Errorf("Load(%s) error = %v", missing, err)
	}
	if !slices.Equal(ps.Names(), builtinNames) {
		t.Errorf("profiles = %v, want the built-in ones", ps.Names())
	}
}

// TestLoadDirectoryWithGlobCharacters guards a directory whose path holds
// glob metacharacters: it was used as a pattern, so its profiles were
// silently skipped ("[site]") or every profile was lost ("[").
func TestLoadDirectoryWithGlobCharacters(t *testing.T) {
	for _, name := range []string{"profiles[site]", "profiles[", "pro*files", "pro?files"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "pump.yaml"), []byte(userPump), 0o644); err != nil {
				t.Fatal(err)
			}
			ps, err := Load([]string{dir})
			if err != nil {
				t.Fatalf("Load(%s): %v", dir, err)
			}
			if !ps.Has("pump") || !ps.Has("chp") {
				t.Errorf("Load(%s) = %v, want the built-in profiles and pump", dir, ps.Names())
			}
		})
	}
}

// TestProfileAddressesAreDecimal: a zero-padded address copied from a
// manual is decimal, never octal; 0x marks a hexadecimal one.
func TestProfileAddressesAreDecimal(t *testing.T) {
	p, errs := ParseProfile("p.yaml", []byte(`kind: test
points:
  - {name: a, address: 0100, type: uint16, unit: "1"}
  - {name: b, address: 010, type: uint16, unit: "1"}
  - {name: c, address: 0108, type: uint16, unit: "1"}
  - {name: d, address: 0x200, type: uint16, unit: "1"}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i, want := range []int{100, 10, 108, 512} {
		if got := p.Points[i].Register(); got != want {
			t.Errorf("%s: register %d, want %d", p.Points[i].Name, got, want)
		}
	}
	_, errs = ParseProfile("p.yaml", []byte("kind: test\npoints:\n  - {name: a, address: 1_000, type: uint16, unit: \"1\"}\n"))
	if want := `p.yaml:3: points[0].address: expected an integer (64-bit), got "1_000"`; len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) {
		t.Errorf("address 1_000: %v, want %s", errs, want)
	}
}

// TestLoadProfileSizeLimit: a profile file is read up to 4 MiB, as a
// configuration file is; a larger one, or a device that never ends, is an
// error naming the file.
func TestLoadProfileSizeLimit(t *testing.T) {
	const limit = 4 << 20
	big := []byte(userPump + "# " + strings.Repeat("x", limit) + "\n")
	atLimit := big[:limit-1]
	atLimit = append(atLimit[:len(atLimit):len(atLimit)], '\n')
	dir := writeFiles(t, map[string]string{"big.yaml": string(big), "pump.yaml": string(atLimit)})
	ps, err := Load([]string{dir})
	want := fmt.Sprintf("%[1]s: %[1]s is %d bytes, larger than 4194304 bytes (4 MiB), the limit of a profile", filepath.Join(dir, "big.yaml"), len(big))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Load: %v\nwant prefix %s", err, want)
	}
	if !ps.Has("pump") || ps.Has("big") {
		t.Errorf("profiles = %v, want pump (at the limit) and not big", ps.Names())
	}

	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir = t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Skip(err)
	}
	_, err = Load([]string{dir})
	want = fmt.Sprintf("%s: %s is larger than 4194304 bytes (4 MiB), the limit of a profile", filepath.Join(dir, "zero.yaml"), filepath.Join(dir, "zero.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load: %v\nwant prefix %s", err, want)
	}
}

// TestProfileOneDocument: a profile followed by a second YAML document is
// an error naming the file and the line where it starts.
func TestProfileOneDocument(t *testing.T) {
	const prof = "kind: test\npoints:\n  - {name: a, address: 0, type: uint16, unit: \"1\"}\n"
	if _, errs := ParseProfile("p.yaml", []byte(prof+"---\n")); len(errs) > 0 {
		t.Errorf("trailing ---: %v", errs)
	}
	_, errs := ParseProfile("p.yaml", []byte(prof+"---\npoints:\n  - {name: b, address: 1, type: uint16, unit: \"1\"}\n"))
	if want := "p.yaml:4: a second YAML document starts here: one YAML document per file"; len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) {
		t.Errorf("second document: %v, want %s", errs, want)
	}
}

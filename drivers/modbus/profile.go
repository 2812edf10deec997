package modbus

import (
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/eipgw/eipgw/config"
)

//go:embed profiles/*.yaml
var builtinFS embed.FS

// Profile is a device's register map: what to read and how to decode it.
type Profile struct {
	// Kind names the device kind; it becomes the InfluxDB measurement.
	Kind        string `yaml:"kind"`
	Description string `yaml:"description"`
	// Table is the default register table of the points: holding or input.
	Table  string  `yaml:"table"`
	Points []Point `yaml:"points"`
	// MaxGap is the largest run of unused registers a merged read may span
	// (default 16); MaxRegisters caps one read (default and maximum 125).
	MaxGapSet    *int `yaml:"max_gap"`
	MaxGap       int  `yaml:"-"`
	MaxRegisters int  `yaml:"max_registers"`

	// Source is the file the profile came from.
	Source string `yaml:"-"`
}

// Point is one decoded quantity.
type Point struct {
	Name string `yaml:"name"`
	// Address is the 0-based register address.
	Address int `yaml:"address"`
	// Table overrides the profile's table for this point.
	Table string `yaml:"table"`
	// Type is one of int16, uint16, int32, uint32, int64, uint64, float32,
	// float64.
	Type string `yaml:"type"`
	// Order is the byte order of multi-register values: ABCD (big-endian,
	// default), CDAB (word-swapped), BADC (byte-swapped), DCBA (little-endian).
	Order string `yaml:"order"`
	// Value = raw * Scale + Offset; Scale defaults to 1.
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
	// Min and Max bound a plausible value; outside, the reading is
	// out_of_range.
	Min         *float64 `yaml:"min"`
	Max         *float64 `yaml:"max"`
	Description string   `yaml:"description"`

	table    Table
	dtype    dataType
	order    byteOrder
	scale    float64
	fromF32  bool
	minValue float64
	maxValue float64
}

// Profiles is a set of profiles by name (file name without .yaml).
type Profiles map[string]*Profile

// Has reports whether name is a known profile.
func (ps Profiles) Has(name string) bool { _, ok := ps[name]; return ok }

// Names returns the profile names, sorted.
func (ps Profiles) Names() []string {
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns the embedded profiles of the reference park's device kinds.
func Builtin() (Profiles, error) {
	ps := Profiles{}
	entries, err := builtinFS.ReadDir("profiles")
	if err != nil {
		return nil, err
	}
	var errs config.Errors
	for _, e := range entries {
		data, err := builtinFS.ReadFile("profiles/" + e.Name())
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".yaml")
		p, es := ParseProfile("profiles/"+e.Name(), data)
		errs = append(errs, es...)
		if p != nil {
			ps[name] = p
		}
	}
	return ps, errs.Err()
}

// Load returns the built-in profiles plus those in dirs (each *.yaml file
// is one profile named after the file; a user profile may replace a built-in
// one of the same name). With errors in user profiles it returns the
// profiles that loaded and a config.Errors naming each problem.
func Load(dirs []string) (Profiles, error) {
	ps, err := Builtin()
	if err != nil {
		return nil, err
	}
	var errs config.Errors
	for _, dir := range dirs {
		// Not filepath.Glob: dir is a path, not a pattern, and may hold
		// glob metacharacters such as '['.
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, &config.Error{File: dir, Msg: fmt.Sprintf("profile directory: %v", err)})
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".yaml") {
				continue
			}
			f := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, &config.Error{File: f, Msg: err.Error()})
				continue
			}
			p, es := ParseProfile(f, data)
			errs = append(errs, es...)
			if p != nil {
				ps[strings.TrimSuffix(filepath.Base(f), ".yaml")] = p
			}
		}
	}
	return ps, errs.Err()
}

// ParseProfile strictly decodes and validates one profile file.
func ParseProfile(file string, data []byte) (*Profile, config.Errors) {
	var p Profile
	src, errs := config.Decode(file, data, &p)
	if len(errs) > 0 {
		return nil, errs
	}
	p.Source = file
	errs = p.prepare(src)
	if len(errs) > 0 {
		return nil, errs
	}
	return &p, nil
}

func (p *Profile) prepare(src *config.Source) config.Errors {
	var errs config.Errors
	if p.Kind == "" {
		errs = append(errs, src.Errorf("kind", "required field is missing"))
	}
	if p.Table == "" {
		p.Table = "holding"
	}
	if _, ok := tables[p.Table]; !ok {
		errs = append(errs, src.Errorf("table", "unknown table %q (holding or input)", p.Table))
	}
	p.MaxGap = 16
	if p.MaxGapSet != nil {
		p.MaxGap = *p.MaxGapSet // 0 is meaningful: merge only adjacent points
	}
	if p.MaxRegisters == 0 {
		p.MaxRegisters = 125
	}
	if p.MaxGap < 0 {
		errs = append(errs, src.Errorf("max_gap", "must not be negative"))
	}
	if p.MaxRegisters < 1 || p.MaxRegisters > 125 {
		errs = append(errs, src.Errorf("max_registers", "%d out of range 1-125", p.MaxRegisters))
	}
	if len(p.Points) == 0 {
		errs = append(errs, src.Errorf("points", "no points defined"))
	}
	names := map[string]bool{}
	for i := range p.Points {
		pt := &p.Points[i]
		path := fmt.Sprintf("points[%d]", i)
		if pt.Name == "" {
			errs = append(errs, src.Errorf(path+".name", "required field is missing"))
		} else if names[pt.Name] {
			errs = append(errs, src.Errorf(path+".name", "point %q is defined twice", pt.Name))
		}
		names[pt.Name] = true
		table := pt.Table
		if table == "" {
			table = p.Table
		}
		t, ok := tables[table]
		if !ok {
			errs = append(errs, src.Errorf(path+".table", "unknown table %q (holding or input)", table))
		}
		pt.table = t
		dt, ok := dataTypes[pt.Type]
		if !ok {
			errs = append(errs, src.Errorf(path+".type", "unknown type %q (int16, uint16, int32, uint32, int64, uint64, float32, float64)", pt.Type))
		}
		pt.dtype = dt
		if pt.Order == "" {
			pt.Order = "ABCD"
		}
		o, ok := byteOrders[pt.Order]
		if !ok {
			errs = append(errs, src.Errorf(path+".order", "unknown byte order %q (ABCD, CDAB, BADC, DCBA)", pt.Order))
		}
		pt.order = o
		if pt.Address < 0 || pt.Address+dt.words() > 65536 {
			errs = append(errs, src.Errorf(path+".address", "register %d out of range 0-65535", pt.Address))
		}
		pt.scale = 1
		if pt.Scale != nil {
			pt.scale = *pt.Scale
			if pt.scale == 0 {
				errs = append(errs, src.Errorf(path+".scale", "scale must not be 0"))
			}
		}
		pt.fromF32 = dt == typeFloat32 && pt.scale == 1 && pt.Offset == 0
		pt.minValue, pt.maxValue = math.Inf(-1), math.Inf(1)
		if pt.Min != nil {
			pt.minValue = *pt.Min
		}
		if pt.Max != nil {
			pt.maxValue = *pt.Max
		}
		if pt.minValue > pt.maxValue {
			errs = append(errs, src.Errorf(path+".min", "min %g is above max %g", pt.minValue, pt.maxValue))
		}
		if pt.Unit == "" {
			errs = append(errs, src.Errorf(path+".unit", "required field is missing (use \"1\" for dimensionless)"))
		}
	}
	return errs
}

// Words returns how many registers the point occupies.
func (pt *Point) Words() int { return pt.dtype.words() }

// Float32 reports whether the value is an unscaled IEEE float32, so that
// its shortest decimal form is the float32 one.
func (pt *Point) Float32() bool { return pt.fromF32 }

// TableName is the point's register table, "holding" or "input".
func (pt *Point) TableName() string { return pt.table.String() }

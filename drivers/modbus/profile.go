package modbus

import (
	"embed"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

//go:embed profiles/*.yaml
var builtinFS embed.FS

// Profile is a device's register map: what to read and how to decode it.
type Profile struct {
	// Kind names the device kind; it becomes the InfluxDB measurement.
	Kind        string `yaml:"kind"`
	Description string `yaml:"description"`
	// Table is the default table of the points: holding, input, coil or
	// discrete.
	Table  string  `yaml:"table"`
	Points []Point `yaml:"points"`
	// AddressBase is 0 when addresses are the protocol's 0-based ones (the
	// default) or 1 when they count from 1, as many device manuals do
	// (register 1 is protocol address 0).
	AddressBase int `yaml:"address_base"`
	// MaxGap is the largest run of unused registers (or bits, in the coil
	// and discrete tables) a merged read may span (default 16);
	// MaxRegisters caps one register read (default and maximum 125),
	// MaxBits one coil or discrete-input read (default and maximum 2000).
	MaxGapSet    *int `yaml:"max_gap"`
	MaxGap       int  `yaml:"-"`
	MaxRegisters int  `yaml:"max_registers"`
	MaxBits      int  `yaml:"max_bits"`

	// Source is the file the profile came from.
	Source string `yaml:"-"`

	// What every device of the profile shares, made once by ParseProfile:
	// its reads (a device copies the list, not the points' indexes, and
	// only changes its own copy), where each point's reading sits
	// (numeric points first, then strings) and each numeric point's good
	// reading in the contract's form with its value left out (see
	// Device.fill).
	plan     []Read
	slot     []int
	numeric  int
	readings []drivers.Reading
}

// Point is one decoded quantity.
type Point struct {
	Name string `yaml:"name"`
	// Address is the register (or coil, or discrete input) address, counted
	// from the profile's address_base.
	Address int `yaml:"address"`
	// Table overrides the profile's table for this point.
	Table string `yaml:"table"`
	// Type is one of int16, uint16, int32, uint32, int64, uint64, float32,
	// float64, bcd16, bcd32, bool, string.
	Type string `yaml:"type"`
	// Order is the byte order of multi-register values: ABCD (big-endian,
	// default), CDAB (word-swapped), BADC (byte-swapped), DCBA (little-endian).
	// A string takes ABCD (first character in the high byte) or BADC.
	Order string `yaml:"order"`
	// Bit selects one bit (0 least significant .. 15) of a holding or input
	// register for a bool point.
	Bit *int `yaml:"bit"`
	// Length is a string point's size in registers (two characters each).
	Length int `yaml:"length"`
	// Value = raw * Scale + Offset; Scale defaults to 1.
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
	// Min and Max bound a plausible value; outside, the reading is
	// out_of_range. For an exact integer point (ValueKind) they are
	// compared exactly, as written in the file, even beyond 2^53.
	Min         *float64 `yaml:"min"`
	Max         *float64 `yaml:"max"`
	Description string   `yaml:"description"`

	table   Table
	dtype   dataType
	order   byteOrder
	reg     int  // protocol (0-based) address
	words   int  // registers, or 1 bit
	bit     uint // for a bool in a register
	scale   float64
	fromF32 bool
	// plainF32: fromF32 in the ABCD order, decoded by Bus.result
	// without decodeBits.
	plainF32 bool
	minValue float64
	maxValue float64

	// Exact integer points: the kind of their readings and [Min, Max] as
	// whole numbers in that kind's domain (emptyRange: no value is in it).
	kind             ValueKind
	minInt, maxInt   int64
	minUint, maxUint uint64
	emptyRange       bool
	// minText and maxText are Min and Max as written in the file.
	minText, maxText string
}

// MaxProfileSize is the largest profile file read, in bytes: a
// configuration file's limit (4 MiB). A profile of hundreds of points is
// tens of kilobytes.
const MaxProfileSize = config.MaxFileSize

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
			data, err := config.ReadFileMax(f, MaxProfileSize, "a profile")
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
	if !src.Decoded() {
		return nil, errs
	}
	// A wrong type does not hide the profile's other problems: what
	// decoded is checked too, as the configuration is.
	p.Source = file
	p.limitTexts(src)
	errs = config.AfterDecode(errs, p.prepare(src))
	if len(errs) > 0 {
		return nil, errs
	}
	p.plan = p.Plan()
	p.slot, p.numeric = p.slots()
	p.readings = p.goodReadings(p.numeric)
	return &p, nil
}

// slots places each point's reading: the numeric points in profile
// order, then the strings.
func (p *Profile) slots() (slot []int, numeric int) {
	slot = make([]int, len(p.Points))
	for i := range p.Points {
		if !p.Points[i].Text() {
			slot[i] = numeric
			numeric++
		}
	}
	n := numeric
	for i := range p.Points {
		if p.Points[i].Text() {
			slot[i] = n
			n++
		}
	}
	return slot, numeric
}

// goodReadings returns the good reading of each of the profile's numeric
// points (numeric of them), by slot, with value 0: Device.fill copies one
// and sets its value, instead of writing every field of the contract's
// 80 bytes from the point's.
func (p *Profile) goodReadings(numeric int) []drivers.Reading {
	rs := make([]drivers.Reading, 0, numeric)
	for i := range p.Points {
		if pt := &p.Points[i]; !pt.Text() {
			var r drivers.Reading
			pt.goodReading(&r, 0)
			rs = append(rs, r)
		}
	}
	return rs
}

func (p *Profile) prepare(src *config.Source) config.Errors {
	var errs config.Errors
	switch {
	case p.Kind == "":
		errs = append(errs, src.Errorf("kind", "required field is missing"))
	case !config.ValidName(p.Kind):
		errs = append(errs, src.Errorf("kind", "%q is not a valid name: %s", p.Kind, config.NameRule))
	case config.ReservedKind(p.Kind):
		errs = append(errs, src.Errorf("kind", "%q %s", p.Kind, config.ReservedKindRule))
	}
	if p.Table == "" {
		p.Table = "holding"
	}
	if _, ok := tables[p.Table]; !ok {
		errs = append(errs, src.Errorf("table", "unknown table %q (holding, input, coil or discrete)", p.Table))
	}
	if p.AddressBase != 0 && p.AddressBase != 1 {
		errs = append(errs, src.Errorf("address_base", "%d: want 0 (protocol addresses) or 1 (addresses counted from 1)", p.AddressBase))
	}
	if p.MaxBits == 0 {
		p.MaxBits = maxBitsPerRead
	}
	if p.MaxBits < 1 || p.MaxBits > maxBitsPerRead {
		errs = append(errs, src.Errorf("max_bits", "%d out of range 1-%d", p.MaxBits, maxBitsPerRead))
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
		switch {
		case pt.Name == "":
			errs = append(errs, src.Errorf(path+".name", "required field is missing"))
		case !config.ValidName(pt.Name):
			errs = append(errs, src.Errorf(path+".name", "%q is not a valid point name: %s", pt.Name, config.NameRule))
		case config.ReservedPointName(pt.Name) != "":
			errs = append(errs, src.Errorf(path+".name", "%q is reserved: it %s", pt.Name, config.ReservedPointName(pt.Name)))
		case names[pt.Name]:
			errs = append(errs, src.Errorf(path+".name", "point %q is defined twice", pt.Name))
		}
		names[pt.Name] = true
		table := pt.Table
		if table == "" {
			table = p.Table
		}
		t, ok := tables[table]
		if !ok {
			errs = append(errs, src.Errorf(path+".table", "unknown table %q (holding, input, coil or discrete)", table))
		}
		pt.table = t
		dt, ok := dataTypes[pt.Type]
		if !ok {
			errs = append(errs, src.Errorf(path+".type", "unknown type %q (%s)", pt.Type, typeList))
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
		errs = append(errs, pt.prepareShape(src, path)...)
		pt.reg = pt.Address - p.AddressBase
		switch {
		case pt.reg < 0 || pt.reg > 65535:
			errs = append(errs, src.Errorf(path+".address", "address %d out of range %d-%d", pt.Address, p.AddressBase, 65535+p.AddressBase))
		case pt.reg+pt.words > 65536:
			errs = append(errs, src.Errorf(path+".address", "a %s at address %d takes %d registers, past the last address %d", pt.Type, pt.Address, pt.words, 65535+p.AddressBase))
		}
		pt.scale = 1
		if pt.Scale != nil {
			pt.scale = *pt.Scale
			if pt.scale == 0 {
				errs = append(errs, src.Errorf(path+".scale", "scale must not be 0"))
			}
		}
		pt.fromF32 = dt == typeFloat32 && pt.scale == 1 && pt.Offset == 0
		pt.plainF32 = pt.fromF32 && o == orderABCD
		pt.minValue, pt.maxValue = math.Inf(-1), math.Inf(1)
		if pt.Min != nil {
			pt.minValue = *pt.Min
		}
		if pt.Max != nil {
			pt.maxValue = *pt.Max
		}
		if pt.minValue > pt.maxValue {
			errs = append(errs, src.Errorf(path+".min", "min %g is above max %g", pt.minValue, pt.maxValue))
		} else if pt.prepareExact() {
			errs = append(errs, pt.emptyRangeError(src, path))
		} else if err := pt.scaledRangeError(src, path); err != nil {
			errs = append(errs, err)
		}
		switch {
		case pt.Unit == "":
			errs = append(errs, src.Errorf(path+".unit", "required field is missing (use \"1\" for dimensionless)"))
		case !config.ValidUnit(pt.Unit):
			errs = append(errs, src.Errorf(path+".unit", "%q is not a unit: %s", pt.Unit, config.UnitRule))
		}
	}
	errs = append(errs, p.overlaps(src)...)
	return append(errs, src.DefaultedZeros()...)
}

// overlaps reports the values that straddle another's end: starting
// inside its registers and ending past them, as a float32 at 101 beside
// one at 100 does. Such a pair is an address off by one and would store
// a plausible wrong value; neither can be a view of the other. A point
// wholly inside another (a uint16 word of a float32, the low half of a
// 64-bit counter) and bool points (bits of a register) may share
// registers: the planner reads them once.
func (p *Profile) overlaps(src *config.Source) config.Errors {
	idx := make([]int, 0, len(p.Points))
	for i := range p.Points {
		pt := &p.Points[i]
		if pt.dtype != typeBool && !pt.table.Bits() && pt.words > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := &p.Points[idx[a]], &p.Points[idx[b]]
		if x.table != y.table {
			return x.table < y.table
		}
		return x.reg < y.reg
	})
	var errs config.Errors
	for a, i := range idx {
		x := &p.Points[i]
		for _, j := range idx[a+1:] {
			y := &p.Points[j]
			if y.table != x.table || y.reg >= x.reg+x.words {
				break
			}
			if y.reg == x.reg || y.reg+y.words <= x.reg+x.words {
				continue // one inside the other
			}
			errs = append(errs, src.Errorf(fmt.Sprintf("points[%d].address", max(i, j)), // the later in the file
				"%s (%s) starts inside %s (%s) and ends past it: an address off by one, or the wrong type",
				y.registers(p.AddressBase), y.Name, x.registers(p.AddressBase), x.Name))
		}
	}
	return errs
}

// registers describes where a point lies, in the file's addresses.
func (pt *Point) registers(base int) string {
	from := pt.reg + base
	if pt.words == 1 {
		return fmt.Sprintf("the %s at %s register %d", pt.Type, pt.table, from)
	}
	return fmt.Sprintf("the %s at %s registers %d-%d", pt.Type, pt.table, from, from+pt.words-1)
}

// limitTexts records the min and max of each point as written in the
// file, so that an integer point compares 64-bit values with them exactly
// (a float64 holds integers exactly only up to 2^53). The file has been
// decoded strictly already: a limit whose text cannot be read keeps its
// float64 bound.
func (p *Profile) limitTexts(src *config.Source) {
	for i := range p.Points {
		pt := &p.Points[i]
		if pt.Min != nil {
			pt.minText, _ = src.Scalar("points[" + strconv.Itoa(i) + "].min")
		}
		if pt.Max != nil {
			pt.maxText, _ = src.Scalar("points[" + strconv.Itoa(i) + "].max")
		}
	}
}

// prepareExact sets the point's value kind and, for an exact integer
// point, its range as whole numbers: ceil(Min) to floor(Max), clamped to
// the values of its type (typeRange). It reports a range that no value of
// the type can meet.
func (pt *Point) prepareExact() (empty bool) {
	pt.kind = exactKind(pt.dtype, pt.scale, pt.Offset)
	if pt.kind == FloatValue {
		return false
	}
	lo, hi := typeRange(pt.dtype)
	if pt.Min != nil {
		if math.IsInf(*pt.Min, 1) {
			pt.emptyRange = true
		} else if !math.IsInf(*pt.Min, -1) {
			r := limitRat(pt.minText, *pt.Min)
			c := new(big.Int).Neg(floorRat(new(big.Rat).Neg(r))) // ceil
			if c.Cmp(lo) > 0 {
				lo = c
			}
		}
	}
	if pt.Max != nil {
		if math.IsInf(*pt.Max, -1) {
			pt.emptyRange = true
		} else if !math.IsInf(*pt.Max, 1) {
			f := floorRat(limitRat(pt.maxText, *pt.Max))
			if f.Cmp(hi) < 0 {
				hi = f
			}
		}
	}
	if pt.emptyRange || lo.Cmp(hi) > 0 {
		pt.emptyRange = true
		return true
	}
	if pt.kind == UintValue {
		pt.minUint, pt.maxUint = lo.Uint64(), hi.Uint64()
	} else {
		pt.minInt, pt.maxInt = lo.Int64(), hi.Int64()
	}
	return false
}

// emptyRangeError names a min or max that no value of the point's type
// can meet: such a point would read out_of_range at every poll.
func (pt *Point) emptyRangeError(src *config.Source, path string) *config.Error {
	lo, hi := typeRange(pt.dtype)
	// rat is a bound as an exact number; ±Inf stays outside every type.
	rat := func(text string, f float64) *big.Rat {
		switch {
		case math.IsInf(f, 1):
			return new(big.Rat).SetInt(new(big.Int).Add(hi, big.NewInt(1)))
		case math.IsInf(f, -1):
			return new(big.Rat).SetInt(new(big.Int).Sub(lo, big.NewInt(1)))
		}
		return limitRat(text, f)
	}
	var minR, maxR *big.Rat
	if pt.Min != nil {
		minR = rat(pt.minText, *pt.Min)
	}
	if pt.Max != nil {
		maxR = rat(pt.maxText, *pt.Max)
	}
	minText, maxText := "", ""
	if pt.Min != nil {
		minText = limitText(pt.minText, *pt.Min)
	}
	if pt.Max != nil {
		maxText = limitText(pt.maxText, *pt.Max)
	}
	switch {
	case minR != nil && minR.Cmp(new(big.Rat).SetInt(hi)) > 0:
		return src.Errorf(path+".min", "min %s is above the largest %s, %s: no value is in range", minText, pt.Type, hi)
	case maxR != nil && maxR.Cmp(new(big.Rat).SetInt(lo)) < 0:
		return src.Errorf(path+".max", "max %s is below the smallest %s, %s: no value is in range", maxText, pt.Type, lo)
	case minR != nil && maxR != nil && minR.Cmp(maxR) > 0:
		return src.Errorf(path+".min", "min %s is above max %s: no %s value is in range", minText, maxText, pt.Type)
	}
	return src.Errorf(path+".min", "no %s value lies between min %s and max %s: its values are whole numbers", pt.Type, minText, maxText)
}

// scaledRangeError names a min or max that no value of a scaled integer
// point can meet: its registers' range times scale plus offset.
func (pt *Point) scaledRangeError(src *config.Source, path string) *config.Error {
	if pt.kind != FloatValue || pt.dtype == typeFloat32 || pt.dtype == typeFloat64 || pt.dtype == typeString || pt.scale == 0 {
		return nil
	}
	lo, hi := typeRange(pt.dtype)
	l, _ := new(big.Float).SetInt(lo).Float64()
	h, _ := new(big.Float).SetInt(hi).Float64()
	vlo, vhi := l*pt.scale+pt.Offset, h*pt.scale+pt.Offset
	if vlo > vhi {
		vlo, vhi = vhi, vlo
	}
	switch {
	case pt.Min != nil && *pt.Min > vhi:
		return src.Errorf(path+".min", "min %g is above the largest value of this %s with its scale and offset, %g: no value is in range", *pt.Min, pt.Type, vhi)
	case pt.Max != nil && *pt.Max < vlo:
		return src.Errorf(path+".max", "max %g is below the smallest value of this %s with its scale and offset, %g: no value is in range", *pt.Max, pt.Type, vlo)
	}
	return nil
}

// typeRange is the smallest and the largest value of an integer type.
func typeRange(dt dataType) (lo, hi *big.Int) {
	switch dt {
	case typeInt16:
		return big.NewInt(math.MinInt16), big.NewInt(math.MaxInt16)
	case typeUint16:
		return new(big.Int), big.NewInt(math.MaxUint16)
	case typeInt32:
		return big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)
	case typeUint32:
		return new(big.Int), big.NewInt(math.MaxUint32)
	case typeBCD16:
		return new(big.Int), big.NewInt(9999)
	case typeBCD32:
		return new(big.Int), big.NewInt(99999999)
	case typeBool:
		return new(big.Int), big.NewInt(1)
	case typeUint64:
		return new(big.Int), new(big.Int).SetUint64(math.MaxUint64)
	}
	return big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
}

// limitRat is a bound exactly as written (text), or the float64 it was
// decoded to when the text is not a number big.Rat reads the same way.
func limitRat(text string, f float64) *big.Rat {
	if r, ok := new(big.Rat).SetString(text); ok {
		if g, _ := r.Float64(); g == f {
			return r
		}
	}
	return new(big.Rat).SetFloat64(f)
}

// limitText is a bound for messages: as written, or its float64.
func limitText(text string, f float64) string {
	if text != "" {
		return text
	}
	return fmt.Sprint(f)
}

// floorRat is the largest integer not above r.
func floorRat(r *big.Rat) *big.Int {
	// Euclidean division by the positive denominator rounds down.
	return new(big.Int).Div(r.Num(), r.Denom())
}

// ValueKind says how the point's readings are exact: IntValue or
// UintValue for an integer register type with scale 1 and offset 0
// (bool, bcd16 and bcd32 included), FloatValue otherwise.
func (pt *Point) ValueKind() ValueKind { return pt.kind }

// prepareShape checks what only some types take (bit, length, order) and
// sets the point's size.
func (pt *Point) prepareShape(src *config.Source, path string) config.Errors {
	var errs config.Errors
	pt.words = pt.dtype.words()
	if pt.Bit != nil && pt.dtype != typeBool {
		errs = append(errs, src.Errorf(path+".bit", "bit applies to type bool only"))
	}
	if pt.Length != 0 && pt.dtype != typeString {
		errs = append(errs, src.Errorf(path+".length", "length applies to type string only"))
	}
	if pt.table.Bits() && pt.dtype != typeBool {
		errs = append(errs, src.Errorf(path+".type", "the %s table holds single bits: use type bool", pt.table))
	}
	switch pt.dtype {
	case typeBool:
		switch {
		case pt.table.Bits() && pt.Bit != nil:
			errs = append(errs, src.Errorf(path+".bit", "a %s is a single bit already", pt.table))
		case !pt.table.Bits() && pt.Bit == nil:
			errs = append(errs, src.Errorf(path+".bit", "a bool in a %s register needs bit: 0-15", pt.table))
		case pt.Bit != nil && (*pt.Bit < 0 || *pt.Bit > 15):
			errs = append(errs, src.Errorf(path+".bit", "bit %d out of range 0-15", *pt.Bit))
		case pt.Bit != nil:
			pt.bit = uint(*pt.Bit)
		}
	case typeString:
		if pt.Length < 1 || pt.Length > maxStringRegisters {
			errs = append(errs, src.Errorf(path+".length", "a string needs length: 1-%d registers", maxStringRegisters))
		} else {
			pt.words = pt.Length
		}
		if pt.order != orderABCD && pt.order != orderBADC {
			errs = append(errs, src.Errorf(path+".order", "a string takes order ABCD or BADC"))
		}
	}
	return errs
}

// maxStringRegisters bounds a string point (250 characters).
const maxStringRegisters = 125

// Words returns how many registers the point occupies; 1 for a coil or a
// discrete input (one bit).
func (pt *Point) Words() int { return pt.words }

// Register returns the point's protocol (0-based) address in its table.
func (pt *Point) Register() int { return pt.reg }

// TableID returns the point's table.
func (pt *Point) TableID() Table { return pt.table }

// Text reports whether the point is a string (its reading carries Text,
// not Value).
func (pt *Point) Text() bool { return pt.dtype == typeString }

// Float32 reports whether the value is an unscaled IEEE float32, so that
// its shortest decimal form is the float32 one.
func (pt *Point) Float32() bool { return pt.fromF32 }

// TableName is the point's register table, "holding" or "input".
func (pt *Point) TableName() string { return pt.table.String() }

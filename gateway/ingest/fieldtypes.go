package ingest

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// Field types. InfluxDB 1.8 fixes a field's type in a shard by the first
// point written there: a later point whose field has the other type is
// dropped whole ("partial write: field type conflict"), with every other
// reading of its line. A measurement is a device kind, shared by every
// device of the kind, so one batch of the wrong type — a profile that
// turned a float register into an integer one, a third-party publisher
// writing 28 for 28.0, or anyone who can publish stamping the first point
// of a new shard — would keep every device of the kind out of the
// database until the shard ends.
//
// Ingest therefore keeps the type of each field of each measurement
// (fieldTypes): read from InfluxDB (SHOW FIELD KEYS) the first time a kind
// is seen, taken from the batches it writes for fields InfluxDB did not
// have, and corrected by InfluxDB's answer when a write meets a conflict.
// A reading whose type differs from its field's is written in the field's
// type when that is exact (an integer of at most 2^53 as a float, an
// integral float as an integer) and otherwise as quality type_conflict, as
// a uint64 above 2^63-1 is written as out_of_range: the line's other
// readings are stored, and the mismatch is counted and logged. A device's
// batches are checked again only when their point names or types change
// (typeCheck), so the common case costs one hash of the names a batch.

// QualityTypeConflict is the quality ingest writes for a reading whose value
// its field in InfluxDB cannot hold exactly (docs/contracts.md, "Integers").
const QualityTypeConflict = "type_conflict"

// fieldType is a field's type in InfluxDB.
type fieldType uint8

const (
	typeUnknown fieldType = iota
	typeFloat
	typeInteger
	typeOther // string, boolean, unsigned: no reading is written as one
)

func (t fieldType) String() string {
	switch t {
	case typeFloat:
		return "float"
	case typeInteger:
		return "integer"
	case typeOther:
		return "other"
	}
	return "unknown"
}

func parseFieldType(s string) fieldType {
	switch s {
	case "float":
		return typeFloat
	case "integer":
		return typeInteger
	case "":
		return typeUnknown
	}
	return typeOther
}

// pointType is the field type appendField writes p as; typeUnknown for a
// point written as its quality.
func pointType(p *batch.Point) fieldType {
	switch {
	case p.Quality != batch.Good:
		return typeUnknown
	case p.Kind == batch.IntValue, p.Kind == batch.UintValue && p.Uint <= math.MaxInt64:
		return typeInteger
	case p.Kind == batch.UintValue:
		return typeUnknown // written as out_of_range
	}
	return typeFloat
}

// maxKnownFields bounds the fields fieldTypes keeps (about 100 bytes each):
// past it, fields are still corrected by conflicts but no longer learnt
// from the batches written.
const maxKnownFields = 1 << 18

// seedRetry is the least time between two attempts to read a kind's field
// types from InfluxDB.
const seedRetry = 30 * time.Second

// fieldTypes is the type of each field of each measurement, shared by the
// workers of one ingest. Safe for concurrent use.
type fieldTypes struct {
	q       *influxQL // nil: InfluxDB is not asked (tests)
	timeout time.Duration
	log     *slog.Logger
	// version changes whenever a known type changes: every device's
	// check (typeCheck) is then made again.
	version atomic.Uint64

	mu    sync.Mutex
	kinds map[string]*kindFields
	n     int
	fails telemetry.Repeats
}

type kindFields struct {
	fields map[string]fieldType
	seeded bool
	// tried is the last failed attempt to seed.
	tried time.Time
}

func newFieldTypes(q *influxQL, timeout time.Duration, log *slog.Logger) *fieldTypes {
	ft := &fieldTypes{q: q, timeout: timeout, log: log, kinds: map[string]*kindFields{}}
	ft.fails.Interval = failureLogInterval
	return ft
}

// kind returns the fields of kind, read from InfluxDB the first time (and
// again after a failure, at most every seedRetry). Called with ft.mu held;
// it releases it during the query.
func (ft *fieldTypes) kind(kind string) *kindFields {
	k := ft.kinds[kind]
	if k == nil {
		k = &kindFields{fields: map[string]fieldType{}}
		ft.kinds[kind] = k
	}
	now := time.Now()
	if k.seeded || ft.q == nil || now.Sub(k.tried) < seedRetry {
		return k
	}
	ft.mu.Unlock()
	stored, err := ft.show(kind)
	ft.mu.Lock()
	if err != nil {
		k.tried = now
		if log, unlogged := ft.fails.Failure(now); log {
			ft.log.Warn("could not read the field types of a measurement from InfluxDB; checking its batches against those written since start", "measurement", kind, "err", err, "failed_since_last_log", unlogged)
		}
		return k
	}
	k.seeded = true
	for f, t := range stored {
		if _, ok := k.fields[f]; !ok && ft.n < maxKnownFields {
			k.fields[f] = t
			ft.n++
		}
	}
	return k
}

// show reads a measurement's field types. A field of two types (shards
// written at different times) is left out: which the newest shard holds
// is unknown, and a conflict will tell.
func (ft *fieldTypes) show(kind string) (map[string]fieldType, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ft.timeout)
	defer cancel()
	series, err := ft.q.Series(ctx, fmt.Sprintf(`SHOW FIELD KEYS FROM "%s"`, strings.ReplaceAll(kind, `"`, `\"`)), 16<<20)
	if err != nil {
		return nil, err
	}
	out := map[string]fieldType{}
	two := map[string]bool{}
	for _, s := range series {
		ki, ti := -1, -1
		for i, c := range s.Columns {
			switch c {
			case "fieldKey":
				ki = i
			case "fieldType":
				ti = i
			}
		}
		if ki < 0 || ti < 0 {
			return nil, fmt.Errorf("SHOW FIELD KEYS answered columns %v", s.Columns)
		}
		for _, v := range s.Values {
			if len(v) <= max(ki, ti) {
				continue
			}
			name, _ := v[ki].(string)
			typ, _ := v[ti].(string)
			t := parseFieldType(typ)
			if old, ok := out[name]; ok && old != t {
				two[name] = true
			}
			out[name] = t
		}
	}
	for name := range two {
		delete(out, name)
	}
	return out, nil
}

// conversion is a point of a batch to write in another type than its own.
type conversion struct {
	index int
	to    fieldType
}

// plan returns the points of b to write in another type, and learns the
// types of b's fields InfluxDB did not know.
func (ft *fieldTypes) plan(b *batch.Batch) []conversion {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	k := ft.kind(b.Kind)
	var convs []conversion
	for i := range b.Points {
		p := &b.Points[i]
		t := pointType(p)
		if t == typeUnknown {
			continue
		}
		known, ok := k.fields[p.Name]
		switch {
		case !ok && ft.n < maxKnownFields:
			k.fields[p.Name] = t
			ft.n++
		case ok && known != t:
			convs = append(convs, conversion{i, known})
		}
	}
	return convs
}

// learn records the type InfluxDB holds a field in, from a conflict.
// It reports whether that changed what was known.
func (ft *fieldTypes) learn(kind, field string, t fieldType) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	k := ft.kinds[kind]
	if k == nil {
		k = &kindFields{fields: map[string]fieldType{}}
		ft.kinds[kind] = k
	}
	old, ok := k.fields[field]
	if ok && old == t {
		return false
	}
	if !ok {
		ft.n++
	}
	k.fields[field] = t
	ft.version.Add(1)
	return true
}

// conflictRE reads InfluxDB 1.8's answer to a point whose field has another
// type in the shard.
var conflictRE = regexp.MustCompile(`field type conflict: input field "([^"]*)" on measurement "([^"]*)" is type (\w+), already exists as type (\w+)`)

// parseConflict reads the measurement, field and stored type of a field
// type conflict from a write's error.
func parseConflict(err error) (kind, field string, stored fieldType, ok bool) {
	m := conflictRE.FindStringSubmatch(influxwrite.Reason(err))
	if m == nil {
		return "", "", typeUnknown, false
	}
	return m[2], m[1], parseFieldType(m[4]), true
}

// typeCheck is a device's last check against fieldTypes: its batch's kind,
// the hashes of its point names and of their types, the version of
// fieldTypes it was made at, and the conversions it found.
type typeCheck struct {
	kind         string
	names, types uint64
	version      uint64
	convs        []conversion
}

// maxTypeChecks bounds a worker's typeChecks: past it, they start afresh.
const maxTypeChecks = 100000

// namesSum hashes the names of ps in order, for points not decoded with
// the worker's batch.Names (which hashed them already).
func namesSum(seed maphash.Seed, ps []batch.Point) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var l [2]byte
	for i := range ps {
		l[0], l[1] = byte(len(ps[i].Name)>>8), byte(len(ps[i].Name))
		h.Write(l[:])
		h.WriteString(ps[i].Name)
	}
	return h.Sum64()
}

// fixTypes writes each point of b whose type differs from its field's in
// InfluxDB in the field's type, or as quality type_conflict (see above).
func (w *worker) fixTypes(b *batch.Batch) {
	ft := w.in.types
	if ft == nil {
		return
	}
	if w.typeChecks == nil || len(w.typeChecks) >= maxTypeChecks {
		w.typeChecks = map[string]*typeCheck{}
		w.typeSeed = maphash.MakeSeed()
	}
	names, ok := w.names.Sum(b.Points)
	if !ok {
		names = namesSum(w.typeSeed, b.Points)
	}
	w.typeBuf = w.typeBuf[:0]
	for i := range b.Points {
		w.typeBuf = append(w.typeBuf, byte(pointType(&b.Points[i])))
	}
	types, version := maphash.Bytes(w.typeSeed, w.typeBuf), ft.version.Load()
	w.typeKey = append(append(append(w.typeKey[:0], b.Gateway...), 0), b.Device...)
	c := w.typeChecks[string(w.typeKey)]
	if c == nil || c.kind != b.Kind || c.names != names || c.types != types || c.version != version {
		c = &typeCheck{kind: strings.Clone(b.Kind), names: names, types: types, version: version, convs: ft.plan(b)}
		w.typeChecks[string(w.typeKey)] = c
	}
	for _, cv := range c.convs {
		w.convert(b, &b.Points[cv.index], cv.to)
	}
}

// convert writes p in type to, exactly, or flags it type_conflict.
func (w *worker) convert(b *batch.Batch, p *batch.Point, to fieldType) {
	from := pointType(p)
	exact := false
	switch {
	case to == typeFloat && p.Kind == batch.IntValue && p.Int >= -1<<53 && p.Int <= 1<<53:
		p.Value, exact = float64(p.Int), true
	case to == typeFloat && p.Kind == batch.UintValue && p.Uint <= 1<<53:
		p.Value, exact = float64(p.Uint), true
	case to == typeInteger && p.Kind == batch.FloatValue && p.Value == math.Trunc(p.Value) && p.Value >= -1<<63 && p.Value < 1<<63:
		p.Int, exact = int64(p.Value), true
	}
	outcome := "flagged"
	switch {
	case exact && to == typeFloat:
		p.Kind, p.Decimal, p.Float32, outcome = batch.FloatValue, "", false, "converted"
	case exact:
		p.Kind, p.Decimal, outcome = batch.IntValue, "", "converted"
	default:
		p.Quality = QualityTypeConflict
	}
	w.in.m.typeMismatches.WithLabelValues(outcome).Inc()
	if log, unlogged := w.in.typeLogs.Failure(time.Now()); log {
		w.in.log.Warn("a reading's type differs from its field's in InfluxDB (a changed profile, or a publisher sending the other type): written as the field's type where exact, else as quality "+QualityTypeConflict,
			"measurement", b.Kind, "field", p.Name, "field_type", to, "reading_type", from, "gateway", b.Gateway, "device", b.Device,
			"outcome", outcome, "mismatches_since_last_log", unlogged)
	}
}

// retype handles a write InfluxDB refused for a field type conflict: the
// field's type is learnt and e's lines made again from its payload. It
// reports whether the lines changed, so that writing them again may
// succeed.
func (w *worker) retype(e *entry, err error) bool {
	if w.in.types == nil {
		return false
	}
	kind, field, stored, ok := parseConflict(err)
	if !ok || !w.in.types.learn(kind, field, stored) {
		return false
	}
	b, derr := batch.Decode(e.msg.Payload())
	if derr != nil || b.Kind != kind {
		return false
	}
	b.Gateway, b.Device = e.gateway, e.device
	w.fixTypes(b)
	lines := w.linesOf(b)
	if e.ev != nil {
		// The evidence record, the last line, does not change.
		lines = append(e.ev.withFields(lines), e.lines[len(e.lines)-1])
	}
	if len(lines) != len(e.lines) {
		return false
	}
	changed := false
	for i := range lines {
		if string(lines[i]) != string(e.lines[i]) {
			changed = true
		}
	}
	if changed {
		e.lines = lines
	}
	return changed
}

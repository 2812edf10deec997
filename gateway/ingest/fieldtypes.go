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
// Ingest therefore knows two things about a field's type:
//
//   - the type its measurement holds it in, read with SHOW FIELD KEYS
//     (the bucket's retention policy, every shard) the first time a kind
//     is seen and every fieldTypesRefresh after; a field of two types is
//     left unknown. A reading of the other type is written in that type
//     when that is exact (an integer of at most 2^53 as a float, an
//     integral float as an integer): a publisher's integer cannot fix an
//     established float field's type in a new shard. Otherwise it is
//     written as it is: the shard decides.
//   - the type a shard holds it in, from InfluxDB's answer to a write that
//     met a conflict, kept for the hour of the batch's time (shards span
//     whole hours, so that hour lies in the shard). The batch is made
//     again, and the readings of that field in that hour are written in
//     that type, or, where that is not exact, as quality type_conflict (as
//     a uint64 above 2^63-1 is written as out_of_range): the line's other
//     readings are stored.
//
// Each mismatch is counted and logged. A device's batches are checked
// again only when their point names, types or hour change (typeCheck), so
// the common case costs one hash of the names a batch.

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

// maxKnownFields bounds the established fields fieldTypes keeps (about
// 100 bytes each); maxConflicts the hours of fields learnt from
// conflicts (forgotten all at once past it).
// maxKinds bounds the measurements (kind names anyone can invent).
const (
	maxKnownFields = 1 << 18
	maxConflicts   = 1 << 14
	maxKinds       = 10000
)

// seedRetry is the least time between two attempts to read a kind's field
// types from InfluxDB; fieldTypesRefresh how long what was read stands.
const (
	seedRetry         = 30 * time.Second
	fieldTypesRefresh = 10 * time.Minute
)

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
	// shards are the types learnt from conflicts, by kind, field and
	// hour of the batch's time.
	shards map[shardField]fieldType
	fails  telemetry.Repeats
	// seeds bounds the SHOW FIELD KEYS queries (a publisher inventing
	// kinds would otherwise cost one each, waited on by the worker).
	seeds lookupBudget
}

// kindFields are a measurement's established field types.
type kindFields struct {
	fields map[string]fieldType
	// read is when they were read; tried the last failed attempt.
	read, tried time.Time
}

// shardField is a field of a measurement in the hour starting at hour
// (Unix seconds).
type shardField struct {
	kind, field string
	hour        int64
}

func newFieldTypes(q *influxQL, timeout time.Duration, log *slog.Logger) *fieldTypes {
	ft := &fieldTypes{q: q, timeout: timeout, log: log, kinds: map[string]*kindFields{}, shards: map[shardField]fieldType{}}
	ft.fails.Interval = failureLogInterval
	return ft
}

// kind returns the established fields of kind, read from InfluxDB the
// first time and again once fieldTypesRefresh old (after a failure, at
// most every seedRetry; at most unverifiedLookups reads a second, the
// others wait for a later batch). Called with ft.mu held; it releases it during
// the query.
func (ft *fieldTypes) kind(kind string) *kindFields {
	k := ft.kinds[kind]
	if k == nil {
		if len(ft.kinds) >= maxKinds {
			clear(ft.kinds)
			ft.n = 0
			ft.version.Add(1)
		}
		k = &kindFields{fields: map[string]fieldType{}}
		ft.kinds[kind] = k
	}
	now := time.Now()
	if ft.q == nil || now.Sub(k.read) < fieldTypesRefresh || now.Sub(k.tried) < seedRetry || !ft.seeds.take(now) {
		return k
	}
	k.tried = now
	ft.mu.Unlock()
	stored, err := ft.show(kind)
	ft.mu.Lock()
	if err != nil {
		if log, unlogged := ft.fails.Failure(now); log {
			ft.log.Warn("could not read the field types of a measurement from InfluxDB; its readings are written in their own types meanwhile", "measurement", kind, "err", err, "failed_since_last_log", unlogged)
		}
		return k
	}
	k.read = now
	changed := len(stored) != len(k.fields)
	for f, t := range stored {
		if k.fields[f] != t {
			changed = true
		}
	}
	if changed {
		ft.n += len(stored) - len(k.fields)
		if ft.n > maxKnownFields {
			ft.n -= len(stored)
			stored = map[string]fieldType{}
		}
		k.fields = stored
		ft.version.Add(1)
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

// conversion is a point of a batch to write in another type than its own;
// exact: only if that is exact (the established type), else as it is.
type conversion struct {
	index int
	to    fieldType
	exact bool
}

// plan returns the points of b to write in another type: the shard's
// type where a conflict taught it for b's hour, else, exactly only, the
// measurement's established type.
func (ft *fieldTypes) plan(b *batch.Batch) []conversion {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	k := ft.kind(b.Kind)
	hour := hourOf(b.Time)
	var convs []conversion
	for i := range b.Points {
		p := &b.Points[i]
		t := pointType(p)
		if t == typeUnknown {
			continue
		}
		if st, ok := ft.shards[shardField{b.Kind, p.Name, hour}]; ok {
			if st != t {
				convs = append(convs, conversion{i, st, false})
			}
			continue
		}
		if known, ok := k.fields[p.Name]; ok && known != t {
			convs = append(convs, conversion{i, known, true})
		}
	}
	return convs
}

// hourOf is the start of the hour of t, Unix seconds.
func hourOf(t time.Time) int64 { return t.Unix() - t.Unix()%3600 }

// learn records the type a shard holds a field in, from a conflict of a
// batch stamped in the hour starting at hour.
func (ft *fieldTypes) learn(kind, field string, hour int64, t fieldType) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	key := shardField{kind, field, hour}
	if old, ok := ft.shards[key]; ok && old == t {
		return
	}
	if len(ft.shards) >= maxConflicts {
		clear(ft.shards)
	}
	ft.shards[key] = t
	ft.version.Add(1)
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
	kind          string
	names, types  uint64
	version, hour int64
	convs         []conversion
}

// maxTypeChecks bounds a worker's typeChecks: past it, they start afresh.
const maxTypeChecks = 100000

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
	names := w.names.SumOf(b.Points)
	w.typeBuf = w.typeBuf[:0]
	for i := range b.Points {
		w.typeBuf = append(w.typeBuf, byte(pointType(&b.Points[i])))
	}
	types, version, hour := maphash.Bytes(w.typeSeed, w.typeBuf), int64(ft.version.Load()), hourOf(b.Time)
	w.typeKey = append(append(append(w.typeKey[:0], b.Gateway...), 0), b.Device...)
	c := w.typeChecks[string(w.typeKey)]
	if c == nil || c.kind != b.Kind || c.names != names || c.types != types || c.version != version || c.hour != hour {
		c = &typeCheck{kind: strings.Clone(b.Kind), names: names, types: types, version: version, hour: hour, convs: ft.plan(b)}
		w.typeChecks[string(w.typeKey)] = c
	}
	for _, cv := range c.convs {
		w.convert(b, &b.Points[cv.index], cv.to, cv.exact)
	}
}

// convert writes p in type to, exactly, or flags it type_conflict (only
// exact: leaves it as it is).
func (w *worker) convert(b *batch.Batch, p *batch.Point, to fieldType, only bool) {
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
	if !exact && only {
		return
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
// shard's type of the field is learnt for the hour of e's batch, and e's
// lines made again from its payload. It reports whether the lines
// changed, so that writing them again may succeed; a conflict they do not
// settle (a field ingest does not convert) leaves them as they were.
func (w *worker) retype(e *entry, err error) bool {
	if w.in.types == nil {
		return false
	}
	kind, field, stored, ok := parseConflict(err)
	if !ok {
		return false
	}
	b, derr := batch.Decode(e.msg.Payload())
	if derr != nil || b.Kind != kind {
		return false
	}
	w.in.types.learn(kind, field, hourOf(b.Time), stored)
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

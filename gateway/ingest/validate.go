package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// Ingest trusts nothing it receives. Before a batch is written, admit
// checks (docs/contracts.md, "What ingest validates"):
//
//   - names: gateway, device, kind, site, tenant and point names follow
//     the configuration's name rule (config.ValidName);
//   - the measurement: kind is none of eipgw's own (config.ReservedKind);
//   - fields: a point name is none of config.ReservedPointName's (the
//     batch's own fields, a quality field's _q suffix, a tag key, time),
//     so a reading can never land in the sequence, the evidence or a
//     quality field, nor hide a tag from queries;
//   - values finite, units short printable text, qualities of the
//     contract, at most MaxPoints points;
//   - time: not before MinTime, not more than MaxClockSkew ahead;
//   - sequence numbers: within the int64 range InfluxDB stores, not
//     further than completeness.max_seq_jump above the highest number
//     accepted for the gateway (else quarantined), and below it only as a
//     redelivery: same content as remembered, or, not remembered,
//     nothing stored at that device and time, or exactly what writing
//     it would store (checkStored);
//   - a batch that fails its gateway's evidence: whatever its number,
//     only where it changes no stored reading (checkStored), and its
//     number neither moves the highest nor is remembered.
//
// Every refusal is dead-lettered with its reason and counted in
// eipgw_ingest_refused_total{reason}.

// Limits of what ingest accepts.
const (
	// MaxPoints is the most points one batch may carry: ten times the
	// largest edge.max_batch_points, so that a valid batch from an edge
	// that does not split its polls (120,000 points, 5 MB) is still
	// stored, in bounded write requests.
	MaxPoints = batch.MaxPoints
	// MaxUnitLen is the longest unit, in bytes.
	MaxUnitLen = config.MaxUnitLen
	// MaxClockSkew is how far a poll time may lie ahead of ingest's clock.
	MaxClockSkew = batch.MaxClockSkew
)

// MinTime is the earliest poll time accepted.
var MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Refusal reasons, the label of eipgw_ingest_refused_total.
const (
	ReasonMalformed   = "malformed"         // not a batch: JSON, shape, required fields, qualities
	ReasonTopic       = "topic"             // topic and payload disagree
	ReasonName        = "name"              // a name breaks the name rule
	ReasonReserved    = "reserved"          // kind or point name of eipgw's own
	ReasonValue       = "value"             // a value is not finite
	ReasonUnit        = "unit"              // a unit is not short printable text
	ReasonPoints      = "points"            // too many points
	ReasonTime        = "time"              // poll time out of bounds
	ReasonSeqRange    = "seq_range"         // beyond what InfluxDB stores
	ReasonSeqJump     = "seq_jump"          // implausibly far ahead: quarantined
	ReasonSeqConflict = "seq_conflict"      // seen before with other content
	ReasonSeqRegress  = "seq_regress"       // old number that would change stored readings
	ReasonUnverified  = "unverified"        // fails its evidence and would change stored readings
	ReasonTimeTaken   = "time_taken"        // a new number at a device and time another batch holds
	ReasonRejected    = "influxdb_rejected" // InfluxDB refused the points
	ReasonOther       = "other"             // anything else (InfluxDB kept failing it)
)

// refusalReasons are pre-declared so that every series exists from start.
var refusalReasons = []string{ReasonMalformed, ReasonTopic, ReasonName, ReasonReserved, ReasonValue,
	ReasonUnit, ReasonPoints, ReasonTime, ReasonSeqRange, ReasonSeqJump, ReasonSeqConflict,
	ReasonSeqRegress, ReasonUnverified, ReasonTimeTaken, ReasonRejected, ReasonOther}

// refusal is an error with its metric reason. It wraps batch.ErrInvalid.
type refusal struct {
	reason string
	msg    string
}

func (r *refusal) Error() string { return batch.ErrInvalid.Error() + ": " + r.msg }
func (r *refusal) Unwrap() error { return batch.ErrInvalid }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// refusalReason classifies the error a message was dead-lettered for.
func refusalReason(err error) string {
	var r *refusal
	var herr *ihttp.Error
	switch {
	case errors.As(err, &r):
		return r.reason
	case errors.As(err, &herr):
		return ReasonRejected
	case errors.Is(err, batch.ErrTooManyPoints):
		return ReasonPoints
	case errors.Is(err, batch.ErrInvalid):
		return ReasonMalformed
	}
	return ReasonOther
}

// short quotes s for an error message, cut to a readable length.
func short(s string) string {
	const n = 80
	if len(s) > n {
		return strconv.Quote(s[:n]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

const nameRule = "letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit"

// validateBatch applies the stateless rules to a decoded batch.
func validateBatch(b *batch.Batch, now time.Time) error {
	for _, f := range [...]struct {
		field, v string
		required bool
	}{{"gateway", b.Gateway, true}, {"device", b.Device, true}, {"kind", b.Kind, true}, {"site", b.Site, false}, {"tenant", b.Tenant, false}} {
		if (f.v != "" || f.required) && !config.ValidName(f.v) {
			return refuse(ReasonName, "%s %s is not a valid name: %s", f.field, short(f.v), nameRule)
		}
	}
	if config.ReservedKind(b.Kind) {
		return refuse(ReasonReserved, "kind %q %s", b.Kind, config.ReservedKindRule)
	}
	if b.Time.Before(MinTime) {
		return refuse(ReasonTime, "poll time %s is before %s", b.Time.Format(time.RFC3339Nano), MinTime.Format(time.RFC3339))
	}
	if b.Time.After(now.Add(MaxClockSkew)) {
		return refuse(ReasonTime, "poll time %s is more than %s ahead of ingest's clock (%s)", b.Time.Format(time.RFC3339Nano), MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	if b.Seq == 0 || b.Seq > math.MaxInt64 {
		return refuse(ReasonSeqRange, "seq %d is outside 1..%d (InfluxDB stores signed 64-bit integers)", b.Seq, int64(math.MaxInt64))
	}
	if len(b.Points) == 0 || len(b.Points) > MaxPoints {
		return refuse(ReasonPoints, "%d points: a batch carries 1 to %d", len(b.Points), MaxPoints)
	}
	for i := range b.Points {
		p := &b.Points[i]
		switch {
		case !config.ValidName(p.Name):
			return refuse(ReasonName, "points[%d]: name %s is not a valid name: %s", i, short(p.Name), nameRule)
		case config.ReservedPointName(p.Name) != "":
			return refuse(ReasonReserved, "points[%d]: name %q is reserved: it %s", i, p.Name, config.ReservedPointName(p.Name))
		case p.HasValue && (math.IsNaN(p.Value) || math.IsInf(p.Value, 0)):
			return refuse(ReasonValue, "points[%d] (%s): value %v is not finite", i, p.Name, p.Value)
		case !batch.ValidQuality(p.Quality):
			return refuse(ReasonMalformed, "points[%d] (%s): unknown quality %s", i, p.Name, short(p.Quality))
		}
		if p.Unit != "" && !config.ValidUnit(p.Unit) {
			return refuse(ReasonUnit, "points[%d] (%s): unit %s is not %s", i, p.Name, short(p.Unit), config.UnitRule)
		}
	}
	return nil
}

// seqGuard keeps, per gateway, the highest sequence number accepted, and
// decides on numbers far above it (quarantine) or below it (redelivery).
type seqGuard struct {
	maxJump uint64
	park    string
	q       *influxQL // nil: InfluxDB is not asked (tests)
	timeout time.Duration
	log     *slog.Logger
	// queryFails limits the log of failed queries while InfluxDB is
	// unreachable: each batch with an old sequence number asks.
	queryFails telemetry.Repeats

	// underEvidence reports whether a gateway's readings carry
	// batch_check (nil: none does).
	underEvidence func(gateway string) bool
	// lookups bounds the look-ups spent on batches that fail their
	// evidence (see check); seeds those of devices seen first
	// (seedRecent).
	lookups, seeds lookupBudget

	mu sync.Mutex
	hi map[string]uint64
	// recent are each device's latest poll times accepted (Unix ms): a
	// batch with a new number not later than the latest is checked, among
	// them first (batches accepted may not be stored yet), then against
	// what is stored at its time (timeFree). Cleared past maxRecent
	// devices (names anyone can invent): a cleared device is only not
	// checked.
	recent map[deviceKey]*recentTimes
}

// recentTimes are a device's last accepted poll times, newest at
// (next-1) mod len.
type recentTimes struct {
	ms   [16]int64
	seq  [16]uint64 // the number of the batch at ms (its last part's)
	next int
	n    int
}

// maxRecent bounds seqGuard.recent (about 150 B a device).
const maxRecent = 20000

// seedRecent starts a device this worker has not seen since it started
// from the poll time of its latest batch InfluxDB holds (of the last hour):
// a gateway whose clock stepped back while ingest restarted would
// otherwise have its first batches stored over earlier ones unasked. At
// most seedLookups a second (invented device names cost a query each).
func (g *seqGuard) seedRecent(b *batch.Batch) {
	if g.q == nil || b.Part > 0 {
		return
	}
	k := deviceKey{b.Gateway, b.Device}
	g.mu.Lock()
	_, known := g.recent[k]
	g.mu.Unlock()
	if known || !g.seeds.take(time.Now()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	// Of a gateway under evidence, the readings it signed: anyone could
	// have sent the others, stamped up to MaxClockSkew ahead (see stored).
	signed := g.signedWhere(b.Gateway)
	series, err := g.q.query(ctx, fmt.Sprintf(`SELECT last(%q) FROM /.*/ WHERE "park"::tag = '%s' AND "gateway"::tag = '%s' AND "device"::tag = '%s'%s AND time > now() - 1h`,
		SeqField, escapeQL(g.park), escapeQL(b.Gateway), escapeQL(b.Device), signed))
	g.queried(err, "latest stored poll of a device unknown; its first batch is not checked against stored ones", "gateway", b.Gateway, "device", b.Device)
	if err != nil {
		return
	}
	latest := int64(0)
	for _, s := range series {
		if isReservedSeries(s.Name) {
			continue
		}
		for _, v := range s.Values {
			if ms, err := v[0].Int64(); err == nil {
				latest = max(latest, ms)
			}
		}
	}
	if latest == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, known := g.recent[k]; !known {
		if g.recent == nil || len(g.recent) >= maxRecent {
			g.recent = map[deviceKey]*recentTimes{}
		}
		// The stored batch's number is unknown here (0): a batch at its
		// very time is asked about (timeFree), as one not in the ring.
		g.recent[k] = &recentTimes{ms: [16]int64{latest}, next: 1, n: 1}
	}
}

// stepBack looks at the poll time of b, a batch with a new number: taken
// when a batch of its device accepted lately has that very time, ask when
// it is no later than the device's latest but not among them (InfluxDB
// must say). Otherwise b's time is noted. The later parts of a split poll
// share the first part's time, by design: they are not looked at, nor is
// the batch right after the one at that time (the next part of a split
// poll from an edge that did not mark parts yet).
func (g *seqGuard) stepBack(b *batch.Batch) (taken, ask bool) {
	k, ms := deviceKey{b.Gateway, b.Device}, b.Time.UnixMilli()
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recent[k]
	if b.Part > 0 {
		for i := 0; r != nil && i < r.n; i++ {
			if r.ms[i] == ms {
				r.seq[i] = b.Seq
			}
		}
		return false, false
	}
	if r != nil && r.n > 0 && ms <= r.ms[(r.next+len(r.ms)-1)%len(r.ms)] {
		for i := 0; i < r.n; i++ {
			if r.ms[i] == ms {
				switch {
				case r.seq[i] == 0:
					// Seeded from InfluxDB, its number unknown: it may
					// be this very batch (redelivered to another
					// worker of a group), which InfluxDB can tell.
					return false, true
				case r.seq[i]+1 == b.Seq:
					r.seq[i] = b.Seq
					return false, false
				}
				return true, false
			}
		}
		return false, true
	}
	if r == nil {
		if g.recent == nil || len(g.recent) >= maxRecent {
			g.recent = map[deviceKey]*recentTimes{}
		}
		r = &recentTimes{}
		g.recent[k] = r
	}
	r.ms[r.next], r.seq[r.next] = ms, b.Seq
	r.next = (r.next + 1) % len(r.ms)
	r.n = min(r.n+1, len(r.ms))
	return false, false
}

// signedWhere narrows a query to the readings gateway signed when it is
// under evidence (signedOnly), else is empty.
func (g *seqGuard) signedWhere(gateway string) string {
	if g.underEvidence != nil && g.underEvidence(gateway) {
		return signedOnly
	}
	return ""
}

// queried logs a failed query (limited by queryFails) or, after failures,
// the first that succeeded again; msg and args describe the failure.
func (g *seqGuard) queried(err error, msg string, args ...any) {
	now := time.Now()
	if err == nil {
		if recovered, failures, since := g.queryFails.Success(now); recovered {
			g.log.Info("influxdb sequence-number queries succeed again", "failed_queries", failures, "failing_for", now.Sub(since).Round(time.Millisecond))
		}
		return
	}
	if log, unlogged := g.queryFails.Failure(now); log {
		g.log.Warn(msg, append(args, "err", err, "failed_since_last_log", unlogged)...)
	}
}

func newSeqGuard(cfg config.IngestRole, log *slog.Logger) *seqGuard {
	g := &seqGuard{park: cfg.Park, log: log, hi: map[string]uint64{}, maxJump: config.DefaultMaxSeqJump, timeout: 5 * time.Second}
	g.queryFails.Interval = failureLogInterval
	if cc := cfg.Ingest.Completeness; cc != nil && cc.MaxSeqJump > 0 {
		g.maxJump = cc.MaxSeqJump
	}
	if db := cfg.Ingest.InfluxDB; db != nil {
		g.q = influxQLFor(db)
		g.timeout = min(g.timeout, max(db.Timeout, time.Second))
	}
	return g
}

// admit checks the sequence number of b, a valid batch received as
// payload, before anything is written. unverified marks a batch that
// fails its gateway's evidence (evidence.go). repeat reports a batch
// known to be stored already, exactly (a redelivery or an edge's replay
// of one): it is written again, harmlessly, but not counted as new.
func (w *worker) admit(b *batch.Batch, payload []byte, unverified bool) (repeat bool, err error) {
	if w.in == nil || w.in.guard == nil {
		return false, nil
	}
	return w.in.guard.check(w, b, payload, unverified)
}

// check decides on b's sequence number. A batch that fails its gateway's
// evidence (unverified) takes no part in the gateway's numbering: anyone
// who can publish can send one, and if its number counted, the gateway's
// own batch of that number would be refused as a conflict, or a number
// far ahead would send every later batch through the look-up of
// checkStored. It neither moves the highest number nor is remembered,
// and it is written only where it cannot change a stored reading: what
// checkStored allows an old number, except that when InfluxDB cannot be
// asked it is refused (it waits on the dead-letter topic) rather than
// risk overwriting one.
//
// Each such look-up waits on InfluxDB, and anyone can send such batches:
// beyond unverifiedLookups a second (with a burst of as many), the rest
// are refused unlooked-at (dead-lettered, so kept and counted), and the
// gateway's own batches keep their pace.
func (g *seqGuard) check(w *worker, b *batch.Batch, payload []byte, unverified bool) (repeat bool, err error) {
	if unverified {
		if w.in.ev.keyless(b.Gateway) {
			return false, refuse(ReasonUnverified, "gateway %s has no key, and ingest.evidence.require accepts only signed batches: seq %d not written",
				b.Gateway, b.Seq)
		}
		if w.in.ev.mayStillCome(b) {
			return false, refuse(ReasonUnverified, "gateway %s: seq %d fails its evidence, and the gateway's own batch of device %s polled at %s may still come (no signed batch of the device at or after that time is stored yet): not written",
				b.Gateway, b.Seq, b.Device, b.Time.Format(time.RFC3339Nano))
		}
		if !w.ownNames(b) {
			return false, refuse(ReasonUnverified, "gateway %s: seq %d fails its evidence, and its %d point names are not those of the last batch of device %s that passed it (none since ingest started, or other names): not written",
				b.Gateway, b.Seq, len(b.Points), b.Device)
		}
		if !g.lookups.take(time.Now()) {
			return false, refuse(ReasonUnverified, "gateway %s: seq %d fails its evidence, and more such batches arrive than ingest looks up (%d a second): not written",
				b.Gateway, b.Seq, unverifiedLookups)
		}
		return g.checkStored(b, true)
	}
	g.mu.Lock()
	hi, known := g.hi[b.Gateway]
	g.mu.Unlock()
	if !known {
		// First batch of this gateway since start: follow on from what
		// InfluxDB holds of the last hour. With nothing there (a new
		// gateway, or one silent for longer) the first number is taken as
		// it comes; a forged one can then only make later batches of the
		// real gateway go through the redelivery check below.
		if stored, ok := g.highestStored(b.Gateway); ok {
			hi, known = stored, true
		}
	}
	switch {
	case !known || b.Seq > hi && b.Seq-hi <= g.maxJump:
		g.seedRecent(b)
		switch taken, ask := g.stepBack(b); {
		case taken:
			return false, refuse(ReasonTimeTaken, "gateway %s: seq %d is stamped %s, where device %s has another batch accepted lately: the gateway's clock went back? Writing it would overwrite that batch's readings",
				b.Gateway, b.Seq, b.Time.Format(batch.TimeLayout), b.Device)
		case ask:
			if err := g.timeFree(b); err != nil {
				return false, err
			}
		}
		g.mu.Lock()
		if b.Seq > g.hi[b.Gateway] {
			g.hi[b.Gateway] = b.Seq
		}
		g.mu.Unlock()
		return false, nil
	case b.Seq > hi:
		return false, refuse(ReasonSeqJump, "gateway %s: seq %d is %d above the highest accepted (%d), more than completeness.max_seq_jump (%d): quarantined",
			b.Gateway, b.Seq, b.Seq-hi, hi, g.maxJump)
	}
	// A number at or below the highest accepted: a redelivery or a replay.
	if sw := w.seen[b.Gateway]; sw != nil {
		if old, ok := sw.hashes[b.Seq]; ok {
			sum := payloadHash(payload)
			switch {
			case old.hash == sum:
				return true, nil
			case b.Time.UnixMilli() > old.ms:
				// The number is used again for a later poll: the
				// gateway's numbering went back (an edge whose state_dir
				// is new, or was restored from a backup). Its readings
				// are new: stored, not dead-lettered.
				sw.hashes[b.Seq] = seqEntry{sum, b.Time.UnixMilli()}
				w.in.m.restarts.Inc()
				if ok, unlogged := w.in.restartLogs.Failure(time.Now()); ok {
					w.in.log.Error("a gateway's sequence numbers went back: it numbers a later poll with a number it gave an earlier one (its state_dir new, or restored from a backup?). Its batches are stored; gaps among numbers it used before are not declared until its numbering passes them. Give a replaced edge the old state_dir's seq file",
						"gateway", b.Gateway, "seq", b.Seq, "highest_seq", hi, "earlier_poll", time.UnixMilli(old.ms).UTC(), "poll", b.Time.UTC(), "since_last_log", unlogged)
				}
				return false, nil
			}
			w.in.m.conflicts.Inc()
			return false, refuse(ReasonSeqConflict, "gateway %s sent seq %d before with different content", b.Gateway, b.Seq)
		}
	}
	return g.checkStored(b, false)
}

// unverifiedLookups is how many batches that fail their evidence ingest
// compares with InfluxDB a second, at most (and in a burst).
const unverifiedLookups = 100

// lookupBudget is a token bucket of unverifiedLookups a second, as many at
// most; the zero value is full at its first use.
type lookupBudget struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take spends a look-up at now if one is left.
func (l *lookupBudget) take(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = unverifiedLookups
	} else if d := now.Sub(l.last); d > 0 {
		l.tokens = min(unverifiedLookups, l.tokens+d.Seconds()*unverifiedLookups)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// highestStored asks InfluxDB for the gateway's highest sequence number
// of the last hour. Failing to ask is logged and treated as nothing
// stored.
func (g *seqGuard) highestStored(gateway string) (uint64, bool) {
	if g.q == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	// Every sequence number field: batch_seq, and batch_seq_<k> of the
	// later parts of split polls. Of a gateway under evidence, only the
	// readings it signed: a number stored flagged as not signed by it
	// (anyone could have sent it, see check) is not its.
	signed := g.signedWhere(gateway)
	series, err := g.q.query(ctx, fmt.Sprintf(`SELECT max(/^%s(_[1-9][0-9]*)?$/) FROM /.*/ WHERE "gateway" = '%s' AND "park" = '%s'%s AND time > now() - 1h`,
		SeqField, escapeQL(gateway), escapeQL(g.park), signed))
	g.queried(err, "highest stored sequence number unknown; following the gateway from its next batch", "gateway", gateway)
	if err != nil {
		return 0, false
	}
	var hi uint64
	found := false
	for _, s := range series {
		if isReservedSeries(s.Name) {
			continue
		}
		for _, v := range s.Values {
			for i := 1; i < len(v); i++ {
				if n, err := strconv.ParseUint(v[i].String(), 10, 64); err == nil {
					hi, found = max(hi, n), true
				}
			}
		}
	}
	return hi, found
}

// isReservedSeries: a measurement of eipgw's own is never evidence of a
// gateway's batches.
func isReservedSeries(name string) bool { return config.ReservedKind(name) }

// checkStored allows an old sequence number this worker does not remember
// only if nothing is stored for the same device and time, or exactly what
// writing it would store: the same kind, tags, sequence number, values and
// qualities, and no field the batch lacks. A replay of a batch the broker
// lost is written; anything else at a stored device and time, which
// would overwrite, add to or renumber stored readings, is refused. When
// InfluxDB cannot be asked, the batch is written (InfluxDB is then likely
// refusing writes too). unverified: b fails its gateway's evidence (see
// check), whatever its number; it is refused when InfluxDB cannot be asked.
func (g *seqGuard) checkStored(b *batch.Batch, unverified bool) (same bool, err error) {
	if g.q == nil {
		return false, nil
	}
	same, diff, err := g.stored(b, !unverified)
	if unverified {
		g.queried(err, "could not compare a batch that fails its evidence with what InfluxDB holds; dead-lettering it", "gateway", b.Gateway, "seq", b.Seq)
		if err != nil {
			return false, refuse(ReasonUnverified, "gateway %s: seq %d fails its evidence, and whether it would change the readings stored for device %s at %s is unknown: %v",
				b.Gateway, b.Seq, b.Device, b.Time.Format(batch.TimeLayout), err)
		}
	} else {
		g.queried(err, "could not compare an old sequence number with what InfluxDB holds; writing it", "gateway", b.Gateway, "seq", b.Seq)
		if err != nil {
			return false, nil
		}
	}
	switch {
	case diff != "" && unverified:
		return false, refuse(ReasonUnverified, "gateway %s: seq %d fails its evidence and differs from the readings stored for device %s at %s (%s)",
			b.Gateway, b.Seq, b.Device, b.Time.Format(batch.TimeLayout), diff)
	case diff != "":
		return false, refuse(ReasonSeqRegress, "gateway %s: seq %d is below the highest accepted and differs from the readings stored for device %s at %s (%s)",
			b.Gateway, b.Seq, b.Device, b.Time.Format(batch.TimeLayout), diff)
	}
	return same, nil
}

// stored compares b with what InfluxDB holds for its device at its time:
// same when exactly b's readings are there, else the first difference
// (empty: nothing is stored there). verified, for a batch that passed its
// gateway's evidence (or whose gateway has none): readings stored flagged
// as failing it count as nothing stored. Anyone who can publish may have
// sent them, and the gateway's own batch overwrites them
// (docs/contracts.md, "At ingest"); counted, they would have the
// gateway's batches refused as time_taken or seq_regress. Not verified:
// readings the gateway signed differ whatever their values, since
// writing b would flag them (its batch_check and hash would replace
// theirs).
func (g *seqGuard) stored(b *batch.Batch, verified bool) (same bool, diff string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	// ::tag: the evidence records (eipgw_batch_evidence) hold a field
	// named device, and InfluxDB 1.8 then takes "device" in a WHERE over
	// every measurement as that field, which no reading has: the readings
	// would never be found.
	// GROUP BY *: the tags come as the series' tags, not as columns. As
	// columns, a tag whose name is a field's elsewhere (device, in the
	// evidence records) comes back renamed (device_1), and an exact
	// redelivery would read as a batch that lacks a field.
	series, err := g.q.Series(ctx, fmt.Sprintf(`SELECT * FROM /.*/ WHERE "park"::tag = '%s' AND "gateway"::tag = '%s' AND "device"::tag = '%s' AND time = %dms GROUP BY *`,
		escapeQL(g.park), escapeQL(b.Gateway), escapeQL(b.Device), b.Time.UnixMilli()), 64<<20)
	if err != nil {
		return false, "", err
	}
	for _, s := range series {
		if isReservedSeries(s.Name) {
			continue
		}
		check := slices.Index(s.Columns, CheckField)
		for _, v := range s.Values {
			switch c, ok := columnString(v, check); {
			case verified && ok && unverifiedCheck(c):
				continue
			case !verified && ok && !unverifiedCheck(c):
				return false, "field " + CheckField + ": the readings there are signed by the gateway", nil
			}
			d := "measurement " + s.Name
			if s.Name == b.Kind {
				row := make(map[string]any, len(s.Columns)+len(s.Tags))
				for i, c := range s.Columns {
					if i < len(v) {
						row[c] = v[i]
					}
				}
				for k, t := range s.Tags {
					if t != "" {
						row[k] = t
					}
				}
				d = differs(b, row)
				same = d == ""
			}
			if d != "" {
				return false, d, nil
			}
		}
	}
	return same, "", nil
}

// columnString is the string in column i of a row (i < 0: none).
func columnString(row []any, i int) (string, bool) {
	if i < 0 || i >= len(row) {
		return "", false
	}
	s, ok := row[i].(string)
	return s, ok
}

// timeFree refuses a batch with a new number whose device and time hold
// another batch's readings already: InfluxDB would overwrite them (one
// point per series and time) and the stored evidence with them, while the
// park engine kept the first (a gateway's clock stepped back, an NTP
// correction, replays its last minutes). Only batches not later than the
// device's latest are asked about (seqGuard.last). When InfluxDB cannot
// be asked, the batch is written, as an old number is.
func (g *seqGuard) timeFree(b *batch.Batch) error {
	if g.q == nil {
		return nil
	}
	_, diff, err := g.stored(b, true)
	g.queried(err, "could not check that a batch not later than its device's last is not at a stored batch's time; writing it", "gateway", b.Gateway, "seq", b.Seq)
	if err != nil || diff == "" {
		return nil
	}
	return refuse(ReasonTimeTaken, "gateway %s: seq %d is stamped %s, where device %s has another batch stored (%s): the gateway's clock went back? Writing it would overwrite that batch's readings",
		b.Gateway, b.Seq, b.Time.Format(batch.TimeLayout), b.Device, diff)
}

// differs names the first column of row (column -> value: a row of
// measurement b.Kind at b's device and time) that is not what writing b
// would store; "" when it is.
func differs(b *batch.Batch, row map[string]any) string {
	for _, t := range [...][2]string{{"site", b.Site}, {"tenant", b.Tenant}} {
		if s, _ := row[t[0]].(string); s != t[1] {
			return "tag " + t[0]
		}
	}
	seqField := config.SeqFieldOf(b.Part)
	// The point of a split poll holds every part's fields: those the
	// batch lacks may be the other parts'. (Its own fields must still be
	// as stored, so writing it changes nothing.)
	split := false
	for c, v := range row {
		if v != nil && c != seqField && config.IsSeqField(c) {
			split = true
		}
	}
	// A part of a split poll that was lost (the others stored) and comes
	// back from the edge's replay: its number and its readings are not
	// in the point yet, and writing it adds them.
	lostPart := split && row[seqField] == nil
	if n, ok := row[seqField].(json.Number); !lostPart && (!ok || n.String() != strconv.FormatUint(b.Seq, 10)) {
		return "field " + seqField
	}
	fields := make(map[string]bool, len(b.Points))
	for i := range b.Points {
		p := &b.Points[i]
		name, want, isInt, isQuality := storedField(p)
		fields[name] = true
		switch v := row[name]; {
		case lostPart:
			// Its readings may be in the point only as the lost part
			// would write them: nothing there yet.
			if v != nil || row[p.Name] != nil || row[p.Name+QualitySuffix] != nil {
				return "field " + name
			}
		case !isQuality && v == nil && row[name+QualitySuffix] == QualityTypeConflict:
			// Written as type_conflict: its field holds the other type
			// (fieldtypes.go).
			fields[name+QualitySuffix] = true
		case isQuality:
			if s, ok := v.(string); !ok || s != want {
				return "field " + name
			}
		case isInt:
			if n, ok := v.(json.Number); !ok || n.String() != want {
				return "field " + name
			}
		default:
			n, ok := v.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil || f != p.Value {
				return "field " + name
			}
		}
	}
	if split {
		return ""
	}
	for c, v := range row {
		if v == nil || fields[c] || c == "time" || c == SeqField || c == HashField || c == CheckField || slices.Contains(config.TagKeys, c) {
			continue
		}
		return "field " + c + ", which the batch does not carry"
	}
	return ""
}

// storedField is the field appendField writes for p: its name, its value
// as InfluxQL answers it for an integer or a quality (a float is compared
// as a number), and which of the two it is.
func storedField(p *batch.Point) (name, value string, isInt, isQuality bool) {
	switch {
	case p.Quality != batch.Good:
		return p.Name + QualitySuffix, p.Quality, false, true
	case p.Kind == batch.IntValue:
		return p.Name, strconv.FormatInt(p.Int, 10), true, false
	case p.Kind == batch.UintValue && p.Uint <= math.MaxInt64:
		return p.Name, strconv.FormatUint(p.Uint, 10), true, false
	case p.Kind == batch.UintValue:
		return p.Name + QualitySuffix, batch.OutOfRange, false, true
	}
	return p.Name, "", false, false
}

package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// Completeness: every gateway numbers its batches 1, 2, 3, ... without
// gaps (a clean restart or a crash of the edge continues the sequence), so
// a number that never reaches InfluxDB is a lost batch. The checker reads
// back which numbers InfluxDB holds — so it is right however many workers
// share the subscription — and once a number is still missing Grace after
// a later batch was polled, and Grace after the checker first saw the gap
// (a backlog is late when it comes), it writes a completeness record:
//
//	measurement  completeness
//	tags         park, gateway
//	fields       missing_first, missing_last, missing_count (integers)
//	time         poll time of the first batch after the gap (the next free
//	             millisecond when a record of the gateway is there)
//
// The record is the explicit marker of readings that will never come;
// writing it twice (several workers) yields the same point.
//
// Forged batches cannot poison it: a batch's kind can never be
// completeness or another measurement of eipgw's own (validate.go), those
// measurements are never read as evidence, and a gap larger than
// completeness.max_seq_jump is not declared missing but recorded once as
// implausible, in fields of its own that sums of missing_count do not see:
//
//	fields       implausible_first, implausible_last, implausible_count
//
// The checker then keeps following the dense run of numbers it was on, so
// a real gap after a far-off number is still declared. At start it
// follows the largest run of the last hour: a few stray numbers far below
// or above do not decide where it starts.

// CompletenessMeasurement is the measurement of gap records.
const CompletenessMeasurement = "completeness"

type gatewayState struct {
	frontier uint64 // every seq <= frontier is stored or declared missing
	lastTime int64  // poll time (ms) of batch frontier
	started  bool
	// seenPass is the completeness pass running (or next) when this
	// worker last stored a batch of the gateway, checked the last pass
	// that checked it; pending is set while numbers above the frontier
	// wait (not settled, held, or beyond a gap). Gateways with something
	// new or pending are checked first in a pass.
	seenPass, checked uint64
	pending           bool
	// implausible holds the far-off numbers already recorded.
	implausible map[uint64]bool
	// recorded holds the times (ms) of the records written: two gaps
	// followed by batches of one poll time (devices on several buses)
	// would otherwise be one point, the second record replacing the
	// first.
	recorded map[int64]bool
	// declared are the gaps already recorded, read at start (by this
	// worker before a restart, or by another): a gap the walk from the
	// last hour meets again is not declared twice.
	declared []seqRange
	// sightings are when this checker first saw numbers up to each
	// upTo above the frontier: a gap is declared only once a number
	// after it has been in sight for the grace too (sightedSince).
	sightings []sighting
}

// sighting: the checker first saw a number as high as upTo at at.
type sighting struct {
	upTo uint64
	at   time.Time
}

// sightSlices is how finely sightings within one grace are kept: a
// number first seen less than grace/sightSlices after the sighting before
// it shares that sighting's time, so it may be declared missing that much
// before the grace has passed since it was seen.
const sightSlices = 32

// sight notes that the highest number stored is top at now. The
// sightings stay few whatever anyone publishes: at most sightSlices+1
// within the last grace, and those older than the grace, which all say
// "seen long enough", collapse into one.
func (st *gatewayState) sight(top uint64, now time.Time, grace time.Duration) {
	n := len(st.sightings)
	if n > 0 && top <= st.sightings[n-1].upTo {
		return
	}
	if n > 0 && now.Sub(st.sightings[n-1].at) < grace/sightSlices {
		st.sightings[n-1].upTo = top
	} else {
		st.sightings = append(st.sightings, sighting{top, now})
	}
	old := 0
	for old < len(st.sightings) && now.Sub(st.sightings[old].at) >= grace {
		old++
	}
	if old > 1 {
		// The latest of them stands for all: its upTo is the highest,
		// and its time is the grace old too.
		st.sightings = st.sightings[old-1:]
	}
}

// sightedSince returns when the checker first saw a number as high as x.
func (st *gatewayState) sightedSince(x uint64) time.Time {
	for _, s := range st.sightings {
		if s.upTo >= x {
			return s.at
		}
	}
	return time.Time{}
}

// seqRange is a run of sequence numbers, first..last.
type seqRange struct{ first, last uint64 }

// recordTime is the time of a gap's record: the poll time of the batch
// after it, or the next free millisecond when a record of the gateway
// is there already.
func (st *gatewayState) recordTime(ms int64) int64 {
	if st.recorded == nil || len(st.recorded) >= 10000 {
		st.recorded = map[int64]bool{}
	}
	for st.recorded[ms] {
		ms++
	}
	st.recorded[ms] = true
	return ms
}

type completeness struct {
	park    string
	q       *influxQL
	write   func(ctx context.Context, line string) error
	grace   time.Duration
	log     *slog.Logger
	gaps    prometheus.Counter
	missing prometheus.Counter
	// maxGap is the largest gap declared missing (0: the default
	// completeness.max_seq_jump); implausibleGaps counts larger ones.
	maxGap          uint64
	implausibleGaps prometheus.Counter
	mu              sync.Mutex
	gateways        map[string]*gatewayState
	pass            uint64 // passes begun (check)
	// seqFields are the split parts' number fields seen (batch_seq_1,
	// ...): a part whose first part was lost has no batch_seq, and the
	// query after the frontier asks for any of them above it.
	seqFields map[string]bool
	now       func() time.Time
	// held are the batches this worker has yet to store, outage the
	// runs of failed writes; either may be nil (tests).
	held   *holdings
	outage *outages
	// window is how far back each pass looks for gateways stored by any
	// worker of the group (0: it does not, tests); see discover.
	window time.Duration
	// gapLogs limits the log of gaps declared: anyone who can publish
	// can invent gateways and numbers, each a gap (the records and the
	// counters have every one).
	gapLogs telemetry.Repeats
}

// gapLogInterval is the least time between two log lines of gaps.
const gapLogInterval = 5 * time.Second

// seen notes that a batch of gateway was written, so the checker follows
// it.
func (c *completeness) seen(gateway string) {
	c.mu.Lock()
	st, ok := c.gateways[gateway]
	if !ok {
		st = &gatewayState{}
		c.gateways[gateway] = st
	}
	st.seenPass = c.pass
	c.mu.Unlock()
}

// Gap is a run of sequence numbers declared missing.
type Gap struct {
	Gateway     string
	First, Last uint64
	// Time is the poll time of the batch after the gap.
	Time time.Time
	// Implausible marks a gap larger than the bound: recorded, not
	// declared missing.
	Implausible bool
}

// check runs one pass over every followed gateway: first those with
// something new stored by this worker since their last check, numbers
// pending or not started yet, then the others (another worker of the
// group may have stored their next batches). A flood of invented gateway
// ids then lengthens the pass but does not delay a real gateway's gap. A
// gateway whose check fails does not keep the others from theirs: the
// first error is returned once every gateway was tried, and the failed
// one comes first next pass.
func (c *completeness) check(ctx context.Context) ([]Gap, error) {
	// A gateway stored by another worker of the group is followed too.
	// The pass goes on with the gateways known if the look-up fails.
	first := c.discover(ctx)
	c.mu.Lock()
	// A batch seen from here on, during this pass, may have been stored
	// after the pass read its gateway: seen with this pass's number, it
	// comes first in the next.
	c.pass++
	pass := c.pass
	var due, rest []string
	for g, st := range c.gateways {
		if !st.started || st.pending || st.seenPass >= st.checked {
			due = append(due, g)
		} else {
			rest = append(rest, g)
		}
	}
	c.mu.Unlock()
	sort.Strings(due)
	sort.Strings(rest)
	var all []Gap
	for _, g := range append(due, rest...) {
		if ctx.Err() != nil {
			return all, ctx.Err()
		}
		c.mu.Lock()
		c.gateways[g].checked = pass
		c.mu.Unlock()
		gaps, err := c.checkGateway(ctx, g)
		all = append(all, gaps...)
		if err != nil {
			c.mu.Lock()
			c.gateways[g].pending = true
			c.mu.Unlock()
			if first == nil {
				first = fmt.Errorf("completeness of gateway %s: %w", g, err)
			}
		}
	}
	return all, first
}

// discover follows every gateway whose batches InfluxDB holds with poll
// times within the window (two check intervals and a minute), whichever
// worker stored them. One worker of a group is enough to check (the
// configuration's advice), and a broker may hand all of a gateway's
// batches to another worker (EMQX's sticky or client-hash strategies for
// shared subscriptions do): without this, such a gateway's gaps would
// never be declared. Batches that arrive late (an edge's backlog) are
// found once the gateway's live ones are.
func (c *completeness) discover(ctx context.Context) error {
	if c.window <= 0 {
		return nil
	}
	q := fmt.Sprintf(`SELECT last(%q) FROM /.*/ WHERE "park" = '%s' AND time > now() - %dms GROUP BY "gateway"`,
		SeqField, escapeQL(c.park), c.window.Milliseconds())
	series, err := c.q.Series(ctx, q, 64<<20)
	if err != nil {
		return fmt.Errorf("completeness: looking up the gateways stored lately: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range series {
		g := s.Tags["gateway"]
		if isReservedSeries(s.Name) || g == "" {
			continue
		}
		if _, ok := c.gateways[g]; !ok {
			c.gateways[g] = &gatewayState{}
		}
	}
	return nil
}

// seqFields selects every sequence number field: a split poll's parts
// are one point, each part's number in a field of its own (batch_seq,
// batch_seq_1, ...). And batch_check: a reading stored flagged as not
// signed by its gateway (evidence.go) holds a number anyone could have
// sent, which must not stand for the gateway's batch of that number.
const seqFields = `SELECT /^` + SeqField + `(_[1-9][0-9]*)?$|^` + CheckField + `$/ FROM /.*/ WHERE `

// seqRow is a stored sequence number and its batch's poll time (ms).
type seqRow struct {
	seq uint64
	ms  int64
}

// readRows runs the queries and appends the numbers they find to rows;
// unasked reports a part's number field the queries did not name.
func (c *completeness) readRows(ctx context.Context, queries []string, rows []seqRow) (_ []seqRow, unasked bool, _ error) {
	for _, q := range queries {
		series, err := c.q.Series(ctx, q, 256<<20)
		if err != nil {
			return rows, false, err
		}
		for _, s := range series {
			if isReservedSeries(s.Name) {
				continue
			}
			for _, col := range s.Columns {
				if col != SeqField && config.IsSeqField(col) && !c.knownSeqField(col) {
					unasked = true
				}
			}
			check := slices.Index(s.Columns, CheckField)
			for _, v := range s.Values {
				t, ok := v[0].(json.Number)
				if len(v) < 2 || !ok {
					continue
				}
				ms, err := t.Int64()
				if err != nil {
					continue
				}
				if check > 0 && check < len(v) {
					if c, ok := v[check].(string); ok && unverifiedCheck(c) {
						continue
					}
				}
				for i := 1; i < len(v) && i < len(s.Columns); i++ {
					if !config.IsSeqField(s.Columns[i]) {
						continue
					}
					if n, ok := v[i].(json.Number); ok {
						if seq, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
							rows = append(rows, seqRow{seq, ms})
						}
					}
				}
			}
		}
	}
	return rows, unasked, nil
}

// wideLookBack is how far back a gap's numbers are looked for before they
// are declared missing: the read-back after the frontier looks 10 minutes
// before the frontier's poll time, and a gateway whose clock stepped back
// further (a wrong time zone corrected, a clock reset) stores later
// numbers at earlier times.
const wideLookBack = 25 * time.Hour

// storedIn returns the numbers of first..last InfluxDB holds for the
// gateway from the last wideLookBack, whatever their poll time.
func (c *completeness) storedIn(ctx context.Context, where string, first, last uint64) (map[uint64]bool, error) {
	c.mu.Lock()
	names := []string{SeqField}
	for f := range c.seqFields {
		names = append(names, f)
	}
	c.mu.Unlock()
	sort.Strings(names[1:])
	if len(names) > maxSeqFieldTerms {
		names = names[:maxSeqFieldTerms]
	}
	terms := make([]string, len(names))
	for i, f := range names {
		terms[i] = fmt.Sprintf(`("%s" >= %d AND "%s" <= %d)`, f, first, f, last)
	}
	q := seqFields + where + fmt.Sprintf(" AND time > now() - %dm", int(wideLookBack/time.Minute)) + " AND (" + strings.Join(terms, " OR ") + ")"
	rows, _, err := c.readRows(ctx, []string{q}, nil)
	if err != nil {
		return nil, err
	}
	found := map[uint64]bool{}
	for _, r := range rows {
		if r.seq >= first && r.seq <= last {
			found[r.seq] = true
		}
	}
	return found, nil
}

func (c *completeness) checkGateway(ctx context.Context, gateway string) ([]Gap, error) {
	c.mu.Lock()
	st := *c.gateways[gateway]
	c.mu.Unlock()
	where := fmt.Sprintf(`"gateway" = '%s' AND "park" = '%s'`, escapeQL(gateway), escapeQL(c.park))
	var rows []seqRow
	// Run the queries; when they show a part's number field they did
	// not ask about, run them again asking about it too.
	for attempt := 0; ; attempt++ {
		queries := []string{seqFields + where + " AND time > now() - 1h"}
		if st.started {
			queries = []string{
				seqFields + where + fmt.Sprintf(" AND time >= %dms - 10m", st.lastTime) + c.aboveFrontier(st.frontier),
				// The later parts of the poll the frontier is in: their
				// point's batch_seq is its first part's, not above it.
				seqFields + where + fmt.Sprintf(" AND time = %dms", st.lastTime),
			}
		}
		var unasked bool
		var err error
		if rows, unasked, err = c.readRows(ctx, queries, rows[:0]); err != nil {
			return nil, err
		}
		if !unasked || !st.started || attempt == 2 {
			break
		}
	}
	if len(rows) == 0 {
		c.mu.Lock()
		c.gateways[gateway].pending = false
		c.mu.Unlock()
		return nil, nil
	}
	slices.SortFunc(rows, func(a, b seqRow) int { return cmp.Compare(a.seq, b.seq) })
	maxGap := c.maxGap
	if maxGap == 0 {
		maxGap = config.DefaultMaxSeqJump
	}
	if !st.started {
		// Start following from the oldest batch of the largest run of the
		// last hour (runs are split at gaps beyond maxGap).
		best, bestLen, start := 0, 0, 0
		for i := 1; i <= len(rows); i++ {
			if i == len(rows) || rows[i].seq-rows[i-1].seq > maxGap+1 {
				if i-start >= bestLen {
					best, bestLen = start, i-start
				}
				start = i
			}
		}
		declared, err := c.declaredGaps(ctx, where)
		if err != nil {
			return nil, err
		}
		st = gatewayState{frontier: rows[best].seq - 1, lastTime: rows[best].ms, started: true, implausible: st.implausible, recorded: st.recorded,
			declared: declared}
	}
	if st.implausible == nil {
		st.implausible = map[uint64]bool{}
	}
	now := c.now()
	// The highest number of the run followed: a far-off number (forged,
	// recorded as implausible) would otherwise stand for every number
	// below it as seen long ago.
	top := st.frontier
	for _, r := range rows {
		if r.seq > top {
			if r.seq-top > maxGap+1 {
				break
			}
			top = r.seq
		}
	}
	if top > st.frontier {
		st.sight(top, now, c.grace)
	}
	settled := now.Add(-c.grace).UnixMilli()
	quiet := c.outage != nil && !c.outage.quietUntil(now, c.grace).IsZero()
	var gaps []Gap
	wait := false   // numbers above the frontier that may still be filled
	reread := false // the declared gaps read again in this pass
	for _, r := range rows {
		if r.seq <= st.frontier {
			continue
		}
		if r.seq == st.frontier+1 {
			st.frontier, st.lastTime = r.seq, r.ms
			continue
		}
		if r.ms > settled {
			wait = true
			break // the missing ones may still arrive
		}
		gap := Gap{Gateway: gateway, First: st.frontier + 1, Last: r.seq - 1}
		if gap.Last-gap.First+1 > maxGap {
			// Far off: this row and every later one. Record the first
			// once, stay on the run followed so far.
			gap.Implausible = true
			if st.implausible[r.seq] {
				break
			}
			if err := c.writeRecord(ctx, &st, &gap, "implausible", r.ms); err != nil {
				return gaps, err
			}
			if len(st.implausible) >= 1000 {
				clear(st.implausible)
			}
			st.implausible[r.seq] = true
			if c.implausibleGaps != nil {
				c.implausibleGaps.Inc()
			}
			if log, unlogged := c.gapLog(); log {
				c.log.Error("implausible sequence gap: not declared missing; the number after it is not trusted", "gateway", gateway,
					"first_seq", gap.First, "last_seq", gap.Last, "count", gap.Last-gap.First+1, "max_seq_jump", maxGap, "gaps_since_last_log", unlogged)
			}
			gaps = append(gaps, gap)
			break
		}
		if quiet || c.held != nil && c.held.within(gateway, gap.First, gap.Last) {
			wait = true
			break // late, not lost: they may still be stored
		}
		// The poll time alone does not tell late from lost for batches
		// that were late already when they came: a backlog after an
		// outage of the edge's link or ingest's, whose numbers a
		// reconnection can bring slightly out of order (a client's
		// resend beside its new publishes, a session taken over
		// mid-stream). The gap must also have been in sight for the
		// grace.
		if now.Sub(st.sightedSince(r.seq)) < c.grace {
			wait = true
			break
		}
		// Stored at poll times before the read-back's window (a clock
		// stepped back): not missing.
		stored, err := c.storedIn(ctx, where, gap.First, gap.Last)
		if err != nil {
			return gaps, err
		}
		if !reread {
			// Another worker of the group may have declared it since
			// this gateway's records were read: a gap is declared (and
			// counted, and logged) once.
			reread = true
			declared, err := c.declaredGaps(ctx, where)
			if err != nil {
				return gaps, err
			}
			st.declared = append(st.declared, declared...)
		}
		known := append(slices.Clone(st.declared), runs(stored)...)
		slices.SortFunc(known, func(a, b seqRange) int { return cmp.Compare(a.first, b.first) })
		for _, p := range uncovered(seqRange{gap.First, gap.Last}, known) {
			gap := Gap{Gateway: gateway, First: p.first, Last: p.last}
			if err := c.writeRecord(ctx, &st, &gap, "missing", r.ms); err != nil {
				return gaps, err
			}
			c.gaps.Inc()
			c.missing.Add(float64(gap.Last - gap.First + 1))
			if log, unlogged := c.gapLog(); log {
				c.log.Error("batches missing: sequence numbers never stored", "gateway", gateway, "first_seq", gap.First, "last_seq", gap.Last,
					"count", gap.Last-gap.First+1, "gaps_since_last_log", unlogged)
			}
			gaps = append(gaps, gap)
		}
		st.frontier, st.lastTime = r.seq, r.ms
	}
	// Forget the recorded gaps the frontier has passed.
	kept := st.declared[:0]
	for _, d := range st.declared {
		if d.last > st.frontier {
			kept = append(kept, d)
		}
	}
	st.declared = kept
	if len(kept) == 0 {
		st.declared = nil
	}
	// And the sightings it has passed.
	i := 0
	for i < len(st.sightings) && st.sightings[i].upTo <= st.frontier {
		i++
	}
	st.sightings = st.sightings[i:]
	st.pending = wait
	c.mu.Lock()
	// What seen and check set meanwhile, not the snapshot's.
	cur := c.gateways[gateway]
	st.seenPass, st.checked = cur.seenPass, cur.checked
	*cur = st
	c.mu.Unlock()
	return gaps, nil
}

// writeRecord writes gap's record, its fields named after kind (missing
// or implausible), at the gateway's first free millisecond from ms, and
// sets gap.Time to it.
func (c *completeness) writeRecord(ctx context.Context, st *gatewayState, gap *Gap, kind string, ms int64) error {
	at := st.recordTime(ms)
	gap.Time = time.UnixMilli(at)
	line := fmt.Sprintf("%s,gateway=%s,park=%s %[4]s_first=%[5]di,%[4]s_last=%[6]di,%[4]s_count=%[7]di %[8]d",
		CompletenessMeasurement, escapeTag(gap.Gateway), escapeTag(c.park), kind,
		gap.First, gap.Last, gap.Last-gap.First+1, at)
	return c.write(ctx, line)
}

// maxSeqFieldTerms bounds the part fields a query names; beyond it (more
// parts than any edge makes, or a publisher making fields up) the query
// after the frontier reads every number of the window instead.
const maxSeqFieldTerms = 64

// aboveFrontier is the condition of the query after the frontier: any
// number field above it.
func (c *completeness) aboveFrontier(frontier uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seqFields) > maxSeqFieldTerms {
		return ""
	}
	names := make([]string, 0, len(c.seqFields)+1)
	names = append(names, SeqField)
	for f := range c.seqFields {
		names = append(names, f)
	}
	sort.Strings(names[1:])
	terms := make([]string, len(names))
	for i, f := range names {
		terms[i] = fmt.Sprintf(`"%s" > %d`, f, frontier)
	}
	return " AND (" + strings.Join(terms, " OR ") + ")"
}

// knownSeqField reports whether the query after the frontier names the
// field already, and adds it for the next.
func (c *completeness) knownSeqField(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seqFields[name] {
		return true
	}
	if c.seqFields == nil {
		c.seqFields = map[string]bool{}
	}
	c.seqFields[name] = true
	return false
}

// declaredGaps reads the gaps of the last hour already recorded for the
// gateway (where selects it), sorted.
func (c *completeness) declaredGaps(ctx context.Context, where string) ([]seqRange, error) {
	series, err := c.q.query(ctx, `SELECT missing_first, missing_last FROM "`+CompletenessMeasurement+`" WHERE `+where+` AND time > now() - 1h`)
	if err != nil {
		return nil, err
	}
	var out []seqRange
	for _, s := range series {
		for _, v := range s.Values {
			if len(v) < 3 {
				continue
			}
			first, err1 := strconv.ParseUint(v[1].String(), 10, 64)
			last, err2 := strconv.ParseUint(v[2].String(), 10, 64)
			if err1 == nil && err2 == nil && first <= last {
				out = append(out, seqRange{first, last})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out, nil
}

// uncovered returns the parts of g that no range of declared (sorted by
// first) covers.
func uncovered(g seqRange, declared []seqRange) []seqRange {
	var out []seqRange
	next := g.first
	for _, d := range declared {
		if d.last < next || d.first > g.last {
			continue
		}
		if d.first > next {
			out = append(out, seqRange{next, d.first - 1})
		}
		if d.last >= g.last {
			return out
		}
		next = d.last + 1
	}
	return append(out, seqRange{next, g.last})
}

// runs are the sorted runs of consecutive numbers in set.
func runs(set map[uint64]bool) []seqRange {
	ns := slices.Sorted(maps.Keys(set))
	var out []seqRange
	for _, n := range ns {
		if len(out) > 0 && out[len(out)-1].last+1 == n {
			out[len(out)-1].last = n
		} else {
			out = append(out, seqRange{n, n})
		}
	}
	return out
}

func escapeQL(s string) string { return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) }

// gapLog reports whether a gap may be logged now, and how many were not
// since the last line.
func (c *completeness) gapLog() (bool, int) { return c.gapLogs.Failure(c.now()) }

// run checks every interval until ctx is done.
//
// The first pass comes after a random part of an interval: the workers of
// a group started together would otherwise check each gateway at the same
// moments, each finding its gap before the other's record is stored.
func (c *completeness) run(ctx context.Context, interval time.Duration) {
	c.window = 2*interval + time.Minute
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(interval)):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.check(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("completeness check failed; retrying at the next interval", "err", err)
			}
		}
	}
}

// Package audit checks what InfluxDB holds of a park against the evidence
// the edges signed (docs/contracts.md, "Signed, chained batches"; package
// evidence) and recomputes the park engine's hourly records from it: the
// work of eipgw audit verify.
//
// Verify reads, hour by hour over [From, To):
//
//   - the evidence records (eipgw_batch_evidence): each signed message is
//     verified again with the configured public keys, its hash compared
//     with the stored one, and the record's tags, fields and time with
//     what the message says;
//   - the readings of every measurement that is not eipgw's own: each
//     signed batch must be stored with exactly its values and qualities,
//     and each reading of a gateway under evidence must come from a
//     signed batch (a forged line written straight into InfluxDB has
//     none);
//   - the stored hourly records (park_hourly), compared with those the
//     park engine, fed the signed batches with the configuration in force,
//     computes again;
//   - with the audit log of sealed hourly records (package seal): its
//     chain and checkpoint, and each hour's entry against park_hourly and
//     park_hourly_seal (sealed.go).
//
// Then each gateway's chain is checked in sequence order: gaps, forks (two
// batches with one number, or a prev that is not the hash of the batch
// before), declared restarts, and batches of one device whose poll times
// go backwards as the numbers go up (a reorder).
package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

// Names of what ingest and the park engine store (gateway/ingest,
// gateway/park).
const (
	EvidenceMeasurement = "eipgw_batch_evidence"
	seqField            = "batch_seq"
	hashField           = "batch_hash"
	checkField          = "batch_check"
	qualitySuffix       = "_q"
)

// Kinds of findings.
const (
	// Evidence records.
	KindUnsigned      = "unsigned"       // the record holds no signature
	KindUnknownKey    = "unknown_key"    // signed by a key not configured for the gateway
	KindBadSignature  = "bad_signature"  // the signature does not verify: the message was altered
	KindInvalid       = "invalid"        // the record or its message cannot be read
	KindHashMismatch  = "hash_mismatch"  // the stored hash is not the message's
	KindRecordAltered = "record_altered" // a tag or field of the record differs from the message
	KindMoved         = "moved"          // the record's time is not the signed poll time (a replayed or moved batch)
	// Chains.
	KindGap          = "gap"           // sequence numbers missing between two stored batches
	KindFork         = "fork"          // two batches with one number, or prev is not the hash of seq-1
	KindChainRestart = "chain_restart" // prev is the zero hash after seq 1: the edge lost its head
	KindReorder      = "reorder"       // a device's poll times go backwards as the numbers go up
	// Readings.
	KindReadingMissing  = "reading_missing"  // a signed batch has no stored reading (deleted)
	KindReadingAltered  = "reading_altered"  // a stored value, quality or tag differs from the signed one
	KindReadingUnsigned = "reading_unsigned" // a reading of a gateway under evidence without a signed batch (forged)
	// Hourly records.
	KindHourMissing = "hour_missing" // a recomputed hourly record is not stored
	KindHourAltered = "hour_altered" // a stored hourly record differs from the recomputed one
	KindHourExtra   = "hour_extra"   // a stored hourly record the recomputation does not produce
)

// Finding is one mismatch, pinpointed.
type Finding struct {
	Kind    string
	Gateway string
	Seq     uint64 // 0 when not about one batch
	Device  string
	Time    time.Time // the batch's poll time, or the hour's start
	// Metric and Entity name an hourly record.
	Metric, Entity string
	// Stored and Expected are the values compared, as text.
	Stored, Expected string
	Detail           string
}

func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if f.Gateway != "" {
		fmt.Fprintf(&b, " gateway=%s", f.Gateway)
	}
	if f.Seq != 0 {
		fmt.Fprintf(&b, " seq=%d", f.Seq)
	}
	if f.Device != "" {
		fmt.Fprintf(&b, " device=%s", f.Device)
	}
	if !f.Time.IsZero() {
		fmt.Fprintf(&b, " time=%s", f.Time.UTC().Format(time.RFC3339Nano))
	}
	if f.Metric != "" {
		fmt.Fprintf(&b, " metric=%s", f.Metric)
	}
	if f.Entity != "" {
		fmt.Fprintf(&b, " entity=%s", f.Entity)
	}
	if f.Stored != "" || f.Expected != "" {
		fmt.Fprintf(&b, " stored=%q expected=%q", f.Stored, f.Expected)
	}
	if f.Detail != "" {
		fmt.Fprintf(&b, ": %s", f.Detail)
	}
	return b.String()
}

// Options say what to verify.
type Options struct {
	Park string
	// Keys are the gateways' public keys (ingest.evidence.keys). A gateway
	// with keys is under evidence: each of its readings must come from a
	// signed batch.
	Keys evidence.Keys
	// Engine is the park engine's configuration in force; nil skips the
	// recomputation of the hourly records.
	Engine *config.ParkEngine
	// From and To bound the check, [From, To), on whole hours (From is
	// truncated, To rounded up).
	From, To time.Time
	// AuditLog is the directory of the park engine's sealed hourly records
	// (park_engine.audit_log); empty skips their check.
	AuditLog string
	// ClosedBefore, when set, is a time by which the hours that ended
	// before it are closed (now less park_engine.grace): later hours are
	// left out of the check, since the engine has not written their
	// records and their batches are still arriving (Result.Open counts
	// them). A range with no closed hour is ErrNothingClosed.
	ClosedBefore time.Time
	// IncludeOpen checks the readings and evidence of the hours not
	// closed yet too (their records are still not compared): for a
	// system that has stopped, when nothing more arrives.
	IncludeOpen bool
	// HoursPerQuery is how many hours one InfluxDB query reads
	// (DefaultHoursPerQuery when zero): more is faster and holds more
	// memory.
	HoursPerQuery int
	// AllSignatures verifies the signature of every batch, not only those
	// the hash chains do not vouch for (see checkEvidence).
	AllSignatures bool
	// Progress, when set, is called after each hour with the hours done
	// and their total.
	Progress func(done, total int)
}

// Head is the last batch of a gateway's chain within the range.
type Head struct {
	Seq  uint64
	Hash string
	Time time.Time
}

// Result is what Verify found.
type Result struct {
	From, To time.Time
	Findings []Finding
	// Batches, Readings and Hours count the evidence records, stored
	// readings and recomputed hourly records checked.
	Batches, Readings, Hours int
	// Empty counts the hours with neither a reading to recompute them
	// from nor a stored record: no finding, nothing was claimed.
	Empty int
	// Open counts the hours of the range not closed yet
	// (Options.ClosedBefore): not checked, or with IncludeOpen, their
	// records not compared.
	Open int
	// Signatures counts the signatures verified; Vouched the batches whose
	// messages the hash chains vouch for instead.
	Signatures, Vouched int
	// Unchecked counts readings of gateways without keys (not under
	// evidence), which cannot be checked.
	Unchecked int
	// Heads is each gateway's chain head.
	Heads map[string]Head
	// Recomputed are the hourly records computed again, in order.
	Recomputed []park.Hour
	// SealHead is the audit log's last entry (nil without one);
	// SealedHours counts the hours of the range found sealed; Resealed
	// are the hours sealed more than once (the last entry is compared).
	SealHead    *SealHead
	SealedHours int
	Resealed    []time.Time
	// Polls counts the verified polls of each device per hour (keyed by
	// the hour's start in Unix milliseconds): the data completeness the
	// report shows.
	Polls map[string]map[int64]int
}

// Pass reports whether nothing was found.
func (r *Result) Pass() bool { return len(r.Findings) == 0 }

// link is a batch as the hour checks hand it to the chain check.
type link struct {
	seq        uint64
	hash, prev evidence.Hash
	device     string
	time       time.Time
}

// gwLink is a link of a gateway's chain.
type gwLink struct {
	gateway string
	link
}

// chainLink is what the chain check keeps of a batch until the end of
// the range: free of pointers (the collector does not scan a month of
// them), the device as an index into its chain's device names.
type chainLink struct {
	seq        uint64
	ns         int64 // poll time, Unix nanoseconds
	hash, prev evidence.Hash
	dev        uint32
}

// chain is a gateway's links in the order read.
type chain struct {
	links   []chainLink
	devices []string
	dev     map[string]uint32
}

func (c *chain) add(l link) {
	d, ok := c.dev[l.device]
	if !ok {
		if c.dev == nil {
			c.dev = map[string]uint32{}
		}
		d = uint32(len(c.devices))
		c.dev[l.device] = d
		c.devices = append(c.devices, l.device)
	}
	c.links = append(c.links, chainLink{seq: l.seq, ns: l.time.UnixNano(), hash: l.hash, prev: l.prev, dev: d})
}

// signed is a decoded, verified batch.
type signed struct {
	b    *batch.Batch
	hash string
}

// reserved reports whether measurement m is eipgw's own (not readings).
func reserved(m string) bool {
	l := strings.ToLower(m)
	switch l {
	case "completeness", "deadletter", "dead_letter", "quarantine":
		return true
	}
	return strings.HasPrefix(l, "park_") || strings.HasPrefix(l, "eipgw_")
}

// ErrNothingClosed: no hour of the range is closed yet.
var ErrNothingClosed = errors.New("audit: no hour of the range is closed yet")

// Verify checks the range of o against s. An error means the check could
// not be made; mismatches are the result's findings.
func Verify(ctx context.Context, s *Store, o Options) (*Result, error) {
	if o.Park == "" {
		return nil, errors.New("audit: no park given")
	}
	from := o.From.Truncate(time.Hour)
	to := o.To.Truncate(time.Hour)
	if to.Before(o.To) {
		to = to.Add(time.Hour)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("audit: empty range %s to %s", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	// Hours not closed yet are left out: the engine has not written their
	// records, and their batches are still arriving (read while ingest
	// writes, a reading could be read without the evidence record written
	// beside it, or the other way round).
	// recordsTo ends the hours whose records are compared: the closed
	// ones; with IncludeOpen the readings and evidence of the others are
	// checked too.
	open, recordsTo := 0, to
	if c := o.ClosedBefore.Truncate(time.Hour); !o.ClosedBefore.IsZero() && c.Before(to) {
		if c.Before(from) {
			c = from
		}
		open, recordsTo = int(to.Sub(c)/time.Hour), c
		if !o.IncludeOpen {
			to = c
		}
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: %d hours from %s, none closed yet (an hour is closed park_engine.grace after its end)", ErrNothingClosed, open, from.Format(time.RFC3339))
	}
	res := &Result{From: from, To: to, Heads: map[string]Head{}, Open: open}
	ms, err := s.measurements(ctx)
	if err != nil {
		return nil, err
	}
	var readings []string
	for _, m := range ms {
		if !reserved(m) {
			readings = append(readings, m)
		}
	}
	var eng *park.Engine
	clock := from
	if o.Engine != nil {
		if eng, err = park.New(o.Engine, park.Options{Clock: func() time.Time { return clock }}); err != nil {
			return nil, fmt.Errorf("audit: park engine: %w", err)
		}
	}
	// The audit log is read first; its findings keep their place after
	// the chains'.
	var sealed *sealCheck
	if o.AuditLog != "" {
		if sealed, err = readSealed(o, from, to); err != nil {
			return nil, err
		}
	}
	chains := map[string]*chain{}
	// hourly holds the park_hourly rows of the hours read and not yet
	// compared with the recomputation.
	hourly := map[int64][]row{}
	total := int(to.Sub(from) / time.Hour)
	err = readHours(ctx, s, o, readings, from, total, func(i int, hr *hourRead) error {
		h := hr.h
		res.Batches += hr.res.Batches
		res.Signatures += hr.res.Signatures
		res.Vouched += hr.res.Vouched
		res.Readings += hr.res.Readings
		res.Unchecked += hr.res.Unchecked
		res.Findings = append(res.Findings, hr.res.Findings...)
		for _, l := range hr.links {
			c := chains[l.gateway]
			if c == nil {
				c = &chain{}
				chains[l.gateway] = c
			}
			c.add(l.link)
		}
		res.countPolls(h, hr.batches)
		if sealed != nil {
			sealed.hour(h, hr.hourly, hr.seals)
		}
		if eng != nil {
			hourly[h.UnixMilli()] = hr.hourly
			clock = h.Add(time.Hour)
			for _, sb := range hr.batches {
				eng.Add(sb.b.Gateway, sb.b)
			}
			clock = h.Add(time.Hour + o.Engine.Grace)
			if err := compareHours(ctx, s, o.Park, eng.Advance().Hours, recordsTo, hourly, res); err != nil {
				return err
			}
		}
		if o.Progress != nil {
			o.Progress(i+1, total)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if eng != nil {
		clock = to.Add(time.Hour + o.Engine.Grace)
		if err := compareHours(ctx, s, o.Park, eng.Advance().Hours, recordsTo, hourly, res); err != nil {
			return nil, err
		}
	}
	checkChains(chains, res)
	if sealed != nil {
		sealed.finish(res)
	}
	return res, nil
}

// checkEvidence verifies the evidence records of an hour and returns the
// signed batches, in poll time and sequence order.
//
// A batch is trusted when its signature verifies, or when a trusted batch
// of the same hour names its hash as prev: SHA-256 binds the message to
// that hash, so the chain vouches for every batch up to the last one of
// each gateway in the hour, whose signature is verified. Only the
// signatures the chain does not vouch for are verified (each hour's last
// batch per gateway, and any batch at a break: a gap, a fork, a batch
// whose successor does not name its hash), unless o.AllSignatures. A
// message altered in InfluxDB no longer hashes to its successor's prev, so
// its own signature is verified and fails.
func checkEvidence(rows []row, o Options, res *Result, links *[]gwLink) []signed {
	recs := make([]record, len(rows))
	for i, r := range rows {
		recs[i] = openRecord(r, o.Keys)
	}
	verified, vouched := trust(recs, o.AllSignatures)
	res.Signatures += verified
	res.Vouched += vouched
	var out []signed
	// The same batch may be stored under two lanes (its redelivery across
	// ingest's change of lanes): it counts and feeds the recomputation once.
	type gwSeq struct {
		gateway string
		seq     uint64
	}
	stored := make(map[gwSeq]evidence.Hash, len(recs))
	for i := range recs {
		sb, l, ok := recs[i].check(res)
		if ok {
			k := gwSeq{sb.b.Gateway, sb.b.Seq}
			if h, again := stored[k]; again && h == l.hash {
				continue
			}
			stored[k] = l.hash
		}
		res.Batches++
		if !ok {
			continue
		}
		*links = append(*links, gwLink{sb.b.Gateway, l})
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].b, out[j].b
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Gateway != b.Gateway {
			return a.Gateway < b.Gateway
		}
		return a.Seq < b.Seq
	})
	return out
}

// record is an evidence record read and opened: its message split from its
// signature, hashed and decoded, its signature not yet verified.
type record struct {
	r   row
	f   Finding // gateway, seq, device and time of the record
	bad string  // why the record cannot be read at all (an invalid finding)
	// open and oerr are what evidence.Keys.Open made of the payload.
	open evidence.Opened
	oerr error
	b    *batch.Batch
	derr error
	prev evidence.Hash
	perr error
	// sigErr is the signature's verdict once trust has run (nil for a
	// batch the chain vouches for).
	sigErr error
}

// openRecord reads one evidence record.
func openRecord(r row, keys evidence.Keys) record {
	gw, device := r.str("gateway"), r.str("device")
	seq, _ := strconv.ParseUint(fmt.Sprint(r.val("seq")), 10, 64)
	rec := record{r: r, f: Finding{Gateway: gw, Seq: seq, Device: device}}
	ms, err := r.millis()
	if err != nil {
		rec.bad = "evidence record: " + err.Error()
		return rec
	}
	rec.f.Time = time.UnixMilli(ms).UTC()
	// The payload as it travelled: the message (msg_0, msg_1, ...), then
	// the signature member when there is one.
	var payload []byte
	for i := 0; ; i++ {
		part, ok := r.val("msg_" + strconv.Itoa(i)).(string)
		if !ok {
			break
		}
		if payload == nil {
			payload = make([]byte, 0, len(part)+len(`,"sig":"`)+90)
		}
		payload = append(payload, part...)
	}
	if len(payload) == 0 {
		rec.bad = "evidence record without its message (msg_0)"
		return rec
	}
	if sig := r.str("sig"); sig != "" {
		payload = append(append(append(payload, `,"sig":"`...), sig...), `"}`...)
	} else {
		payload = append(payload, '}')
	}
	if rec.open, rec.oerr = keys.Open(gw, r.str("key"), payload); rec.oerr != nil {
		return rec
	}
	if rec.b, rec.derr = batch.Decode(payload); rec.derr != nil {
		return rec
	}
	rec.prev, rec.perr = evidence.ParseHash(rec.b.Prev)
	return rec
}

// chained reports whether r can take part in a chain: opened with a known
// key, its message decoded.
func (r *record) chained() bool {
	return r.bad == "" && r.oerr == nil && r.derr == nil && r.perr == nil
}

// trust sets the signature verdict of each record (see checkEvidence) and
// returns the number of signatures verified and of records vouched for.
func trust(recs []record, all bool) (verified, vouchedFor int) {
	var idx []int
	for i := range recs {
		if recs[i].chained() {
			idx = append(idx, i)
		}
	}
	// Successors first: a trusted batch vouches for the hash it names as
	// prev, which is its predecessor's in a gateway's chain.
	sort.SliceStable(idx, func(i, j int) bool { return recs[idx[i]].b.Seq > recs[idx[j]].b.Seq })
	vouched := map[evidence.Hash]bool{}
	for _, i := range idx {
		r := &recs[i]
		if all || !vouched[r.open.Hash] {
			verified++
			if r.sigErr = r.open.Verify(); r.sigErr != nil {
				continue
			}
		} else {
			vouchedFor++
		}
		vouched[r.prev] = true
	}
	return verified, vouchedFor
}

// check reports the findings of one record once trust has run; ok is
// false when its message cannot be trusted (its batch then counts as not
// signed).
func (rec *record) check(res *Result) (signed, link, bool) {
	f := rec.f
	if rec.bad != "" {
		f.Kind, f.Detail = KindInvalid, rec.bad
		res.add(f)
		return signed{}, link{}, false
	}
	if err := cmp.Or(rec.oerr, rec.sigErr); err != nil {
		f.Kind, f.Detail = evidence.Reason(err), err.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	h, r := rec.open.Hash, rec.r
	hs := h.String()
	if stored := r.str("hash"); stored != hs {
		g := f
		g.Kind, g.Stored, g.Expected, g.Detail = KindHashMismatch, stored, hs, "stored hash is not SHA-256 of the signed message"
		res.add(g)
	}
	if rec.derr != nil {
		f.Kind, f.Detail = KindInvalid, "signed message: "+rec.derr.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	b := rec.b
	if rec.perr != nil {
		f.Kind, f.Detail = KindInvalid, "signed prev: "+rec.perr.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	for _, c := range [][3]string{
		{"gateway", f.Gateway, b.Gateway}, {"seq", strconv.FormatUint(f.Seq, 10), strconv.FormatUint(b.Seq, 10)},
		{"device", f.Device, b.Device}, {"prev", r.str("prev"), b.Prev}, {"key", r.str("key"), b.Key},
	} {
		if c[1] != c[2] {
			g := f
			g.Kind, g.Stored, g.Expected, g.Detail = KindRecordAltered, c[1], c[2], "evidence record's "+c[0]+" differs from the signed message"
			res.add(g)
		}
	}
	at := f.Time
	if !b.Time.Equal(at) {
		// The batch is checked where it was signed to be; this copy is not
		// trusted, so readings stored beside it show as unsigned.
		res.add(Finding{Kind: KindMoved, Gateway: b.Gateway, Seq: b.Seq, Device: b.Device, Time: at,
			Stored: at.Format(time.RFC3339Nano), Expected: b.Time.UTC().Format(time.RFC3339Nano),
			Detail: "evidence record stored at another time than the signed poll time (a replayed or moved batch)"})
		return signed{}, link{}, false
	}
	return signed{b: b, hash: hs}, link{seq: b.Seq, hash: h, prev: rec.prev, device: b.Device, time: b.Time}, true
}

func (r *Result) add(f Finding) { r.Findings = append(r.Findings, f) }

// countPolls counts the polls of hour h (a split poll, several batches of
// one time, is one poll).
func (r *Result) countPolls(h time.Time, batches []signed) {
	if r.Polls == nil {
		r.Polls = map[string]map[int64]int{}
	}
	seen := map[readingKey]bool{}
	for _, sb := range batches {
		k := readingKey{sb.b.Gateway, sb.b.Device, sb.b.Time.UnixMilli()}
		if seen[k] {
			continue
		}
		seen[k] = true
		d := r.Polls[sb.b.Device]
		if d == nil {
			d = map[int64]int{}
			r.Polls[sb.b.Device] = d
		}
		d[h.UnixMilli()]++
	}
}

// readingKey names one stored reading: a device's poll.
type readingKey struct {
	gateway, device string
	ms              int64
}

// checkReadings compares the readings stored in an hour, by measurement,
// with the signed batches of that hour.
func checkReadings(o Options, measurements []string, byMeasurement map[string][]row, batches []signed, res *Result) {
	type stored struct {
		kind string
		r    row
	}
	got := map[readingKey]stored{}
	for _, m := range measurements {
		for _, r := range byMeasurement[m] {
			ms, _ := r.millis() // checked when the rows were read
			res.Readings++
			k := readingKey{r.str("gateway"), r.str("device"), ms}
			if o.Keys[k.gateway] == nil {
				res.Unchecked++
				continue
			}
			got[k] = stored{m, r}
		}
	}
	// The batches of one poll (a split poll) are one stored point.
	groups := map[readingKey][]signed{}
	var order []readingKey
	for _, sb := range batches {
		k := readingKey{sb.b.Gateway, sb.b.Device, sb.b.Time.UnixMilli()}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], sb)
	}
	for _, k := range order {
		g := groups[k]
		first := g[0].b
		at := time.UnixMilli(k.ms).UTC()
		f := Finding{Gateway: k.gateway, Seq: first.Seq, Device: k.device, Time: at}
		st, ok := got[k]
		if !ok || st.kind != first.Kind {
			f.Kind, f.Detail = KindReadingMissing, "signed batch has no stored reading in measurement "+first.Kind
			res.add(f)
			continue
		}
		delete(got, k)
		for _, d := range compareReading(st.r, g) {
			f := f
			f.Kind, f.Stored, f.Expected, f.Detail = KindReadingAltered, d[1], d[2], "field "+d[0]
			res.add(f)
		}
	}
	var forged []readingKey
	for k := range got {
		forged = append(forged, k)
	}
	sort.Slice(forged, func(i, j int) bool {
		a, b := forged[i], forged[j]
		if a.ms != b.ms {
			return a.ms < b.ms
		}
		if a.gateway != b.gateway {
			return a.gateway < b.gateway
		}
		return a.device < b.device
	})
	for _, k := range forged {
		r := got[k].r
		seq, _ := strconv.ParseUint(fmt.Sprint(r.val(seqField)), 10, 64)
		res.add(Finding{Kind: KindReadingUnsigned, Gateway: k.gateway, Seq: seq, Device: k.device, Time: time.UnixMilli(k.ms).UTC(),
			Detail: "reading in measurement " + got[k].kind + " without a signed batch"})
	}
}

// signedValue is what a field of a stored reading must hold: a float
// compared as a number (InfluxDB's text of an integral float, 1234567,
// is not the batch's), an integer as its decimal text, anything else as
// text.
type signedValue struct {
	text    string
	f       float64
	i       int64
	isFloat bool
	isInt   bool
}

func (v signedValue) String() string {
	switch {
	case v.isFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case v.isInt:
		return strconv.FormatInt(v.i, 10)
	}
	return v.text
}

// matches reports whether stored (an InfluxDB value) is v; it allocates
// nothing for a value InfluxDB stored as signed.
func (v signedValue) matches(stored any) bool {
	switch {
	case v.isInt:
		var num [24]byte
		return text(stored) == string(strconv.AppendInt(num[:0], v.i, 10))
	case !v.isFloat:
		return text(stored) == v.text
	}
	n, ok := stored.(json.Number)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	return err == nil && f == v.f
}

// pointField is the field a signed point is stored in, and what it must
// hold (the line protocol ingest writes, gateway/ingest/lineproto.go): the
// value of a good point, else its quality in name_q; an unsigned integer
// beyond InfluxDB's signed 64 bits is out_of_range.
func pointField(p *batch.Point) (string, signedValue) {
	switch {
	case p.Quality != batch.Good:
		return p.Name + qualitySuffix, signedValue{text: p.Quality}
	case p.Kind == batch.IntValue:
		return p.Name, signedValue{i: p.Int, isInt: true}
	case p.Kind == batch.UintValue && p.Uint <= math.MaxInt64:
		return p.Name, signedValue{i: int64(p.Uint), isInt: true}
	case p.Kind == batch.UintValue:
		return p.Name + qualitySuffix, signedValue{text: batch.OutOfRange}
	}
	return p.Name, signedValue{f: p.Value, isFloat: true}
}

// compareReading returns the differences (field, stored, signed) between
// a stored reading and the signed batches of its poll.
func compareReading(r row, g []signed) [][3]string {
	if readingMatches(r, g) {
		return nil
	}
	return readingDiffs(r, g)
}

// readingDiffs is compareReading field by field.
func readingDiffs(r row, g []signed) [][3]string {
	want := make(map[string]signedValue, len(g[0].b.Points)+2)
	seqs, hashes := map[string]bool{}, map[string]bool{}
	for _, sb := range g {
		b := sb.b
		want["site"], want["tenant"] = signedValue{text: b.Site}, signedValue{text: b.Tenant}
		seqs[strconv.FormatUint(b.Seq, 10)] = true
		hashes[sb.hash] = true
		for i := range b.Points {
			name, v := pointField(&b.Points[i])
			want[name] = v
		}
	}
	var diffs [][3]string
	for k, v := range want {
		sv, ok := r.get(k)
		switch {
		case !ok && !v.isFloat && !v.isInt && v.text == "":
		case !ok:
			diffs = append(diffs, [3]string{k, "(missing)", v.String()})
		case !v.matches(sv):
			diffs = append(diffs, [3]string{k, text(sv), v.String()})
		}
	}
	for k, sv := range r.all {
		if config.IsSeqField(k) {
			// batch_seq, or batch_seq_<part> of a split poll's later
			// parts: each one of the poll's numbers.
			if !seqs[text(sv)] {
				diffs = append(diffs, [3]string{k, text(sv), keysOf(seqs)})
			}
			continue
		}
		switch k {
		case "time", "park", "gateway", "device", "site", "tenant", checkField:
			continue
		case hashField:
			if !hashes[text(sv)] {
				diffs = append(diffs, [3]string{k, text(sv), keysOf(hashes)})
			}
			continue
		}
		if _, ok := want[k]; !ok {
			diffs = append(diffs, [3]string{k, text(sv), "(not signed)"})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i][0] < diffs[j][0] })
	return diffs
}

// readingMatches reports, without allocating (but the name of a point's
// quality field), that a stored reading is exactly what the signed
// batches of its poll make of it: every signed
// field stored as signed, site and tenant as signed, the stored sequence
// number and hash those of one of the batches, and no other field. It
// may report false for a reading compareReading finds no difference in
// (batches of one poll that disagree on site or tenant, or repeat a
// point): compareReading then looks field by field.
func readingMatches(r row, g []signed) bool {
	site, tenant := g[0].b.Site, g[0].b.Tenant
	n := 0 // signed fields
	for _, sb := range g {
		b := sb.b
		if b.Site != site || b.Tenant != tenant {
			return false
		}
		for i := range b.Points {
			name, want := pointField(&b.Points[i])
			v, ok := r.get(name)
			if !ok || !want.matches(v) {
				return false
			}
			n++
		}
	}
	for _, t := range [2][2]string{{"site", site}, {"tenant", tenant}} {
		if v, ok := r.get(t[0]); ok != (t[1] != "") || ok && v != any(t[1]) {
			return false
		}
	}
	if _, ok := r.val(seqField).(json.Number); !ok {
		return false
	}
	hash, _ := r.val(hashField).(string)
	hashOK := false
	for _, sb := range g {
		hashOK = hashOK || hash == sb.hash
	}
	if !hashOK {
		return false
	}
	others := 0
	for k, v := range r.all {
		switch {
		case config.IsSeqField(k):
			// Each of the poll's numbers (a split poll's parts are one
			// point, each number in a field of its own).
			seq, _ := v.(json.Number)
			seqOK := false
			for _, sb := range g {
				var num [24]byte
				seqOK = seqOK || string(seq) == string(strconv.AppendUint(num[:0], sb.b.Seq, 10))
			}
			if !seqOK {
				return false
			}
		case k == "time", k == "park", k == "gateway", k == "device", k == "site", k == "tenant", k == checkField, k == hashField:
		default:
			others++
		}
	}
	return others == n
}

// text is a stored value as text; numbers keep their exact form, floats
// their shortest round-trip form.
func text(v any) string {
	switch x := v.(type) {
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return x.String()
		}
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return x.String()
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func keysOf(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " or ")
}

// checkChains checks each gateway's chain in sequence order.
func checkChains(chains map[string]*chain, res *Result) {
	gws := make([]string, 0, len(chains))
	for g := range chains {
		gws = append(gws, g)
	}
	sort.Strings(gws)
	for _, gw := range gws {
		ch := chains[gw]
		c := ch.links
		sort.SliceStable(c, func(i, j int) bool { return c[i].seq < c[j].seq })
		at := func(l chainLink) time.Time { return time.Unix(0, l.ns).UTC() }
		lastTime := make([]*chainLink, len(ch.devices))
		for i := range c {
			l := &c[i]
			device := ch.devices[l.dev]
			f := Finding{Gateway: gw, Seq: l.seq, Device: device, Time: at(*l)}
			if l.prev.IsZero() && l.seq > 1 {
				f.Kind, f.Detail = KindChainRestart, "prev is the zero hash: the edge restarted its chain"
				res.add(f)
			}
			if d := lastTime[l.dev]; d != nil && l.ns < d.ns {
				g := f
				g.Kind, g.Detail = KindReorder, fmt.Sprintf("polled before seq %d of the same device (%s)", d.seq, at(*d).Format(time.RFC3339Nano))
				res.add(g)
			}
			lastTime[l.dev] = l
			if i == 0 {
				continue
			}
			p := &c[i-1]
			switch {
			case l.seq == p.seq && l.hash == p.hash:
				// The same batch stored twice (a redelivery at another time
				// is reported as moved).
			case l.seq == p.seq:
				f.Kind, f.Stored, f.Expected, f.Detail = KindFork, l.hash.String(), p.hash.String(), "two different signed batches with one sequence number"
				res.add(f)
			case l.seq > p.seq+1:
				f.Kind, f.Detail = KindGap, fmt.Sprintf("batches %d to %d are not stored", p.seq+1, l.seq-1)
				res.add(f)
			case !l.prev.IsZero() && l.prev != p.hash:
				f.Kind, f.Stored, f.Expected, f.Detail = KindFork, l.prev.String(), p.hash.String(), fmt.Sprintf("prev is not the hash of batch %d", p.seq)
				res.add(f)
			}
		}
		last := c[len(c)-1]
		res.Heads[gw] = Head{Seq: last.seq, Hash: last.hash.String(), Time: at(last)}
	}
}

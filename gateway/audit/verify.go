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

// link is what the chain check keeps of a batch.
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
	res := &Result{From: from, To: to, Heads: map[string]Head{}}
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
	chains := map[string][]link{}
	// hourly holds the park_hourly rows of the hours read and not yet
	// compared with the recomputation.
	hourly := map[int64][]row{}
	total := int(to.Sub(from) / time.Hour)
	err = readHours(ctx, s, o, readings, from, total, func(i int, hr *hourRead) error {
		h := hr.h
		res.Batches += hr.res.Batches
		res.Readings += hr.res.Readings
		res.Unchecked += hr.res.Unchecked
		res.Findings = append(res.Findings, hr.res.Findings...)
		for _, l := range hr.links {
			chains[l.gateway] = append(chains[l.gateway], l.link)
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
			if err := compareHours(ctx, s, o.Park, eng.Advance().Hours, to, hourly, res); err != nil {
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
		if err := compareHours(ctx, s, o.Park, eng.Advance().Hours, to, hourly, res); err != nil {
			return nil, err
		}
	}
	checkChains(chains, res)
	if sealed != nil {
		sealed.finish(res)
	}
	return res, nil
}

// checkEvidence verifies the evidence records of hour h and returns the
// signed batches, in poll time and sequence order.
func checkEvidence(ctx context.Context, s *Store, o Options, h time.Time, res *Result, links *[]gwLink) ([]signed, error) {
	rows, err := s.rows(ctx, "SELECT * FROM "+quoteIdent(EvidenceMeasurement)+" WHERE "+window(o.Park, h, h.Add(time.Hour)))
	if err != nil {
		return nil, err
	}
	var out []signed
	for _, r := range rows {
		res.Batches++
		sb, l, ok := checkRecord(r, o.Keys, res)
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
	return out, nil
}

// checkRecord checks one evidence record; ok is false when its message
// cannot be trusted (its batch then counts as not signed).
func checkRecord(r row, keys evidence.Keys, res *Result) (signed, link, bool) {
	gw, device := r.str("gateway"), r.str("device")
	seq, _ := strconv.ParseUint(fmt.Sprint(r["seq"]), 10, 64)
	ms, err := r.millis()
	if err != nil {
		res.add(Finding{Kind: KindInvalid, Gateway: gw, Seq: seq, Device: device, Detail: "evidence record: " + err.Error()})
		return signed{}, link{}, false
	}
	at := time.UnixMilli(ms).UTC()
	f := Finding{Gateway: gw, Seq: seq, Device: device, Time: at}
	var msg strings.Builder
	for i := 0; ; i++ {
		part, ok := r["msg_"+strconv.Itoa(i)].(string)
		if !ok {
			break
		}
		msg.WriteString(part)
	}
	if msg.Len() == 0 {
		f.Kind, f.Detail = KindInvalid, "evidence record without its message (msg_0)"
		res.add(f)
		return signed{}, link{}, false
	}
	sig := r.str("sig")
	payload := msg.String()
	if sig != "" {
		payload += `,"sig":"` + sig + `"}`
	}
	h, verr := keys.Verify(gw, r.str("key"), []byte(payload))
	if verr != nil {
		f.Kind, f.Detail = evidence.Reason(verr), verr.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	if stored := r.str("hash"); stored != h.String() {
		g := f
		g.Kind, g.Stored, g.Expected, g.Detail = KindHashMismatch, stored, h.String(), "stored hash is not SHA-256 of the signed message"
		res.add(g)
	}
	b, err := batch.Decode([]byte(msg.String() + "}"))
	if err != nil {
		f.Kind, f.Detail = KindInvalid, "signed message: "+err.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	prev, perr := evidence.ParseHash(b.Prev)
	if perr != nil {
		f.Kind, f.Detail = KindInvalid, "signed prev: "+perr.Error()
		res.add(f)
		return signed{}, link{}, false
	}
	for _, c := range [][3]string{
		{"gateway", gw, b.Gateway}, {"seq", strconv.FormatUint(seq, 10), strconv.FormatUint(b.Seq, 10)},
		{"device", device, b.Device}, {"prev", r.str("prev"), b.Prev},
	} {
		if c[1] != c[2] {
			g := f
			g.Kind, g.Stored, g.Expected, g.Detail = KindRecordAltered, c[1], c[2], "evidence record's "+c[0]+" differs from the signed message"
			res.add(g)
		}
	}
	if !b.Time.Equal(at) {
		// The batch is checked where it was signed to be; this copy is not
		// trusted, so readings stored beside it show as unsigned.
		res.add(Finding{Kind: KindMoved, Gateway: b.Gateway, Seq: b.Seq, Device: b.Device, Time: at,
			Stored: at.Format(time.RFC3339Nano), Expected: b.Time.UTC().Format(time.RFC3339Nano),
			Detail: "evidence record stored at another time than the signed poll time (a replayed or moved batch)"})
		return signed{}, link{}, false
	}
	return signed{b: b, hash: h.String()}, link{seq: b.Seq, hash: h, prev: prev, device: b.Device, time: b.Time}, true
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

// checkReadings compares the readings stored in hour h with the signed
// batches of that hour.
func checkReadings(ctx context.Context, s *Store, o Options, h time.Time, measurements []string, batches []signed, res *Result) error {
	type stored struct {
		kind string
		r    row
	}
	got := map[readingKey]stored{}
	for _, m := range measurements {
		rows, err := s.rows(ctx, "SELECT * FROM "+quoteIdent(m)+" WHERE "+window(o.Park, h, h.Add(time.Hour)))
		if err != nil {
			return err
		}
		for _, r := range rows {
			ms, err := r.millis()
			if err != nil {
				return fmt.Errorf("measurement %s: %w", m, err)
			}
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
		seq, _ := strconv.ParseUint(fmt.Sprint(r[seqField]), 10, 64)
		res.add(Finding{Kind: KindReadingUnsigned, Gateway: k.gateway, Seq: seq, Device: k.device, Time: time.UnixMilli(k.ms).UTC(),
			Detail: "reading in measurement " + got[k].kind + " without a signed batch"})
	}
	return nil
}

// compareReading returns the differences (field, stored, signed) between
// a stored reading and the signed batches of its poll.
func compareReading(r row, g []signed) [][3]string {
	want := map[string]string{}
	seqs, hashes := map[string]bool{}, map[string]bool{}
	for _, sb := range g {
		b := sb.b
		want["site"], want["tenant"] = b.Site, b.Tenant
		seqs[strconv.FormatUint(b.Seq, 10)] = true
		hashes[sb.hash] = true
		for i := range b.Points {
			p := &b.Points[i]
			name, v := p.Name, ""
			switch {
			case p.Quality != batch.Good:
				name, v = p.Name+qualitySuffix, p.Quality
			case p.Kind == batch.IntValue:
				v = strconv.FormatInt(p.Int, 10)
			case p.Kind == batch.UintValue && p.Uint <= math.MaxInt64:
				v = strconv.FormatUint(p.Uint, 10)
			case p.Kind == batch.UintValue:
				name, v = p.Name+qualitySuffix, batch.OutOfRange
			default:
				v = strconv.FormatFloat(p.Value, 'g', -1, 64)
			}
			want[name] = v
		}
	}
	var diffs [][3]string
	for k, v := range want {
		sv, ok := r[k]
		s := text(sv)
		switch {
		case !ok && v == "":
		case !ok:
			diffs = append(diffs, [3]string{k, "(missing)", v})
		case s != v:
			diffs = append(diffs, [3]string{k, s, v})
		}
	}
	for k, sv := range r {
		switch k {
		case "time", "park", "gateway", "device", "site", "tenant", checkField:
			continue
		case seqField:
			if !seqs[text(sv)] {
				diffs = append(diffs, [3]string{k, text(sv), keysOf(seqs)})
			}
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
func checkChains(chains map[string][]link, res *Result) {
	gws := make([]string, 0, len(chains))
	for g := range chains {
		gws = append(gws, g)
	}
	sort.Strings(gws)
	for _, gw := range gws {
		c := chains[gw]
		sort.SliceStable(c, func(i, j int) bool { return c[i].seq < c[j].seq })
		lastTime := map[string]link{}
		for i, l := range c {
			f := Finding{Gateway: gw, Seq: l.seq, Device: l.device, Time: l.time.UTC()}
			if l.prev.IsZero() && l.seq > 1 {
				f.Kind, f.Detail = KindChainRestart, "prev is the zero hash: the edge restarted its chain"
				res.add(f)
			}
			if d, ok := lastTime[l.device]; ok && l.time.Before(d.time) {
				g := f
				g.Kind, g.Detail = KindReorder, fmt.Sprintf("polled before seq %d of the same device (%s)", d.seq, d.time.UTC().Format(time.RFC3339Nano))
				res.add(g)
			}
			lastTime[l.device] = l
			if i == 0 {
				continue
			}
			p := c[i-1]
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
		res.Heads[gw] = Head{Seq: last.seq, Hash: last.hash.String(), Time: last.time.UTC()}
	}
}

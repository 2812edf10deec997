package audit

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/seal"
)

// Kinds of findings about the sealed hourly records (package seal).
const (
	KindSealBroken          = "seal_broken"           // the audit log's chain does not hold at this entry, or it does not reach its checkpoint
	KindSealMissing         = "seal_missing"          // an hour with stored hourly records and no entry in the audit log
	KindSealHeadMismatch    = "seal_head_mismatch"    // park_hourly_seal in InfluxDB is not the audit log's entry of the hour
	KindSealedRecordMissing = "sealed_record_missing" // a sealed record is not in park_hourly (removed)
	KindSealedRecordAltered = "sealed_record_altered" // a field of park_hourly differs from the sealed record
	KindUnsealedRecord      = "unsealed_record"       // a park_hourly record the hour's entry does not seal (inserted)
)

// SealHead is the audit log's last entry.
type SealHead struct {
	Seq  uint64
	Hour time.Time
	Hash string
}

// sealCheck compares the audit log's entries with park_hourly and
// park_hourly_seal hour by hour; its findings are added to the result at
// the end, after the chains'.
type sealCheck struct {
	parkName string
	byHour   map[int64]seal.Entry
	found    Result // Findings, SealHead, SealedHours, Resealed
}

// readSealed reads and checks the audit log of o and keeps the entries of
// the hours [from, to).
func readSealed(o Options, from, to time.Time) (*sealCheck, error) {
	c := &sealCheck{parkName: o.Park, byHour: map[int64]seal.Entry{}}
	res := &c.found
	// A log that is not there is not an empty one: every stored hour
	// would read as unsealed.
	if st, err := os.Stat(o.AuditLog); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("audit log %s: not a directory", o.AuditLog)
	}
	entries, probs, err := seal.Read(o.AuditLog)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", o.AuditLog, err)
	}
	for _, p := range probs {
		res.add(Finding{Kind: KindSealBroken, Seq: p.Seq, Time: p.Hour, Detail: "audit log " + p.String()})
	}
	if cp, ok, err := seal.ReadCheckpoint(o.AuditLog); err != nil {
		res.add(Finding{Kind: KindSealBroken, Detail: "audit log checkpoint: " + err.Error()})
	} else if ok {
		if p := seal.CheckCheckpoint(cp, entries); p != nil {
			res.add(Finding{Kind: KindSealBroken, Seq: p.Seq, Time: p.Hour, Detail: "audit log " + p.String()})
		}
	}
	if n := len(entries); n > 0 {
		last := entries[n-1]
		res.SealHead = &SealHead{Seq: last.Seq, Hour: last.Hour, Hash: last.Hash.String()}
	}
	for _, e := range entries {
		if e.Hour.Before(from) || !e.Hour.Before(to) {
			continue
		}
		k := e.Hour.UnixMilli()
		if _, again := c.byHour[k]; again {
			res.Resealed = append(res.Resealed, e.Hour)
		}
		c.byHour[k] = e // the last entry of an hour is what InfluxDB holds
	}
	return c, nil
}

// hour checks hour h's entry against its stored park_hourly rows and
// park_hourly_seal heads.
func (c *sealCheck) hour(h time.Time, rows, heads []row) {
	checkSealedHour(c.parkName, h, rows, heads, c.byHour, &c.found)
	delete(c.byHour, h.UnixMilli())
}

// finish adds what was found to res.
func (c *sealCheck) finish(res *Result) {
	res.Findings = append(res.Findings, c.found.Findings...)
	res.SealHead, res.SealedHours, res.Resealed = c.found.SealHead, c.found.SealedHours, c.found.Resealed
}

func checkSealedHour(parkName string, h time.Time, rows, heads []row, byHour map[int64]seal.Entry, res *Result) {
	at := h.UTC()
	e, sealed := byHour[h.UnixMilli()]
	if !sealed {
		if len(rows) > 0 || len(heads) > 0 {
			res.add(Finding{Kind: KindSealMissing, Time: at, Detail: fmt.Sprintf("%d hourly records stored, no entry in the audit log", len(rows))})
		}
		return
	}
	res.SealedHours++
	f := Finding{Kind: KindSealHeadMismatch, Seq: e.Seq, Time: at}
	switch {
	case len(heads) == 0:
		f.Expected, f.Detail = e.Hash.String(), "no park_hourly_seal record in InfluxDB"
		res.add(f)
	case text(heads[0].val("seq")) != strconv.FormatUint(e.Seq, 10) || text(heads[0].val("hash")) != e.Hash.String():
		f.Stored = "seq " + text(heads[0].val("seq")) + " hash " + text(heads[0].val("hash"))
		f.Expected = "seq " + strconv.FormatUint(e.Seq, 10) + " hash " + e.Hash.String()
		f.Detail = "park_hourly_seal is not the audit log's entry of the hour"
		res.add(f)
	}

	stored := map[[2]string]row{}
	for _, r := range rows {
		stored[[2]string{r.str("metric"), entityOf(func(k string) string { return r.str(k) })}] = r
	}
	for _, line := range e.Records {
		rec, err := seal.ParseRecord(line)
		if err != nil {
			res.add(Finding{Kind: KindSealBroken, Seq: e.Seq, Time: at, Detail: "sealed record: " + err.Error()})
			continue
		}
		k := [2]string{rec.Tags["metric"], entityOf(func(k string) string { return rec.Tags[k] })}
		f := Finding{Seq: e.Seq, Time: at, Metric: k[0], Entity: k[1]}
		r, ok := stored[k]
		if !ok {
			f.Kind, f.Detail = KindSealedRecordMissing, "sealed hourly record not in park_hourly"
			res.add(f)
			continue
		}
		delete(stored, k)
		for _, d := range compareSealed(r, rec) {
			f := f
			f.Kind, f.Stored, f.Expected, f.Detail = KindSealedRecordAltered, d[1], d[2], "field "+d[0]+" differs from the sealed record"
			res.add(f)
		}
	}
	var extra [][2]string
	for k := range stored {
		extra = append(extra, k)
	}
	sort.Slice(extra, func(i, j int) bool {
		return extra[i][0] < extra[j][0] || extra[i][0] == extra[j][0] && extra[i][1] < extra[j][1]
	})
	for _, k := range extra {
		res.add(Finding{Kind: KindUnsealedRecord, Seq: e.Seq, Time: at, Metric: k[0], Entity: k[1], Detail: "park_hourly record the hour's entry does not seal"})
	}
}

// entityOf is the entity a record is about: the first entity tag set.
func entityOf(tag func(string) string) string {
	for _, t := range entityTags {
		if v := tag(t); v != "" {
			return v
		}
	}
	return ""
}

// compareSealed returns the differences (field, stored, sealed) between a
// stored hourly record and the sealed one.
func compareSealed(r row, rec seal.Record) [][3]string {
	var diffs [][3]string
	for k, v := range rec.Fields {
		var want string
		switch x := v.(type) {
		case float64:
			want = strconv.FormatFloat(x, 'g', -1, 64)
		case int64:
			want = strconv.FormatInt(x, 10)
		case bool:
			want = strconv.FormatBool(x)
		case string:
			want = x
		}
		sv, ok := r.get(k)
		switch {
		case !ok:
			diffs = append(diffs, [3]string{k, "(missing)", want})
		case text(sv) != want:
			diffs = append(diffs, [3]string{k, text(sv), want})
		}
	}
	for k, sv := range r.all {
		if _, tag := rec.Tags[k]; tag || k == "time" {
			continue
		}
		if _, ok := rec.Fields[k]; !ok {
			diffs = append(diffs, [3]string{k, text(sv), "(not sealed)"})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i][0] < diffs[j][0] })
	return diffs
}

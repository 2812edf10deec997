package audit

import (
	"context"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/eipgw/eipgw/gateway/park"
)

// entityTags are the tags that name what an hourly record is about
// (park.Metric.EntityKey).
var entityTags = []string{"tenant", "device", "link", "header", "material"}

// relTol is how far a recomputed value may be from the stored one: the
// engine sums samples in arrival order, the recomputation in poll order,
// and floating-point sums differ in the last bits.
const relTol = 1e-9

// absTol is how far, in the metric's own unit, a recomputed value may be
// from the stored one whatever its size: a difference of sums that
// cancel (the balance's unexplained loss of a balanced hour, 1e-15 t) keeps
// the rounding of its terms, not of its own size.
const absTol = 1e-9

// agrees reports whether a stored value and its recomputation agree within
// relTol or absTol.
func agrees(stored, recomputed float64) bool {
	d := math.Abs(stored - recomputed)
	return stored == recomputed || d <= relTol*math.Abs(recomputed) || d <= absTol
}

// compareHours compares recomputed hours before to with the stored hourly
// records: those read already in stored (by the hour's start in Unix
// milliseconds, taken out as they are used), others queried. Cumulative metrics (those with Hours, summed since the engine
// started) are left out: a recomputation starting at the range's first
// hour cannot know what the engine had summed before.
func compareHours(ctx context.Context, s *Store, parkName string, hours []park.Hour, to time.Time, read map[int64][]row, res *Result) error {
	for _, h := range hours {
		if !h.Start.Before(to) {
			continue
		}
		res.Hours++
		res.Recomputed = append(res.Recomputed, h)
		rows, ok := read[h.Start.UnixMilli()]
		if ok {
			delete(read, h.Start.UnixMilli())
		} else {
			var err error
			if rows, err = s.rows(ctx, "SELECT * FROM "+quoteIdent(park.MeasurementHourly)+" WHERE "+window(parkName, h.Start, h.Start.Add(time.Hour))); err != nil {
				return err
			}
		}
		at := h.Start.UTC()
		if len(rows) == 0 && fromNothing(h) {
			// No reading to recompute it from and no record: no claim
			// was made for the hour (before the engine first ran, or
			// while it and the gateways were both down).
			res.Empty++
			continue
		}
		if len(rows) == 0 {
			res.add(Finding{Kind: KindHourMissing, Time: at, Detail: "no hourly record stored for this hour"})
			continue
		}
		stored := map[[2]string]row{}
		for _, r := range rows {
			ent := ""
			for _, t := range entityTags {
				if v := r.str(t); v != "" {
					ent = v
					break
				}
			}
			stored[[2]string{r.str("metric"), ent}] = r
		}
		for i := range h.Metrics {
			m := &h.Metrics[i]
			k := [2]string{m.Name, m.Entity}
			r, ok := stored[k]
			delete(stored, k)
			if m.Hours > 0 {
				continue
			}
			f := Finding{Time: at, Metric: m.Name, Entity: m.Entity}
			if !ok {
				f.Kind, f.Detail = KindHourMissing, "hourly record not stored"
				res.add(f)
				continue
			}
			for _, d := range compareHour(r, m) {
				f := f
				f.Kind, f.Stored, f.Expected, f.Detail = KindHourAltered, d[1], d[2], "field "+d[0]
				res.add(f)
			}
		}
		var extra [][2]string
		for k, r := range stored {
			if _, cumulative := r.get("hours"); !cumulative {
				extra = append(extra, k)
			}
		}
		sort.Slice(extra, func(i, j int) bool {
			return extra[i][0] < extra[j][0] || extra[i][0] == extra[j][0] && extra[i][1] < extra[j][1]
		})
		for _, k := range extra {
			res.add(Finding{Kind: KindHourExtra, Time: at, Metric: k[0], Entity: k[1], Detail: "stored hourly record the recomputation does not produce"})
		}
	}
	return nil
}

// compareHour returns the differences (field, stored, recomputed) of one
// hourly record.
func compareHour(r row, m *park.Metric) [][3]string {
	var diffs [][3]string
	str := func(field, want string) {
		if got := text(r.val(field)); got != want {
			diffs = append(diffs, [3]string{field, got, want})
		}
	}
	num := func(field string, want float64) {
		got := text(r.val(field))
		v, err := strconv.ParseFloat(got, 64)
		if err != nil || !agrees(v, want) {
			diffs = append(diffs, [3]string{field, got, strconv.FormatFloat(want, 'g', -1, 64)})
		}
	}
	str("flag", string(m.Flag))
	str("valid", strconv.FormatBool(m.Flag == park.Valid))
	str("reason", m.Reason)
	if m.Flag == park.Valid {
		num("value", m.Value)
	} else if _, ok := r.get("value"); ok {
		diffs = append(diffs, [3]string{"value", text(r.val("value")), "(none: not valid)"})
	}
	num("completeness", m.Completeness)
	str("valid_minutes", strconv.Itoa(m.ValidMinutes))
	str("samples", strconv.Itoa(m.Samples))
	return diffs
}

// fromNothing reports whether a recomputed hour rests on no sample at all.
func fromNothing(h park.Hour) bool {
	for _, m := range h.Metrics {
		if m.Samples > 0 || m.ValidMinutes > 0 {
			return false
		}
	}
	return true
}

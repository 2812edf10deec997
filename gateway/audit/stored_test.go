package audit

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

// TestRestartedEngineFillsItsHours: two hours of the reference park,
// signed and stored by the real ingest. A park engine restarted 30 s into
// the second hour (within the first hour's grace, so it closes that hour
// too) receives only the batches polled from then on. Filled with the
// stored signed batches (EngineBackfill) just before each hour closes, it
// writes both hours exactly as the engine that ran through them did, which
// is what the audit recomputes; without the fill both differ.
func TestRestartedEngineFillsItsHours(t *testing.T) {
	f := newFixture(t, 2)
	pe := *f.parkCfg.ParkEngine
	db := *pe.InfluxDB
	db.URL, db.Token = f.ifx.URL, ""
	pe.InfluxDB = &db
	role := config.ParkRole{Park: f.parkCfg.Park, Engine: &pe,
		Evidence: &config.EvidenceKeys{Keys: map[string][]string{"gw-1": {evidence.EncodePublicKey(f.pub)}}}}
	backfill, err := EngineBackfill(role)
	if err != nil || backfill == nil {
		t.Fatalf("EngineBackfill: %v (nil: %v)", err, backfill == nil)
	}
	if none, err := EngineBackfill(config.ParkRole{Park: "p", Engine: &pe}); none != nil || err != nil {
		t.Errorf("EngineBackfill without keys: %v", err)
	}

	restart := day0.Add(time.Hour + 30*time.Second)
	var sent []*batch.Batch
	for _, b := range f.sent {
		sent = append(sent, b)
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].Seq < sent[j].Seq })

	run := func(fill bool) []park.Hour {
		clock := restart
		eng, err := park.New(&pe, park.Options{Clock: func() time.Time { return clock }, From: day0})
		if err != nil {
			t.Fatal(err)
		}
		partial := eng.PartialHours()
		if len(partial) != 2 || !partial[0].Equal(day0) || !partial[1].Equal(day0.Add(time.Hour)) {
			t.Fatalf("partial hours %v, want the reopened hour and the start's", partial)
		}
		for _, b := range sent {
			if !b.Time.Before(restart) {
				clock = b.Time
				if r := eng.Add(b.Gateway, b); r != park.Accepted {
					t.Fatalf("%s at %s: %s", b.Device, b.Time, r)
				}
			}
		}
		var hours []park.Hour
		for _, h := range partial {
			clock = h.Add(time.Hour + pe.Grace)
			if fill {
				bs, err := backfill(context.Background(), h, h.Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				added := 0
				for _, b := range bs {
					if eng.AddStored(b.Gateway, b) == park.Accepted {
						added++
					}
				}
				want, end := 0, h.Add(time.Hour)
				if restart.Before(end) {
					end = restart
				}
				for _, b := range sent {
					if !b.Time.Before(h) && b.Time.Before(end) {
						want++
					}
				}
				if added != want {
					t.Errorf("hour %s: %d stored batches read, %d added, want the %d polled before the restart", h.UTC().Format(time.RFC3339), len(bs), added, want)
				}
			}
			hours = append(hours, eng.Advance().Hours...)
		}
		return hours
	}

	filled := run(true)
	if len(filled) != 2 {
		t.Fatalf("%d hours closed, want 2", len(filled))
	}
	for i, h := range filled {
		if d := hourDiff(f.hours[i], h); d != "" {
			t.Errorf("hour %s filled from storage differs from the engine that ran through it: %s", h.Start.UTC().Format(time.RFC3339), d)
		}
	}
	for i, h := range run(false) {
		if hourDiff(f.hours[i], h) == "" {
			t.Errorf("hour %s without the fill equals the engine that ran through it: the test proves nothing", h.Start.UTC().Format(time.RFC3339))
		}
	}
}

// hourDiff describes the first metrics where a and b differ, "" when
// they agree as the audit compares them: values and completeness as
// agrees judges them, flags, reasons and counts exactly.
func hourDiff(a, b park.Hour) string {
	if !a.Start.Equal(b.Start) || len(a.Metrics) != len(b.Metrics) {
		return fmt.Sprintf("start %s, %d metrics; %s, %d metrics", a.Start, len(a.Metrics), b.Start, len(b.Metrics))
	}
	var out []string
	for i := range a.Metrics {
		x, y := a.Metrics[i], b.Metrics[i]
		if !agrees(x.Value, y.Value) || !agrees(x.Completeness, y.Completeness) {
			out = append(out, fmt.Sprintf("%+v against %+v", x, y))
			continue
		}
		// The sums may differ in their last bits: the stored batches are
		// added after the ones received, in another order.
		x.Value, x.Completeness = y.Value, y.Completeness
		if x != y {
			out = append(out, fmt.Sprintf("%+v against %+v", a.Metrics[i], b.Metrics[i]))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("%d metrics, first %s", len(out), out[0])
}

package ingest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func goodBatch() *batch.Batch {
	return &batch.Batch{Gateway: "gw-1", Seq: 5, Device: "chp-1", Kind: "chp", Site: "plant", Tenant: "t01",
		Time: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC),
		Points: []batch.Point{
			{Name: "electric_power", Value: 28.4, HasValue: true, Unit: "MW", Quality: batch.Good},
			{Name: "temp", Unit: "°C", Quality: "exception:2"},
		}}
}

func TestValidateBatch(t *testing.T) {
	now := time.Date(2026, 11, 26, 18, 0, 30, 0, time.UTC)
	if err := validateBatch(goodBatch(), now); err != nil {
		t.Fatalf("a good batch: %v", err)
	}
	for _, tc := range []struct {
		name, reason, want string
		edit               func(b *batch.Batch)
	}{
		{"newline in kind", ReasonName, `kind "chp\ninjected`, func(b *batch.Batch) { b.Kind = "chp\ninjected_kind,park=bad fake=42" }},
		{"site ending in backslash", ReasonName, `site "plant\\"`, func(b *batch.Batch) { b.Site = `plant\` }},
		{"tenant with space", ReasonName, "tenant", func(b *batch.Batch) { b.Tenant = "t 01" }},
		{"long device", ReasonName, "(100 bytes)", func(b *batch.Batch) { b.Device = strings.Repeat("d", 100) }},
		{"kind completeness", ReasonReserved, `kind "completeness"`, func(b *batch.Batch) { b.Kind = "completeness" }},
		{"kind park_hourly", ReasonReserved, `kind "park_hourly"`, func(b *batch.Batch) { b.Kind = "park_hourly" }},
		{"kind in other case", ReasonReserved, "Park_Live", func(b *batch.Batch) { b.Kind = "Park_Live" }},
		{"kind eipgw_", ReasonReserved, "eipgw_x", func(b *batch.Batch) { b.Kind = "eipgw_x" }},
		{"point batch_seq", ReasonReserved, `"batch_seq" is reserved`, func(b *batch.Batch) { b.Points[0].Name = SeqField }},
		{"point ending _q", ReasonReserved, `"temp_q" is reserved`, func(b *batch.Batch) { b.Points[0].Name = "temp_q" }},
		{"point batch_hash", ReasonReserved, `"batch_hash" is reserved`, func(b *batch.Batch) { b.Points[0].Name = HashField }},
		// A field named like a tag hides the tag from every WHERE on it.
		{"point gateway", ReasonReserved, `"gateway" is reserved: it is a tag`, func(b *batch.Batch) { b.Points[0].Name = "gateway" }},
		{"point device", ReasonReserved, `"device" is reserved: it is a tag`, func(b *batch.Batch) { b.Points[0].Name = "device" }},
		{"point park", ReasonReserved, `"park" is reserved: it is a tag`, func(b *batch.Batch) { b.Points[0].Name = "park" }},
		{"point site", ReasonReserved, `"site" is reserved: it is a tag`, func(b *batch.Batch) { b.Points[0].Name = "site" }},
		{"point tenant", ReasonReserved, `"tenant" is reserved: it is a tag`, func(b *batch.Batch) { b.Points[0].Name = "tenant" }},
		// InfluxDB 1.8 drops a field named time and answers 204.
		{"point time", ReasonReserved, `"time" is reserved`, func(b *batch.Batch) { b.Points[0].Name = "time" }},
		{"point name with =", ReasonName, `points[1]: name "a=b"`, func(b *batch.Batch) { b.Points[1].Name = "a=b" }},
		{"NaN", ReasonValue, "NaN is not finite", func(b *batch.Batch) { b.Points[0].Value = math.NaN() }},
		{"Inf", ReasonValue, "+Inf is not finite", func(b *batch.Batch) { b.Points[0].Value = math.Inf(1) }},
		{"unit with newline", ReasonUnit, `unit "M\nW"`, func(b *batch.Batch) { b.Points[0].Unit = "M\nW" }},
		{"unit with quote", ReasonUnit, "unit", func(b *batch.Batch) { b.Points[0].Unit = `M"W` }},
		{"unit too long", ReasonUnit, "unit", func(b *batch.Batch) { b.Points[0].Unit = strings.Repeat("k", 33) }},
		{"quality with quotes", ReasonMalformed, "unknown quality", func(b *batch.Batch) { b.Points[1].Quality = `good"` }},
		{"far future", ReasonTime, "ahead of ingest's clock", func(b *batch.Batch) { b.Time = now.Add(11 * time.Minute) }},
		{"far past", ReasonTime, "before 2000-01-01", func(b *batch.Batch) { b.Time = time.Unix(0, 0) }},
		{"seq beyond int64", ReasonSeqRange, "outside 1..", func(b *batch.Batch) { b.Seq = math.MaxUint64 }},
		{"too many points", ReasonPoints, "1000001 points", func(b *batch.Batch) { b.Points = make([]batch.Point, MaxPoints+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := goodBatch()
			tc.edit(b)
			err := validateBatch(b, now)
			if err == nil || !errors.Is(err, batch.ErrInvalid) || refusalReason(err) != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (reason %s), want reason %s containing %q", err, refusalReason(err), tc.reason, tc.want)
			}
		})
	}
	// Units the profiles use, and Unicode ones.
	for _, u := range []string{"MW", "Nm3/h", "%", "1", "degC", "°C", "m³/h", "µS/cm", "mg/Nm3"} {
		if !config.ValidUnit(u) {
			t.Errorf("unit %q refused", u)
		}
	}
}

// TestSeqGuard without InfluxDB: the first number is followed, a jump
// beyond the bound is quarantined without moving the bound, a redelivery
// passes, the same number with other content is a conflict.
func TestSeqGuard(t *testing.T) {
	in := &Ingest{m: newMetrics(prometheus.NewRegistry()), guard: &seqGuard{maxJump: 100, hi: map[string]uint64{}}}
	w := &worker{in: in, seen: map[string]*seqWindow{}}
	t0 := time.Now().Add(-time.Hour)
	admit := func(seq uint64, payload string) error {
		b := goodBatch()
		b.Seq = seq
		b.Time = t0.Add(time.Duration(seq) * time.Millisecond) // a poll a number
		_, err := w.admit(b, []byte(payload), false)
		if err == nil {
			w.conflicts(b.Gateway, seq, []byte(payload), b.Time.UnixMilli())
		}
		return err
	}
	if err := admit(1000, "a"); err != nil {
		t.Fatal(err)
	}
	if err := admit(1100, "b"); err != nil {
		t.Fatalf("a jump of exactly the bound: %v", err)
	}
	err := admit(1_000_000_000, "forged")
	if refusalReason(err) != ReasonSeqJump || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("far jump: %v", err)
	}
	if err := admit(1101, "c"); err != nil {
		t.Fatalf("the real next number after a quarantined one: %v", err)
	}
	if err := admit(1000, "a"); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if err := admit(1000, "other"); refusalReason(err) != ReasonSeqConflict {
		t.Fatalf("same number, other content: %v", err)
	}
	if err := admit(900, "old"); err != nil {
		t.Fatalf("an old number never seen, nothing to compare with: %v", err)
	}
}

func TestReservedMeasurement(t *testing.T) {
	for kind, want := range map[string]bool{
		"completeness": true, "Completeness": true, "park_live": true, "park_hourly": true, "park_statement": true,
		"park_future": true, "eipgw_x": true, "deadletter": true, "quarantine": true,
		"chp": false, "steam_meter": false, "parking": false, "park": false,
	} {
		if got := config.ReservedKind(kind); got != want {
			t.Errorf("config.ReservedKind(%q) = %v", kind, got)
		}
	}
}

// TestUnverifiedLookupBudget: batches that fail their evidence are looked
// up at most unverifiedLookups a second; the rest are refused unlooked-at,
// and the budget comes back with time. A batch under evidence that
// verifies is not counted against it.
func TestUnverifiedLookupBudget(t *testing.T) {
	var l lookupBudget
	t0 := time.Now()
	for i := range unverifiedLookups {
		if !l.take(t0) {
			t.Fatalf("look-up %d refused within the burst", i)
		}
	}
	if l.take(t0) {
		t.Fatal("a look-up beyond the burst")
	}
	later := t0.Add(20 * time.Millisecond)
	first, second, third := l.take(later), l.take(later), l.take(later)
	if !first || !second || third {
		t.Fatal("20 ms later: want 2 look-ups back (100 a second)")
	}

	in := &Ingest{m: newMetrics(prometheus.NewRegistry()), guard: &seqGuard{maxJump: 100, hi: map[string]uint64{}}}
	w := &worker{in: in, seen: map[string]*seqWindow{}}
	w.noteNames(goodBatch()) // a batch of the device that verified
	refused := 0
	for seq := uint64(1); seq <= 3*unverifiedLookups; seq++ {
		b := goodBatch()
		b.Seq, b.Time = seq, time.Now()
		if _, err := w.admit(b, []byte("forged"), true); err != nil {
			if refusalReason(err) != ReasonUnverified || !strings.Contains(err.Error(), "more such batches arrive than ingest looks up") {
				t.Fatalf("seq %d: %v", seq, err)
			}
			refused++
		}
	}
	if refused < unverifiedLookups || refused > 2*unverifiedLookups {
		t.Errorf("%d of %d refused, want about %d (the burst looked up)", refused, 3*unverifiedLookups, 2*unverifiedLookups)
	}
	b := goodBatch()
	b.Seq, b.Time = 7, time.Now()
	if _, err := w.admit(b, []byte("signed"), false); err != nil {
		t.Errorf("a batch that verifies, with the budget spent: %v", err)
	}
}

package park

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// TestServiceFillsHourBegunBeforeStart: a service started 20 minutes into
// an hour reads that hour's stored batches (Options.Backfill) once, when
// its grace has ended and not before, and closes it as an engine that ran
// through it would; the batches it received itself count once. When the
// read fails, the hour closes with what it received and the log says so.
func TestServiceFillsHourBegunBeforeStart(t *testing.T) {
	cfg := loadExample(t)
	cfg.ParkEngine.AuditLog = ""
	r := newReplay(t, cfg, day0, 1)
	var all []*batch.Batch
	r.sink = func(b *batch.Batch) { all = append(all, b) }
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	want := r.out.Hours[0]

	start := day0.Add(20 * time.Minute)
	type call struct{ from, to time.Time }
	var calls []call
	var readErr error
	backfill := func(_ context.Context, from, to time.Time) ([]*batch.Batch, error) {
		calls = append(calls, call{from, to})
		if readErr != nil {
			return nil, readErr
		}
		var out []*batch.Batch
		for _, b := range all {
			if !b.Time.Before(from) && b.Time.Before(to) {
				out = append(out, b)
			}
		}
		return out, nil
	}
	service := func() (*Service, *safeClock, *bytes.Buffer) {
		clock := &safeClock{now: start}
		var log bytes.Buffer
		s, err := NewService(parkRole(t, cfg), slog.New(slog.NewTextHandler(&log, nil)), nil, Options{Clock: clock.Now, Backfill: backfill})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if !b.Time.Before(start) {
				clock.Set(b.Time)
				if res := s.eng.Add(b.Gateway, b); res != Accepted {
					t.Fatalf("%s at %s: %s", b.Device, b.Time, res)
				}
			}
		}
		return s, clock, &log
	}

	s, clock, _ := service()
	ctx := context.Background()
	clock.Set(end.Add(cfg.ParkEngine.Grace - time.Second))
	s.fill(ctx)
	if len(calls) != 0 {
		t.Fatalf("stored batches read before the hour's grace ended: %v", calls)
	}
	clock.Set(end.Add(cfg.ParkEngine.Grace))
	s.fill(ctx)
	s.fill(ctx)
	if len(calls) != 1 || !calls[0].from.Equal(day0) || !calls[0].to.Equal(end) {
		t.Fatalf("reads %v, want one of [%s, %s)", calls, day0, end)
	}
	before := 0
	for _, b := range all {
		if b.Time.Before(start) {
			before++
		}
	}
	if got := s.Stats().Backfilled; got != uint64(before) {
		t.Errorf("%d stored batches added, want the %d polled before the start", got, before)
	}
	hs := s.eng.Advance().Hours
	if len(hs) != 1 {
		t.Fatalf("%d hours closed, want 1", len(hs))
	}
	for i, m := range hs[0].Metrics {
		w := want.Metrics[i]
		if m.Name != w.Name || m.Entity != w.Entity || m.Flag != w.Flag || m.Reason != w.Reason || m.Samples != w.Samples ||
			m.ValidMinutes != w.ValidMinutes || math.Abs(m.Value-w.Value) > 1e-9*max(math.Abs(w.Value), 1) {
			t.Errorf("filled: %+v, the engine that ran through the hour: %+v", m, w)
		}
	}

	calls, readErr = nil, errors.New("influxdb down")
	s, clock, log := service()
	clock.Set(end.Add(cfg.ParkEngine.Grace))
	s.fill(ctx)
	hs = s.eng.Advance().Hours
	if len(calls) != 1 || s.Stats().Backfilled != 0 || len(hs) != 1 {
		t.Fatalf("read failing: %d reads, %d added, %d hours closed", len(calls), s.Stats().Backfilled, len(hs))
	}
	if m, _ := metric(hs[0].Metrics, "supplier_steam_mass_t", ""); m.Samples != 40 {
		t.Errorf("read failing: the hour rests on %d samples, want the 40 received", m.Samples)
	}
	if !strings.Contains(log.String(), "could not be read") || !strings.Contains(log.String(), "influxdb down") {
		t.Errorf("read failing: log %q", log.String())
	}
}

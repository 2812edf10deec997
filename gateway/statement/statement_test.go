package statement

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

// fakeDB answers the statement's queries from per-hour series of a month
// in UTC: for each device the totaliser's counts at the end of every hour
// (and of the hour before the month), and the engine's hourly values.
type fakeDB struct {
	start, end time.Time
	scale      float64
	// counts[device][i] is the counter at the end of hour i−1 of the month
	// (i = 0: the hour before the month).
	counts map[string][]uint64
	// raw, when set for a device, replaces its stored values.
	raw map[string]string
	// hourly[metric|tenant] is the engine's value of each hour; NaN marks
	// an invalid hour.
	hourly map[string][]float64
	// extra are readings of a device besides those at the hours' ends,
	// returned only when the readings of a span are asked for.
	extra map[string][]extraReading
	// startsAt, when set for a device, is its first reading's time (its
	// counts in startCounts): it has no reading before.
	startsAt    map[string]time.Time
	startCounts map[string]uint64
	// forged are readings stored flagged as not signed by their gateway
	// (also among extra, as InfluxDB holds them beside the others).
	forged map[string][]extraReading
}

type extraReading struct {
	at     time.Time
	counts uint64
}

// spanOf reads the time bounds of a query: time >= 'A' AND time < 'B'.
func spanOf(q string) (from, to time.Time) {
	_, a, _ := strings.Cut(q, "time >= '")
	a, _, _ = strings.Cut(a, "'")
	_, b, _ := strings.Cut(q, "time < '")
	b, _, _ = strings.Cut(b, "'")
	from, _ = time.Parse(time.RFC3339Nano, a)
	to, _ = time.Parse(time.RFC3339Nano, b)
	return from, to
}

func (f *fakeDB) Query(_ context.Context, q string) ([]Series, error) {
	ms := func(t time.Time) json.Number { return json.Number(fmt.Sprint(t.UnixMilli())) }
	if strings.Contains(q, `"park_hourly"`) {
		var out []Series
		for k, vs := range f.hourly {
			metric, tenant, _ := strings.Cut(k, "|")
			s := Series{Name: "park_hourly", Tags: map[string]string{"metric": metric, "tenant": tenant}, Columns: []string{"time", "value", "flag", "reason"}}
			for i, v := range vs {
				t := f.start.Add(time.Duration(i) * time.Hour)
				if math.IsNaN(v) {
					s.Values = append(s.Values, []any{ms(t), nil, "invalid", "mass_flow: timeout"})
				} else {
					s.Values = append(s.Values, []any{ms(t), json.Number(fmt.Sprint(v)), "valid", nil})
				}
			}
			out = append(out, s)
		}
		return out, nil
	}
	var dev string
	for d := range f.counts {
		if strings.Contains(q, `"device" = '`+d+`'`) {
			dev = d
		}
	}
	cs := f.counts[dev]
	if cs == nil {
		return nil, nil
	}
	val := func(c uint64) any {
		if r, ok := f.raw[dev]; ok {
			return json.Number(r)
		}
		return json.Number(fmt.Sprint(float64(c) * f.scale))
	}
	// The reading at the end of hour i−1 is stamped a minute before the
	// hour's end.
	at := func(i int) time.Time { return f.start.Add(time.Duration(i)*time.Hour - time.Minute) }
	if from, ok := f.startsAt[dev]; ok {
		// Readings before the first are not there; the first is.
		kept := make([]uint64, len(cs))
		copy(kept, cs)
		for i := range kept {
			if at(i).Before(from) {
				kept[i] = 0
			}
		}
		cs = kept
		if f.extra == nil {
			f.extra = map[string][]extraReading{}
		}
		if len(f.extra[dev]) == 0 || !f.extra[dev][0].at.Equal(from) {
			f.extra[dev] = append([]extraReading{{at: from, counts: f.startCounts[dev]}}, f.extra[dev]...)
		}
	}
	present := func(i int) bool { from, ok := f.startsAt[dev]; return !ok || !at(i).Before(from) }
	s := Series{Columns: []string{"time", "v"}}
	switch {
	case strings.Contains(q, `"batch_check" =~`): // the readings stored flagged
		for _, r := range f.forged[dev] {
			s.Values = append(s.Values, []any{ms(r.at), json.Number(fmt.Sprint(float64(r.counts) * f.scale))})
		}
	case strings.Contains(q, "difference("): // each hour's smallest step between readings
		type reading struct {
			at time.Time
			c  float64
		}
		var rs []reading
		for i, c := range cs {
			if present(i) {
				rs = append(rs, reading{at(i), float64(c) * f.scale})
			}
		}
		for _, r := range f.extra[dev] {
			rs = append(rs, reading{r.at, float64(r.counts) * f.scale})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
		low := map[int64]float64{}
		for i := 1; i < len(rs); i++ {
			if rs[i].at.Before(f.start) {
				continue
			}
			h := rs[i].at.Truncate(time.Hour).UnixMilli()
			if v, ok := low[h]; !ok || rs[i].c-rs[i-1].c < v {
				low[h] = rs[i].c - rs[i-1].c
			}
		}
		for h, v := range low {
			s.Values = append(s.Values, []any{json.Number(fmt.Sprint(h)), json.Number(fmt.Sprint(v))})
		}
	case strings.HasPrefix(q, `SELECT "`): // the readings of a span
		from, to := spanOf(q)
		for i, c := range cs {
			if at := at(i); present(i) && !at.Before(from) && at.Before(to) {
				s.Values = append(s.Values, []any{ms(at), val(c)})
			}
		}
		for _, r := range f.extra[dev] {
			if !r.at.Before(from) && r.at.Before(to) {
				s.Values = append(s.Values, []any{ms(r.at), json.Number(fmt.Sprint(float64(r.counts) * f.scale))})
			}
		}
		sort.Slice(s.Values, func(i, j int) bool { return s.Values[i][0].(json.Number) < s.Values[j][0].(json.Number) })
		if strings.Contains(q, "ORDER BY time DESC") {
			slices.Reverse(s.Values)
		}
	case strings.Contains(q, "GROUP BY time(1h)"):
		lastAt := map[int64]time.Time{}
		for i, c := range cs {
			if present(i) {
				h := at(i).Truncate(time.Hour)
				s.Values = append(s.Values, []any{ms(h), val(c)})
				lastAt[h.UnixMilli()] = at(i)
			}
		}
		// A forged reading later in its hour than the hour's own last
		// is that hour's last (InfluxDB's last() does not know it is).
		for _, r := range f.forged[dev] {
			h := r.at.Truncate(time.Hour)
			if r.at.After(lastAt[h.UnixMilli()]) {
				for k := range s.Values {
					if s.Values[k][0] == ms(h) {
						s.Values[k][1] = json.Number(fmt.Sprint(float64(r.counts) * f.scale))
					}
				}
			}
		}
	case strings.Contains(q, "time < "+rfc(f.start)): // opening
		if !present(0) {
			return nil, nil
		}
		s.Values = append(s.Values, []any{ms(at(0)), val(cs[0])})
	case strings.HasPrefix(q, "SELECT first("):
		if from, ok := f.startsAt[dev]; ok {
			s.Values = append(s.Values, []any{ms(from), val(f.startCounts[dev])})
			break
		}
		s.Values = append(s.Values, []any{ms(at(1)), val(cs[1])})
	default: // closing
		s.Values = append(s.Values, []any{ms(at(len(cs) - 1)), val(cs[len(cs)-1])})
		for _, r := range f.forged[dev] {
			if r.at.After(at(len(cs)-1)) && r.at.Before(f.end) {
				s.Values[0] = []any{ms(r.at), json.Number(fmt.Sprint(float64(r.counts) * f.scale))}
			}
		}
	}
	return []Series{s}, nil
}

// twoTenants is a park of a supplier meter and tenants a and b, in UTC.
func twoTenants() *config.ParkEngine {
	return &config.ParkEngine{
		Location: time.UTC,
		Supplier: config.SupplierMeter{Device: "sup", Uncertainty: 0.015},
		Balance:  config.BalanceRule{ExpectedLoss: 0.03},
		Tenants: []config.Tenant{
			{Name: "a", SteamMeter: config.Meter{Device: "sa", Uncertainty: 0.025}},
			{Name: "b", SteamMeter: config.Meter{Device: "sb", Uncertainty: 0.025}},
		},
	}
}

// steady fills a fake month of February 2026 (672 hours): the supplier
// sends 10 t/h, a takes 6 t/h, b 3.7 t/h, every tonne at 2.8 GJ above the
// reference; each totaliser counts perHour counts of 0.01 t an hour from
// its opening count.
func steady(open, perHour map[string]uint64) *fakeDB {
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeDB{start: start, end: start.AddDate(0, 1, 0), scale: 0.01, counts: map[string][]uint64{}, hourly: map[string][]float64{}, raw: map[string]string{}}
	const n = 672
	for d, o := range open {
		cs := make([]uint64, n+1)
		for i := range cs {
			cs[i] = (o + uint64(i)*perHour[d]) % (1 << 32)
		}
		f.counts[d] = cs
	}
	fill := func(key string, v float64) {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = v
		}
		f.hourly[key] = vs
	}
	fill("supplier_steam_mass_t|", 10)
	fill("supplier_steam_energy_gj|", 28)
	fill("steam_mass_t|a", 6)
	fill("steam_energy_gj|a", 16.8)
	fill("steam_mass_t|b", 3.7)
	fill("steam_energy_gj|b", 10.36)
	return f
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.9g, want %.9g (±%g)", what, got, want, tol)
	}
}

func row(t *testing.T, st *Statement, kind, device string) Row {
	t.Helper()
	for _, r := range st.Rows {
		if r.Kind == kind && r.Device == device {
			return r
		}
	}
	t.Fatalf("no %s row of %q", kind, device)
	return Row{}
}

// TestCrossCheckCatchesFastTotaliser: b's totaliser counts 378 counts
// (3.78 t) an hour while the engine integrates 3.7 t/h, 2.16 % fast.
// Over 672 hours: metered 3.78·672 = 2540.16 t, integrated 3.7·672 =
// 2486.4 t, difference −53.76 t; allowed 0.005·2540.16 + 2·0.01 =
// 12.7208 t, so the check fails. a agrees exactly (600 counts = 6 t an
// hour) and passes; its counter starts 1000 counts below 2^32 and passes
// its maximum in the second hour, which the difference modulo 2^32 absorbs:
// 600·672·0.01 = 4032 t.
func TestCrossCheckCatchesFastTotaliser(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 1<<32 - 1000, "sb": 20}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 378})
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	a, b := row(t, st, RowTenantSteam, "sa"), row(t, st, RowTenantSteam, "sb")
	if !a.CrossCheck.OK || a.CrossCheck.Hours != 672 {
		t.Errorf("a: cross-check %+v, want ok over 672 hours", *a.CrossCheck)
	}
	near(t, "a metered", a.Metered, 4032, 1e-9)
	if a.MeteredText != "4032.00" || a.Opening.Value != "42949662.96" || a.Closing.Value != "4022.00" {
		t.Errorf("a: metered %s from %s to %s, want 4032.00 from 42949662.96 to 4022.00", a.MeteredText, a.Opening.Value, a.Closing.Value)
	}
	if !strings.Contains(a.Handling, "modulo 2^32") {
		t.Errorf("a: handling %q does not say the counter wrapped", a.Handling)
	}
	if b.CrossCheck.OK {
		t.Errorf("b: cross-check passed: %+v", *b.CrossCheck)
	}
	near(t, "b difference", b.CrossCheck.Difference, -53.76, 1e-6)
	near(t, "b allowed", b.CrossCheck.Allowed, 12.7208, 1e-9)

	// Balance: supplier 6720 t, tenants 4032 + 2540.16 = 6572.16 t, loss
	// 147.84 t = 0.022 of the supplier; expected 0.03·6720 = 201.6 t,
	// unexplained −53.76 t; U = √((0.015·6720)² + (0.025·4032)² +
	// (0.025·2540.16)²) = √(10160.64 + 10160.64 + 4032.76) = 156.058 t: no
	// alarm. Energy: supplier 28·672 = 18816 GJ, tenants 16.8·672 +
	// 10.36·672 = 11289.6 + 6961.92 = 18251.52 GJ, loss 564.48 GJ; a's
	// share 564.48·11289.6/18251.52 = 564.48·0.618557 = 349.1629 GJ.
	bal := st.Balance
	near(t, "supplier mass", bal.SupplierMassT, 6720, 1e-9)
	near(t, "loss mass", bal.LossMassT, 147.84, 1e-6)
	near(t, "unexplained", bal.UnexplainedT, -53.76, 1e-6)
	near(t, "uncertainty", bal.UncertaintyT, 156.058, 1e-3)
	if bal.Alarm {
		t.Error("balance alarm")
	}
	near(t, "network loss", bal.NetworkLossGJ, 564.48, 1e-6)
	near(t, "a loss share", a.LossShareGJ, 349.1629, 1e-4)
	near(t, "a + b billed", a.BilledEnergyGJ+b.BilledEnergyGJ, 18816, 1e-6)
}

// TestInvalidHoursSubstituted: a's hours 10 and 11 are invalid. Its
// energy is then the 670 valid hours' 16.8·670 = 11256 GJ plus the
// totaliser's 12 t of the two hours at the valid hours' 2.8 GJ/t: 33.6 GJ.
func TestInvalidHoursSubstituted(t *testing.T) {
	f := steady(map[string]uint64{"sup": 0, "sa": 0, "sb": 0}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	for _, k := range []string{"steam_mass_t|a", "steam_energy_gj|a"} {
		f.hourly[k][10], f.hourly[k][11] = math.NaN(), math.NaN()
	}
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start, Tenant: "a"})
	if err != nil {
		t.Fatal(err)
	}
	a := row(t, st, RowTenantSteam, "sa")
	if a.InvalidHours != 2 || a.MissingHours != 0 || a.ValidHours != 670 || len(a.Gaps) != 2 || !a.Gaps[0].Start.Equal(f.start.Add(10*time.Hour)) || a.Gaps[0].Reason != "invalid: mass_flow: timeout" {
		t.Errorf("a: hours %d valid, %d invalid, %d missing, gaps %+v", a.ValidHours, a.InvalidHours, a.MissingHours, a.Gaps)
	}
	near(t, "substituted", a.SubstitutedEnergyGJ, 33.6, 1e-6)
	near(t, "energy", a.EnergyGJ, 11289.6, 1e-6)
	near(t, "cross-checked hours", float64(a.CrossCheck.Hours), 670, 0)
	for _, r := range st.Rows {
		if r.Tenant != "" && r.Tenant != "a" {
			t.Errorf("tenant filter a kept a row of %s", r.Tenant)
		}
	}
	if _, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start, Tenant: "zz"}); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown tenant: %v", err)
	}
}

// TestBadReadingsAreErrors: a stored value that is no whole number of
// counts, and a meter without readings, fail with the device named.
func TestBadReadingsAreErrors(t *testing.T) {
	f := steady(map[string]uint64{"sup": 0, "sa": 0, "sb": 0}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	f.raw["sb"] = "12.345"
	_, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err == nil || !strings.Contains(err.Error(), "sb") || !strings.Contains(err.Error(), "not a count of 0.01 t") {
		t.Errorf("fractional count: %v", err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	pe := twoTenants()
	pe.Location = kolkata
	if _, err := Build(context.Background(), f, "p", pe, Options{Month: f.start}); err == nil || !strings.Contains(err.Error(), "whole UTC hour") {
		t.Errorf("half-hour zone: %v", err)
	}
	delete(f.raw, "sb")
	delete(f.counts, "sb")
	_, err = Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err == nil || !strings.Contains(err.Error(), "sb: no mass_total reading in 2026-02") {
		t.Errorf("no readings: %v", err)
	}
}

// TestPDF: the PDF of the fast-totaliser month starts as a PDF, ends with
// its trailer, shows the failed check, the balance's figures and the
// handling of each meter, and is the same bytes when written twice.
func TestPDF(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 1<<32 - 1000, "sb": 20}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 378})
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := st.WritePDF(&a, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.WritePDF(&b, PDFOptions{}); err != nil {
		t.Fatal(err)
	}
	doc := a.String()
	if !strings.HasPrefix(doc, "%PDF-") || !strings.HasSuffix(strings.TrimSpace(doc), "%%EOF") {
		t.Fatalf("not a PDF: %.20q ... %.20q", doc, doc[max(0, len(doc)-20):])
	}
	for _, want := range []string{"(FAIL -53.760)", "(ok +0.000)", "4032.00 t", "42949662.96 t", "supplier 6720.00 t, tenants 6572.16 t, loss 147.84 t", "network loss 564.48 GJ", "modulo 2^32"} {
		if !strings.Contains(doc, want) {
			t.Errorf("PDF lacks %q", want)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same statement gave two different PDFs")
	}
	var z bytes.Buffer
	if err := st.WritePDF(&z, PDFOptions{Compress: true}); err != nil || z.Len() >= a.Len() {
		t.Errorf("compressed: %d bytes (%v), uncompressed %d", z.Len(), err, a.Len())
	}
}

// TestTotaliserReset: b's meter is replaced at 12:20 on the 10th of the
// month: its counter goes from its reading then back to 50 counts (0.50 t)
// and counts on from there. The row bills the movement before the reset
// and after it, names the two readings around it, and the cross-check
// leaves that hour out; before, the drop was taken for a pass of the
// counter's maximum, 42.9 million t.
func TestTotaliserReset(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 2_000_000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	resetHour := 9*24 + 12 // hour index of 12:00 on the 10th
	cs := f.counts["sb"]
	before := cs[resetHour] + 370/3 // 20 minutes into the hour
	f.extra = map[string][]extraReading{"sb": {{at: f.start.Add(time.Duration(resetHour)*time.Hour + 20*time.Minute), counts: before}}}
	// After the reset the counter restarts at 50 counts at 12:20 and
	// counts 370 an hour: at the end of hour h (index i = h+1) it reads
	// 50 + 370·(i − resetHour − 1) + the 40 minutes of the reset hour.
	afterEnd := uint64(50 + 370*2/3)
	for i := resetHour + 1; i < len(cs); i++ {
		cs[i] = afterEnd + uint64(i-resetHour-1)*370
	}
	f.extra["sb"] = append(f.extra["sb"], extraReading{at: f.start.Add(time.Duration(resetHour)*time.Hour + 20*time.Minute + time.Second), counts: 50})
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	r := row(t, st, RowTenantSteam, "sb")
	want := (before - cs[0]) + (cs[len(cs)-1] - 50)
	if math.Abs(r.Metered-float64(want)*0.01) > 1e-6 {
		t.Errorf("metered %s (%g), want %g t", r.MeteredText, r.Metered, float64(want)*0.01)
	}
	if len(r.Resets) != 1 || r.Resets[0].Before.Counts != before || r.Resets[0].After.Counts != 50 {
		t.Fatalf("resets %+v, want one from %d to 50 counts", r.Resets, before)
	}
	if !strings.Contains(r.Handling, "totaliser reset") || strings.Contains(r.Handling, "passed its maximum") {
		t.Errorf("handling %q", r.Handling)
	}
	if c := r.CrossCheck; !c.OK || c.Hours != 671 {
		t.Errorf("cross-check %+v, want ok over the 671 hours without the reset", c)
	}
	// A pass of the maximum stays one: a starts 1000 counts below 2^32.
	f2 := steady(map[string]uint64{"sup": 5_000_000, "sa": 1<<32 - 1000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	st2, err := Build(context.Background(), f2, "p", twoTenants(), Options{Month: f2.start})
	if err != nil {
		t.Fatal(err)
	}
	if a := row(t, st2, RowTenantSteam, "sa"); len(a.Resets) != 0 || !strings.Contains(a.Handling, "passed its maximum") || a.MeteredText != "4032.00" {
		t.Errorf("rollover: resets %+v, metered %s, handling %q", a.Resets, a.MeteredText, a.Handling)
	}
}

// TestTotaliserSetBackWithinAnHour: b's meter is set back by 100 counts
// 20 minutes into an hour that meters 370: the hour's last reading is
// still 270 above the hour before's, so only the readings within the hour
// show it. It is found as a reset, and the movement before and after it
// is billed: the 100 counts are not lost to the bill.
func TestTotaliserSetBackWithinAnHour(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 2_000_000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	h := 9*24 + 12
	cs := f.counts["sb"]
	flowed := cs[len(cs)-1] - cs[0]
	before := cs[h] + 123
	f.extra = map[string][]extraReading{"sb": {
		{at: f.start.Add(time.Duration(h)*time.Hour + 20*time.Minute), counts: before},
		{at: f.start.Add(time.Duration(h)*time.Hour + 21*time.Minute), counts: before - 100},
	}}
	for i := h + 1; i < len(cs); i++ {
		cs[i] -= 100
	}
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	r := row(t, st, RowTenantSteam, "sb")
	if len(r.Resets) != 1 || r.Resets[0].Before.Counts != before || r.Resets[0].After.Counts != before-100 {
		t.Fatalf("resets %+v, want one from %d to %d counts", r.Resets, before, before-100)
	}
	if want := float64(flowed) * 0.01; math.Abs(r.Metered-want) > 1e-6 {
		t.Errorf("metered %s, want %g t (the flow, the set-back not taken off it)", r.MeteredText, want)
	}
	if !strings.Contains(r.Handling, "totaliser reset (meter replaced or set back)") {
		t.Errorf("handling %q", r.Handling)
	}
	// The set-back's hour is left out of the cross-check, as a reset's.
	if c := r.CrossCheck; c.Hours != 671 || !c.OK {
		t.Errorf("cross-check %+v, want ok over the 671 hours without the set-back", c)
	}
	// a's totaliser passing its maximum within an hour is no reset.
	f2 := steady(map[string]uint64{"sup": 5_000_000, "sa": 1<<32 - 1000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	st2, err := Build(context.Background(), f2, "p", twoTenants(), Options{Month: f2.start})
	if err != nil {
		t.Fatal(err)
	}
	if a := row(t, st2, RowTenantSteam, "sa"); len(a.Resets) != 0 || a.MeteredText != "4032.00" {
		t.Errorf("rollover: resets %+v, metered %s", a.Resets, a.MeteredText)
	}
}

// TestMeterStartingMidMonth: b's meter has no reading before the 100th
// hour's 40th minute. The engine's first hour of it is valid (its
// min_fraction allows 20 minutes) at the whole hour's 3.7 t, while the
// totaliser counted only those 20 minutes: the hour's part of the
// metered mass is the totaliser's movement from the first reading, so the
// hours before (no value) get none, and no negative energy is substituted.
func TestMeterStartingMidMonth(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 2_000_000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	const h0 = 100
	first := f.start.Add(h0*time.Hour + 40*time.Minute)
	cs := f.counts["sb"]
	c0 := cs[h0] + 370*40/60
	f.startsAt = map[string]time.Time{"sb": first}
	f.startCounts = map[string]uint64{"sb": c0}
	for k := range f.hourly {
		if strings.HasSuffix(k, "|b") {
			for i := 0; i < h0; i++ {
				f.hourly[k][i] = math.NaN()
			}
		}
	}
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	r := row(t, st, RowTenantSteam, "sb")
	if want := float64(cs[len(cs)-1]-c0) * 0.01; math.Abs(r.Metered-want) > 1e-6 {
		t.Errorf("metered %s, want %g", r.MeteredText, want)
	}
	if strings.Contains(r.Handling, "exceed") {
		t.Errorf("handling %q: the first hour was taken at the engine's whole hour", r.Handling)
	}
	if r.SubstitutedEnergyGJ < 0 || math.Abs(r.SubstitutedEnergyGJ) > 0.01 {
		t.Errorf("substituted %g GJ, want about 0 (the hours without a value counted nothing): %s", r.SubstitutedEnergyGJ, r.Handling)
	}
	if r.InvalidHours != h0 || !r.CrossCheck.OK || r.CrossCheck.Hours != 672-h0-1 {
		t.Errorf("invalid hours %d, cross-check %+v", r.InvalidHours, r.CrossCheck)
	}
}

// TestForgedReadingsLeftOut: readings ingest stored flagged as not signed
// by their gateway — one the month's last reading of b's meter, 2000 t
// above, one the last of an hour — are left out: the closing, the hours'
// last readings and the bill are what the gateway's own readings say.
func TestForgedReadingsLeftOut(t *testing.T) {
	build := func(forge bool) Row {
		f := steady(map[string]uint64{"sup": 5_000_000, "sa": 2_000_000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
		if forge {
			cs := f.counts["sb"]
			forged := []extraReading{
				{at: f.end.Add(-30 * time.Second), counts: cs[len(cs)-1] + 200_000},
				{at: f.start.Add(100*time.Hour + 59*time.Minute + 30*time.Second), counts: cs[101] + 50_000},
			}
			f.forged = map[string][]extraReading{"sb": forged}
			f.extra = map[string][]extraReading{"sb": forged}
		}
		st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
		if err != nil {
			t.Fatal(err)
		}
		return row(t, st, RowTenantSteam, "sb")
	}
	clean, forged := build(false), build(true)
	if forged.MeteredText != clean.MeteredText || forged.Closing.Counts != clean.Closing.Counts || forged.CrossCheck.Difference != clean.CrossCheck.Difference {
		t.Errorf("with forged readings: metered %s, closing %d, cross-check %+v; without: %s, %d, %+v",
			forged.MeteredText, forged.Closing.Counts, forged.CrossCheck, clean.MeteredText, clean.Closing.Counts, clean.CrossCheck)
	}
	if !strings.Contains(forged.Handling, "2 readings stored flagged as not signed by the gateway left out") {
		t.Errorf("handling %q", forged.Handling)
	}
}

// TestNothingCrossChecked: b's meter has its first reading in the month's
// last hour, so no hour has the totaliser read at its end and at the end
// of the hour before. Its cross-check is neither passed nor failed: the
// verdict is "none" and the CSV's crosscheck_ok cell is empty, while a's
// is "ok" and "true".
func TestNothingCrossChecked(t *testing.T) {
	f := steady(map[string]uint64{"sup": 5_000_000, "sa": 2_000_000, "sb": 1_000_000}, map[string]uint64{"sup": 1000, "sa": 600, "sb": 370})
	last := 671
	first := f.start.Add(time.Duration(last)*time.Hour + 30*time.Minute)
	f.startsAt = map[string]time.Time{"sb": first}
	f.startCounts = map[string]uint64{"sb": f.counts["sb"][last] + 370/2}
	for k := range f.hourly {
		if strings.HasSuffix(k, "|b") {
			for i := 0; i < last; i++ {
				f.hourly[k][i] = math.NaN()
			}
		}
	}
	st, err := Build(context.Background(), f, "p", twoTenants(), Options{Month: f.start})
	if err != nil {
		t.Fatal(err)
	}
	if c := row(t, st, RowTenantSteam, "sb").CrossCheck; c.Hours != 0 || c.Verdict != VerdictNone {
		t.Errorf("b: cross-check %+v, want no hour and verdict %q", *c, VerdictNone)
	}
	if c := row(t, st, RowTenantSteam, "sa").CrossCheck; c.Verdict != VerdictOK {
		t.Errorf("a: cross-check %+v, want verdict %q", *c, VerdictOK)
	}
	var buf bytes.Buffer
	if err := st.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, rec := range recs[1:] {
		got[rec[col["device"]]] = rec[col["crosscheck_ok"]]
	}
	if got["sb"] != "" || got["sa"] != "true" {
		t.Errorf("crosscheck_ok cells: sb %q, sa %q; want empty and true", got["sb"], got["sa"])
	}
}

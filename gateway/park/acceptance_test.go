package park

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
)

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// TestBalanceClosesOnReferencePark: over a simulated day, every hour's
// tenant energies plus the network loss equal the supplier meter's energy,
// the loss shares add up to the loss, the tenants' mass is the supplier's
// less the simulator's 3 % loss, and no imbalance alarm fires. The daily
// statements add up the same way. Tolerance: 1e-9 relative (rounding).
func TestBalanceClosesOnReferencePark(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	end := day0.Add(24 * time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	if len(r.out.Hours) != 24 {
		t.Fatalf("%d hourly records, want 24", len(r.out.Hours))
	}
	var supplierDay float64
	for _, h := range r.out.Hours {
		ms := h.Metrics
		sup := mustMetric(t, ms, "supplier_steam_energy_gj", "")
		supMass := mustMetric(t, ms, "supplier_steam_mass_t", "")
		loss := mustMetric(t, ms, "network_loss_gj", "")
		var tenants, shares, mass float64
		for i := 1; i <= 18; i++ {
			tn := tenantName(i)
			e := mustMetric(t, ms, "steam_energy_gj", tn)
			sh := mustMetric(t, ms, "loss_share_gj", tn)
			m := mustMetric(t, ms, "steam_mass_t", tn)
			for _, x := range []Metric{e, sh, m} {
				if x.Flag != Valid || x.Completeness != 1 || x.ValidMinutes != 60 || x.Samples != 60 {
					t.Fatalf("%s %s %s: %+v", h.Start, x.Name, tn, x)
				}
			}
			tenants += e.Value
			shares += sh.Value
			mass += m.Value
			// Each tenant's energy plus its loss share is its part of the supplier's.
		}
		if !near(tenants+loss.Value, sup.Value, 1e-9) || !near(shares, loss.Value, 1e-9) {
			t.Errorf("%s: tenants %.6f + loss %.6f != supplier %.6f GJ (shares %.6f)", h.Start, tenants, loss.Value, sup.Value, shares)
		}
		if !near(mass, 0.97*supMass.Value, 1e-9) {
			t.Errorf("%s: tenants %.6f t, supplier %.6f t x 0.97 = %.6f", h.Start, mass, supMass.Value, 0.97*supMass.Value)
		}
		if f := mustMetric(t, ms, "network_loss_fraction", "").Value; f < 0.03 || f > 0.06 {
			t.Errorf("%s: energy loss fraction %.4f outside [0.03, 0.06] (3 %% mass + pipe heat loss)", h.Start, f)
		}
		if a := mustMetric(t, ms, "balance_alarm", ""); a.Flag != Valid || a.Value != 0 {
			t.Errorf("%s: alarm %+v on a healthy park", h.Start, a)
		}
		supplierDay += sup.Value
	}
	var days int
	var stmt float64
	for _, s := range r.out.Statements {
		if s.Period != "day" {
			continue
		}
		days++
		if !s.Complete() || s.Hours != 24 || s.ExpectedHours != 24 {
			t.Errorf("statement %s %s: hours %d valid %d expected %d", s.Tenant, s.Start, s.Hours, s.ValidHours, s.ExpectedHours)
		}
		stmt += s.Steam + s.LossShare
	}
	if days != 18 || !near(stmt, supplierDay, 1e-9) {
		t.Errorf("%d day statements; Σ(steam + loss share) = %.6f GJ, supplier %.6f GJ", days, stmt, supplierDay)
	}
	for _, iv := range r.out.Live {
		if a, ok := metric(iv.Metrics, "balance_alarm", ""); ok && a.Flag == Valid && a.Value != 0 {
			t.Fatalf("live alarm at %s on a healthy park", iv.Start)
		}
	}
	t.Logf("day: supplier %.1f GJ, %d live intervals, %d hourly records", supplierDay, len(r.out.Live), len(r.out.Hours))
}

func tenantName(i int) string { return "t" + string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// TestImbalanceAlarmOnDrift: a drifting meter makes the hourly (and live)
// imbalance alarm fire; the healthy hours before do not. With the example's
// meter classes (supplier ±1.5 %, tenants ±2.5 %, k = 2) the combined
// uncertainty is about 1.6 % of the supplier flow, so a tenant's drift is
// seen only when its error exceeds that: t01 (about 4 % of the load)
// reading 1.6× is, 1.08× is not (the last case).
func TestImbalanceAlarmOnDrift(t *testing.T) {
	for _, tc := range []struct {
		meter  string
		factor float64
		fires  bool
	}{{"steam-supply", 1.05, true}, {"steam-supply", 0.95, true}, {"steam-t01", 1.6, true}, {"steam-t01", 1.08, false}} {
		t.Run(fmt.Sprintf("%s=%v", tc.meter, tc.factor), func(t *testing.T) {
			r := newReplay(t, loadExample(t), day0, 3)
			mid := day0.Add(6 * time.Hour)
			end := day0.Add(12 * time.Hour)
			r.run(day0, mid, time.Minute)
			if err := r.park.SetMeterDrift(tc.meter, tc.factor); err != nil {
				t.Fatal(err)
			}
			r.run(mid, end, time.Minute)
			r.finish(end)
			for _, h := range r.out.Hours {
				a := mustMetric(t, h.Metrics, "balance_alarm", "")
				u := mustMetric(t, h.Metrics, "balance_unexplained_t", "")
				U := mustMetric(t, h.Metrics, "balance_uncertainty_t", "")
				want := 0.0
				if !h.Start.Before(mid) && tc.fires {
					want = 1
				}
				if a.Flag != Valid || a.Value != want {
					t.Errorf("%s: alarm %v (%s), want %v: unexplained %.3f t, U %.3f t", h.Start.Format("15:04"), a.Value, a.Flag, want, u.Value, U.Value)
				}
			}
			fired := 0
			for _, iv := range r.out.Live {
				if a, ok := metric(iv.Metrics, "balance_alarm", ""); ok && a.Value == 1 {
					if iv.Start.Before(mid) {
						t.Fatalf("live alarm at %s before the drift", iv.Start)
					}
					fired++
				}
			}
			if (fired > 0) != tc.fires {
				t.Errorf("live alarm fired in %d intervals, want firing %v", fired, tc.fires)
			}
		})
	}
}

// setBad replaces a point's reading by a non-good quality without a value,
// as the edge publishes it.
func setBad(b *batch.Batch, point, quality string) {
	for i := range b.Points {
		if b.Points[i].Name == point {
			b.Points[i] = batch.Point{Name: point, Unit: b.Points[i].Unit, Quality: quality}
		}
	}
}

// TestBadInputsAreFlagged: missing and bad-quality readings never produce a
// value that looks valid. The hour is flagged with why, and with the counts
// its completeness rests on.
func TestBadInputsAreFlagged(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	h1, h2, h3 := day0.Add(time.Hour), day0.Add(2*time.Hour), day0.Add(3*time.Hour)
	r.mutate = func(dev string, b *batch.Batch) {
		ts := b.Time
		switch {
		case dev == "steam-t05" && !ts.Before(h1) && ts.Before(h1.Add(20*time.Minute)):
			setBad(b, "temperature", batch.Timeout) // energy invalid, mass still valid
		case dev == "chp-1" && !ts.Before(h3) && ts.Before(h3.Add(10*time.Minute)):
			setBad(b, "steam_temperature", batch.OutOfRange)
		}
	}
	r.run(day0, h2, time.Minute)
	// Hour 2: the CEMS sends nothing at all.
	devices := r.devices
	kept := devices[:0:0]
	for _, d := range devices {
		if d.Name != "cems-1" {
			kept = append(kept, d)
		}
	}
	r.devices = kept
	r.run(h2, h3, time.Minute)
	r.devices = devices
	r.run(h3, day0.Add(4*time.Hour), time.Minute)
	r.finish(day0.Add(4 * time.Hour))
	if len(r.out.Hours) != 4 {
		t.Fatalf("%d hours", len(r.out.Hours))
	}
	hour := func(i int) []Metric { return r.out.Hours[i].Metrics }

	e := mustMetric(t, hour(1), "steam_energy_gj", "t05")
	if e.Flag != Invalid || e.Value != 0 || e.ValidMinutes != 40 || !strings.Contains(e.Reason, "steam-t05.thermal_power: 40 of 60 minutes valid, 45 needed (20× temperature: timeout)") {
		t.Errorf("t05 energy in hour 1: %+v", e)
	}
	if m := mustMetric(t, hour(1), "steam_mass_t", "t05"); m.Flag != Valid {
		t.Errorf("t05 mass in hour 1 should stay valid: %+v", m)
	}
	for _, n := range []string{"network_loss_gj", "baseline_co2_t", "reduction_co2_t", "coverage"} {
		if m := mustMetric(t, hour(1), n, ""); m.Flag != Invalid || !strings.Contains(m.Reason, "steam-t05") {
			t.Errorf("hour 1 %s depends on t05's energy: %+v", n, m)
		}
	}
	if m := mustMetric(t, hour(1), "balance_alarm", ""); m.Flag != Valid {
		t.Errorf("the mass balance does not need t05's temperature: %+v", m)
	}
	if ls := Lines("p", Output{Hours: r.out.Hours[1:2]}); !strings.Contains(string(ls), `park_hourly,metric=steam_energy_gj,park=p,tenant=t05 flag="invalid",valid=false,reason=`) {
		t.Errorf("invalid hour written with a value or without its reason:\n%s", ls)
	}
	s := mustMetric(t, hour(2), "so2_cems_kg", "")
	if s.Flag != Invalid || s.Samples != 0 || !strings.Contains(s.Reason, "cems-1.so2_mass: no data") {
		t.Errorf("hour 2 without CEMS: %+v", s)
	}
	if m := mustMetric(t, hour(2), "project_so2_t", ""); m.Flag != Invalid {
		t.Errorf("project SO2 without the CEMS: %+v", m)
	}
	c := mustMetric(t, hour(3), "chp_heat_gj", "")
	if c.Flag != Valid || c.ValidMinutes != 50 || !near(c.Completeness, 50.0/60, 1e-12) {
		t.Errorf("hour 3, 10 bad minutes of 60: %+v", c)
	}
	cum := mustMetric(t, hour(3), "reduction_co2_cumulative_t", "")
	if cum.Hours != 4 || cum.ValidHours != 2 || cum.Completeness != 0.5 {
		t.Errorf("cumulative reduction: %+v", cum)
	}
	for _, st := range r.out.Statements {
		t.Errorf("unexpected statement before the day ended: %+v", st)
	}
}

// TestQuadrantRule: under 40 CFR 60.13(h)(2)(i) one empty quadrant
// invalidates the hour even with 45 valid minutes.
func TestQuadrantRule(t *testing.T) {
	cfg := loadExample(t)
	cfg.ParkEngine.Validity.Rule = "quadrants"
	r := newReplay(t, cfg, day0, 1)
	r.mutate = func(dev string, b *batch.Batch) {
		if dev == "cems-1" && b.Time.Sub(day0) >= 30*time.Minute && b.Time.Sub(day0) < 45*time.Minute {
			setBad(b, "so2", batch.CommError)
		}
	}
	r.run(day0, day0.Add(2*time.Hour), time.Minute)
	r.finish(day0.Add(2 * time.Hour))
	m := mustMetric(t, r.out.Hours[0].Metrics, "so2_cems_kg", "")
	if m.Flag != Invalid || m.ValidMinutes != 45 || !strings.Contains(m.Reason, "no valid sample in a 15-minute quadrant") {
		t.Errorf("%+v", m)
	}
	if m := mustMetric(t, r.out.Hours[1].Metrics, "so2_cems_kg", ""); m.Flag != Valid {
		t.Errorf("%+v", m)
	}
}

// TestEventTime: readings count in their own hour when they arrive within
// the grace, are refused after it, are counted once when redelivered, and
// an hour without any reading is closed and flagged.
func TestEventTime(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.run(day0, day0.Add(time.Hour), time.Minute)
	sup := sim0(r, "steam-supply", day0.Add(59*time.Minute+30*time.Second))

	r.clock.now = day0.Add(time.Hour + time.Minute) // within the 2 min grace
	if got := r.eng.Add("gw-1", sup); got != Accepted {
		t.Fatalf("late within grace: %s", got)
	}
	if got := r.eng.Add("gw-1", sup); got != Duplicate {
		t.Fatalf("redelivery: %s", got)
	}
	r.clock.now = day0.Add(time.Hour + 2*time.Minute)
	r.collect()
	late := sim0(r, "steam-supply", day0.Add(59*time.Minute+45*time.Second))
	if got := r.eng.Add("gw-1", late); got != Late {
		t.Fatalf("after grace: %s", got)
	}
	if got := r.eng.Add("gw-1", sim0(r, "steam-supply", r.clock.now.Add(batch.MaxClockSkew+time.Second))); got != Future {
		t.Fatalf("future: %s", got)
	}
	if got := r.eng.Add("gw-9", sim0(r, "nobody", r.clock.now)); got != Unknown {
		t.Fatalf("unknown device: %s", got)
	}
	m := mustMetric(t, r.out.Hours[0].Metrics, "supplier_steam_mass_t", "")
	if m.Samples != 61 {
		t.Errorf("samples %d, want 61 (60 + one within grace, the duplicate not counted)", m.Samples)
	}
	// Nothing arrives for two hours: both are closed and flagged.
	r.clock.now = day0.Add(3*time.Hour + 3*time.Minute)
	r.collect()
	if len(r.out.Hours) != 3 {
		t.Fatalf("%d hours", len(r.out.Hours))
	}
	for _, h := range r.out.Hours[1:] {
		for _, m := range h.Metrics {
			if m.Flag == Valid && m.Hours == 0 {
				t.Errorf("%s %s valid without data: %+v", h.Start, m.Name, m)
			}
		}
	}
}

// sim0 is a batch of device at ts (values of the park's current state).
func sim0(r *replay, device string, ts time.Time) *batch.Batch {
	for _, d := range r.devices {
		if d.Name == device {
			return r.batchOf(d, ts)
		}
	}
	return &batch.Batch{Gateway: "gw-9", Seq: 1, Device: device, Kind: "x", Time: ts, Points: []batch.Point{{Name: "x", Quality: batch.Timeout}}}
}

// TestRestartWithinGrace: an engine started within the grace of the hour
// before, which an earlier run did not close (it stopped at 01:00:30 and
// came back at once; Options.From, from the audit log: reopenFrom), still
// closes that hour with the readings that arrive, flagged incomplete,
// rather than never writing it; one started at midnight also gives the
// day's statements. Started after the grace, or without From, it refuses
// that hour's readings as late and begins with its own hour.
func TestRestartWithinGrace(t *testing.T) {
	cfg := loadExample(t)
	for _, tc := range []struct {
		name   string
		start  time.Time
		from   bool
		result Result // of the hour before's readings
		hour   time.Time
		period string // a statement that ends with the hour, if any
	}{
		{"01:00:30", day0.Add(time.Hour + 30*time.Second), true, Accepted, day0, ""},
		{"midnight", day0.Add(24*time.Hour + 30*time.Second), true, Accepted, day0.Add(23 * time.Hour), "day"},
		{"after the grace", day0.Add(time.Hour + 3*time.Minute), true, Late, day0.Add(time.Hour), ""},
		{"a first start", day0.Add(time.Hour + 30*time.Second), false, Late, day0.Add(time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplay(t, cfg, tc.start, 1)
			before := tc.start.Truncate(time.Hour).Add(-time.Hour)
			var o Options
			if tc.from {
				o.From = before
			}
			o.Clock = r.clock.Now
			eng, err := New(cfg.ParkEngine, o)
			if err != nil {
				t.Fatal(err)
			}
			r.eng = eng
			// The broker delivers what was queued for the engine's
			// session while it was away: the last ten minutes of the hour
			// before the start's.
			for m := 50; m < 60; m++ {
				ts := before.Add(time.Duration(m) * time.Minute)
				if got := r.eng.Add("gw-1", sim0(r, "steam-supply", ts)); got != tc.result {
					t.Fatalf("reading at %s: %s, want %s", ts.Format("15:04"), got, tc.result)
				}
			}
			r.clock.now = tc.hour.Add(time.Hour + 2*time.Minute)
			r.collect()
			if len(r.out.Hours) != 1 || !r.out.Hours[0].Start.Equal(tc.hour) {
				t.Fatalf("%d hours closed, want one, %s", len(r.out.Hours), tc.hour)
			}
			wantSamples := 10
			if tc.result != Accepted {
				wantSamples = 0
			}
			if m := mustMetric(t, r.out.Hours[0].Metrics, "supplier_steam_mass_t", ""); m.Flag != Invalid || m.Samples != wantSamples {
				t.Errorf("supplier mass %+v, want invalid on %d samples", m, wantSamples)
			}
			var periods []string
			for _, s := range r.out.Statements {
				if s.Tenant == tenantName(1) {
					periods = append(periods, s.Period)
				}
			}
			var want []string
			if tc.period != "" {
				want = []string{tc.period}
			}
			if fmt.Sprint(periods) != fmt.Sprint(want) {
				t.Errorf("statements of t01: %v, want %v", periods, want)
			}
		})
	}
}

// TestReopenFrom: the hour before the start is closed by the new run only
// when the audit log shows an earlier run that sealed an hour before it
// but not that one, or that sealed nothing but started before that hour's
// end (its start marker), and the start lies within its grace.
func TestReopenFrom(t *testing.T) {
	const grace = 2 * time.Minute
	h := day0.Add(10 * time.Hour) // the start's hour
	sealed := func(t *testing.T, hours ...time.Time) string {
		dir := t.TempDir()
		l, err := seal.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, hr := range hours {
			if _, err := l.Append(hr, []string{"m v=1 1"}); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	marked := func(t *testing.T, started time.Time) string {
		dir := t.TempDir()
		if err := markStart(dir, started); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		start time.Time
		want  time.Time
	}{
		{"no audit log", func(*testing.T) string { return "" }, h.Add(30 * time.Second), time.Time{}},
		{"a first start", func(t *testing.T) string { return t.TempDir() }, h.Add(30 * time.Second), time.Time{}},
		{"stopped before closing 09:00", func(t *testing.T) string { return sealed(t, h.Add(-3*time.Hour), h.Add(-2*time.Hour)) }, h.Add(30 * time.Second), h.Add(-time.Hour)},
		{"09:00 sealed", func(t *testing.T) string { return sealed(t, h.Add(-2*time.Hour), h.Add(-time.Hour)) }, h.Add(90 * time.Second), time.Time{}},
		{"after the grace", func(t *testing.T) string { return sealed(t, h.Add(-2*time.Hour)) }, h.Add(grace), time.Time{}},
		{"nothing sealed, an earlier run started at 09:20", func(t *testing.T) string { return marked(t, h.Add(-40*time.Minute)) }, h.Add(30 * time.Second), h.Add(-time.Hour)},
		{"nothing sealed, the earlier run started at 10:00:10", func(t *testing.T) string { return marked(t, h.Add(10*time.Second)) }, h.Add(30 * time.Second), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reopenFrom(tc.dir(t), tc.start, grace)
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("reopenFrom: %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestHoursHeldForTheBacklog: an hour is not closed at its grace while
// its batches may still come: while the engine's connection to the broker
// is down, or while a gateway that sent data lately is offline (its
// status). Once the hold ends, it closes a grace later, with the backlog
// counted, not refused as late (which made the audit's recomputation,
// over every stored reading, differ from the record). max_hold bounds the
// wait, and a gateway offline that sent nothing lately holds nothing.
func TestHoursHeldForTheBacklog(t *testing.T) {
	at := func(d time.Duration) time.Time { return day0.Add(d) }
	for _, tc := range []struct {
		name    string
		maxHold time.Duration
		cut     func(e *Engine) // at 00:59:00, before that minute's batches
		heal    func(e *Engine) // at 01:06
		closeAt time.Time       // the first time hour 0 is closed
		want    Result          // of 00:59's batches, arriving at 01:06
	}{
		{"broker down", time.Hour,
			func(e *Engine) { e.SetBroker(false, at(59*time.Minute)) }, func(e *Engine) { e.SetBroker(true, at(66*time.Minute)) },
			at(68 * time.Minute), Accepted},
		{"gateway offline", time.Hour,
			func(e *Engine) { e.SetGatewayStatus("gw-1", false, at(59*time.Minute)) }, func(e *Engine) { e.SetGatewayStatus("gw-1", true, at(66*time.Minute)) },
			at(68 * time.Minute), Accepted},
		{"a gateway offline that sent nothing", time.Hour,
			func(e *Engine) { e.SetGatewayStatus("gw-old", false, at(59*time.Minute)) }, func(*Engine) {},
			at(62 * time.Minute), Late},
		{"never held (max_hold 0)", 0,
			func(e *Engine) { e.SetBroker(false, at(59*time.Minute)) }, func(e *Engine) { e.SetBroker(true, at(66*time.Minute)) },
			at(62 * time.Minute), Late},
		{"held at most max_hold", 10 * time.Minute,
			func(e *Engine) { e.SetBroker(false, at(59*time.Minute)) }, func(*Engine) {},
			at(70 * time.Minute), Accepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadExample(t)
			cfg.ParkEngine.MaxHold = tc.maxHold
			r := newReplay(t, cfg, day0, 1)
			r.eng.SetBroker(true, day0)
			r.run(day0, at(59*time.Minute), time.Minute)
			tc.cut(r.eng)
			closed := time.Time{}
			for now := at(60 * time.Minute); now.Before(at(75 * time.Minute)); now = now.Add(30 * time.Second) {
				if now.Equal(at(66 * time.Minute)) {
					tc.heal(r.eng)
					r.park.Step(at(59 * time.Minute))
					for _, d := range r.devices {
						if got := r.eng.Add("gw-1", r.batchOf(d, at(59*time.Minute))); got != tc.want && closed.IsZero() {
							t.Fatalf("%s of 00:59 at 01:06: %s, want %s", d.Name, got, tc.want)
						}
					}
				}
				r.clock.now = now
				if r.collect(); len(r.out.Hours) > 0 && closed.IsZero() {
					closed = now
				}
			}
			if !closed.Equal(tc.closeAt) {
				t.Fatalf("hour 0 closed at %s, want %s", closed.Format("15:04:05"), tc.closeAt.Format("15:04:05"))
			}
			wantSamples := 59
			if tc.want == Accepted {
				wantSamples = 60
			}
			if m := mustMetric(t, r.out.Hours[0].Metrics, "supplier_steam_mass_t", ""); m.Samples != wantSamples {
				t.Errorf("supplier mass on %d samples, want %d", m.Samples, wantSamples)
			}
		})
	}
}

// TestFastGatewayClockCounted: a gateway whose clock runs minutes ahead
// (ingest stores its batches up to batch.MaxClockSkew ahead) is counted by
// the engine too, in the hour of its timestamps: the engine's hours and
// the audit's, which recomputes them from what ingest stored, agree.
func TestFastGatewayClockCounted(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	r.clock.now = day0.Add(30 * time.Minute)
	ahead := sim0(r, "steam-supply", r.clock.now.Add(batch.MaxClockSkew-time.Second))
	if got := r.eng.Add("gw-1", ahead); got != Accepted {
		t.Fatalf("a batch %s ahead: %s", batch.MaxClockSkew-time.Second, got)
	}
}

// TestDeviceOfAnotherGateway: a device the model names with its gateway,
// arriving from another gateway (a meter rewired to another edge), is
// left out (unknown_device), and the engine can say which gateway the
// model expects, for its log.
func TestDeviceOfAnotherGateway(t *testing.T) {
	cfg := loadExample(t)
	cfg.ParkEngine.Tenants[0].SteamMeter.Gateway = "gw-1"
	r := newReplay(t, cfg, day0, 1)
	dev := cfg.ParkEngine.Tenants[0].SteamMeter.Device
	r.clock.now = day0.Add(30 * time.Minute)
	if got := r.eng.Add("gw-2", sim0(r, dev, r.clock.now)); got != Unknown {
		t.Fatalf("from another gateway: %s", got)
	}
	if got := r.eng.Add("gw-1", sim0(r, dev, r.clock.now)); got != Accepted {
		t.Fatalf("from its gateway: %s", got)
	}
	if gws := r.eng.GatewaysOf(dev); len(gws) != 1 || gws[0] != "gw-1" {
		t.Errorf("GatewaysOf(%s) = %v", dev, gws)
	}
	if gws := r.eng.GatewaysOf("steam-supply"); len(gws) != 0 {
		t.Errorf("a device named without a gateway: %v", gws)
	}
}

// TestDayBalancesWithAPowerMeterDown: t09's power meter times out for the
// whole of one hour while its steam meter reads. The day's statement keeps
// t09's steam of that hour (its electricity alone misses it), so the
// tenants' steam plus loss shares still make the supplier's energy.
func TestDayBalancesWithAPowerMeterDown(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 1)
	down := day0.Add(5 * time.Hour)
	r.mutate = func(dev string, b *batch.Batch) {
		if dev == "power-t09" && !b.Time.Before(down) && b.Time.Before(down.Add(time.Hour)) {
			setBad(b, "active_power", batch.Timeout)
		}
	}
	end := day0.Add(24 * time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	var supplierDay float64
	for _, h := range r.out.Hours {
		supplierDay += mustMetric(t, h.Metrics, "supplier_steam_energy_gj", "").Value
		if h.Start.Equal(down) {
			if m := mustMetric(t, h.Metrics, "electric_energy_mwh", "t09"); m.Flag == Valid {
				t.Fatalf("t09's electricity in the hour its meter timed out: %+v", m)
			}
		}
	}
	var stmt float64
	for _, s := range r.out.Statements {
		if s.Period != "day" {
			continue
		}
		stmt += s.Steam + s.LossShare
		if s.Tenant == "t09" && (s.SteamValidHours != 24 || s.ElectricValidHours != 23 || s.ValidHours != 23 || s.Complete()) {
			t.Errorf("t09's day: %d hours with steam, %d with electricity, %d with both, complete %v; want 24, 23, 23, false",
				s.SteamValidHours, s.ElectricValidHours, s.ValidHours, s.Complete())
		}
	}
	if !near(stmt, supplierDay, 1e-9) {
		t.Errorf("Σ(steam + loss share) = %.6f GJ, supplier %.6f GJ", stmt, supplierDay)
	}
}

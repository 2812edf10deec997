package statement

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// The month of the acceptance test: February 2026 in the park's time zone
// (Asia/Shanghai), 672 hours.
const testMonth = "2026-02"

// Faults of the simulated month.
const (
	// outageTenant's steam meter does not answer (timeout) for the two
	// hours from outageHour of the month: those hours are invalid, its
	// totaliser is not read, and it counts on.
	outageTenant = "t05"
	outageDevice = "steam-t05"
	outageHour   = 100
	// engineDownHour: the park engine wrote no hourly record for this hour
	// of the month (as if it had been down): every meter misses it.
	engineDownHour = 300
)

type monthFixture struct {
	influx *testenv.Influx
	cfg    *config.File
	q      *InfluxQL
	start  time.Time
	// truth is the simulator's own totaliser difference over the month per
	// device, in its unit (t or kWh), before quantisation.
	truth map[string]float64
}

// loadExample loads the reference park's example configuration.
func loadExample(t testing.TB) *config.File {
	t.Helper()
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	f, err := config.Load("../../config/examples/park.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// buildMonth replays February 2026 of the simulated reference park at
// 1-minute polls through the park engine, as the edge would publish it, and
// writes what ingest and the park engine would write to a real InfluxDB
// 1.8.10: the supplier's and tenants' steam and power meter readings
// (totalisers as the Modbus registers carry them: counts of 0.01 t and
// 0.1 kWh) and the engine's hourly records.
func buildMonth(t *testing.T) (*monthFixture, error) {
	cfg := loadExample(t)
	in := testenv.StartInflux(t, "eipgw")
	cfg.ParkEngine.InfluxDB.URL = in.URL
	cfg.ParkEngine.InfluxDB.Bucket = "eipgw/autogen"
	cfg.ParkEngine.InfluxDB.Token = ""
	pe := cfg.ParkEngine
	loc := pe.Location
	start, err := ParseMonth(testMonth, loc)
	if err != nil {
		return nil, err
	}
	end := start.AddDate(0, 1, 0)
	from := start.Add(-2 * time.Hour)

	sp, err := sim.NewPark(sim.Config{Seed: 11}, from)
	if err != nil {
		return nil, err
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		return nil, err
	}
	clock := &fakeClock{now: from}
	eng, err := park.New(pe, park.Options{Clock: clock.Now})
	if err != nil {
		return nil, err
	}
	meters := map[string]bool{pe.Supplier.Device: true}
	for _, tn := range pe.Tenants {
		meters[tn.SteamMeter.Device] = true
		if tn.PowerMeter != nil {
			meters[tn.PowerMeter.Device] = true
		}
	}
	w := &lineWriter{t: t, url: in.URL + "/write?db=eipgw&precision=ms"}
	vals := map[string]float64{}
	regs := make([]uint16, 8)
	var seq uint64
	var hours []park.Hour
	truth := map[string]float64{}
	first := map[string]float64{}
	outFrom := start.Add(outageHour * time.Hour)
	outTo := outFrom.Add(2 * time.Hour)
	var l influxwrite.Line
	for ts := from; ts.Before(end); ts = ts.Add(time.Minute) {
		sp.Step(ts)
		clock.now = ts
		for _, d := range sp.Devices() {
			if err := sp.Values(d.Name, vals); err != nil {
				return nil, err
			}
			p := profiles[d.Kind]
			seq++
			b := &batch.Batch{Gateway: "gw-1", Seq: seq, Device: d.Name, Kind: d.Kind, Site: "plant", Tenant: d.Tenant, Time: ts}
			down := d.Name == outageDevice && !ts.Before(outFrom) && ts.Before(outTo)
			if meters[d.Name] {
				l.Start(d.Kind)
				l.Tag("device", d.Name)
				l.Tag("gateway", "gw-1")
				l.Tag("park", cfg.Park)
				l.Tag("site", "plant")
				l.Tag("tenant", d.Tenant)
			}
			for i := range p.Points {
				pt := &p.Points[i]
				v := vals[pt.Name]
				if pt.Name == "mass_total" || pt.Name == "energy_import" {
					if !ts.Before(start) {
						if _, ok := first[d.Name]; !ok {
							first[d.Name] = truth[d.Name]
						}
					}
					truth[d.Name] = v
					// What the edge reads: the register's counts × scale.
					if err := pt.Encode(regs[:pt.Words()], v); err != nil {
						return nil, fmt.Errorf("%s %s: %w", d.Name, pt.Name, err)
					}
					v, _ = pt.Decode(regs[:pt.Words()])
				}
				bp := batch.Point{Name: pt.Name, Unit: pt.Unit, Value: v, HasValue: true, Quality: batch.Good}
				if down {
					bp = batch.Point{Name: pt.Name, Unit: pt.Unit, Quality: batch.Timeout}
				}
				b.Points = append(b.Points, bp)
				if meters[d.Name] {
					if down {
						l.String(pt.Name+"_q", "timeout")
					} else {
						l.Float(pt.Name, v)
					}
				}
			}
			if meters[d.Name] {
				line, err := l.End(ts)
				if err != nil {
					return nil, err
				}
				w.add(line)
			}
			if res := eng.Add("gw-1", b); res != park.Accepted {
				return nil, fmt.Errorf("%s at %s: %s", d.Name, ts, res)
			}
		}
		hours = append(hours, eng.Advance().Hours...)
	}
	clock.now = end.Add(time.Hour)
	hours = append(hours, eng.Advance().Hours...)
	down := start.Add(engineDownHour * time.Hour)
	for _, h := range hours {
		if h.Start.Equal(down) {
			continue
		}
		for _, r := range park.HourRecords(cfg.Park, h) {
			if r.Err == nil {
				w.add(r.Line)
			}
		}
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	for d := range truth {
		truth[d] -= first[d]
	}
	q, err := NewInfluxQL(pe.InfluxDB)
	if err != nil {
		return nil, err
	}
	return &monthFixture{influx: in, cfg: cfg, q: q, start: start, truth: truth}, nil
}

// lineWriter posts line protocol to InfluxDB 1.8's /write in requests of
// 20000 lines.
type lineWriter struct {
	t   *testing.T
	url string
	buf bytes.Buffer
	n   int
	err error
}

func (w *lineWriter) add(line []byte) {
	w.buf.Write(line)
	w.buf.WriteByte('\n')
	if w.n++; w.n == 20000 {
		if err := w.flush(); err != nil && w.err == nil {
			w.err = err
		}
	}
}

func (w *lineWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.n == 0 {
		return nil
	}
	resp, err := http.Post(w.url, "text/plain", bytes.NewReader(w.buf.Bytes()))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return fmt.Errorf("write: %s: %s", resp.Status, b.String())
	}
	w.buf.Reset()
	w.n = 0
	return nil
}

// TestMonth builds the simulated month once and runs the statement's
// acceptance checks on it.
func TestMonth(t *testing.T) {
	started := time.Now()
	mf, err := buildMonth(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("month of the simulated park replayed and stored in %s", time.Since(started).Round(time.Millisecond))
	st := build(t, mf, Options{})
	t.Run("CrossCheckEveryMeter", func(t *testing.T) { testCrossCheck(t, mf, st) })
	t.Run("TenantsPlusLossesEqualSupplier", func(t *testing.T) { testBalance(t, st) })
	t.Run("CSVReimportsToSameTotals", func(t *testing.T) { testReimport(t, st) })
	t.Run("GapsHandled", func(t *testing.T) { testGaps(t, mf, st) })
	t.Run("PDF", func(t *testing.T) {
		// The three formats of the month in the test's artifact directory
		// (go test -artifacts -outputdir DIR keeps them).
		dir := t.ArtifactDir()
		var c, p bytes.Buffer
		if err := st.WriteCSV(&c); err != nil {
			t.Fatal(err)
		}
		if err := st.WritePDF(&p, PDFOptions{Compress: true}); err != nil {
			t.Fatal(err)
		}
		j, err := st.JSON()
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"statement.csv": c.Bytes(), "statement.pdf": p.Bytes(), "statement.json": j} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.HasPrefix(p.Bytes(), []byte("%PDF-")) || p.Len() < 2000 {
			t.Errorf("PDF of %d bytes", p.Len())
		}
	})
	t.Run("ProvisionalUntilClosed", func(t *testing.T) { testProvisional(t, mf, st) })
	t.Run("OneTenant", func(t *testing.T) {
		one := build(t, mf, Options{Tenant: outageTenant})
		var kinds []string
		for _, r := range one.Rows {
			kinds = append(kinds, r.Kind+":"+r.Tenant)
		}
		if got := strings.Join(kinds, " "); got != "supplier_steam: tenant_steam:t05 tenant_power:t05 network_loss:" {
			t.Errorf("rows %s", got)
		}
		if one.Balance != st.Balance {
			t.Errorf("balance of one tenant's statement %+v differs from the park's %+v", one.Balance, st.Balance)
		}
	})
}

func build(t *testing.T, mf *monthFixture, o Options) *Statement {
	t.Helper()
	m, err := ParseMonth(testMonth, mf.cfg.ParkEngine.Location)
	if err != nil {
		t.Fatal(err)
	}
	o.Month = m
	started := time.Now()
	st, err := Build(context.Background(), mf.q, mf.cfg.Park, mf.cfg.ParkEngine, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("statement built in %s", time.Since(started).Round(time.Millisecond))
	return st
}

func testCrossCheck(t *testing.T, mf *monthFixture, st *Statement) {
	n := 0
	for _, r := range st.Rows {
		if r.Kind == RowNetworkLoss {
			continue
		}
		c := r.CrossCheck
		n++
		if c.Hours < 660 {
			t.Errorf("%s: only %d hours cross-checked", r.Device, c.Hours)
		}
		if !c.OK {
			t.Errorf("%s %s: cross-check failed: integrated %.4f, totaliser %.4f over %d hours, difference %.4f > allowed %.4f",
				r.Kind, r.Device, c.Integrated, c.Metered, c.Hours, c.Difference, c.Allowed)
		}
		want := mf.truth[r.Device]
		if r.Kind == RowTenantPower {
			want /= 1000
		}
		if math.Abs(r.Metered-want) > 0.1 {
			t.Errorf("%s: metered %.4f %s, the simulator's counter moved %.4f", r.Device, r.Metered, r.Unit, want)
		}
	}
	if n != 1+2*18 {
		t.Errorf("%d meters checked, want 37", n)
	}
}

// testBalance: the month's supplier-versus-tenants balance closes. In mass,
// the tenants' totalisers and the loss add up to the supplier's, and the
// loss is the simulator's 3 % within the meters' uncertainty (no alarm);
// in energy, the tenants' billed energy (their energy plus their loss
// shares) adds up to the supplier's.
func testBalance(t *testing.T, st *Statement) {
	b := st.Balance
	var mass, billed float64
	for _, r := range st.Rows {
		if r.Kind == RowTenantSteam {
			mass += r.Metered
			billed += r.BilledEnergyGJ
		}
	}
	near(t, "tenants + loss (t)", mass+b.LossMassT, b.SupplierMassT, 1e-9*b.SupplierMassT)
	near(t, "tenants billed (GJ)", billed, b.SupplierEnergyGJ, 1e-9*b.SupplierEnergyGJ)
	near(t, "loss fraction", b.LossFraction, 0.03, 0.001)
	if b.Alarm {
		t.Errorf("balance alarm: unexplained %.3f t, uncertainty %.3f t", b.UnexplainedT, b.UncertaintyT)
	}
	t.Logf("supplier %.2f t %.2f GJ; tenants %.2f t %.2f GJ; loss %.2f t (%.4f), %.2f GJ (%.4f); unexplained %.3f t of U %.1f t",
		b.SupplierMassT, b.SupplierEnergyGJ, b.TenantsMassT, b.TenantsEnergyGJ, b.LossMassT, b.LossFraction, b.NetworkLossGJ, b.NetworkLossFraction, b.UnexplainedT, b.UncertaintyT)
}

// testReimport: the CSV read back gives every row's numbers and the same
// totals as the statement, and the same balance.
func testReimport(t *testing.T, st *Statement) {
	var buf bytes.Buffer
	if err := st.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSV(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(st.Rows) {
		t.Fatalf("%d rows read back, %d written", len(rows), len(st.Rows))
	}
	var supMass, supEnergy, tenMass, tenBilled, lossMass, lossEnergy, elec float64
	for i, r := range rows {
		w := st.Rows[i]
		if r.Kind != w.Kind || r.Device != w.Device || r.Tenant != w.Tenant || r.Park != st.Park || r.Month != testMonth {
			t.Fatalf("row %d: %s %s %s, wrote %s %s %s", i, r.Kind, r.Tenant, r.Device, w.Kind, w.Tenant, w.Device)
		}
		near(t, w.Device+" metered", r.Metered, w.Metered, 1e-12*math.Max(1, w.Metered))
		if r.EnergyGJ != w.EnergyGJ || r.LossShareGJ != w.LossShareGJ || r.BilledEnergyGJ != w.BilledEnergyGJ || r.Integrated != w.Integrated ||
			r.ValidHours != w.ValidHours || r.InvalidHours != w.InvalidHours || r.MissingHours != w.MissingHours || r.Handling != w.Handling {
			t.Errorf("row %d (%s) read back as %+v", i, w.Device, r)
		}
		if w.Opening != nil && (r.Opening != w.Opening.Value || r.Closing != w.Closing.Value) {
			t.Errorf("%s: readings %s..%s read back as %s..%s", w.Device, w.Opening.Value, w.Closing.Value, r.Opening, r.Closing)
		}
		switch r.Kind {
		case RowSupplierSteam:
			supMass, supEnergy = r.Metered, r.EnergyGJ
		case RowTenantSteam:
			tenMass += r.Metered
			tenBilled += r.BilledEnergyGJ
		case RowTenantPower:
			elec += r.Metered
		case RowNetworkLoss:
			lossMass, lossEnergy = r.Metered, r.EnergyGJ
		}
	}
	b := st.Balance
	near(t, "re-imported supplier mass", supMass, b.SupplierMassT, 1e-9)
	near(t, "re-imported tenants + loss", tenMass+lossMass, supMass, 1e-9*supMass)
	near(t, "re-imported tenants' billed energy", tenBilled, supEnergy, 1e-9*supEnergy)
	near(t, "re-imported loss energy", lossEnergy, b.NetworkLossGJ, 0)
	near(t, "re-imported electricity", elec, b.TenantsElectricMWh, 1e-9*b.TenantsElectricMWh)

	// A file with a changed header is refused with the column named.
	bad := strings.Replace(buf.String(), "billed_energy_gj", "billed", 1)
	if _, err := ReadCSV(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `"billed", want "billed_energy_gj"`) {
		t.Errorf("changed header: %v", err)
	}
}

// testGaps: the steam meter of t05 timed out for two hours and the engine
// wrote nothing for one hour: both are listed with their hours, and the
// energy of those three hours is substituted from the totaliser, which
// counted through them.
func testGaps(t *testing.T, mf *monthFixture, st *Statement) {
	r := row(t, st, RowTenantSteam, outageDevice)
	if r.InvalidHours != 2 || r.MissingHours != 1 || r.ValidHours != 669 || r.ExpectedHours != 672 {
		t.Fatalf("%s: %d valid, %d invalid, %d missing of %d", outageDevice, r.ValidHours, r.InvalidHours, r.MissingHours, r.ExpectedHours)
	}
	want := []time.Time{mf.start.Add(outageHour * time.Hour), mf.start.Add((outageHour + 1) * time.Hour), mf.start.Add(engineDownHour * time.Hour)}
	for i, g := range r.Gaps {
		if !g.Start.Equal(want[i]) {
			t.Errorf("gap %d at %s, want %s", i, g.Start, want[i])
		}
	}
	if r.Gaps[0].Status != "invalid" || !strings.Contains(r.Gaps[0].Reason, "timeout") || r.Gaps[2].Status != "missing" {
		t.Errorf("gaps %+v", r.Gaps)
	}
	// Three hours of t05 (about 2.2 t/h) at about 2.82 GJ/t: the
	// substituted energy is the totaliser's mass of those hours at the
	// month's mean specific energy.
	spec := r.SubstitutedEnergyGJ / (r.Metered - r.CrossCheck.Metered - (r.Integrated - r.CrossCheck.Integrated))
	if r.SubstitutedEnergyGJ <= 0 || spec < 2.7 || spec > 2.95 {
		t.Errorf("substituted %.3f GJ (%.4f GJ/t)", r.SubstitutedEnergyGJ, spec)
	}
	other := row(t, st, RowTenantSteam, "steam-t01")
	if other.InvalidHours != 0 || other.MissingHours != 1 || !strings.Contains(other.Handling, "substituted") {
		t.Errorf("t01: %d invalid, %d missing, handling %q", other.InvalidHours, other.MissingHours, other.Handling)
	}
}

// testProvisional makes the statement of the month as it stood ten days
// and a few seconds of grace in: it covers the 240 closed hours, each
// meter's closing reading is the last before the cut, its gaps are the
// full month's gaps before the cut (not the later hours counted missing),
// and it says it is provisional. A time at the month's start gives no
// statement; one after its end, the final one.
func testProvisional(t *testing.T, mf *monthFixture, full *Statement) {
	cut := full.Start.AddDate(0, 0, 10)
	p := build(t, mf, Options{ClosedBefore: cut.Add(90 * time.Second)})
	if !p.Provisional || !p.End.Equal(cut) || !p.MonthEnd.Equal(full.End) {
		t.Fatalf("provisional %v, end %s, month end %s; want true, %s, %s", p.Provisional, p.End, p.MonthEnd, cut, full.End)
	}
	if len(p.Rows) != len(full.Rows) {
		t.Fatalf("%d rows, the full month %d", len(p.Rows), len(full.Rows))
	}
	for i, r := range p.Rows {
		if r.Kind == RowNetworkLoss {
			continue
		}
		f := full.Rows[i]
		if r.ExpectedHours != 240 || r.ValidHours+r.InvalidHours+r.MissingHours != 240 {
			t.Errorf("%s %s: %d expected hours (%d valid, %d invalid, %d missing), want 240", r.Kind, r.Device, r.ExpectedHours, r.ValidHours, r.InvalidHours, r.MissingHours)
		}
		var before []HourNote
		for _, g := range f.Gaps {
			if g.Start.Before(cut) {
				before = append(before, g)
			}
		}
		if fmt.Sprint(r.Gaps) != fmt.Sprint(before) {
			t.Errorf("%s %s: gaps %v, the full month's before the cut %v", r.Kind, r.Device, r.Gaps, before)
		}
		if !r.Closing.Time.Before(cut) || r.Closing.Time.Before(cut.Add(-time.Hour)) {
			t.Errorf("%s %s: closing reading at %s, want in the hour before %s", r.Kind, r.Device, r.Closing.Time, cut)
		}
		if r.Opening.Value != f.Opening.Value {
			t.Errorf("%s %s: opening %s, the full month's %s", r.Kind, r.Device, r.Opening.Value, f.Opening.Value)
		}
		if c := r.CrossCheck; c == nil || !c.OK || c.Hours < 230 {
			t.Errorf("%s %s: cross-check %+v", r.Kind, r.Device, c)
		}
		if !(r.Metered > 0 && r.Metered < f.Metered) {
			t.Errorf("%s %s: metered %g, the full month %g", r.Kind, r.Device, r.Metered, f.Metered)
		}
	}
	var c bytes.Buffer
	if err := p.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(c.String()), "\n")
	if !strings.HasSuffix(lines[0], ",provisional") || !strings.HasSuffix(lines[1], ",true") {
		t.Errorf("CSV header %q, first row %q: want the provisional column, true", lines[0], lines[1])
	}

	_, err := Build(context.Background(), mf.q, mf.cfg.Park, mf.cfg.ParkEngine, Options{Month: full.Start, ClosedBefore: full.Start.Add(59 * time.Minute)})
	if !errors.Is(err, ErrNothingClosed) {
		t.Errorf("a month with no closed hour: %v, want ErrNothingClosed", err)
	}
	after := build(t, mf, Options{ClosedBefore: full.End.Add(time.Hour)})
	if after.Provisional || !after.End.Equal(full.End) {
		t.Errorf("after the month: provisional %v, end %s", after.Provisional, after.End)
	}
}

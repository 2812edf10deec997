package park

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"flag"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

var update = flag.Bool("update", false, "rewrite testdata/reference/inputs.csv.gz (then run reference.py)")

// The reference hours: 10:00 to 13:00 of the replay's second day, when the
// tenants ramp up, so that the hours differ.
var (
	refFrom = day0.Add(34 * time.Hour)
	refTo   = day0.Add(37 * time.Hour)
)

// refPoints are the readings the reference recomputes from, per device
// kind, in CSV column order.
var refPoints = map[string][]string{
	"steam_meter": {"mass_flow", "pressure", "temperature"},
	"chp":         {"electric_power", "ng_flow", "biogas_flow", "steam_flow", "steam_pressure", "steam_temperature", "feedwater_temperature"},
	"cems":        {"so2", "flue_gas_flow_dry"},
	"boiler":      {"fuel_flow"},
}

// refMetrics are compared with the reference: metric and entity.
var refMetrics = [][2]string{
	{"supplier_steam_mass_t", ""}, {"supplier_steam_energy_gj", ""},
	{"steam_energy_gj", "t01"}, {"steam_energy_gj", "t07"}, {"steam_energy_gj", "t14"},
	{"balance_loss_t", ""}, {"balance_uncertainty_t", ""}, {"balance_alarm", ""}, {"network_loss_gj", ""},
	{"chp_electrical_efficiency", ""}, {"chp_thermal_efficiency", ""}, {"chp_pes", ""},
	{"so2_cems_kg", ""}, {"co2_fuel_t", ""}, {"reduction_co2_t", ""}, {"reduction_so2_t", ""},
	{"chp_heat_check", ""}, {"chp_heat_margin_gj", ""},
	{"chp_ref_electrical_efficiency", ""}, {"chp_ref_heat_efficiency", ""}, {"chp_heat_allocation", ""},
	{"baseline_co2_t", "t01"}, {"baseline_co2_t", "t02"}, {"baseline_uncredited_heat_gj", "t02"},
	{"baseline_so2_t", "t05"}, {"baseline_co2_t", "t10"},
	{"reduction_co2_t", "t07"}, {"reduction_so2_t", "t07"},
}

// exportRow appends a batch's reference points as a CSV row: ts_ms,
// device, values in refPoints order.
func exportRow(w *csv.Writer, b *batch.Batch) {
	names, ok := refPoints[b.Kind]
	if !ok {
		return
	}
	row := []string{strconv.FormatInt(b.Time.UnixMilli(), 10), b.Device}
	for _, n := range names {
		for _, p := range b.Points {
			if p.Name == n {
				row = append(row, strconv.FormatFloat(p.Value, 'g', -1, 64))
			}
		}
	}
	w.Write(row)
}

// TestReplay48hMatchesReference replays 48 simulated hours of the reference
// park at 1-minute polls through the engine (no network) and compares
// three of its hourly records with values recomputed independently by
// testdata/reference/reference.py (standard-library Python, its own IF97)
// from the exported inputs. Tolerance: 1e-9 relative, 1e-12 absolute.
func TestReplay48hMatchesReference(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 7)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"ts_ms", "device", "values (see reference.py)"})
	r.sink = func(b *batch.Batch) {
		if !b.Time.Before(refFrom) && b.Time.Before(refTo) {
			exportRow(w, b)
		}
	}
	start := time.Now()
	end := day0.Add(48 * time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)
	t.Logf("replayed 48 simulated hours (%d batches) in %s: %d live intervals, %d hourly records, %d statements",
		r.eng.Stats().Batches[Accepted], time.Since(start).Round(time.Millisecond), len(r.out.Live), len(r.out.Hours), len(r.out.Statements))
	w.Flush()
	if len(r.out.Hours) != 48 {
		t.Fatalf("%d hourly records", len(r.out.Hours))
	}

	dir := filepath.Join("testdata", "reference")
	inputs := filepath.Join(dir, "inputs.csv.gz")
	if *update {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(buf.Bytes())
		zw.Close()
		if err := os.WriteFile(inputs, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed := gunzip(t, inputs)
	if !bytes.Equal(committed, buf.Bytes()) {
		t.Fatalf("%s differs from this replay's inputs: the simulator changed; rerun with -update and reference.py", inputs)
	}

	want := readExpected(t, filepath.Join(dir, "expected.csv"))
	if py, err := exec.LookPath("python3"); err == nil {
		// Recompute now as well: the committed output must be what the
		// script gives.
		out, err := exec.Command(py, filepath.Join(dir, "reference.py"), inputs).Output()
		if err != nil {
			t.Fatalf("reference.py: %v", err)
		}
		if committed, _ := os.ReadFile(filepath.Join(dir, "expected.csv")); !bytes.Equal(out, committed) {
			t.Errorf("reference.py output differs from the committed expected.csv")
		}
	}
	checked := 0
	for _, h := range r.out.Hours {
		if h.Start.Before(refFrom) || !h.Start.Before(refTo) {
			continue
		}
		for _, mk := range refMetrics {
			m := mustMetric(t, h.Metrics, mk[0], mk[1])
			key := strconv.FormatInt(h.Start.UnixMilli(), 10) + "," + mk[0] + "," + mk[1]
			exp, ok := want[key]
			if !ok {
				t.Errorf("no reference value for %s", key)
				continue
			}
			if m.Flag != Valid || math.Abs(m.Value-exp) > 1e-12+1e-9*math.Abs(exp) {
				t.Errorf("%s %s %s: engine %.12g (%s), reference %.12g", h.Start.Format("2006-01-02 15:04"), mk[0], mk[1], m.Value, m.Flag, exp)
			}
			checked++
		}
	}
	if checked != 3*len(refMetrics) {
		t.Errorf("compared %d values, want %d", checked, 3*len(refMetrics))
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (generate it with go test -run TestReplay48hMatchesReference -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readExpected(t *testing.T, path string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, row := range rows[1:] {
		v, err := strconv.ParseFloat(row[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		want[strings.Join(row[:3], ",")] = v
	}
	return want
}

// BenchmarkReplay48h replays 48 simulated hours at 10-second polls of all
// 43 devices (743 040 batches) through the engine.
func BenchmarkReplay48h(b *testing.B) {
	cfg := loadExample(b)
	for b.Loop() {
		r := newReplay(b, cfg, day0, 7)
		end := day0.Add(48 * time.Hour)
		r.run(day0, end, 10*time.Second)
		r.finish(end)
		if len(r.out.Hours) != 48 {
			b.Fatalf("%d hours", len(r.out.Hours))
		}
	}
}

package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/park"
)

// reportHours is the length of the simulated run of TestReportOfASignedRun:
// 2 hours in make test, 48 with EIPGW_AUDIT_HOURS=48 (make audit-acceptance).
func reportHours(t *testing.T) int {
	s := os.Getenv("EIPGW_AUDIT_HOURS")
	if s == "" {
		return 2
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("EIPGW_AUDIT_HOURS=%q: want a number of hours", s)
	}
	return n
}

// TestReportOfASignedRun: a simulated run of the reference park, signed at
// the edge, stored by the real ingest in InfluxDB 1.8.10, its hours
// computed and sealed, verifies with 0 mismatches; its report's totals
// equal the sums of the hourly records the engine computed (and of the
// CSV); the HTML names every section; the PDF's first pages convert to
// PNG with pdftoppm. EIPGW_REPORT_DIR keeps the files.
func TestReportOfASignedRun(t *testing.T) {
	hours := reportHours(t)
	start := time.Now()
	f := newFixture(t, hours)
	built := time.Since(start)
	start = time.Now()
	rep, err := BuildReport(context.Background(), f.store, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	v := rep.Verification
	if !v.Pass() {
		var got []string
		for _, x := range v.Findings {
			got = append(got, x.String())
		}
		t.Fatalf("%d mismatches:\n%s", len(got), strings.Join(got, "\n"))
	}
	if v.Hours != hours || v.SealedHours != hours || rep.Hours() != hours {
		t.Fatalf("recomputed %d hours, sealed %d, report %d; want %d", v.Hours, v.SealedHours, rep.Hours(), hours)
	}
	t.Logf("%d hours: run built in %s; verified and report built in %s (%d batches, %d readings, %d records)",
		hours, built.Round(time.Second), took.Round(time.Millisecond), v.Batches, v.Readings, len(rep.Records))

	// Totals: the sums of the engine's park-wide valid hourly records.
	want := map[string]float64{}
	valid := map[string]int{}
	records := 0
	for _, h := range f.hours {
		records += len(h.Metrics)
		for _, m := range h.Metrics {
			if m.Entity == "" && m.Flag == park.Valid {
				want[m.Name] += m.Value
				valid[m.Name]++
			}
		}
	}
	if len(rep.Records) != records {
		t.Errorf("report holds %d records, the engine computed %d", len(rep.Records), records)
	}
	for _, tot := range rep.Totals {
		if tot.Sum != want[tot.Metric] || tot.ValidHours != valid[tot.Metric] || tot.Hours != hours {
			t.Errorf("total %s = %v over %d/%d valid hours; hourly records sum to %v over %d", tot.Metric, tot.Sum, tot.ValidHours, tot.Hours, want[tot.Metric], valid[tot.Metric])
		}
		if tot.ValidHours == 0 {
			t.Errorf("total %s has no valid hour", tot.Metric)
		}
	}
	red, base, proj := rep.Totals[2].Sum, rep.Totals[0].Sum, rep.Totals[1].Sum
	if d := red - (base - proj); d > 1e-9*base || d < -1e-9*base {
		t.Errorf("CO2 reduction %v is not baseline %v - project %v", red, base, proj)
	}

	dir := os.Getenv("EIPGW_REPORT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var csvBuf, htmlBuf, pdfBuf bytes.Buffer
	if err := rep.WriteCSV(&csvBuf); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&htmlBuf); err != nil {
		t.Fatal(err)
	}
	if err := rep.WritePDF(&pdfBuf); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*bytes.Buffer{"report.csv": &csvBuf, "report.html": &htmlBuf, "report.pdf": &pdfBuf} {
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The CSV's records sum to the same totals.
	rows, err := csv.NewReader(bytes.NewReader(csvBuf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != records+1 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("CSV: %d rows, header %v", len(rows), rows[0])
	}
	sums := map[string]float64{}
	for _, r := range rows[1:] {
		if r[2] == "" && r[4] == "valid" {
			x, err := strconv.ParseFloat(r[3], 64)
			if err != nil {
				t.Fatalf("CSV row %v: %v", r, err)
			}
			sums[r[1]] += x
		}
	}
	for _, tot := range rep.Totals {
		if sums[tot.Metric] != tot.Sum {
			t.Errorf("CSV sums %s to %v, report total %v", tot.Metric, sums[tot.Metric], tot.Sum)
		}
	}

	html := htmlBuf.String()
	for _, s := range []string{"PASS: 0 mismatches", "Methodology", "IPCC 2006 Vol. 2", "Parameters", "Data completeness",
		"Invalid hours", "Totals", "reduction_co2_t", v.Heads["gw-1"].Hash, v.SealHead.Hash, fmtNum(rep.Totals[2].Sum)} {
		if !strings.Contains(html, s) {
			t.Errorf("HTML report lacks %q", s)
		}
	}
	if !bytes.HasPrefix(pdfBuf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdfBuf.Bytes()[:min(20, pdfBuf.Len())])
	}

	// The PDF's first pages, as images a reader can look at.
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftoppm not installed (scripts/tools.sh poppler)")
		}
		t.Skip("pdftoppm not installed (scripts/tools.sh poppler)")
	}
	out, err := exec.Command(tool, "-png", "-r", "70", "-f", "1", "-l", "2", filepath.Join(dir, "report.pdf"), filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page-*.png"))
	if len(pages) != 2 {
		t.Fatalf("pdftoppm made %v, want two pages", pages)
	}
	for _, p := range pages {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// Some ink on the page: a dark pixel.
		b, ink := img.Bounds(), false
		for y := b.Min.Y; y < b.Max.Y && !ink; y += 2 {
			for x := b.Min.X; x < b.Max.X; x += 2 {
				if r, g, bl, _ := img.At(x, y).RGBA(); r+g+bl < 3*0x4000 {
					ink = true
					break
				}
			}
		}
		if !ink {
			t.Errorf("%s is blank", p)
		}
	}
	t.Logf("report in %s: %s", dir, strings.Join(pages, ", "))
}

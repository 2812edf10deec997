package audit

import (
	"bytes"
	"testing"
	"time"
)

// TestReportPDFWithSigns: an invalid hour's reason as the park engine writes
// it ("2× mass_flow: exception:6"), and signs outside the core fonts'
// cp1252, make a PDF: the table's wrapping measured them as 256-width
// indexes (a panic) before.
func TestReportPDFWithSigns(t *testing.T) {
	h := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := &Report{Park: "p", From: h, To: h.Add(time.Hour), Generated: h.Add(2 * time.Hour), Verification: &Result{}, Records: []HourRecord{
		{Hour: h, Metric: "thermal_power", Entity: "steam-t17", Flag: "invalid",
			Reason: "steam-t17.thermal_power: 8 of 60 minutes valid, 45 needed (2× mass_flow: exception:6)"},
		{Hour: h, Metric: "co2_reduction", Entity: "park", Flag: "invalid", Reason: "Δ −3 ≥ 2 μg/m³ → n/a"},
	}}
	var buf bytes.Buffer
	if err := r.WritePDF(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) || !bytes.Contains(buf.Bytes(), []byte("%%EOF")) {
		t.Fatalf("not a whole PDF: %d bytes", buf.Len())
	}
}

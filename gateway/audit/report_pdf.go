package audit

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-pdf/fpdf"
)

// pdfMaxRows bounds the rows of the PDF's long tables (invalid hours,
// findings); the CSV and HTML hold them all.
const pdfMaxRows = 200

// WritePDF writes the report as PDF (A4): verification, totals,
// methodology, parameters, completeness per device and the invalid hours.
// The hourly records themselves are in the CSV.
func (r *Report) WritePDF(w io.Writer) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("eipgw audit report, park %s, %s to %s, page %d", r.Park, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 10, tr("Emission reduction audit report"), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(0, 5, tr(fmt.Sprintf("Park %s, hours %s to %s (%d hours). Generated %s by eipgw audit report.",
		r.Park, r.From.Format("2006-01-02 15:04Z"), r.To.Format("2006-01-02 15:04Z"), r.Hours(), r.Generated.Format("2006-01-02 15:04Z"))), "", "L", false)

	heading := func(s string) {
		if pdf.GetY() > 250 {
			pdf.AddPage()
		}
		pdf.Ln(3)
		pdf.SetFont("Helvetica", "B", 12)
		pdf.CellFormat(0, 8, tr(s), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
	}
	table := func(widths []float64, head []string, rows [][]string, right map[int]bool) {
		if pdf.GetY() > 265 { // no header alone at the foot of a page
			pdf.AddPage()
		}
		pdf.SetFont("Helvetica", "B", 8)
		pdf.SetFillColor(230, 230, 230)
		for i, h := range head {
			pdf.CellFormat(widths[i], 5, tr(h), "1", 0, "L", true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont("Helvetica", "", 8)
		for _, row := range rows {
			// Row height: the tallest wrapped cell.
			lines := 1
			for i, c := range row {
				lines = max(lines, len(pdf.SplitText(byteRunes(tr(c)), widths[i]-2)))
			}
			h := 4.0 * float64(lines)
			if pdf.GetY()+h > 280 {
				pdf.AddPage()
			}
			x, y := pdf.GetXY()
			for i, c := range row {
				align := "L"
				if right[i] {
					align = "R"
				}
				pdf.Rect(x, y, widths[i], h, "D")
				pdf.SetXY(x, y)
				pdf.MultiCell(widths[i], 4, tr(c), "", align, false)
				x += widths[i]
			}
			pdf.SetXY(15, y+h)
		}
	}

	v := r.Verification
	heading("Verification")
	if v.Pass() {
		pdf.SetTextColor(20, 100, 20)
		pdf.CellFormat(0, 6, "PASS: 0 mismatches", "", 1, "L", false, 0, "")
	} else {
		pdf.SetTextColor(170, 20, 20)
		pdf.CellFormat(0, 6, fmt.Sprintf("FAIL: %d mismatches", len(v.Findings)), "", 1, "L", false, 0, "")
	}
	pdf.SetTextColor(0, 0, 0)
	pdf.MultiCell(0, 5, tr(fmt.Sprintf("%d signed batches, %d readings (%d not under evidence), %d hours recomputed, %d hours sealed. "+
		"%d signatures verified; the hash chains vouch for the messages of the other %d batches (each hour's last batch of each gateway, and any batch at a break, is verified on its own signature).",
		v.Batches, v.Readings, v.Unchecked, v.Hours, v.SealedHours, v.Signatures, v.Vouched)), "", "L", false)
	var heads [][]string
	for _, g := range sortedHeads(v.Heads) {
		h := v.Heads[g]
		heads = append(heads, []string{"gateway " + g, strconv.FormatUint(h.Seq, 10), h.Hash, h.Time.Format("2006-01-02 15:04:05Z")})
	}
	if s := v.SealHead; s != nil {
		heads = append(heads, []string{"audit log", strconv.FormatUint(s.Seq, 10), s.Hash, s.Hour.Format("2006-01-02 15:04Z")})
	}
	table([]float64{30, 15, 100, 35}, []string{"chain head", "seq", "hash (SHA-256)", "time"}, heads, map[int]bool{1: true})
	if len(v.Findings) > 0 {
		var rows [][]string
		for i, f := range v.Findings {
			if i == pdfMaxRows {
				rows = append(rows, []string{fmt.Sprintf("... and %d more (eipgw audit verify lists them all)", len(v.Findings)-pdfMaxRows)})
				break
			}
			rows = append(rows, []string{f.String()})
		}
		table([]float64{180}, []string{"finding"}, rows, nil)
	}

	heading("Totals")
	pdf.MultiCell(0, 5, tr("Sums of the park-wide hourly records that are valid; the CSV holds every record."), "", "L", false)
	var rows [][]string
	for _, t := range r.Totals {
		rows = append(rows, []string{t.Metric, fmtNum(t.Sum), t.Unit, strconv.Itoa(t.ValidHours), strconv.Itoa(t.Hours)})
	}
	table([]float64{50, 35, 25, 30, 30}, []string{"metric", "total", "unit", "valid hours", "hours"}, rows, map[int]bool{1: true, 3: true, 4: true})

	heading("Methodology")
	pdf.MultiCell(0, 5, tr("Formulas as documented in docs/metrics.md; sources are the keys of docs/references.md."), "", "L", false)
	rows = nil
	for _, m := range Methodology {
		rows = append(rows, []string{m.Metric, m.Formula, m.Sources})
	}
	table([]float64{40, 85, 55}, []string{"quantity", "formula", "primary sources"}, rows, nil)

	heading("Parameters")
	rows = nil
	for _, p := range r.Parameters() {
		rows = append(rows, []string{p.Group, p.Name, p.Value, p.Source})
	}
	table([]float64{30, 35, 60, 55}, []string{"group", "parameter", "value", "source (as configured)"}, rows, nil)

	heading("Data completeness")
	pdf.MultiCell(0, 5, tr("Verified polls of each device per hour, as a share of its fullest hour; the HTML report has every hour."), "", "L", false)
	rows = nil
	for _, d := range r.Completeness {
		low, minShare := 0, 1.0
		for i := range d.Polls {
			s := d.Share(i)
			minShare = min(minShare, s)
			if s < 0.75 {
				low++
			}
		}
		rows = append(rows, []string{d.Device, strconv.Itoa(d.Max), fmtNum(minShare * 100), strconv.Itoa(low)})
	}
	table([]float64{50, 40, 45, 45}, []string{"device", "polls in its fullest hour", "least hour, %", "hours below 75 %"}, rows, map[int]bool{1: true, 2: true, 3: true})

	heading("Invalid hours")
	inv := r.Invalid()
	if len(inv) == 0 {
		pdf.MultiCell(0, 5, "None: every hourly record of the range is valid.", "", "L", false)
	} else {
		rows = nil
		for i, h := range inv {
			if i == pdfMaxRows {
				rows = append(rows, []string{fmt.Sprintf("... and %d more (in the CSV and HTML)", len(inv)-pdfMaxRows), "", "", "", ""})
				break
			}
			rows = append(rows, []string{h.Hour.Format("2006-01-02 15:04Z"), h.Metric, h.Entity, h.Flag, h.Reason})
		}
		table([]float64{30, 45, 20, 15, 70}, []string{"hour", "metric", "entity", "flag", "why"}, rows, nil)
	}
	return pdf.Output(w)
}

func sortedHeads(m map[string]Head) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// byteRunes makes each byte of s (text translated to the core fonts'
// cp1252) a rune of its own: fpdf's SplitText reads a string as UTF-8 and
// looks each rune up in the font's 256 widths, so a translated "×" (0xD7,
// invalid UTF-8 alone) became U+FFFD and indexed past them.
func byteRunes(s string) string {
	rs := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		rs[i] = rune(s[i])
	}
	return string(rs)
}

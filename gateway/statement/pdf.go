package statement

import (
	"fmt"
	"io"
	"strings"

	"github.com/go-pdf/fpdf"
)

// PDFOptions set what a PDF statement carries besides the statement.
type PDFOptions struct {
	// Compress compresses the page streams (default for files; tests read
	// the text uncompressed).
	Compress bool
}

// WritePDF writes the statement as an A4 landscape PDF for people: the
// meters' table (readings, metered, integrated, cross-check, energy, loss
// share, billed energy, hours), the balance, and each row's handling and
// hours without a valid value. The CSV is the file a billing system
// imports; the PDF shows the same numbers rounded for reading. Its
// creation date is the month's end, so the same statement gives the same
// bytes.
func (s *Statement) WritePDF(w io.Writer, o PDFOptions) error {
	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetCompression(o.Compress)
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(s.End)
	pdf.SetModificationDate(s.End)
	pdf.SetTitle(fmt.Sprintf("Statement %s %s", s.Park, s.Month), true)
	pdf.SetAutoPageBreak(true, 12)
	pdf.AliasNbPages("")
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	txt := func(x string) string {
		return tr(strings.NewReplacer("−", "-", "²", "^2", "√", "sqrt").Replace(x))
	}
	pdf.SetFooterFunc(func() {
		pdf.SetY(-10)
		pdf.SetFont("Helvetica", "", 7)
		pdf.CellFormat(0, 4, txt(fmt.Sprintf("%s %s - page %d of {nb}", s.Park, s.Month, pdf.PageNo())), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 14)
	pdf.CellFormat(0, 8, txt(fmt.Sprintf("Steam and power statement - %s - %s", s.Park, s.Month)), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 8)
	pdf.CellFormat(0, 5, txt(fmt.Sprintf("Period %s to %s (%s). Metered = closing - opening totaliser; cross-check tolerance %g of metered + 2 counts; uncertainties expanded (k = 2).",
		s.Start.Format("2006-01-02 15:04"), s.End.Format("2006-01-02 15:04"), s.Timezone, s.Tolerance)), "", 1, "L", false, 0, "")
	if s.Provisional {
		pdf.SetFont("Helvetica", "B", 8)
		pdf.CellFormat(0, 5, txt(fmt.Sprintf("PROVISIONAL: the month was not over when this statement was made; it covers the hours closed by then, to %s.",
			s.End.Format("2006-01-02 15:04"))), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 8)
	}
	pdf.Ln(2)

	cols := []struct {
		head string
		w    float64
	}{
		{"Row", 22}, {"Tenant", 12}, {"Meter", 22}, {"Opening", 25}, {"Closing", 25}, {"Metered", 24},
		{"Integrated", 20}, {"Check", 24}, {"Energy GJ", 20}, {"Loss GJ", 17}, {"Billed GJ", 20}, {"U GJ", 14}, {"Hours v/i/m", 22},
	}
	pdf.SetFont("Helvetica", "B", 7)
	pdf.SetFillColor(225, 225, 225)
	for _, c := range cols {
		pdf.CellFormat(c.w, 5, c.head, "1", 0, "C", true, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetFont("Helvetica", "", 7)
	num := func(v float64, d int) string { return fmt.Sprintf("%.*f", d, v) }
	for _, r := range s.Rows {
		open, closing := "", ""
		if r.Opening != nil {
			open, closing = r.Opening.Value+" "+r.ReadingUnit, r.Closing.Value+" "+r.ReadingUnit
		}
		metered := r.MeteredText
		if metered == "" {
			metered = num(r.Metered, 2)
		}
		check := ""
		if c := r.CrossCheck; c != nil {
			verdict := "ok"
			switch {
			case c.Hours == 0:
				verdict = "n/a"
			case !c.OK:
				verdict = "FAIL"
			}
			check = fmt.Sprintf("%s %+.3f", verdict, c.Difference)
		}
		energy, loss, billed, u := "", "", "", ""
		if r.Kind != RowTenantPower {
			energy, loss, billed, u = num(r.EnergyGJ, 2), num(r.LossShareGJ, 2), num(r.BilledEnergyGJ, 2), num(r.EnergyUncertaintyGJ, 1)
		}
		integrated := num(r.Integrated, 2)
		if r.Kind == RowNetworkLoss {
			integrated, billed, u = "", "", ""
		}
		cells := []string{r.Kind, r.Tenant, r.Device, open, closing, metered + " " + r.Unit, integrated, check, energy, loss, billed, u,
			fmt.Sprintf("%d/%d/%d", r.ValidHours, r.InvalidHours, r.MissingHours)}
		for i, c := range cols {
			align := "R"
			if i < 3 {
				align = "L"
			}
			pdf.CellFormat(c.w, 4.5, txt(cells[i]), "1", 0, align, false, 0, "")
		}
		pdf.Ln(-1)
	}

	b := s.Balance
	pdf.Ln(3)
	pdf.SetFont("Helvetica", "B", 9)
	pdf.CellFormat(0, 5, "Supplier versus tenants", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 8)
	alarm := "within the uncertainty"
	if b.Alarm {
		alarm = "ALARM: beyond the uncertainty"
	}
	for _, line := range []string{
		fmt.Sprintf("Mass: supplier %.2f t, tenants %.2f t, loss %.2f t (%.2f %%); expected loss %.2f t, unexplained %.3f t, uncertainty %.2f t: %s.",
			b.SupplierMassT, b.TenantsMassT, b.LossMassT, 100*b.LossFraction, b.ExpectedLossT, b.UnexplainedT, b.UncertaintyT, alarm),
		fmt.Sprintf("Energy above the contract reference: supplier %.2f GJ, tenants %.2f GJ, network loss %.2f GJ (%.2f %%), shared pro rata to the tenants' energy.",
			b.SupplierEnergyGJ, b.TenantsEnergyGJ, b.NetworkLossGJ, 100*b.NetworkLossFraction),
		fmt.Sprintf("Electricity to the tenants: %.4f MWh.", b.TenantsElectricMWh),
	} {
		pdf.MultiCell(0, 4.5, txt(line), "", "L", false)
	}

	pdf.Ln(2)
	pdf.SetFont("Helvetica", "B", 9)
	pdf.CellFormat(0, 5, "Hours without a valid value and how they were handled", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 7)
	for _, r := range s.Rows {
		if r.Kind == RowNetworkLoss {
			continue
		}
		line := fmt.Sprintf("%s %s: %s", r.Device, r.Kind, r.Handling)
		if len(r.Gaps) > 0 {
			var gs []string
			for _, g := range r.Gaps {
				gs = append(gs, g.Start.In(s.Start.Location()).Format("01-02 15:04")+" "+g.Status)
			}
			line += ". Hours: " + strings.Join(gs, ", ")
		}
		pdf.MultiCell(0, 3.8, txt(line), "", "L", false)
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("statement pdf: %w", err)
	}
	return pdf.Output(w)
}

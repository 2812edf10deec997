package statement

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Columns are the CSV statement's columns, in order. They are a stable
// interface for billing systems (docs/metrics.md, "Monthly statement"):
// columns are only ever added at the end.
var Columns = []string{
	"park", "month", "timezone", "period_start", "period_end",
	"row", "tenant", "device", "unit", "reading_unit",
	"opening_reading", "opening_time", "closing_reading", "closing_time",
	"metered", "metered_uncertainty", "integrated",
	"crosscheck_hours", "crosscheck_metered", "crosscheck_integrated", "crosscheck_difference", "crosscheck_allowed", "crosscheck_ok",
	"energy_gj", "substituted_energy_gj", "loss_share_gj", "billed_energy_gj", "energy_uncertainty_gj",
	"expected_hours", "valid_hours", "invalid_hours", "missing_hours", "handling",
	"provisional",
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// WriteCSV writes the statement with a header row, one row per Row.
// Numbers are written in the shortest form that reads back to the same
// float64; readings as exact decimals; times in RFC 3339 UTC.
func (s *Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for _, r := range s.Rows {
		rec := []string{
			s.Park, s.Month, s.Timezone, s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339),
			r.Kind, r.Tenant, r.Device, r.Unit, r.ReadingUnit,
		}
		for _, rd := range []*Reading{r.Opening, r.Closing} {
			if rd == nil {
				rec = append(rec, "", "")
			} else {
				rec = append(rec, rd.Value, rd.Time.UTC().Format(time.RFC3339Nano))
			}
		}
		metered := r.MeteredText
		if metered == "" {
			metered = ftoa(r.Metered)
		}
		rec = append(rec, metered, ftoa(r.MeteredUncertainty), ftoa(r.Integrated))
		if c := r.CrossCheck; c != nil {
			ok := strconv.FormatBool(c.OK)
			if c.Hours == 0 {
				ok = "" // nothing was checked: neither passed nor failed
			}
			rec = append(rec, strconv.Itoa(c.Hours), ftoa(c.Metered), ftoa(c.Integrated), ftoa(c.Difference), ftoa(c.Allowed), ok)
		} else {
			rec = append(rec, "", "", "", "", "", "")
		}
		rec = append(rec, ftoa(r.EnergyGJ), ftoa(r.SubstitutedEnergyGJ), ftoa(r.LossShareGJ), ftoa(r.BilledEnergyGJ), ftoa(r.EnergyUncertaintyGJ),
			strconv.Itoa(r.ExpectedHours), strconv.Itoa(r.ValidHours), strconv.Itoa(r.InvalidHours), strconv.Itoa(r.MissingHours), r.Handling,
			strconv.FormatBool(s.Provisional))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVRow is one row of a CSV statement read back.
type CSVRow struct {
	Kind, Tenant, Device, Unit            string
	Opening, Closing                      string // exact readings, "" for the loss row
	Metered, MeteredUncertainty           float64
	Integrated                            float64
	CrossCheckOK                          bool
	EnergyGJ, LossShareGJ, BilledEnergyGJ float64
	ExpectedHours, ValidHours             int
	InvalidHours, MissingHours            int
	Handling                              string
	Park, Month                           string
}

// ReadCSV reads a CSV statement as WriteCSV wrote it. An unknown or
// missing column, a malformed number or a row of another length is an
// error naming the line and column.
func ReadCSV(r io.Reader) ([]CSVRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(Columns)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("statement csv: header: %w", err)
	}
	for i, c := range Columns {
		if head[i] != c {
			return nil, fmt.Errorf("statement csv: line 1 column %d: %q, want %q", i+1, head[i], c)
		}
	}
	idx := columns(Columns)
	var out []CSVRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("statement csv: %w", err)
		}
		var perr error
		f := func(col string) float64 {
			s := rec[idx[col]]
			if s == "" || perr != nil {
				return 0
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				perr = fmt.Errorf("statement csv: line %d column %s: %q is not a number", line, col, s)
			}
			return v
		}
		n := func(col string) int {
			s := rec[idx[col]]
			if perr != nil {
				return 0
			}
			v, err := strconv.Atoi(s)
			if err != nil {
				perr = fmt.Errorf("statement csv: line %d column %s: %q is not an integer", line, col, s)
			}
			return v
		}
		row := CSVRow{
			Park: rec[idx["park"]], Month: rec[idx["month"]],
			Kind: rec[idx["row"]], Tenant: rec[idx["tenant"]], Device: rec[idx["device"]], Unit: rec[idx["unit"]],
			Opening: rec[idx["opening_reading"]], Closing: rec[idx["closing_reading"]],
			Metered: f("metered"), MeteredUncertainty: f("metered_uncertainty"), Integrated: f("integrated"),
			CrossCheckOK: strings.EqualFold(rec[idx["crosscheck_ok"]], "true"),
			EnergyGJ:     f("energy_gj"), LossShareGJ: f("loss_share_gj"), BilledEnergyGJ: f("billed_energy_gj"),
			ExpectedHours: n("expected_hours"), ValidHours: n("valid_hours"), InvalidHours: n("invalid_hours"), MissingHours: n("missing_hours"),
			Handling: rec[idx["handling"]],
		}
		if perr != nil {
			return nil, perr
		}
		switch row.Kind {
		case RowTenantSteam, RowTenantPower, RowSupplierSteam, RowNetworkLoss:
		default:
			return nil, fmt.Errorf("statement csv: line %d column row: unknown row kind %q", line, row.Kind)
		}
		out = append(out, row)
	}
}

package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/park"
)

// Report is what eipgw audit report renders (HTML, PDF, CSV): the stored
// hourly records of a range with the totals of baseline, project and
// reduction, the parameters and methodology they rest on, the data
// completeness, the invalid hours and the verification of the same range.
type Report struct {
	Park      string
	From, To  time.Time
	Generated time.Time
	// Records are the stored park_hourly records, by hour, metric and
	// entity.
	Records []HourRecord
	// Totals are the park-wide baseline, project and reduction sums of the
	// valid hours (Total.Metric), in that order.
	Totals []Total
	// Completeness is each device's verified polls per hour.
	Completeness []DeviceCompleteness
	// Verification is the audit of the range.
	Verification *Result
	// Engine is the park engine's configuration: parameters and sources.
	Engine *config.ParkEngine
}

// HourRecord is one stored park_hourly record.
type HourRecord struct {
	Hour           time.Time
	Metric, Entity string
	Value          float64
	HasValue       bool
	Flag, Reason   string
	Completeness   float64
	ValidMinutes   int64
	Samples        int64
}

// Total is the sum of a park-wide metric over the valid hours.
type Total struct {
	Metric     string
	Unit       string
	Sum        float64
	ValidHours int
	Hours      int
}

// DeviceCompleteness is a device's verified polls per hour of the range,
// and the most it had in one hour (the reference of its completeness).
type DeviceCompleteness struct {
	Device string
	Polls  []int // per hour of the range
	Max    int
}

// Share is polls in hour i as a share of the device's fullest hour.
func (d DeviceCompleteness) Share(i int) float64 {
	if d.Max == 0 {
		return 0
	}
	return float64(d.Polls[i]) / float64(d.Max)
}

// TotalMetrics are the park-wide metrics the report sums (docs/metrics.md,
// Reductions).
var TotalMetrics = []struct{ Name, Unit string }{
	{"baseline_co2_t", "t CO2"}, {"project_co2_t", "t CO2"}, {"reduction_co2_t", "t CO2"},
	{"baseline_so2_t", "t SO2"}, {"project_so2_t", "t SO2"}, {"reduction_so2_t", "t SO2"},
}

// Invalid returns the records that are not valid.
func (r *Report) Invalid() []HourRecord {
	var out []HourRecord
	for _, h := range r.Records {
		if h.Flag != string(park.Valid) {
			out = append(out, h)
		}
	}
	return out
}

// Hours is the number of hours of the range.
func (r *Report) Hours() int { return int(r.To.Sub(r.From) / time.Hour) }

// BuildReport verifies the range of o and reads its stored hourly records.
func BuildReport(ctx context.Context, s *Store, o Options) (*Report, error) {
	res, err := Verify(ctx, s, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{Park: o.Park, From: res.From.UTC(), To: res.To.UTC(), Generated: time.Now().UTC(), Verification: res, Engine: o.Engine}
	rows, err := s.rows(ctx, "SELECT * FROM "+quoteIdent(park.MeasurementHourly)+" WHERE "+window(o.Park, res.From, res.To))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		ms, err := r.millis()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", park.MeasurementHourly, err)
		}
		h := HourRecord{Hour: time.UnixMilli(ms).UTC(), Metric: r.str("metric"), Entity: entityOf(func(k string) string { return r.str(k) }),
			Flag: r.str("flag"), Reason: r.str("reason")}
		if v, ok := r.get("value"); ok {
			if h.Value, err = strconv.ParseFloat(text(v), 64); err != nil {
				return nil, fmt.Errorf("%s %s %s at %s: value %q: %w", park.MeasurementHourly, h.Metric, h.Entity, h.Hour.Format(time.RFC3339), text(v), err)
			}
			h.HasValue = true
		}
		h.Completeness, _ = strconv.ParseFloat(text(r.val("completeness")), 64)
		h.ValidMinutes, _ = strconv.ParseInt(text(r.val("valid_minutes")), 10, 64)
		h.Samples, _ = strconv.ParseInt(text(r.val("samples")), 10, 64)
		rep.Records = append(rep.Records, h)
	}
	sort.Slice(rep.Records, func(i, j int) bool {
		a, b := rep.Records[i], rep.Records[j]
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		return a.Entity < b.Entity
	})
	rep.Totals = totals(rep.Records)
	n := rep.Hours()
	for _, dev := range sortedDevices(res.Polls) {
		d := DeviceCompleteness{Device: dev, Polls: make([]int, n)}
		for i := range n {
			d.Polls[i] = res.Polls[dev][rep.From.Add(time.Duration(i)*time.Hour).UnixMilli()]
			d.Max = max(d.Max, d.Polls[i])
		}
		rep.Completeness = append(rep.Completeness, d)
	}
	return rep, nil
}

// totals sums the park-wide TotalMetrics over the valid records.
func totals(recs []HourRecord) []Total {
	out := make([]Total, len(TotalMetrics))
	idx := map[string]int{}
	for i, m := range TotalMetrics {
		out[i] = Total{Metric: m.Name, Unit: m.Unit}
		idx[m.Name] = i
	}
	for _, h := range recs {
		i, ok := idx[h.Metric]
		if !ok || h.Entity != "" {
			continue
		}
		out[i].Hours++
		if h.HasValue && h.Flag == string(park.Valid) {
			out[i].Sum += h.Value
			out[i].ValidHours++
		}
	}
	return out
}

func sortedDevices(m map[string]map[int64]int) []string {
	out := make([]string, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// CSVHeader is the first line of the report's CSV.
var CSVHeader = []string{"hour", "metric", "entity", "value", "flag", "reason", "completeness", "valid_minutes", "samples"}

// WriteCSV writes the hourly records, one per line, hours in RFC 3339
// UTC, values in their shortest round-trip form (empty when not valid).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, h := range r.Records {
		v := ""
		if h.HasValue {
			v = strconv.FormatFloat(h.Value, 'g', -1, 64)
		}
		if err := cw.Write([]string{h.Hour.Format(time.RFC3339), h.Metric, h.Entity, v, h.Flag, h.Reason,
			strconv.FormatFloat(h.Completeness, 'g', -1, 64), strconv.FormatInt(h.ValidMinutes, 10), strconv.FormatInt(h.Samples, 10)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Method is one line of the report's methodology: a metric, its formula
// and the primary sources (keys of docs/references.md).
type Method struct {
	Metric, Formula, Sources string
}

// Methodology is the formulas the totals rest on (docs/metrics.md,
// Emissions and Reductions).
var Methodology = []Method{
	{"baseline_co2_t (tenant)", "sum over the replaced boilers of C*L*3.6/eta(L)*EF/1000, L = min(P_i/sum C, 1), mean over the hour's samples", "IPCC 2006 Vol. 2; Decision 3/CMP.1; CDM AM0014, JCM TH_AM009 (structure)"},
	{"baseline_so2_t (tenant)", "sum over the replaced boilers of 2*S*C*L*3.6/eta(L)/NCV*k", "40 CFR 72 App. B; Decision 3/CMP.1"},
	{"baseline_co2_t (park)", "sum of the tenants' + EG*EF_grid (the CHP's electricity from the grid)", "Decision 3/CMP.1; CDM AM0014, JCM TH_AM009 (structure)"},
	{"project_co2_t", "sum over fuels of FC*NCV*EF/1000 (CHP and standby boilers; biogas EF 0)", "IPCC 2006 Vol. 2"},
	{"project_so2_t", "CHP stack by CEMS, C_SO2*Q_dry/1e6 (measured, not O2-normalised) + standby boilers from fuel sulphur 2*S*k", "HJ 75-2017; 40 CFR 72 App. B; CODATA 2018"},
	{"reduction_co2_t, reduction_so2_t", "baseline - project, per tenant and for the park", "Decision 3/CMP.1 (paragraph 59)"},
	{"CHP allocation a", "a = (Q_TH/Ref H eta)/(Q_TH/Ref H eta + W_E/Ref E eta), the references weighted by fuel", "Directive 2012/27/EU; Regulation (EU) 2015/2402"},
	{"validity of an hour", "fraction: valid minutes >= min_fraction*60; quadrants: a valid sample in each 15-minute quadrant", "40 CFR 60.13; HJ 75-2017"},
}

// Parameter is one configured parameter with its source.
type Parameter struct {
	Group, Name, Value, Source string
}

// Parameters are the configured emission factors, fuels, reference
// efficiencies and baseline boilers, each with the source configured.
func (r *Report) Parameters() []Parameter {
	p := r.Engine
	if p == nil {
		return nil
	}
	var out []Parameter
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, f := range p.Fuels {
		unit := "MJ/Nm3"
		if f.Basis == "mass" {
			unit = "MJ/kg"
		}
		out = append(out, Parameter{"fuel", f.Name + " NCV", g(f.NCV) + " " + unit, f.Source})
		out = append(out, Parameter{"fuel", f.Name + " CO2 factor", g(f.CO2Factor) + " kg/GJ", f.Source})
		switch {
		case f.SulfurFromBDS:
			out = append(out, Parameter{"fuel", f.Name + " sulphur", "from the BDS outlet H2S", f.Source})
		case f.SulfurMgPerNm3 > 0:
			out = append(out, Parameter{"fuel", f.Name + " sulphur", g(f.SulfurMgPerNm3) + " mg/Nm3", f.Source})
		default:
			out = append(out, Parameter{"fuel", f.Name + " sulphur", g(f.Sulfur) + " mass fraction", f.Source})
		}
		if f.RefElectrical > 0 || f.RefHeat > 0 {
			out = append(out, Parameter{"reference efficiency", f.Name, fmt.Sprintf("electrical %s, heat %s", g(f.RefElectrical), g(f.RefHeat)), f.RefSource})
		}
	}
	if b := p.Baseline; b != nil {
		out = append(out, Parameter{"baseline", "grid CO2 factor", g(b.GridCO2Factor) + " t/MWh", b.Source})
		for _, bo := range b.Boilers {
			eff := g(bo.Efficiency)
			if len(bo.EfficiencyCurve) > 0 {
				eff = "curve"
				for _, c := range bo.EfficiencyCurve {
					eff += fmt.Sprintf(" %s:%s", g(c.Load), g(c.Efficiency))
				}
			}
			v := fmt.Sprintf("tenant %s, %s, %s MW, efficiency %s", bo.Tenant, bo.Fuel, g(bo.Capacity), eff)
			if bo.Sulfur != nil {
				v += ", sulphur " + g(*bo.Sulfur)
			}
			out = append(out, Parameter{"baseline boiler", bo.Name, v, bo.Source})
		}
	}
	for i := range out {
		if out[i].Source == "" {
			out[i].Source = "(no source configured)"
		}
	}
	out = append(out, Parameter{"validity", "rule", fmt.Sprintf("%s (min_fraction %s)", p.Validity.Rule, g(p.Validity.MinFraction)), "park_engine.validity"})
	return out
}

// fmtNum formats a total for reading: 4 significant decimals at least.
func fmtNum(v float64) string {
	if v == 0 || math.Abs(v) >= 1 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

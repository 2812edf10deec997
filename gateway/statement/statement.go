// Package statement builds the utility's monthly statement of a park from
// what InfluxDB holds: the meters' totaliser readings (raw readings written
// by ingest) and the park engine's hourly records (park_hourly). Per tenant
// it gives the opening and closing totaliser readings of each meter, the
// metered quantity, the engine's integrated flow and its difference to the
// totaliser (a cross-check with a stated tolerance), the steam energy above
// the contract reference, the tenant's share of the network loss, the
// uncertainty, the hours with missing or invalid data and how they were
// handled; and the month's supplier-versus-tenants balance. The rules are in
// docs/metrics.md ("Monthly statement").
package statement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/calc/energy"
)

// DefaultTolerance is the default relative tolerance of the totaliser
// cross-check: 0.5 %, a fifth of the tenant steam meters' 2.5 % class in
// the reference park, so a larger disagreement between a meter's own
// counter and the integrated flow points to a fault, not to noise.
const DefaultTolerance = 0.005

// Lookback bounds how far before the month the opening reading is looked
// for.
const Lookback = 7 * 24 * time.Hour

// Row kinds.
const (
	RowTenantSteam   = "tenant_steam"
	RowTenantPower   = "tenant_power"
	RowSupplierSteam = "supplier_steam"
	RowNetworkLoss   = "network_loss"
)

// Totaliser describes the counter a meter kind carries, as its device
// profile defines it.
type Totaliser struct {
	Measurement string  // InfluxDB measurement: the device kind
	Point       string  // counter point
	Unit        string  // unit of the point, e.g. t or kWh
	Scale       float64 // engineering value per count, e.g. 0.01
	Bits        int     // counter width: a difference wraps modulo 2^Bits
	// ToBilled converts the point's unit to the statement's (kWh -> MWh).
	ToBilled    float64
	BilledUnit  string
	HourlyMass  string // park_hourly metric of the integrated quantity
	HourlyExtra string // park_hourly metric of the energy, "" for power
}

// Totalisers returns the steam and power meter counters of the built-in
// profiles (steam_meter mass_total, power_meter energy_import).
func Totalisers() (steam, power Totaliser, err error) {
	ps, err := modbus.Builtin()
	if err != nil {
		return steam, power, err
	}
	find := func(kind, point string) (Totaliser, error) {
		p, ok := ps[kind]
		if !ok {
			return Totaliser{}, fmt.Errorf("statement: no built-in profile %s", kind)
		}
		for _, pt := range p.Points {
			if pt.Name != point {
				continue
			}
			bits := 0
			switch pt.Type {
			case "uint16":
				bits = 16
			case "uint32":
				bits = 32
			case "uint64", "int64":
				bits = 64
			default:
				return Totaliser{}, fmt.Errorf("statement: profile %s point %s: type %s is not a counter", kind, point, pt.Type)
			}
			scale := 1.0
			if pt.Scale != nil {
				scale = *pt.Scale
			}
			return Totaliser{Measurement: kind, Point: point, Unit: pt.Unit, Scale: scale, Bits: bits}, nil
		}
		return Totaliser{}, fmt.Errorf("statement: profile %s has no point %s", kind, point)
	}
	if steam, err = find("steam_meter", "mass_total"); err != nil {
		return
	}
	if power, err = find("power_meter", "energy_import"); err != nil {
		return
	}
	if steam.Unit != "t" || power.Unit != "kWh" {
		return steam, power, fmt.Errorf("statement: totaliser units %s, %s; want t and kWh", steam.Unit, power.Unit)
	}
	steam.ToBilled, steam.BilledUnit, steam.HourlyMass, steam.HourlyExtra = 1, "t", "steam_mass_t", "steam_energy_gj"
	power.ToBilled, power.BilledUnit, power.HourlyMass = 0.001, "MWh", "electric_energy_mwh"
	return steam, power, nil
}

// Options are the statement's parameters.
type Options struct {
	// Month is the month's first day (any time in it); its bounds are taken
	// in the park engine's time zone.
	Month time.Time
	// Tenant, when set, keeps only that tenant's rows (the balance is still
	// the whole park's).
	Tenant string
	// Tolerance is the cross-check's relative tolerance (default
	// DefaultTolerance).
	Tolerance float64
	// ClosedBefore, when set, is a time by which the hours that ended
	// before it are closed (now less park_engine.grace). A month that
	// reaches past it is cut at its last closed hour and the statement is
	// provisional: the engine has not written the later hours' records,
	// and their readings are still arriving. A month with no closed hour
	// is ErrNothingClosed.
	ClosedBefore time.Time
}

// ErrNothingClosed is returned for a month none of whose hours is closed
// yet.
var ErrNothingClosed = errors.New("no hour of the month is closed yet")

// Reading is one totaliser reading.
type Reading struct {
	Counts uint64    `json:"counts"`
	Value  string    `json:"value"` // exact decimal in the totaliser's unit
	Time   time.Time `json:"time"`
}

// Reset is a totaliser going back by more than half its range, which no
// passing of its maximum explains: the meter was replaced or set back.
// The movement from Before's reading to After's is not billed (at most one
// poll of flow).
type Reset struct {
	Before Reading `json:"before"` // the last reading before it
	After  Reading `json:"after"`  // the first reading after it
}

// HourNote is an hour without a valid value.
type HourNote struct {
	Start  time.Time `json:"start"`
	Status string    `json:"status"` // invalid or missing
	Reason string    `json:"reason,omitempty"`
}

// CrossCheck compares the totaliser with the engine's integrated flow over
// the hours where both are known.
type CrossCheck struct {
	Hours      int     `json:"hours"`
	Metered    float64 `json:"metered"`    // totaliser over those hours
	Integrated float64 `json:"integrated"` // engine over those hours
	Difference float64 `json:"difference"` // integrated − metered
	Allowed    float64 `json:"allowed"`    // tolerance·metered + 2 counts
	OK         bool    `json:"ok"`         // false also when Hours is 0
	// Verdict is "ok", "fail", or "none" when no hour could be checked:
	// a meter with no checked hour has not failed.
	Verdict string `json:"verdict"`
}

// Cross-check verdicts.
const (
	VerdictOK   = "ok"
	VerdictFail = "fail"
	VerdictNone = "none"
)

// Row is one meter of the statement, or the network loss.
type Row struct {
	Kind        string   `json:"kind"`
	Tenant      string   `json:"tenant,omitempty"`
	Device      string   `json:"device,omitempty"`
	Unit        string   `json:"unit"` // of Metered and Integrated: t or MWh
	ReadingUnit string   `json:"reading_unit,omitempty"`
	Opening     *Reading `json:"opening,omitempty"`
	Closing     *Reading `json:"closing,omitempty"`
	// Metered is closing − opening: what the statement bills.
	Metered float64 `json:"metered"`
	// MeteredText is Metered as the exact decimal of the counts (empty
	// for the loss row).
	MeteredText string `json:"metered_text,omitempty"`
	// MeteredUncertainty is the expanded (k = 2) uncertainty of Metered
	// from the meter's configured relative uncertainty.
	MeteredUncertainty float64 `json:"metered_uncertainty"`
	// Integrated is the engine's integrated flow over the valid hours.
	Integrated float64     `json:"integrated"`
	CrossCheck *CrossCheck `json:"cross_check,omitempty"`
	// Steam energy above the contract reference, GJ (steam rows): the
	// valid hours' energy plus the substituted energy of the others.
	EnergyGJ            float64 `json:"energy_gj"`
	SubstitutedEnergyGJ float64 `json:"substituted_energy_gj"`
	LossShareGJ         float64 `json:"loss_share_gj"`
	BilledEnergyGJ      float64 `json:"billed_energy_gj"`
	EnergyUncertaintyGJ float64 `json:"energy_uncertainty_gj"`
	ExpectedHours       int     `json:"expected_hours"`
	ValidHours          int     `json:"valid_hours"`
	InvalidHours        int     `json:"invalid_hours"`
	MissingHours        int     `json:"missing_hours"`
	// Resets are the totaliser's resets in the period (a meter replaced
	// or set back): Metered sums the movement between them.
	Resets []Reset `json:"resets,omitempty"`
	// Handling says how hours without a valid value were treated.
	Handling string     `json:"handling"`
	Gaps     []HourNote `json:"gaps,omitempty"`
}

// Balance is the month's supplier-versus-tenants balance.
type Balance struct {
	SupplierMassT       float64 `json:"supplier_mass_t"`
	TenantsMassT        float64 `json:"tenants_mass_t"`
	LossMassT           float64 `json:"loss_mass_t"`
	LossFraction        float64 `json:"loss_fraction"`
	ExpectedLossT       float64 `json:"expected_loss_t"`
	UnexplainedT        float64 `json:"unexplained_t"`
	UncertaintyT        float64 `json:"uncertainty_t"`
	Alarm               bool    `json:"alarm"`
	SupplierEnergyGJ    float64 `json:"supplier_energy_gj"`
	TenantsEnergyGJ     float64 `json:"tenants_energy_gj"`
	NetworkLossGJ       float64 `json:"network_loss_gj"`
	NetworkLossFraction float64 `json:"network_loss_fraction"`
	TenantsElectricMWh  float64 `json:"tenants_electric_mwh"`
}

// Statement is one month of the park.
type Statement struct {
	Park     string    `json:"park"`
	Month    string    `json:"month"` // YYYY-MM
	Timezone string    `json:"timezone"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Provisional is set for a month not over when the statement was
	// made: End is then the end of its last closed hour, not the month's.
	Provisional bool `json:"provisional,omitempty"`
	// MonthEnd is the end of the month (End of a final statement).
	MonthEnd  time.Time `json:"month_end"`
	Tolerance float64   `json:"tolerance"`
	Rows      []Row     `json:"rows"`
	Balance   Balance   `json:"balance"`
}

// JSON returns the statement as indented JSON.
func (s *Statement) JSON() ([]byte, error) { return json.MarshalIndent(s, "", "  ") }

// ParseMonth parses YYYY-MM in loc.
func ParseMonth(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q: want YYYY-MM", s)
	}
	return t, nil
}

// hourly is one meter's hourly values of the month.
type hourly struct {
	mass map[int64]float64 // hour start (ms) -> value of valid hours
	bad  map[int64]string  // hour start -> "invalid: reason"
}

// Build reads the month from InfluxDB and computes the statement of park
// (the raw readings' park tag) with the park engine's configuration pe.
func Build(ctx context.Context, q Querier, park string, pe *config.ParkEngine, o Options) (*Statement, error) {
	loc := pe.Location
	if loc == nil {
		loc = time.UTC
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if !(o.Tolerance > 0 && o.Tolerance < 1) {
		return nil, fmt.Errorf("statement: tolerance %g: want a fraction between 0 and 1", o.Tolerance)
	}
	if o.Tenant != "" {
		found := false
		for _, t := range pe.Tenants {
			found = found || t.Name == o.Tenant
		}
		if !found {
			return nil, fmt.Errorf("statement: tenant %q is not in park_engine.tenants", o.Tenant)
		}
	}
	m := o.Month.In(loc)
	start := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 1, 0)
	if start.Truncate(time.Hour) != start || end.Truncate(time.Hour) != end {
		// The engine's hours are clock hours of UTC; a zone whose offset
		// is not whole hours would cut an hour at the month's bounds.
		return nil, fmt.Errorf("statement: time zone %s: the month %s does not start and end on a whole UTC hour", loc, start.Format("2006-01"))
	}
	monthEnd, provisional := end, false
	if !o.ClosedBefore.IsZero() {
		c := o.ClosedBefore.Truncate(time.Hour)
		if !c.After(start) {
			return nil, fmt.Errorf("statement: %s: %w (an hour is closed park_engine.grace after its end)", start.Format("2006-01"), ErrNothingClosed)
		}
		if c.Before(end) {
			end, provisional = c.In(loc), true
		}
	}
	steamT, powerT, err := Totalisers()
	if err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, q: q, park: park, start: start, end: end, tol: o.Tolerance, skip: map[config.DeviceRef]map[int64]bool{}}
	if err := b.loadHourly(); err != nil {
		return nil, err
	}
	st := &Statement{Park: park, Month: start.Format("2006-01"), Timezone: loc.String(), Start: start, End: end,
		Provisional: provisional, MonthEnd: monthEnd, Tolerance: o.Tolerance}

	sup, err := b.meterRow(RowSupplierSteam, "", config.DeviceRef{Device: pe.Supplier.Device, Gateway: pe.Supplier.Gateway}, pe.Supplier.Uncertainty, steamT, b.hours[hourKey{metric: "supplier_steam_mass_t"}], b.hours[hourKey{metric: "supplier_steam_energy_gj"}])
	if err != nil {
		return nil, err
	}
	var steamRows, powerRows []Row
	for _, t := range pe.Tenants {
		r, err := b.meterRow(RowTenantSteam, t.Name, t.SteamMeter.Ref(), t.SteamMeter.Uncertainty, steamT,
			b.hours[hourKey{metric: steamT.HourlyMass, tenant: t.Name}], b.hours[hourKey{metric: steamT.HourlyExtra, tenant: t.Name}])
		if err != nil {
			return nil, err
		}
		steamRows = append(steamRows, r)
		if t.PowerMeter != nil {
			r, err := b.meterRow(RowTenantPower, t.Name, t.PowerMeter.Ref(), t.PowerMeter.Uncertainty, powerT,
				b.hours[hourKey{metric: powerT.HourlyMass, tenant: t.Name}], nil)
			if err != nil {
				return nil, err
			}
			powerRows = append(powerRows, r)
		}
	}

	// Balance: mass from the totalisers, energy from the rows; the network
	// loss in energy is shared pro rata to the tenants' energy, so the
	// tenants' billed energy adds up to the supplier's.
	bal := &st.Balance
	bal.SupplierMassT, bal.SupplierEnergyGJ = sup.Metered, sup.EnergyGJ
	uSq := sq(sup.MeteredUncertainty)
	energies := make([]float64, len(steamRows))
	for i, r := range steamRows {
		bal.TenantsMassT += r.Metered
		bal.TenantsEnergyGJ += r.EnergyGJ
		uSq += sq(r.MeteredUncertainty)
		energies[i] = r.EnergyGJ
	}
	for _, r := range powerRows {
		bal.TenantsElectricMWh += r.Metered
	}
	bal.LossMassT = bal.SupplierMassT - bal.TenantsMassT
	bal.ExpectedLossT = pe.Balance.ExpectedLoss * bal.SupplierMassT
	bal.UnexplainedT = bal.LossMassT - bal.ExpectedLossT
	bal.UncertaintyT = math.Sqrt(uSq)
	bal.Alarm = math.Abs(bal.UnexplainedT) > bal.UncertaintyT
	bal.NetworkLossGJ = bal.SupplierEnergyGJ - bal.TenantsEnergyGJ
	if bal.SupplierMassT > 0 {
		bal.LossFraction = bal.LossMassT / bal.SupplierMassT
	}
	if bal.SupplierEnergyGJ > 0 {
		bal.NetworkLossFraction = bal.NetworkLossGJ / bal.SupplierEnergyGJ
	}
	if len(steamRows) > 0 && bal.TenantsEnergyGJ > 0 {
		shares, err := energy.AllocateLoss(bal.NetworkLossGJ, energies)
		if err != nil {
			return nil, fmt.Errorf("statement: loss allocation: %w", err)
		}
		for i := range steamRows {
			steamRows[i].LossShareGJ = shares[i]
			steamRows[i].BilledEnergyGJ = steamRows[i].EnergyGJ + shares[i]
		}
	}
	loss := Row{Kind: RowNetworkLoss, Unit: "t", Metered: bal.LossMassT, MeteredUncertainty: bal.UncertaintyT,
		EnergyGJ: bal.NetworkLossGJ, ExpectedHours: sup.ExpectedHours}
	loss.Handling = fmt.Sprintf("supplier minus tenants; expected %.3f t (%g of the supplier), unexplained %.3f t, uncertainty %.3f t (k=2): %s",
		bal.ExpectedLossT, pe.Balance.ExpectedLoss, bal.UnexplainedT, bal.UncertaintyT, map[bool]string{true: "alarm", false: "within uncertainty"}[bal.Alarm])

	st.Rows = append(st.Rows, sup)
	for i, t := range pe.Tenants {
		if o.Tenant != "" && t.Name != o.Tenant {
			continue
		}
		st.Rows = append(st.Rows, steamRows[i])
		for _, p := range powerRows {
			if p.Tenant == t.Name {
				st.Rows = append(st.Rows, p)
			}
		}
	}
	st.Rows = append(st.Rows, loss)
	return st, nil
}

func sq(x float64) float64 { return x * x }

// hoursText is "1 hour" or "n hours", after "the".
func hoursText(n int) string {
	if n == 1 {
		return "1 hour"
	}
	return fmt.Sprintf("%d hours", n)
}

type hourKey struct{ metric, tenant string }

type builder struct {
	ctx        context.Context
	q          Querier
	park       string
	start, end time.Time
	tol        float64
	// hours holds the park engine's hourly records by metric and tenant.
	hours map[hourKey]*hourly
	// skip are the times (Unix ms) of each meter's readings stored
	// flagged as not signed by their gateway: left out (counterHours).
	skip map[config.DeviceRef]map[int64]bool
}

// metrics read from park_hourly.
var hourlyMetrics = []string{"supplier_steam_mass_t", "supplier_steam_energy_gj", "steam_mass_t", "steam_energy_gj", "electric_energy_mwh"}

func (b *builder) loadHourly() error {
	q := fmt.Sprintf(`SELECT "value", "flag", "reason" FROM "park_hourly" WHERE "park" = %s AND "metric" =~ /^(%s)$/ AND time >= %s AND time < %s GROUP BY "metric", "tenant"`,
		quote(b.park), strings.Join(hourlyMetrics, "|"), rfc(b.start), rfc(b.end))
	ss, err := b.q.Query(b.ctx, q)
	if err != nil {
		return fmt.Errorf("statement: park_hourly of %s: %w", b.park, err)
	}
	b.hours = map[hourKey]*hourly{}
	for _, s := range ss {
		k := hourKey{metric: s.Tags["metric"], tenant: s.Tags["tenant"]}
		h := &hourly{mass: map[int64]float64{}, bad: map[int64]string{}}
		b.hours[k] = h
		col := columns(s.Columns)
		for _, v := range s.Values {
			ts, err := number(v[col["time"]])
			if err != nil {
				return fmt.Errorf("statement: park_hourly %s %s: time: %w", k.metric, k.tenant, err)
			}
			ms := int64(ts)
			flag, _ := v[col["flag"]].(string)
			if flag == "valid" {
				x, err := number(v[col["value"]])
				if err != nil {
					return fmt.Errorf("statement: park_hourly %s %s at %s: value: %w", k.metric, k.tenant, time.UnixMilli(ms).UTC().Format(time.RFC3339), err)
				}
				h.mass[ms] = x
				continue
			}
			reason, _ := v[col["reason"]].(string)
			if flag == "" {
				flag = "no flag"
			}
			h.bad[ms] = strings.TrimSpace(flag + ": " + reason)
		}
	}
	return nil
}

// counterHours returns the totaliser's last reading of each clock hour from
// the hour before the month to its last hour, and the opening reading (the
// last before the month, within Lookback; else the month's first).
func (b *builder) counterHours(m config.DeviceRef, tz Totaliser) (last map[int64]Reading, opening, closing *Reading, note string, err error) {
	where := b.meterWhere(m)
	q := fmt.Sprintf(`SELECT last(%s) FROM %s WHERE %s AND time >= %s AND time < %s GROUP BY time(1h) fill(none)`,
		ident(tz.Point), ident(tz.Measurement), where, rfc(b.start.Add(-time.Hour)), rfc(b.end))
	ss, err := b.q.Query(b.ctx, q)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("statement: %s %s: %w", m.Device, tz.Point, err)
	}
	last = map[int64]Reading{}
	for _, s := range ss {
		for _, v := range s.Values {
			// With GROUP BY time, the row's time is the bucket's start; the
			// reading's own time is not returned, so take it from a
			// separate query only for the opening and closing.
			ts, err := number(v[0])
			if err != nil {
				return nil, nil, nil, "", fmt.Errorf("statement: %s %s: time: %w", m.Device, tz.Point, err)
			}
			r, err := tz.reading(v[1], time.UnixMilli(int64(ts)))
			if err != nil {
				return nil, nil, nil, "", fmt.Errorf("statement: %s %s in the hour of %s: %w", m.Device, tz.Point, time.UnixMilli(int64(ts)).UTC().Format(time.RFC3339), err)
			}
			last[int64(ts)] = r
		}
	}
	one := func(fn string, from, to time.Time) (*Reading, error) {
		q := fmt.Sprintf(`SELECT %s(%s) FROM %s WHERE %s AND time >= %s AND time < %s`, fn, ident(tz.Point), ident(tz.Measurement), where, rfc(from), rfc(to))
		ss, err := b.q.Query(b.ctx, q)
		if err != nil {
			return nil, fmt.Errorf("statement: %s %s: %w", m.Device, tz.Point, err)
		}
		if len(ss) == 0 || len(ss[0].Values) == 0 {
			return nil, nil
		}
		v := ss[0].Values[0]
		ts, err := number(v[0])
		if err != nil {
			return nil, fmt.Errorf("statement: %s %s: time: %w", m.Device, tz.Point, err)
		}
		r, err := tz.reading(v[1], time.UnixMilli(int64(ts)))
		if err != nil {
			return nil, fmt.Errorf("statement: %s %s at %s: %w", m.Device, tz.Point, time.UnixMilli(int64(ts)).UTC().Format(time.RFC3339), err)
		}
		return &r, nil
	}
	if opening, err = one("last", b.start.Add(-Lookback), b.start); err != nil {
		return
	}
	if opening == nil {
		if opening, err = one("first", b.start, b.end); err != nil {
			return
		}
		note = "no reading before the month: opening is the month's first reading"
	}
	if closing, err = one("last", b.start, b.end); err != nil {
		return
	}
	if opening == nil || closing == nil {
		return nil, nil, nil, "", fmt.Errorf("statement: %s: no %s reading in %s (measurement %s, park %s)", m.Device, tz.Point, b.start.Format("2006-01"), tz.Measurement, b.park)
	}
	// Readings ingest stored flagged as not signed by their gateway
	// (anyone who can publish could have sent them) are left out: the
	// hours, opening and closing they would decide are read again
	// without them.
	flagged, err := b.flagged(m, tz)
	if err != nil || len(flagged) == 0 {
		return last, opening, closing, note, err
	}
	b.skip[m] = flagged
	hours := map[int64]bool{}
	for ms := range flagged {
		hours[time.UnixMilli(ms).Truncate(time.Hour).UnixMilli()] = true
	}
	for h := range hours {
		rs, err := b.readings(m, tz, time.UnixMilli(h), time.UnixMilli(h).Add(time.Hour), true, 1)
		if err != nil {
			return nil, nil, nil, "", err
		}
		if _, ok := last[h]; ok {
			delete(last, h)
			if len(rs) > 0 {
				last[h] = rs[0]
			}
		}
	}
	reread := func(r *Reading, from, to time.Time, desc bool) (*Reading, error) {
		if !flagged[r.Time.UnixMilli()] {
			return r, nil
		}
		rs, err := b.readings(m, tz, from, to, desc, 1)
		if err != nil || len(rs) == 0 {
			return nil, err
		}
		return &rs[0], nil
	}
	if opening, err = reread(opening, b.start.Add(-Lookback), b.start, true); err == nil && opening == nil {
		opening, err = reread(&Reading{Time: b.start.Add(-time.Millisecond)}, b.start, b.end, false)
	}
	if err != nil {
		return nil, nil, nil, "", err
	}
	if closing, err = reread(closing, b.start, b.end, true); err != nil {
		return nil, nil, nil, "", err
	}
	if opening == nil || closing == nil {
		return nil, nil, nil, "", fmt.Errorf("statement: %s: no %s reading in %s but those stored flagged as not signed by their gateway (measurement %s, park %s)", m.Device, tz.Point, b.start.Format("2006-01"), tz.Measurement, b.park)
	}
	if note != "" {
		note += "; "
	}
	note += fmt.Sprintf("%d readings stored flagged as not signed by the gateway left out", len(flagged))
	return last, opening, closing, note, nil
}

// flaggedChecks selects the readings ingest stored flagged as not signed
// by their gateway: batch_check set, and none of the checks that leave a
// reading trusted (docs/contracts.md, "At ingest").
const flaggedChecks = `"` + config.CheckField + `" =~ /./ AND "` + config.CheckField + `" !~ /^(ok|fork|chain_restart)$/`

// flagged returns the times (Unix ms) of the meter's readings stored
// flagged, from the opening's look-back to the month's end.
func (b *builder) flagged(m config.DeviceRef, tz Totaliser) (map[int64]bool, error) {
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND %s AND time >= %s AND time < %s`,
		ident(tz.Point), ident(tz.Measurement), b.meterWhere(m), flaggedChecks, rfc(b.start.Add(-Lookback)), rfc(b.end))
	ss, err := b.q.Query(b.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("statement: %s %s: flagged readings: %w", m.Device, tz.Point, err)
	}
	out := map[int64]bool{}
	for _, s := range ss {
		for _, v := range s.Values {
			if ts, err := number(v[0]); err == nil {
				out[int64(ts)] = true
			}
		}
	}
	return out, nil
}

// readings reads the meter's readings from `from` to `to` (newest first
// when desc), at most limit (0: all), leaving out those stored flagged.
func (b *builder) readings(m config.DeviceRef, tz Totaliser, from, to time.Time, desc bool, limit int) ([]Reading, error) {
	order := ""
	if desc {
		order = " ORDER BY time DESC"
	}
	skip := b.skip[m]
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND time >= %s AND time < %s%s`,
		ident(tz.Point), ident(tz.Measurement), b.meterWhere(m), rfc(from), rfc(to), order)
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit+len(skip))
	}
	ss, err := b.q.Query(b.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("statement: %s %s: %w", m.Device, tz.Point, err)
	}
	var out []Reading
	for _, s := range ss {
		for _, v := range s.Values {
			if len(v) < 2 || v[1] == nil {
				continue
			}
			ts, err := number(v[0])
			if err != nil {
				return nil, fmt.Errorf("statement: %s %s: time: %w", m.Device, tz.Point, err)
			}
			if skip[int64(ts)] {
				continue
			}
			r, err := tz.reading(v[1], time.UnixMilli(int64(ts)))
			if err != nil {
				return nil, fmt.Errorf("statement: %s %s at %s: %w", m.Device, tz.Point, time.UnixMilli(int64(ts)).UTC().Format(time.RFC3339), err)
			}
			out = append(out, r)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// reading converts a stored totaliser value to counts. The value is
// counts × scale as ingest stored it (a float field for a scaled counter,
// an integer field for an unscaled one); a value that is not a whole
// number of counts is an error.
func (tz Totaliser) reading(v any, t time.Time) (Reading, error) {
	n, ok := v.(json.Number)
	if !ok {
		return Reading{}, fmt.Errorf("value %v is not a number", v)
	}
	var counts uint64
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil && tz.Scale == 1 {
		counts = u
	} else {
		f, err := n.Float64()
		if err != nil {
			return Reading{}, fmt.Errorf("value %s: %w", n, err)
		}
		c := math.Round(f / tz.Scale)
		if c < 0 || c >= math.Ldexp(1, tz.Bits) || math.Abs(f/tz.Scale-c) > 1e-6*math.Max(1, c) {
			return Reading{}, fmt.Errorf("value %s is not a count of %g %s", n, tz.Scale, tz.Unit)
		}
		counts = uint64(c)
	}
	return Reading{Counts: counts, Value: tz.format(counts), Time: t.UTC()}, nil
}

// decimals returns the number of decimals of the totaliser's scale and the
// integer it multiplies a count by at that many decimals (scale 0.01: 2, 1).
func (tz Totaliser) decimals() (int, uint64) {
	for d := 0; d <= 9; d++ {
		m := tz.Scale * math.Pow10(d)
		if r := math.Round(m); r >= 1 && math.Abs(m-r) < 1e-9*r {
			return d, uint64(r)
		}
	}
	return -1, 0
}

// format writes counts × scale as an exact decimal.
func (tz Totaliser) format(counts uint64) string { return tz.text(counts, 0, 1) }

// billedText writes counts × scale × ToBilled as an exact decimal
// (ToBilled a power of ten at most 1).
func (tz Totaliser) billedText(counts uint64) string {
	shift := int(math.Round(-math.Log10(tz.ToBilled)))
	if shift < 0 || math.Abs(math.Pow10(-shift)-tz.ToBilled) > 1e-12 {
		return strconv.FormatFloat(float64(counts)*tz.Scale*tz.ToBilled, 'g', -1, 64)
	}
	return tz.text(counts, shift, tz.ToBilled)
}

// text writes counts × scale / 10^shift as an exact decimal; f is
// 10^-shift, for the fallback of a scale that is no decimal fraction.
func (tz Totaliser) text(counts uint64, shift int, f float64) string {
	d, m := tz.decimals()
	if d < 0 {
		return strconv.FormatFloat(float64(counts)*tz.Scale*f, 'g', -1, 64)
	}
	d += shift
	s := strconv.FormatUint(counts*m, 10)
	if d == 0 {
		return s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// reset reports whether the counter going from a to b is a reset rather
// than a pass of its maximum: back by more than half its range.
func (tz Totaliser) reset(a, b uint64) bool {
	if b >= a {
		return false
	}
	d, _ := tz.diff(a, b)
	return tz.Bits < 64 && d >= uint64(1)<<(tz.Bits-1) || tz.Bits >= 64 && d >= 1<<63
}

// resets finds the totaliser's resets between opening and closing: an
// hour whose last reading is a reset from the hour before's (or from the
// opening) is read whole to find the two readings around it.
func (b *builder) resets(m config.DeviceRef, tz Totaliser, last map[int64]Reading, opening, closing *Reading) ([]Reset, error) {
	dips, err := b.dips(m, tz, opening)
	if err != nil {
		return nil, err
	}
	hours := make([]int64, 0, len(last))
	for ms := range last {
		if ms >= b.start.UnixMilli() {
			hours = append(hours, ms)
		}
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i] < hours[j] })
	var out []Reset
	prev := *opening
	for _, ms := range hours {
		cur := last[ms]
		across := tz.reset(prev.Counts, cur.Counts)
		if !across && !dips[ms] {
			prev = cur
			continue
		}
		from := time.UnixMilli(ms)
		if opening.Time.After(from) {
			from = opening.Time
		}
		rs, err := b.resetIn(m, tz, prev, from, time.UnixMilli(ms).Add(time.Hour))
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 && across {
			// Not found among the hour's readings (read while they
			// change): placed between the two hourly readings.
			rs = []Reset{{Before: prev, After: cur}}
		}
		out = append(out, rs...)
		prev = cur
	}
	if len(out) == 0 && tz.reset(opening.Counts, closing.Counts) {
		// Without hourly readings to place it (a fake or sparse store),
		// the reset lies between the opening and the closing.
		out = append(out, Reset{Before: *opening, After: *closing})
	}
	return out, nil
}

// dips returns the hours (bucket starts, Unix ms) of the month in which
// the totaliser's reading fell from one reading to the next: a reset, a
// pass of its maximum, or a set-back too small to show between the
// hours' last readings (10 t set back in an hour that metered 50 t still
// reads 40 t higher at its end, and 10 t would go unbilled). One query a
// meter and month, computed by InfluxDB; resets reads those hours whole.
func (b *builder) dips(m config.DeviceRef, tz Totaliser, opening *Reading) (map[int64]bool, error) {
	q := fmt.Sprintf(`SELECT min("step") FROM (SELECT difference(%s) AS "step" FROM %s WHERE %s AND time >= %s AND time < %s) WHERE time >= %s AND time < %s GROUP BY time(1h) fill(none)`,
		ident(tz.Point), ident(tz.Measurement), b.meterWhere(m), rfc(opening.Time), rfc(b.end), rfc(b.start), rfc(b.end))
	ss, err := b.q.Query(b.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("statement: %s %s: steps: %w", m.Device, tz.Point, err)
	}
	out := map[int64]bool{}
	for _, s := range ss {
		for _, v := range s.Values {
			if len(v) < 2 || v[1] == nil {
				continue
			}
			ts, err := number(v[0])
			if err != nil {
				return nil, fmt.Errorf("statement: %s %s: time: %w", m.Device, tz.Point, err)
			}
			if step, err := number(v[1]); err == nil && step < 0 {
				out[int64(ts)] = true
			}
		}
	}
	return out, nil
}

// resetIn reads the totaliser from `from` to `to`, starting from the
// reading prev, and returns the resets among its readings.
func (b *builder) resetIn(m config.DeviceRef, tz Totaliser, prev Reading, from, to time.Time) ([]Reset, error) {
	rs, err := b.readings(m, tz, from, to, false, 0)
	if err != nil {
		return nil, err
	}
	var out []Reset
	for _, cur := range rs {
		if tz.reset(prev.Counts, cur.Counts) {
			out = append(out, Reset{Before: prev, After: cur})
		}
		prev = cur
	}
	return out, nil
}

// diff returns closing − opening in counts, modulo the counter's width.
func (tz Totaliser) diff(a, b uint64) (uint64, bool) {
	if b >= a {
		return b - a, false
	}
	if tz.Bits >= 64 {
		return b - a, true // wraps by unsigned arithmetic
	}
	return b + (uint64(1) << tz.Bits) - a, true
}

// meterRow builds one meter's row from its totaliser and the engine's
// hourly values of its integrated quantity (and energy, for steam).
func (b *builder) meterRow(kind, tenant string, m config.DeviceRef, unc float64, tz Totaliser, mass, en *hourly) (Row, error) {
	r := Row{Kind: kind, Tenant: tenant, Device: m.Device, Unit: tz.BilledUnit, ReadingUnit: tz.Unit}
	last, opening, closing, note, err := b.counterHours(m, tz)
	if err != nil {
		return r, err
	}
	r.Opening, r.Closing = opening, closing
	resets, err := b.resets(m, tz, last, opening, closing)
	if err != nil {
		return r, err
	}
	r.Resets = resets
	resetAt := map[int64][]Reset{} // by the hour of the reading after each
	for _, rs := range resets {
		h := rs.After.Time.Truncate(time.Hour).UnixMilli()
		resetAt[h] = append(resetAt[h], rs)
	}
	// The movement from the opening to the closing, in segments between
	// resets, each taken modulo the counter's width.
	var dc uint64
	wrapped := false
	from := opening.Counts
	for _, rs := range resets {
		d, w := tz.diff(from, rs.Before.Counts)
		dc, wrapped, from = dc+d, wrapped || w, rs.After.Counts
	}
	d, w := tz.diff(from, closing.Counts)
	dc, wrapped = dc+d, wrapped || w
	r.Metered = float64(dc) * tz.Scale * tz.ToBilled
	r.MeteredText = tz.billedText(dc)
	r.MeteredUncertainty = unc * r.Metered
	var notes []string
	if note != "" {
		notes = append(notes, note)
	}
	if wrapped {
		notes = append(notes, fmt.Sprintf("totaliser passed its maximum: difference taken modulo 2^%d counts", tz.Bits))
	}
	for _, rs := range resets {
		notes = append(notes, fmt.Sprintf("totaliser reset (meter replaced or set back) between %s at %s and %s at %s: the movement before and after it is billed, not the flow between those two readings",
			rs.Before.Value, rs.Before.Time.Format(time.RFC3339), rs.After.Value, rs.After.Time.Format(time.RFC3339)))
	}
	if mass == nil {
		mass = &hourly{mass: map[int64]float64{}, bad: map[int64]string{}}
	}

	// Hours of the month: valid when the engine's quantity (and energy)
	// are valid; the others are invalid (a record that is not valid) or
	// missing (no record).
	var eValid, mValid, mValidTot float64
	cc := &CrossCheck{}
	for h := b.start; h.Before(b.end); h = h.Add(time.Hour) {
		ms := h.UnixMilli()
		r.ExpectedHours++
		mv, okM := mass.mass[ms]
		var ev float64
		okE := true
		reason := mass.bad[ms]
		if en != nil {
			ev, okE = en.mass[ms]
			if reason == "" {
				reason = en.bad[ms]
			}
		}
		if !okM || !okE {
			status := "missing"
			if reason != "" {
				status = "invalid"
				r.InvalidHours++
			} else {
				r.MissingHours++
			}
			r.Gaps = append(r.Gaps, HourNote{Start: h.UTC(), Status: status, Reason: reason})
			continue
		}
		r.ValidHours++
		mValid += mv
		eValid += ev
		cur, okC := last[ms]
		prev, okP := last[h.Add(-time.Hour).UnixMilli()]
		if rs := resetAt[ms]; len(rs) > 0 && okC && okP {
			// A reset within the hour: its movement is the counter's
			// before and after it, as billed (the flow between the two
			// readings around it is not known); the hour is left out of
			// the cross-check.
			from, moved := prev.Counts, uint64(0)
			for _, r := range rs {
				d, _ := tz.diff(from, r.Before.Counts)
				moved, from = moved+d, r.After.Counts
			}
			d, _ := tz.diff(from, cur.Counts)
			mValidTot += float64(moved+d) * tz.Scale * tz.ToBilled
		} else if len(rs) > 0 || okC && okP && tz.reset(prev.Counts, cur.Counts) {
			// The hour's movement is not the counter's difference; it is
			// left out of the cross-check.
			mValidTot += mv
		} else if okC && okP {
			d, _ := tz.diff(prev.Counts, cur.Counts)
			dm := float64(d) * tz.Scale * tz.ToBilled
			cc.Hours++
			cc.Metered += dm
			cc.Integrated += mv
			mValidTot += dm
		} else if okC && !opening.Time.Before(h) && opening.Time.Before(h.Add(time.Hour)) && !tz.reset(opening.Counts, cur.Counts) {
			// The meter's first reading lies within the hour (its data
			// begins mid-hour): the totaliser counted from there, while
			// the engine's value is the whole hour's. The totaliser's
			// own movement is the hour's part of the metered mass; the
			// hour is left out of the cross-check.
			d, _ := tz.diff(opening.Counts, cur.Counts)
			mValidTot += float64(d) * tz.Scale * tz.ToBilled
		} else {
			mValidTot += mv
		}
	}
	r.Integrated = mValid
	cc.Difference = cc.Integrated - cc.Metered
	cc.Allowed = b.tol*cc.Metered + 2*tz.Scale*tz.ToBilled
	cc.OK = cc.Hours > 0 && math.Abs(cc.Difference) <= cc.Allowed
	switch {
	case cc.Hours == 0:
		cc.Verdict = VerdictNone
	case cc.OK:
		cc.Verdict = VerdictOK
	default:
		cc.Verdict = VerdictFail
	}
	r.CrossCheck = cc

	gapHours := r.InvalidHours + r.MissingHours
	switch {
	case en == nil && gapHours == 0:
		r.Handling = "billed from the totaliser; every hour valid"
	case en == nil:
		r.Handling = fmt.Sprintf("billed from the totaliser, which counted through the %s without a valid value", hoursText(gapHours))
	case gapHours == 0:
		r.EnergyGJ = eValid
		r.Handling = "mass from the totaliser; energy integrated over every hour"
	case r.ValidHours == 0 || mValid <= 0:
		return r, fmt.Errorf("statement: %s %s: no valid hour with steam in %s, energy cannot be substituted", kind, m.Device, b.start.Format("2006-01"))
	default:
		// The totaliser's mass of the hours without a valid value, at the
		// month's mean specific energy of the valid hours.
		gapMass := r.Metered - mValidTot
		spec := eValid / mValid
		if gapMass < 0 && -gapMass > 2*tz.Scale*tz.ToBilled {
			// The valid hours' values (the engine's, where the totaliser's
			// hour could not be read) exceed the totaliser's movement:
			// nothing is left to the hours without a value. No negative
			// energy is substituted; the excess is stated.
			r.EnergyGJ = eValid
			r.Handling = fmt.Sprintf("mass from the totaliser; the %s without a valid value get no energy: the valid hours' values exceed the totaliser's movement by %.3f t", hoursText(gapHours), -gapMass)
			break
		}
		gapMass = max(gapMass, 0) // within the counter's resolution
		r.SubstitutedEnergyGJ = gapMass * spec
		r.EnergyGJ = eValid + r.SubstitutedEnergyGJ
		r.Handling = fmt.Sprintf("mass from the totaliser; energy of the %s without a valid value substituted: their totaliser mass %.3f t × the month's mean %.6f GJ/t of the valid hours", hoursText(gapHours), gapMass, spec)
	}
	if en != nil {
		r.BilledEnergyGJ = r.EnergyGJ
		r.EnergyUncertaintyGJ = unc * r.EnergyGJ
	}
	if len(notes) > 0 {
		r.Handling += "; " + strings.Join(notes, "; ")
	}
	sort.Slice(r.Gaps, func(i, j int) bool { return r.Gaps[i].Start.Before(r.Gaps[j].Start) })
	return r, nil
}

func columns(cs []string) map[string]int {
	m := make(map[string]int, len(cs))
	for i, c := range cs {
		m[c] = i
	}
	return m
}

func number(v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v is not a number", v)
	}
	return n.Float64()
}

// meterWhere selects a meter's readings: by park and device, and by its
// gateway when the configuration names one (a device name is unique per
// gateway only).
func (b *builder) meterWhere(m config.DeviceRef) string {
	w := fmt.Sprintf(`"park" = %s AND "device" = %s`, quote(b.park), quote(m.Device))
	if m.Gateway != "" {
		w += fmt.Sprintf(` AND "gateway" = %s`, quote(m.Gateway))
	}
	return w
}

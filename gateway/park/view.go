package park

import (
	"math"
	"math/bits"
	"sort"
	"sync"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// View is the park engine's state for the status page and its JSON API
// (GET /api/status): the energy flows of the latest live interval as the
// nodes and links of a Sankey diagram, the steam balance and its alarm,
// how valid the current hour is so far, and the tenant table. The engine
// is owned by the service's loop, which takes a snapshot every second;
// View returns the latest. Times are UTC; power in MW.
type View struct {
	Role         string        `json:"role"` // "park"
	Park         string        `json:"park"`
	Now          time.Time     `json:"now"`
	Subscription ConditionView `json:"subscription"`
	InfluxDB     ConditionView `json:"influxdb"`
	Counts       CountsView    `json:"counts"`
	// Live is the latest live interval (nil before the first closed).
	Live    *LiveView    `json:"live"`
	Flows   FlowsView    `json:"flows"`
	Balance BalanceView  `json:"balance"`
	Hour    HourView     `json:"hour"`
	Tenants []TenantView `json:"tenants"`
}

// ConditionView is one condition: whether it holds, what was seen, since
// when.
type ConditionView struct {
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

// CountsView counts what the service and its engine did since start.
type CountsView struct {
	Received       uint64 `json:"received"`
	Malformed      uint64 `json:"malformed"`
	Accepted       uint64 `json:"accepted"`
	UnknownDevice  uint64 `json:"unknown_device"`
	Late           uint64 `json:"late"`
	Duplicate      uint64 `json:"duplicate"`
	Future         uint64 `json:"future"`
	Unverified     uint64 `json:"unverified"`
	Excess         uint64 `json:"excess"`
	InvalidSamples uint64 `json:"invalid_samples"`
	Intervals      uint64 `json:"intervals"`
	Hours          uint64 `json:"hours"`
	Records        uint64 `json:"records"`
	WriteErrors    uint64 `json:"write_errors"`
	DeadLetters    uint64 `json:"dead_letters"`
	Dropped        uint64 `json:"dropped"`
	Published      uint64 `json:"published"`
}

// LiveView is one live interval with every metric computed for it.
type LiveView struct {
	Start   time.Time    `json:"start"`
	End     time.Time    `json:"end"`
	Metrics []MetricView `json:"metrics"`
}

// MetricView is one metric (docs/metrics.md): its value only when valid.
type MetricView struct {
	Name      string   `json:"name"`
	Unit      string   `json:"unit"`
	EntityKey string   `json:"entity_key,omitempty"`
	Entity    string   `json:"entity,omitempty"`
	Value     *float64 `json:"value,omitempty"`
	Flag      Flag     `json:"flag"`
	Reason    string   `json:"reason,omitempty"`
}

// FlowsView is the park's energy flows of the latest live interval: fuel
// into the CHP, its power, steam and losses, the standby boilers' steam,
// steam and power to the tenants, the network's loss and the cascades
// reusing a tenant's heat. Nodes are in columns from left (0: fuel) to
// right (4: cascades).
type FlowsView struct {
	Nodes []FlowNode `json:"nodes"`
	Links []FlowLink `json:"links"`
}

// FlowNode is one node of the diagram.
type FlowNode struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Kind   string `json:"kind"` // fuel, unit, carrier, tenant, loss, cascade, other
	Column int    `json:"column"`
}

// FlowLink is one flow in MW; Valid false (with its Reason) when its
// metric was not valid, and then MW is 0.
type FlowLink struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	MW     float64 `json:"mw"`
	Kind   string  `json:"kind"` // fuel, power, steam, loss, cascade
	Valid  bool    `json:"valid"`
	Metric string  `json:"metric"` // the metric (or the formula over metrics) it shows
	Reason string  `json:"reason,omitempty"`
	Alarm  bool    `json:"alarm,omitempty"` // the network loss while the balance alarm is raised
}

// BalanceView is the steam mass balance of the latest live interval:
// supplier against tenants, the loss and what the meters' uncertainty
// does not explain, and the alarm.
type BalanceView struct {
	Valid           bool    `json:"valid"`
	Reason          string  `json:"reason,omitempty"`
	Alarm           bool    `json:"alarm"`
	SupplierTH      float64 `json:"supplier_t_h"`
	TenantsTH       float64 `json:"tenants_t_h"`
	LossTH          float64 `json:"loss_t_h"`
	UnexplainedTH   float64 `json:"unexplained_t_h"`
	UncertaintyTH   float64 `json:"uncertainty_t_h"`
	LossFraction    float64 `json:"loss_fraction"`
	NetworkLossMW   float64 `json:"network_loss_mw"`
	ExpectedLossFrc float64 `json:"expected_loss_fraction"`
}

// HourView is the current clock hour so far: per input channel, the
// valid minutes against the validity rule and whether the hour can still
// be valid.
type HourView struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	ElapsedMinutes int       `json:"elapsed_minutes"`
	Rule           string    `json:"rule"` // fraction or quadrants
	// MinMinutes is the valid minutes the fraction rule needs.
	MinMinutes int           `json:"min_minutes,omitempty"`
	Counts     HourCounts    `json:"counts"`
	Channels   []ChannelHour `json:"channels"`
}

// HourCounts counts the channels by status: already valid, still able
// to become valid (pending), no longer able to (lost).
type HourCounts struct {
	Valid   int `json:"valid"`
	Pending int `json:"pending"`
	Lost    int `json:"lost"`
}

// ChannelHour is one input channel (device.quantity) over the hour so far.
type ChannelHour struct {
	Name         string         `json:"name"`
	Status       string         `json:"status"` // valid, pending, lost
	ValidMinutes int            `json:"valid_minutes"`
	Samples      int            `json:"samples"`
	Invalid      int            `json:"invalid_samples"`
	Reasons      map[string]int `json:"reasons,omitempty"`
}

// TenantView is one tenant's row: its live steam and power and its day
// so far.
type TenantView struct {
	Name   string `json:"name"`
	Header string `json:"header,omitempty"`
	// Steam mass flow (t/h), steam power above the contract reference
	// (MW) and electric power (MW, nil without a power meter) of the
	// latest live interval; nil when not valid.
	SteamTH    *float64 `json:"steam_t_h"`
	SteamMW    *float64 `json:"steam_mw"`
	ElectricMW *float64 `json:"electric_mw"`
	HasPower   bool     `json:"has_power_meter"`
	Reason     string   `json:"reason,omitempty"`
	// Today is the day's statement so far: the sums of its closed valid
	// hours (nil before the day's first hour closed).
	Today *DayView `json:"today"`
	// HourOK says whether every input of the tenant is valid or can still
	// become valid this hour.
	HourOK bool `json:"hour_ok"`
}

// DayView is a day's statement so far.
type DayView struct {
	SteamT      float64 `json:"steam_t"`
	SteamGJ     float64 `json:"steam_gj"`
	LossGJ      float64 `json:"loss_share_gj"`
	ElectricMWh float64 `json:"electric_mwh"`
	Hours       int     `json:"hours"`
	ValidHours  int     `json:"valid_hours"`
	// SteamValidHours are the hours the steam figures (and the loss
	// share) sum, ElectricValidHours those the electricity sums.
	SteamValidHours    int `json:"steam_valid_hours"`
	ElectricValidHours int `json:"electric_valid_hours"`
}

// viewState holds the latest snapshot; the service's loop writes it.
type viewState struct {
	mu   sync.Mutex
	snap View
	set  bool
	live *LiveView
}

// View returns the park's current state; safe while Run runs.
func (s *Service) View() View {
	s.view.mu.Lock()
	v, set := s.view.snap, s.view.set
	s.view.mu.Unlock()
	if !set {
		v = s.eng.emptyView(s.cfg.Park)
	}
	v.Now = s.clock().UTC()
	v.Subscription = condView(s.health.subscribed)
	v.InfluxDB = condView(s.health.influx)
	st := s.Stats()
	v.Counts.Received, v.Counts.Malformed, v.Counts.Records = st.Received, st.Malformed, st.Records
	v.Counts.WriteErrors, v.Counts.DeadLetters, v.Counts.Dropped, v.Counts.Published = st.WriteErrors, st.DeadLetters, st.Dropped, st.Published
	return v
}

// snapshot is called by the service's loop, the engine's owner, after
// each Advance: it keeps the newest live interval of o and takes the
// engine's state.
func (s *Service) snapshot(o Output) {
	if n := len(o.Live); n > 0 {
		iv := o.Live[n-1]
		lv := &LiveView{Start: iv.Start.UTC(), End: iv.End.UTC(), Metrics: make([]MetricView, len(iv.Metrics))}
		for i, m := range iv.Metrics {
			lv.Metrics[i] = metricView(m)
		}
		s.view.live = lv
	}
	v := s.eng.view(s.cfg.Park, s.view.live)
	s.view.mu.Lock()
	s.view.snap, s.view.set = v, true
	s.view.mu.Unlock()
}

func condView(c *telemetry.Condition) ConditionView {
	ok, detail, since := c.State()
	return ConditionView{OK: ok, Detail: detail, Since: since.UTC()}
}

func metricView(m Metric) MetricView {
	mv := MetricView{Name: m.Name, Unit: m.Unit, EntityKey: m.EntityKey, Entity: m.Entity, Flag: m.Flag, Reason: m.Reason}
	if m.Flag == Valid {
		v := m.Value
		mv.Value = &v
	}
	return mv
}

// emptyView is the view before the loop's first snapshot: the model
// without values.
func (e *Engine) emptyView(park string) View {
	return View{Role: "park", Park: park, Flows: FlowsView{Nodes: []FlowNode{}, Links: []FlowLink{}},
		Tenants: []TenantView{}, Hour: HourView{Channels: []ChannelHour{}}}
}

// view builds the engine's part of the view; only the engine's owner
// may call it.
func (e *Engine) view(park string, live *LiveView) View {
	v := e.emptyView(park)
	st := e.stats
	v.Counts = CountsView{Accepted: st.Batches[Accepted], UnknownDevice: st.Batches[Unknown], Late: st.Batches[Late],
		Duplicate: st.Batches[Duplicate], Future: st.Batches[Future], Unverified: st.Batches[Unverified], Excess: st.Batches[Excess], InvalidSamples: st.InvalidSamples,
		Intervals: st.Intervals, Hours: st.Hours}
	v.Live = live
	v.Hour = e.hourSoFar(e.clock())
	lookup := metricLookup{}
	if live != nil {
		for _, m := range live.Metrics {
			lookup[m.Name+"\x00"+m.Entity] = m
		}
	}
	v.Flows = e.flows(lookup)
	v.Balance = balanceView(lookup, e.p.cfg.Balance.ExpectedLoss)
	v.Tenants = e.tenantRows(lookup, v.Hour)
	return v
}

// metricLookup finds a live metric by name and entity.
type metricLookup map[string]MetricView

func (l metricLookup) get(name, entity string) (MetricView, bool) {
	m, ok := l[name+"\x00"+entity]
	return m, ok
}

// value returns a metric's value when it exists and is valid, else why
// not.
func (l metricLookup) value(name, entity string) (float64, string) {
	m, ok := l.get(name, entity)
	switch {
	case !ok:
		return 0, "no live interval yet"
	case m.Value == nil:
		if m.Reason == "" {
			return 0, string(m.Flag)
		}
		return 0, m.Reason
	}
	return *m.Value, ""
}

func (l metricLookup) ptr(name, entity string) *float64 {
	if v, why := l.value(name, entity); why == "" {
		return &v
	}
	return nil
}

func (e *Engine) flows(l metricLookup) FlowsView {
	p := e.p
	f := FlowsView{Nodes: []FlowNode{}, Links: []FlowLink{}}
	node := func(id, label, kind string, col int) {
		f.Nodes = append(f.Nodes, FlowNode{ID: id, Label: label, Kind: kind, Column: col})
	}
	link := func(from, to, kind, metric, entity string) (float64, bool) {
		v, why := l.value(metric, entity)
		fl := FlowLink{From: from, To: to, Kind: kind, Metric: metric, Valid: why == "", Reason: why}
		if fl.Valid {
			fl.MW = math.Max(v, 0)
		}
		f.Links = append(f.Links, fl)
		return v, fl.Valid
	}
	computed := func(from, to, kind, formula string, v float64, ok bool, why string) {
		fl := FlowLink{From: from, To: to, Kind: kind, Metric: formula, Valid: ok}
		if ok {
			fl.MW = math.Max(v, 0)
		} else {
			fl.Reason = why
		}
		f.Links = append(f.Links, fl)
	}
	node("steam", "Steam network", "carrier", 2)
	var chpElec float64
	chpElecOK := false
	if c := p.chp; c != nil {
		node("fuel", "Fuel", "fuel", 0)
		node("chp", "CHP "+c.name, "unit", 1)
		node("power", "Power", "carrier", 2)
		node("chp_loss", "CHP losses", "loss", 3)
		fuel, okF := link("fuel", "chp", "fuel", "chp_fuel_power_mw", "")
		chpElec, chpElecOK = link("chp", "power", "power", "chp_electric_power_mw", "")
		heat, okH := link("chp", "steam", "steam", "chp_heat_power_mw", "")
		computed("chp", "chp_loss", "loss", "chp_fuel_power_mw - chp_electric_power_mw - chp_heat_power_mw",
			fuel-chpElec-heat, okF && chpElecOK && okH, "needs valid fuel, electric and heat power")
	}
	for _, b := range p.boilers {
		id := "boiler:" + b.name
		node(id, "Boiler "+b.name, "unit", 1)
		link(id, "steam", "steam", "boiler_heat_power_mw", b.name)
	}
	tenantElec, tenantElecOK := 0.0, true
	for _, t := range p.tenants {
		id := "tenant:" + t.name
		node(id, t.name, "tenant", 3)
		link("steam", id, "steam", "steam_power_mw", t.name)
		if t.power != noChan && p.chp != nil {
			v, ok := link("power", id, "power", "electric_power_mw", t.name)
			tenantElec += v
			tenantElecOK = tenantElecOK && ok
		}
	}
	node("network_loss", "Network loss", "loss", 3)
	_, lossOK := l.value("network_loss_mw", "")
	alarm, _ := l.value("balance_alarm", "")
	link("steam", "network_loss", "loss", "network_loss_mw", "")
	if lossOK == "" && alarm == 1 {
		f.Links[len(f.Links)-1].Alarm = true
	}
	if p.chp != nil {
		// What the CHP makes beyond the tenants' meters goes to the grid
		// and other loads; what the tenants take beyond it comes from the
		// grid.
		ok := chpElecOK && tenantElecOK
		if !ok || chpElec >= tenantElec {
			node("grid", "Grid and other loads", "other", 3)
			computed("power", "grid", "power", "chp_electric_power_mw - Σ tenants' electric_power_mw",
				chpElec-tenantElec, ok, "needs valid CHP and tenant electric power")
		} else {
			node("grid", "Grid import", "other", 1)
			computed("grid", "power", "power", "Σ tenants' electric_power_mw - chp_electric_power_mw",
				tenantElec-chpElec, ok, "")
		}
	}
	for _, c := range p.cascades {
		id := "cascade:" + c.name
		node(id, p.tenants[c.to].name+" (reuse, "+c.name+")", "cascade", 4)
		link("tenant:"+p.tenants[c.from].name, id, "cascade", "cascade_heat_power_mw", c.name)
	}
	return f
}

func balanceView(l metricLookup, expected float64) BalanceView {
	b := BalanceView{ExpectedLossFrc: expected}
	alarm, why := l.value("balance_alarm", "")
	b.Valid, b.Reason, b.Alarm = why == "", why, alarm == 1
	b.TenantsTH, _ = l.value("balance_tenants_t_h", "")
	b.LossTH, _ = l.value("balance_loss_t_h", "")
	b.UnexplainedTH, _ = l.value("balance_unexplained_t_h", "")
	b.UncertaintyTH, _ = l.value("balance_uncertainty_t_h", "")
	b.LossFraction, _ = l.value("balance_loss_fraction", "")
	b.SupplierTH, _ = l.value("supplier_steam_mass_flow_t_h", "")
	b.NetworkLossMW, _ = l.value("network_loss_mw", "")
	return b
}

// hourSoFar judges the open hour of now against the hourly rule.
func (e *Engine) hourSoFar(now time.Time) HourView {
	start := now.Truncate(time.Hour)
	h := HourView{Start: start.UTC(), End: start.Add(time.Hour).UTC(), Channels: make([]ChannelHour, 0, len(e.p.names)),
		ElapsedMinutes: int(now.Sub(start) / time.Minute)}
	h.Rule = "fraction"
	if e.hourRule.quadrants {
		h.Rule = "quadrants"
	} else {
		h.MinMinutes = e.hourRule.minMinutes
	}
	w := e.hours[start.UnixNano()]
	for i, name := range e.p.names {
		var a acc
		if w != nil {
			a = w.ch[i]
		}
		c := ChannelHour{Name: name, ValidMinutes: bits.OnesCount64(a.minutes), Samples: a.n, Invalid: a.bad}
		if len(a.reasons) > 0 {
			c.Reasons = make(map[string]int, len(a.reasons))
			for k, n := range a.reasons {
				c.Reasons[k] = n
			}
		}
		c.Status = e.hourRule.outlook(a.minutes, h.ElapsedMinutes)
		switch c.Status {
		case "valid":
			h.Counts.Valid++
		case "pending":
			h.Counts.Pending++
		default:
			h.Counts.Lost++
		}
		h.Channels = append(h.Channels, c)
	}
	sort.SliceStable(h.Channels, func(i, j int) bool {
		return statusOrder[h.Channels[i].Status] < statusOrder[h.Channels[j].Status]
	})
	return h
}

// statusOrder lists the channels that need attention first.
var statusOrder = map[string]int{"lost": 0, "pending": 1, "valid": 2}

// outlook says whether a channel whose valid minutes so far are minutes,
// elapsed minutes into the hour, is already valid, can still become
// valid (pending) or cannot any more (lost).
func (r rule) outlook(minutes uint64, elapsed int) string {
	if r.quadrants {
		status := "valid"
		for q := range 4 {
			if minutes>>(15*q)&(1<<15-1) != 0 {
				continue
			}
			if elapsed >= 15*(q+1) {
				return "lost"
			}
			status = "pending"
		}
		return status
	}
	have := bits.OnesCount64(minutes)
	if have >= r.minMinutes {
		return "valid"
	}
	// The current minute and those after it may still bring a sample.
	if have+60-elapsed < r.minMinutes {
		return "lost"
	}
	return "pending"
}

func (e *Engine) tenantRows(l metricLookup, h HourView) []TenantView {
	status := map[string]string{}
	for _, c := range h.Channels {
		status[c.Name] = c.Status
	}
	day := e.clock().In(e.loc)
	dayStart := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, e.loc).UnixNano()
	rows := make([]TenantView, 0, len(e.p.tenants))
	for i, t := range e.p.tenants {
		r := TenantView{Name: t.name, Header: t.header, HasPower: t.power != noChan,
			SteamTH: l.ptr("steam_mass_flow_t_h", t.name), SteamMW: l.ptr("steam_power_mw", t.name), HourOK: true}
		if r.HasPower {
			r.ElectricMW = l.ptr("electric_power_mw", t.name)
		}
		if r.SteamMW == nil {
			_, r.Reason = l.value("steam_power_mw", t.name)
		}
		for _, ch := range []chanID{t.steam.mass, t.steam.power, t.power} {
			if ch != noChan && status[e.p.names[ch]] == "lost" {
				r.HourOK = false
			}
		}
		if s := e.stmts[stmtKey{period: "day", start: dayStart, tenant: i}]; s != nil {
			r.Today = &DayView{SteamT: s.SteamMass, SteamGJ: s.Steam, LossGJ: s.LossShare, ElectricMWh: s.Electric,
				Hours: s.Hours, ValidHours: s.ValidHours, SteamValidHours: s.SteamValidHours, ElectricValidHours: s.ElectricValidHours}
		}
		rows = append(rows, r)
	}
	return rows
}

// Package gen builds eipgw's Grafana dashboards from Go code with the
// Grafana Foundation SDK: plant operations, shared steam and power,
// emission reductions (InfluxDB, InfluxQL) and gateway health
// (Prometheus). The JSON it produces is committed under
// dashboards/provisioning/dashboards/eipgw; `make dashboards` writes it
// again and a test fails when the two differ.
package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Datasource uids, as provisioned by dashboards/provisioning/datasources.
const (
	InfluxUID     = "eipgw-influxdb"
	PrometheusUID = "eipgw-prometheus"
)

var (
	influxDS = common.DataSourceRef{Type: ptr("influxdb"), Uid: ptr(InfluxUID)}
	promDS   = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr(PrometheusUID)}
)

func ptr[T any](v T) *T { return &v }

// Dashboard is one generated dashboard.
type Dashboard struct {
	UID  string
	File string // file name under the dashboards directory
	JSON []byte // indented, ending with a newline
}

// All builds every dashboard, in a fixed order.
func All() ([]Dashboard, error) {
	builders := []struct {
		file string
		b    *dashboard.DashboardBuilder
	}{
		{"plant-operations.json", plantOperations()},
		{"shared-steam-power.json", sharedSteamPower()},
		{"emission-reductions.json", emissionReductions()},
		{"gateway-health.json", gatewayHealth()},
	}
	out := make([]Dashboard, 0, len(builders))
	for _, d := range builders {
		db, err := d.b.Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.file, err)
		}
		// Panel ids in reading order: Grafana's panel links and
		// viewPanel URLs use them.
		for i := range db.Panels {
			id := uint32(i + 1)
			if p := db.Panels[i].Panel; p != nil {
				p.Id = &id
			}
			if r := db.Panels[i].RowPanel; r != nil {
				r.Id = id
			}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(db); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.file, err)
		}
		out = append(out, Dashboard{UID: *db.Uid, File: d.file, JSON: buf.Bytes()})
	}
	return out, nil
}

// Write writes every dashboard into dir, removing JSON files of
// dashboards that no longer exist.
func Write(dir string) error {
	ds, err := All()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, d := range ds {
		keep[d.File] = true
		if err := os.WriteFile(filepath.Join(dir, d.File), d.JSON, 0o644); err != nil {
			return err
		}
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// newDashboard starts a dashboard with the settings all four share.
func newDashboard(uid, title, desc, from string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(desc).
		Tags([]string{"eipgw"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-"+from, "now").
		Refresh("1m").
		Timezone("browser").
		Link(dashboard.NewDashboardLinkBuilder("eipgw dashboards").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"eipgw"}).AsDropdown(true).KeepTime(true).IncludeVars(true))
}

// Template variables of the InfluxDB dashboards. Each selects from the tag
// values InfluxDB holds, narrowed by the variables before it. The raw
// filter names its keys as tags (::tag): a panel reading every
// measurement (FROM /.*/) also reads the evidence records of signing
// gateways, whose fields include device, and InfluxDB 1.8 would then take
// "device" for that field in every measurement and find no reading.
const (
	rawFilter  = `"park"::tag =~ /^$park$/ AND "site"::tag =~ /^$site$/ AND "gateway"::tag =~ /^$gateway$/ AND "device"::tag =~ /^$device$/`
	parkFilter = `"park" =~ /^$park$/`
)

func influxVariables(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	v := func(name, label, desc, query string) *dashboard.QueryVariableBuilder {
		return dashboard.NewQueryVariableBuilder(name).Label(label).Description(desc).
			Query(dashboard.StringOrMap{String: ptr(query)}).Definition(query).
			Datasource(influxDS).Multi(true).IncludeAll(true).
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: ptr("All")}, Value: dashboard.StringOrArrayOfString{String: ptr("$__all")}}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
	}
	return b.
		WithVariable(v("park", "Park", "Park id (the park key of the configuration).", `SHOW TAG VALUES WITH KEY = "park"`)).
		WithVariable(v("site", "Site", "Site of the edge gateways.", `SHOW TAG VALUES WITH KEY = "site" WHERE `+parkFilter)).
		WithVariable(v("gateway", "Gateway", "Edge gateway id.", `SHOW TAG VALUES WITH KEY = "gateway" WHERE `+parkFilter+` AND "site" =~ /^$site$/`)).
		WithVariable(v("device", "Device", "Device name of the edge configuration.", `SHOW TAG VALUES WITH KEY = "device" WHERE `+parkFilter+` AND "site" =~ /^$site$/ AND "gateway" =~ /^$gateway$/`)).
		WithVariable(v("tenant", "Tenant", "Tenant of the park (steam and power meters).", `SHOW TAG VALUES WITH KEY = "tenant" WHERE `+parkFilter))
}

// raw selects the mean of fields of a device kind per interval and device.
func raw(kind string, fields ...string) string {
	sel := make([]string, len(fields))
	for i, f := range fields {
		sel[i] = fmt.Sprintf(`mean(%q) AS %q`, f, f)
	}
	return fmt.Sprintf(`SELECT %s FROM %q WHERE %s AND $timeFilter GROUP BY time($__interval), "device" fill(none)`,
		strings.Join(sel, ", "), kind, rawFilter)
}

// metricMatch matches the "metric" tag against names.
func metricMatch(names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf(`"metric" = '%s'`, names[0])
	}
	return `"metric" =~ /^(` + strings.Join(names, "|") + `)$/`
}

// entityFilter narrows a derived record to the selected entity values.
func entityFilter(entity string) string {
	switch entity {
	case "tenant":
		return ` AND "tenant" =~ /^$tenant$/`
	case "device":
		return ` AND "device" =~ /^$device$/`
	}
	return ""
}

func groupBy(entity string) string {
	if entity == "" {
		return `"metric"`
	}
	return fmt.Sprintf(`"metric", %q`, entity)
}

func alias(entity string) string {
	if entity == "" {
		return "$tag_metric"
	}
	return "$tag_" + entity + " $tag_metric"
}

// live selects live park metrics (park_live), per interval.
func live(entity string, names ...string) string {
	return fmt.Sprintf(`SELECT mean("value") AS "value" FROM "park_live" WHERE %s AND %s%s AND $timeFilter GROUP BY time($__interval), %s fill(none)`,
		parkFilter, metricMatch(names), entityFilter(entity), groupBy(entity))
}

// hourly selects the valid values of hourly park records (park_hourly).
func hourly(entity string, names ...string) string {
	return fmt.Sprintf(`SELECT "value" FROM "park_hourly" WHERE %s AND %s%s AND "valid" = true AND $timeFilter GROUP BY %s`,
		parkFilter, metricMatch(names), entityFilter(entity), groupBy(entity))
}

// threshold is one step: from Value (nil: from minus infinity) the color.
type threshold struct {
	value *float64
	color string
}

func base(color string) threshold          { return threshold{nil, color} }
func at(v float64, color string) threshold { return threshold{&v, color} }

// panel is what the dashboards say about a panel; build turns it into the
// SDK's builder of the right visualisation.
type panel struct {
	viz        string // timeseries (default), stat, table
	title      string
	desc       string
	unit       string
	targets    []cog.Builder[variants.Dataquery]
	thresholds []threshold
	min, max   *float64
	timeFrom   string // overrides the dashboard's time range ("35d")
	w, h       uint32
	prom       bool
	columns    map[string]string // table column -> unit
	// band shades the area between two series (by display name): from
	// band[0] down to band[1].
	band *[2]string
}

func (p panel) build() cog.Builder[dashboard.Panel] {
	if p.w == 0 {
		p.w = 12
	}
	if p.h == 0 {
		p.h = 8
	}
	ds := influxDS
	if p.prom {
		ds = promDS
	}
	th := dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute)
	steps := []dashboard.Threshold{{Color: "green"}}
	if len(p.thresholds) > 0 {
		steps = steps[:0]
		for _, t := range p.thresholds {
			steps = append(steps, dashboard.Threshold{Value: t.value, Color: t.color})
		}
	}
	th.Steps(steps)
	switch p.viz {
	case "stat":
		b := stat.NewPanelBuilder().Title(p.title).Description(p.desc).Unit(p.unit).Datasource(ds).
			Targets(p.targets).Thresholds(th).Span(p.w).Height(p.h).
			ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeArea).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
		if p.min != nil {
			b.Min(*p.min)
		}
		if p.max != nil {
			b.Max(*p.max)
		}
		if p.timeFrom != "" {
			b.TimeFrom(p.timeFrom)
		}
		return b
	case "table":
		b := table.NewPanelBuilder().Title(p.title).Description(p.desc).Unit(p.unit).Datasource(ds).
			Targets(p.targets).Thresholds(th).Span(p.w).Height(p.h)
		cols := make([]string, 0, len(p.columns))
		for c := range p.columns {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		for _, c := range cols {
			b.OverrideByName(c, []dashboard.DynamicConfigValue{{Id: "unit", Value: p.columns[c]}})
		}
		if p.timeFrom != "" {
			b.TimeFrom(p.timeFrom)
		}
		return b
	}
	b := timeseries.NewPanelBuilder().Title(p.title).Description(p.desc).Unit(p.unit).Datasource(ds).
		Targets(p.targets).Thresholds(th).Span(p.w).Height(p.h).
		LineWidth(1).FillOpacity(10).SpanNulls(common.BoolOrFloat64{Bool: ptr(false)}).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).
			ShowLegend(true).Calcs([]string{"mean", "lastNotNull"}))
	if p.band != nil {
		b.OverrideByName(p.band[0], []dashboard.DynamicConfigValue{
			{Id: "custom.fillBelowTo", Value: p.band[1]}, {Id: "custom.fillOpacity", Value: 20}, {Id: "custom.lineWidth", Value: 0}, {Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "blue"}}})
		b.OverrideByName(p.band[1], []dashboard.DynamicConfigValue{
			{Id: "custom.lineWidth", Value: 0}, {Id: "custom.fillOpacity", Value: 0}, {Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "blue"}}})
	}
	if len(p.thresholds) > 0 {
		b.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	}
	if p.min != nil {
		b.Min(*p.min)
	}
	if p.max != nil {
		b.Max(*p.max)
	}
	if p.timeFrom != "" {
		b.TimeFrom(p.timeFrom)
	}
	return b
}

// row adds a collapsed-free row title and its panels.
func addRow(b *dashboard.DashboardBuilder, title string, panels ...panel) {
	b.WithRow(dashboard.NewRowBuilder(title))
	for _, p := range panels {
		b.WithPanel(p.build())
	}
}

// targets names the targets A, B, C... in order.
func targets(qs ...influxQuery) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		q.q.RefID = string(rune('A' + i))
		out[i] = q
	}
	return out
}

// Grafana unit ids used by the dashboards; the physical ones not built
// into Grafana are suffix units.
const (
	unitMW      = "suffix: MW"
	unitMWh     = "mwatth"
	unitGJ      = "suffix: GJ"
	unitTH      = "suffix: t/h"
	unitT       = "masst"
	unitKg      = "masskg"
	unitKgH     = "suffix: kg/h"
	unitNm3H    = "suffix: Nm³/h"
	unitMgNm3   = "suffix: mg/Nm³"
	unitPPM     = "ppm"
	unitPct     = "percent"
	unitRatio   = "percentunit"
	unitCelsius = "celsius"
	unitMPa     = "suffix: MPa"
	unitFlag    = "bool_yes_no"
	unitCount   = "short"
	unitSeconds = "s"
	unitBytes   = "bytes"
	unitPerSec  = "cps"
)

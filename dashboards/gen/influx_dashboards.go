package gen

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Stable dashboard uids: links and bookmarks rely on them.
const (
	UIDPlant     = "eipgw-plant-operations"
	UIDSteam     = "eipgw-shared-steam-power"
	UIDEmissions = "eipgw-emission-reductions"
	UIDHealth    = "eipgw-gateway-health"
)

// byDevice names raw series "<device> <field>".
const byDevice = "$tag_device $col"

func plantOperations() *dashboard.DashboardBuilder {
	b := influxVariables(newDashboard(UIDPlant, "eipgw · Plant operations",
		"For plant engineers: the CHP, standby boilers, BDS reactor and stack analyser as the edge gateways read them (raw readings in InfluxDB), "+
			"the park engine's live efficiencies, and the quality of every device's readings.", "6h"))
	addRow(b, "CHP",
		panel{title: "CHP electric power", unit: unitMW, desc: "Generator gross active power (chp electric_power), mean per interval.",
			targets: targets(influx("", raw("chp", "electric_power"), byDevice)), min: ptr(0.0)},
		panel{title: "CHP fuel flows", unit: unitNm3H, desc: "Natural gas and desulfurized biogas volume flows at normal conditions (ng_flow, biogas_flow).",
			targets: targets(influx("", raw("chp", "ng_flow", "biogas_flow"), byDevice)), min: ptr(0.0)},
		panel{title: "CHP live steam flow", unit: unitTH, desc: "HRSG live steam mass flow to the HP header (steam_flow).",
			targets: targets(influx("", raw("chp", "steam_flow"), byDevice)), min: ptr(0.0)},
		panel{title: "CHP steam and feedwater temperature", unit: unitCelsius, desc: "Live steam and HRSG feedwater temperatures.",
			targets: targets(influx("", raw("chp", "steam_temperature", "feedwater_temperature"), byDevice))},
		panel{title: "CHP fuel and heat power", unit: unitMW, desc: "Fuel power F = Σ flow·NCV and useful heat Q_TH above the contract reference (park engine, live; docs/metrics.md, CHP).",
			targets: targets(influx("", live("", "chp_fuel_power_mw", "chp_heat_power_mw", "chp_electric_power_mw"), alias(""))), min: ptr(0.0)},
		panel{title: "CHP efficiencies", unit: unitRatio, desc: "Electrical, thermal and overall efficiency (W_E/F, Q_TH/F, (W_E+Q_TH)/F). Dashed line: the overall-efficiency threshold 0.75 of Directive 2012/27/EU Annex I(a) (0.80 for combined cycles: set chp.overall_efficiency_threshold).",
			targets:    targets(influx("", live("", "chp_electrical_efficiency", "chp_thermal_efficiency", "chp_total_efficiency"), alias(""))),
			thresholds: []threshold{base("red"), at(0.75, "green")}, min: ptr(0.0), max: ptr(1.0)},
		panel{title: "CHP primary energy savings", unit: unitRatio, desc: "PES = 1 − 1/(η_th/Ref Hη + η_e/Ref Eη). High-efficiency cogeneration from 0.10 (Annex II(a)).",
			targets: targets(influx("", live("", "chp_pes"), alias(""))), thresholds: []threshold{base("red"), at(0.10, "green")}},
		panel{title: "CHP steam pressure", unit: unitMPa, desc: "Live steam pressure, absolute (steam_pressure).",
			targets: targets(influx("", raw("chp", "steam_pressure"), byDevice))},
	)
	addRow(b, "Standby boilers",
		panel{title: "Boiler steam flow", unit: unitTH, desc: "Standby oil boilers' steam mass flow; zero unless the CHP is down.",
			targets: targets(influx("", raw("boiler", "steam_flow"), byDevice)), min: ptr(0.0)},
		panel{title: "Boiler fuel flow", unit: unitKgH, desc: "Fuel oil mass flow of each boiler.",
			targets: targets(influx("", raw("boiler", "fuel_flow"), byDevice)), min: ptr(0.0)},
		panel{title: "Boiler efficiency (hourly, direct method)", unit: unitRatio, desc: "Heat output above the feedwater over fuel power, for each hour a boiler fired (n/a otherwise, so absent).",
			targets: targets(influx("", hourly("device", "boiler_efficiency"), "$tag_device")), min: ptr(0.0), max: ptr(1.0)},
		panel{title: "Standby boilers firing", unit: unitCount, desc: "Number of standby boilers firing (live).",
			targets: targets(influx("", live("", "standby_boilers"), alias(""))), thresholds: []threshold{base("green"), at(1, "orange")}, min: ptr(0.0)},
	)
	addRow(b, "BDS reactor",
		panel{title: "H2S at the reactor inlet and outlet", unit: unitPPM, desc: "Biogas H2S before and after biodesulfurization (inlet_h2s, outlet_h2s).",
			targets: targets(influx("", raw("bds", "inlet_h2s", "outlet_h2s"), byDevice)), min: ptr(0.0)},
		panel{title: "H2S removal efficiency", unit: unitPct, desc: "(C_in − C_out)/C_in·100 (park engine, live).",
			targets: targets(influx("", live("", "bds_removal_efficiency_pct"), alias(""))), thresholds: []threshold{base("red"), at(90, "green")}, max: ptr(100.0)},
		panel{title: "H2S removed", unit: unitKgH, desc: "Q·(C_in − C_out) as H2S mass flow (park engine, live).",
			targets: targets(influx("", live("", "bds_h2s_removed_kg_h"), alias(""))), min: ptr(0.0)},
		panel{title: "Bed: liquid pH", unit: "suffix: pH", desc: "Recirculation liquid pH of the reactor bed.",
			targets: targets(influx("", raw("bds", "ph"), byDevice))},
		panel{title: "Bed: liquid temperature", unit: unitCelsius, desc: "Reactor liquid temperature.",
			targets: targets(influx("", raw("bds", "temperature"), byDevice))},
		panel{title: "Bed: biogas and air flow", unit: unitNm3H, desc: "Biogas through the reactor and air dosing (gas_flow, air_flow).",
			targets: targets(influx("", raw("bds", "gas_flow", "air_flow"), byDevice)), min: ptr(0.0)},
	)
	addRow(b, "Stack analyser",
		panel{title: "SO2 (measured O2)", unit: unitMgNm3, desc: "SO2 concentration, dry, normal conditions, at the measured O2 (cems so2).",
			targets: targets(influx("", raw("cems", "so2"), byDevice)), min: ptr(0.0)},
		panel{title: "SO2 normalised to the reference O2", unit: unitMgNm3, desc: "C·(21 − O2,ref)/(21 − O2), for comparison with the permit limit (park engine, live). The dashed line at 35 mg/Nm³ is an example limit for gas turbines at 15 % O2: set your permit's.",
			targets: targets(influx("", live("", "so2_o2ref_mg_nm3"), alias(""))), thresholds: []threshold{base("green"), at(35, "red")}, min: ptr(0.0)},
		panel{title: "O2", unit: unitPct, desc: "Flue-gas O2 volume fraction, dry.",
			targets: targets(influx("", raw("cems", "o2"), byDevice)), min: ptr(0.0), max: ptr(21.0)},
		panel{title: "Flue-gas flow, dry", unit: unitNm3H, desc: "Dry flue-gas volume flow at normal conditions.",
			targets: targets(influx("", raw("cems", "flue_gas_flow_dry"), byDevice)), min: ptr(0.0)},
	)
	addRow(b, "Device quality",
		panel{title: "Readings not good, by device", unit: unitCount, desc: "Count of readings stored with a quality other than good (the <point>_q fields: timeout, comm_error, exception:<code>, out_of_range, stale, substituted) per device and interval. A device not answering shows every point here.",
			targets:    targets(influx("", `SELECT count(/_q$/) FROM /.*/ WHERE `+rawFilter+` AND $timeFilter GROUP BY time($__interval), "device" fill(none)`, byDevice)),
			thresholds: []threshold{base("green"), at(1, "red")}, min: ptr(0.0)},
		panel{title: "Batches stored, by device", unit: unitCount, desc: "Batches stored per device and interval: a device whose line drops to zero is not being polled or its batches are not arriving.",
			targets: targets(influx("", `SELECT count("batch_seq") AS "batches" FROM /.*/ WHERE `+rawFilter+` AND $timeFilter GROUP BY time($__interval), "device" fill(0)`, "$tag_device")), min: ptr(0.0)},
		panel{title: "Devices up (edge)", unit: unitFlag, prom: true, desc: "eipgw_edge_device_up: 1 when the device's last poll returned at least one good point (Prometheus, from each edge's /metrics).",
			targets:    promTargets(prom(`min by (device) (eipgw_edge_device_up{device=~"$device"})`, "{{device}}")),
			thresholds: []threshold{base("red"), at(1, "green")}, min: ptr(0.0), max: ptr(1.0), w: 24},
	)
	return b
}

func sharedSteamPower() *dashboard.DashboardBuilder {
	b := influxVariables(newDashboard(UIDSteam, "eipgw · Shared steam and power",
		"For the utility metering shared steam and power: per-tenant steam and power, the supplier-versus-tenants balance with its uncertainty and alarm, "+
			"network losses, cascade links, and daily and monthly tenant statements (park engine records in InfluxDB; formulas in docs/metrics.md).", "24h"))
	addRow(b, "Tenants",
		panel{title: "Steam power per tenant", unit: unitMW, desc: "Billing steam power above the contract reference state, ṁ·(h(p,T) − h_ref) (live).",
			targets: targets(influx("", live("tenant", "steam_power_mw"), "$tag_tenant")), min: ptr(0.0)},
		panel{title: "Electric power per tenant", unit: unitMW, desc: "Active power from each tenant's power meter (live).",
			targets: targets(influx("", live("tenant", "electric_power_mw"), "$tag_tenant")), min: ptr(0.0)},
		panel{title: "Steam energy per tenant, hourly", unit: unitGJ, desc: "Steam energy of each valid hour (park_hourly steam_energy_gj).",
			targets: targets(influx("", hourly("tenant", "steam_energy_gj"), "$tag_tenant")), min: ptr(0.0)},
		panel{title: "Electric energy per tenant, hourly", unit: unitMWh, desc: "Electric energy of each valid hour (park_hourly electric_energy_mwh).",
			targets: targets(influx("", hourly("tenant", "electric_energy_mwh"), "$tag_tenant")), min: ptr(0.0)},
	)
	addRow(b, "Supplier versus tenants",
		panel{title: "Supplier and tenants' steam mass flow", unit: unitTH, desc: "Supplier meter M_s against the sum of the tenants' meters Σ M_i (live).",
			targets: targets(influx("", live("", "supplier_steam_mass_flow_t_h", "balance_tenants_t_h"), alias(""))), min: ptr(0.0)},
		panel{title: "Unexplained imbalance within its uncertainty band", unit: unitTH, desc: "I − L_expected (the imbalance beyond the modelled loss) inside the band ±U, U = √(U_s² + Σ U_i²) the meters' combined expanded uncertainty. The alarm fires when the line leaves the band.",
			targets: targets(influx("", live("", "balance_unexplained_t_h"), alias("")),
				influx("", live("", "balance_uncertainty_t_h"), "+U"),
				influx("", strings.Replace(live("", "balance_uncertainty_t_h"), `mean("value")`, `mean("value") * -1`, 1), "−U")),
			band: &[2]string{"+U", "−U"}},
		panel{title: "Balance alarm", viz: "stat", unit: unitFlag, w: 6, desc: "1 when the unexplained imbalance exceeds the meters' combined uncertainty (a drifting or failed meter, a leak).",
			targets: targets(influx("", live("", "balance_alarm"), alias(""))), thresholds: []threshold{base("green"), at(1, "red")}},
		panel{title: "Network loss", viz: "stat", unit: unitRatio, w: 6, desc: "(E_s − Σ E_i)/E_s: supplier energy not delivered to tenants (live).",
			targets: targets(influx("", live("", "network_loss_fraction"), alias(""))), thresholds: []threshold{base("green"), at(0.05, "orange"), at(0.10, "red")}},
		panel{title: "Network loss power", unit: unitMW, desc: "E_s − Σ E_i on the energy basis (mass loss and pipe heat loss).",
			targets: targets(influx("", live("", "network_loss_mw"), alias("")))},
		panel{title: "Loss fractions", unit: unitRatio, desc: "Mass-basis loss I/M_s and energy-basis loss (E_s − Σ E_i)/E_s.",
			targets: targets(influx("", live("", "balance_loss_fraction", "network_loss_fraction"), alias("")))},
	)
	addRow(b, "Cascades",
		panel{title: "Heat reused per cascade link", unit: unitMW, desc: "Heat-meter power of each cascade link: energy one tenant's waste delivers to another (live).",
			targets: targets(influx("", live("link", "cascade_heat_power_mw"), "$tag_link")), min: ptr(0.0)},
		panel{title: "Reuse ratio and park cascade utilisation", unit: unitRatio, desc: "Per link: heat reused over the source tenant's steam energy; park: reused heat over all tenants' steam energy (live).",
			targets: targets(influx("", live("link", "cascade_reuse_ratio"), "$tag_link $tag_metric"), influx("", live("", "cascade_utilisation"), alias("")))},
	)
	stmt := func(period string) string {
		return fmt.Sprintf(`SELECT "steam_mass_t", "steam_energy_gj", "loss_share_gj", "electric_energy_mwh", "hours", "valid_hours", "steam_valid_hours", "electric_valid_hours", "expected_hours", "complete" FROM "park_statement" WHERE %s AND "period" = '%s' AND "tenant" =~ /^$tenant$/ AND $timeFilter GROUP BY "tenant"`, parkFilter, period)
	}
	cols := map[string]string{"steam_mass_t": unitT, "steam_energy_gj": unitGJ, "loss_share_gj": unitGJ, "electric_energy_mwh": unitMWh}
	addRow(b, "Statements",
		panel{title: "Daily tenant statements", viz: "table", unit: unitCount, timeFrom: "35d", w: 24, columns: cols,
			desc:    "Per tenant and day (park time zone): sums of the valid hours; hours closed, valid and expected; complete when every hour of the day was valid. Steam energy above the contract reference; loss share is the tenant's pro-rata share of the network loss.",
			targets: targets(influxTable("", stmt("day")))},
		panel{title: "Monthly tenant statements", viz: "table", unit: unitCount, timeFrom: "400d", w: 24, columns: cols,
			desc:    "Per tenant and month, as the daily statements. A month is complete only when all its hours were valid.",
			targets: targets(influxTable("", stmt("month")))},
	)
	return b
}

func emissionReductions() *dashboard.DashboardBuilder {
	b := influxVariables(newDashboard(UIDEmissions, "eipgw · Emission reductions",
		"For auditors: hourly SO2 and CO2 of the project (CHP) and the baseline (replaced boilers and grid power), their validity and completeness per hour with the reasons, "+
			"cumulative reductions and the list of invalid hours. Every value is a park_hourly record; invalid hours carry no value and are listed with their reason.", "24h"))
	addRow(b, "Hourly emissions",
		panel{title: "CO2 per hour: project and baseline", unit: unitT, desc: "project_co2_t (CHP fuels) and baseline_co2_t (replaced boilers and grid power), valid hours only.",
			targets: targets(influx("", hourly("", "project_co2_t", "baseline_co2_t"), alias(""))), min: ptr(0.0)},
		panel{title: "SO2 per hour: project and baseline", unit: unitT, desc: "project_so2_t and baseline_so2_t, valid hours only.",
			targets: targets(influx("", hourly("", "project_so2_t", "baseline_so2_t"), alias(""))), min: ptr(0.0)},
		panel{title: "SO2 from the CEMS and from fuel sulfur", unit: unitKg, desc: "so2_cems_kg (concentration × dry flow) against so2_fuel_kg (fuel sulfur mass balance): a cross-check of the analyser.",
			targets: targets(influx("", hourly("", "so2_cems_kg", "so2_fuel_kg"), alias(""))), min: ptr(0.0)},
		panel{title: "SO2 avoided by the BDS reactor", unit: unitKg, desc: "bds_so2_avoided_kg: SO2 the CHP did not emit because the biogas it burned was desulfurized.",
			targets: targets(influx("", hourly("", "bds_so2_avoided_kg"), alias(""))), min: ptr(0.0)},
	)
	addRow(b, "Reductions",
		panel{title: "Reductions per hour", unit: unitT, desc: "Baseline minus project, per valid hour.",
			targets: targets(influx("", hourly("", "reduction_co2_t", "reduction_so2_t"), alias("")))},
		panel{title: "Cumulative CO2 reduction", unit: unitT, desc: "Sum of the valid hours' CO2 reductions since the engine started.",
			targets: targets(influx("", hourly("", "reduction_co2_cumulative_t"), alias("")))},
		panel{title: "Cumulative SO2 reduction", unit: unitT, desc: "Sum of the valid hours' SO2 reductions since the engine started.",
			targets: targets(influx("", hourly("", "reduction_so2_cumulative_t"), alias("")))},
		panel{title: "Valid hours behind the cumulative reductions", viz: "stat", unit: unitCount, desc: "Hours closed since the engine started and how many of them were valid (the cumulative reductions count only those).",
			targets: targets(influx("", `SELECT last("hours") AS "hours", last("valid_hours") AS "valid_hours" FROM "park_hourly" WHERE `+parkFilter+` AND "metric" = 'reduction_co2_cumulative_t' AND $timeFilter`, ""))},
	)
	addRow(b, "Validity",
		panel{title: "Completeness per hour", unit: unitRatio, desc: "Smallest share of valid minutes among each metric's inputs. Below the validity rule (default 0.75, i.e. 45 minutes) the hour is invalid.",
			targets:    targets(influx("", `SELECT "completeness" FROM "park_hourly" WHERE `+parkFilter+` AND `+metricMatch(reductionInputs)+` AND $timeFilter GROUP BY "metric"`, alias(""))),
			thresholds: []threshold{base("red"), at(0.75, "green")}, min: ptr(0.0), max: ptr(1.0)},
		panel{title: "Valid and invalid hourly metrics", unit: unitCount, desc: "Hourly records per flag: valid, invalid (inputs missing or bad) and n/a (undefined, e.g. an efficiency while a unit is off).",
			targets: targets(influx("", `SELECT count("completeness") AS "records" FROM "park_hourly" WHERE `+parkFilter+` AND $timeFilter GROUP BY time(1h), "flag" fill(none)`, "$tag_flag")), min: ptr(0.0)},
		panel{title: "Invalid hours and their reasons", viz: "table", unit: unitCount, w: 24, h: 10,
			desc:    "Every hourly record flagged invalid: the metric, the reason naming each failing input with its valid minutes and counted bad qualities, and the completeness it rests on.",
			columns: map[string]string{"completeness": unitRatio},
			targets: targets(influxTable("", `SELECT "reason", "completeness", "valid_minutes", "samples" FROM "park_hourly" WHERE `+parkFilter+` AND "flag" = 'invalid' AND $timeFilter GROUP BY "metric"`))},
	)
	return b
}

// reductionInputs are the hourly metrics the reductions rest on.
var reductionInputs = []string{"project_co2_t", "project_so2_t", "baseline_co2_t", "baseline_so2_t", "reduction_co2_t", "reduction_so2_t"}

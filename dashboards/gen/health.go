package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// prom returns a PromQL range target.
func prom(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(promDS).Expr(expr).LegendFormat(legend).Range()
}

func promTargets(qs ...*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = q.RefId(string(rune('A' + i)))
	}
	return out
}

// sel is the label selector every health query carries: the scrape
// labels park, site and gateway (set by the Prometheus scrape
// configuration; "All" matches targets without them) and the instance.
const sel = `park=~"$park", site=~"$site", gateway=~"$gateway", instance=~"$instance"`

// roleSel is the selector of the ingest and park engine panels: their
// targets carry the park label only (a worker or an engine serves the
// whole park), so the site, gateway and instance chosen for the edges
// must not empty them.
const roleSel = `park=~"$park"`

func gatewayHealth() *dashboard.DashboardBuilder {
	b := newDashboard(UIDHealth, "eipgw · Gateway health",
		"For operators: each eipgw process's own /metrics scraped by Prometheus: polling per device, the edge's write-ahead log and publishing, "+
			"ingest's writes, retries, dead letters and completeness gaps, and the park engine's input and output. Names: docs/metrics.md and the roles' metrics files.", "3h")
	v := func(name, label, desc, query string) *dashboard.QueryVariableBuilder {
		return dashboard.NewQueryVariableBuilder(name).Label(label).Description(desc).
			Query(dashboard.StringOrMap{String: ptr(query)}).Definition(query).
			Datasource(promDS).Multi(true).IncludeAll(true).AllValue(".*").
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: ptr("All")}, Value: dashboard.StringOrArrayOfString{String: ptr("$__all")}}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
	}
	b.WithVariable(v("park", "Park", "Scrape label park (dashboards/compose/prometheus.yml sets it per target).", `label_values(up, park)`)).
		WithVariable(v("site", "Site", "Scrape label site.", `label_values(up{park=~"$park"}, site)`)).
		WithVariable(v("gateway", "Gateway", "Scrape label gateway (edge targets).", `label_values(up{park=~"$park", site=~"$site"}, gateway)`)).
		WithVariable(v("instance", "Instance", "Scraped eipgw process.", `label_values(up{park=~"$park", site=~"$site", gateway=~"$gateway"}, instance)`)).
		WithVariable(v("device", "Device", "Device polled by an edge.", `label_values(eipgw_edge_device_up{`+sel+`}, device)`))
	dev := `{` + sel + `, device=~"$device"}`
	addRow(b, "Polling (edge)",
		panel{title: "Poll duration p99 per device", unit: unitSeconds, prom: true, desc: "99th percentile of the time to poll one device (eipgw_edge_poll_duration_seconds).",
			targets: promTargets(prom(`histogram_quantile(0.99, sum by (device, le) (rate(eipgw_edge_poll_duration_seconds_bucket`+dev+`[$__rate_interval])))`, "{{device}}"))},
		panel{title: "Failed and partial polls per device", unit: unitPerSec, prom: true, desc: "Polls per second that were partial (some point not good) or failed (no point good), by device (eipgw_edge_polls_total).",
			targets:    promTargets(prom(`sum by (device, outcome) (rate(eipgw_edge_polls_total{`+sel+`, device=~"$device", outcome!="ok"}[$__rate_interval]))`, "{{device}} {{outcome}}")),
			thresholds: []threshold{base("green"), at(0.01, "red")}},
		panel{title: "Devices up", unit: unitFlag, prom: true, desc: "1 when the device's last poll returned at least one good point (eipgw_edge_device_up). A device down is retried with back-off by its bus owner.",
			targets:    promTargets(prom(`min by (device) (eipgw_edge_device_up`+dev+`)`, "{{device}}")),
			thresholds: []threshold{base("red"), at(1, "green")}, min: ptr(0.0), max: ptr(1.0)},
		panel{title: "Polls split into several batches", unit: unitPerSec, prom: true, desc: "Polls with more points than edge.max_batch_points, published as several batches (eipgw_edge_polls_split_total).",
			targets: promTargets(prom(`sum by (instance) (rate(eipgw_edge_polls_split_total{`+sel+`}[$__rate_interval]))`, "{{instance}}"))},
		panel{title: "Devices backing off", unit: unitSeconds, prom: true, desc: "Seconds until a device that stopped answering is polled again (eipgw_edge_device_backoff_remaining_seconds); 0 while it is polled on schedule. Its consecutive failures are in eipgw_edge_device_consecutive_failures.",
			targets: promTargets(prom(`max by (bus, device) (eipgw_edge_device_backoff_remaining_seconds`+dev+`)`, "{{bus}} {{device}}"))},
		panel{title: "Polls per bus", unit: unitPerSec, prom: true, desc: "Polls per second of each bus's devices by outcome: answered, unanswered, skipped while backed off (eipgw_edge_bus_polls_total).",
			targets: promTargets(prom(`sum by (bus, outcome) (rate(eipgw_edge_bus_polls_total{`+sel+`}[$__rate_interval]))`, "{{bus}} {{outcome}}"))},
		panel{title: "Serial line utilisation", unit: unitRatio, prom: true, desc: "Serial buses: the share of time the line carries frames, at its baud rate with the 3.5-character silences (rate of eipgw_edge_bus_line_seconds_total); near 100 % the next device added makes polls overrun. Second series: line time over the exchanges' wall time (eipgw_edge_bus_busy_seconds_total), how near the exchanges come to the line's limit.",
			targets: promTargets(
				prom(`sum by (bus) (rate(eipgw_edge_bus_line_seconds_total{`+sel+`}[$__rate_interval]))`, "{{bus}} utilisation"),
				prom(`sum by (bus) (rate(eipgw_edge_bus_line_seconds_total{`+sel+`}[$__rate_interval])) / sum by (bus) (rate(eipgw_edge_bus_busy_seconds_total{`+sel+`}[$__rate_interval]))`, "{{bus}} line / busy")),
			thresholds: []threshold{base("green"), at(0.8, "orange")}, min: ptr(0.0), max: ptr(1.0)},
	)
	addRow(b, "Write-ahead log and publishing (edge)",
		panel{title: "WAL backlog", unit: unitCount, prom: true, desc: "Batches in the write-ahead log not yet acknowledged by the broker (eipgw_edge_wal_records), and batches held in memory because the log could not take them.",
			targets: promTargets(prom(`eipgw_edge_wal_records{`+sel+`}`, "{{instance}} log"), prom(`eipgw_edge_memory_queue_batches{`+sel+`}`, "{{instance}} memory"))},
		panel{title: "Oldest unacknowledged batch", unit: unitSeconds, prom: true, desc: "Age of the oldest batch the broker has not acknowledged (eipgw_edge_wal_oldest_age_seconds).",
			targets:    promTargets(prom(`eipgw_edge_wal_oldest_age_seconds{`+sel+`}`, "{{instance}}")),
			thresholds: []threshold{base("green"), at(60, "orange"), at(600, "red")}},
		panel{title: "Batches dropped", unit: unitCount, prom: true, desc: "Batches lost by reason (wal_full, wal_corrupt, wal_unsynced, overflow) in each interval, and failed log appends. Anything above zero is lost data: see the edge's log for the sequence ranges.",
			targets: promTargets(prom(`sum by (instance, reason) (increase(eipgw_edge_batches_dropped_total{`+sel+`}[$__rate_interval]))`, "{{instance}} {{reason}}"),
				prom(`sum by (instance) (increase(eipgw_edge_wal_append_errors_total{`+sel+`}[$__rate_interval]))`, "{{instance}} append errors")),
			thresholds: []threshold{base("green"), at(1, "red")}},
		panel{title: "Publish and acknowledgement rates", unit: unitPerSec, prom: true, desc: "Batches handed to the MQTT client, acknowledged by the broker, retried, and replayed from the log.",
			targets: promTargets(
				prom(`sum by (instance) (rate(eipgw_edge_batches_published_total{`+sel+`}[$__rate_interval]))`, "{{instance}} published"),
				prom(`sum by (instance) (rate(eipgw_edge_batches_acked_total{`+sel+`}[$__rate_interval]))`, "{{instance}} acked"),
				prom(`sum by (instance) (rate(eipgw_edge_batches_republished_total{`+sel+`}[$__rate_interval]))`, "{{instance}} republished"),
				prom(`sum by (instance) (rate(eipgw_edge_batches_replayed_total{`+sel+`}[$__rate_interval]))`, "{{instance}} replayed"))},
		panel{title: "WAL size", unit: unitBytes, prom: true, desc: "Size of the write-ahead log on disk (eipgw_edge_wal_bytes).",
			targets: promTargets(prom(`eipgw_edge_wal_bytes{`+sel+`}`, "{{instance}}"))},
	)
	addRow(b, "Ingest",
		panel{title: "InfluxDB write latency p99 and poll-to-stored p99", unit: unitSeconds, prom: true, desc: "99th percentiles of successful InfluxDB write requests and of the time from poll to stored reading. The dashed line is the 1 s poll-to-stored budget.",
			targets: promTargets(
				prom(`histogram_quantile(0.99, sum by (le) (rate(eipgw_ingest_write_duration_seconds_bucket{`+roleSel+`}[$__rate_interval])))`, "write"),
				prom(`histogram_quantile(0.99, sum by (le) (rate(eipgw_ingest_poll_to_stored_seconds_bucket{`+roleSel+`}[$__rate_interval])))`, "poll to stored")),
			thresholds: []threshold{base("green"), at(1, "red")}},
		panel{title: "Messages and readings written", unit: unitPerSec, prom: true, desc: "Messages acknowledged by outcome and readings written per second.",
			targets: promTargets(
				prom(`sum by (outcome) (rate(eipgw_ingest_messages_total{`+roleSel+`}[$__rate_interval]))`, "messages {{outcome}}"),
				prom(`sum(rate(eipgw_ingest_points_written_total{`+roleSel+`}[$__rate_interval]))`, "readings"))},
		panel{title: "Write errors (retried)", unit: unitPerSec, prom: true, desc: "Failed InfluxDB write attempts by HTTP status (0: no response); transient ones are retried and nothing is acknowledged meanwhile.",
			targets:    promTargets(prom(`sum by (status) (rate(eipgw_ingest_write_errors_total{`+roleSel+`}[$__rate_interval]))`, "status {{status}}")),
			thresholds: []threshold{base("green"), at(0.01, "red")}},
		panel{title: "Unacknowledged messages", unit: unitCount, prom: true, desc: "Messages received and waiting for InfluxDB before their acknowledgement.",
			targets: promTargets(prom(`eipgw_ingest_unacknowledged_messages{`+roleSel+`}`, "{{instance}}"))},
		panel{title: "Dead letters", unit: unitCount, prom: true, desc: "Messages refused and dead-lettered by reason (ingest) and derived records dead-lettered (park engine), per interval.",
			targets: promTargets(
				prom(`sum by (reason) (increase(eipgw_ingest_refused_total{`+roleSel+`}[$__rate_interval]))`, "ingest {{reason}}"),
				prom(`sum by (reason) (increase(eipgw_park_records_dead_lettered_total{`+roleSel+`}[$__rate_interval]))`, "park {{reason}}")),
			thresholds: []threshold{base("green"), at(1, "red")}},
		panel{title: "Completeness gaps", unit: unitCount, prom: true, desc: "Batches declared missing, gaps, implausible gaps and sequence conflicts per interval (ingest's completeness check).",
			targets: promTargets(
				prom(`sum(increase(eipgw_ingest_seq_missing_total{`+roleSel+`}[$__rate_interval]))`, "missing batches"),
				prom(`sum(increase(eipgw_ingest_seq_gaps_total{`+roleSel+`}[$__rate_interval]))`, "gaps"),
				prom(`sum(increase(eipgw_ingest_seq_implausible_gaps_total{`+roleSel+`}[$__rate_interval]))`, "implausible gaps"),
				prom(`sum(increase(eipgw_ingest_seq_conflicts_total{`+roleSel+`}[$__rate_interval]))`, "conflicts")),
			thresholds: []threshold{base("green"), at(1, "red")}},
	)
	addRow(b, "Park engine",
		panel{title: "Park engine lag", unit: unitSeconds, prom: true, desc: "Time since the end of the newest live interval the park engine computed (eipgw_park_lag_seconds): about the interval plus live_delay when it keeps up; growing when it falls behind or stopped receiving.",
			targets:    promTargets(prom(`max by (instance) (eipgw_park_lag_seconds{`+roleSel+`})`, "{{instance}}")),
			thresholds: []threshold{base("green"), at(300, "red")}},
		panel{title: "Batches by result", unit: unitPerSec, prom: true, desc: "Batches received by the park engine by what became of them; late ones arrived after their window closed (the engine lags or the edge was delayed).",
			targets: promTargets(prom(`sum by (result) (rate(eipgw_park_batches_total{`+roleSel+`}[$__rate_interval]))`, "{{result}}"))},
		panel{title: "Derived records pending, written and dropped", unit: unitCount, prom: true, desc: "Records waiting for InfluxDB, written and dropped per interval by measurement.",
			targets: promTargets(
				prom(`sum(eipgw_park_pending_records{`+roleSel+`})`, "pending"),
				prom(`sum by (measurement) (increase(eipgw_park_records_written_total{`+roleSel+`}[$__rate_interval]))`, "written {{measurement}}"),
				prom(`sum by (measurement, reason) (increase(eipgw_park_records_dropped_total{`+roleSel+`}[$__rate_interval]))`, "dropped {{measurement}} {{reason}}"))},
		panel{title: "Invalid metrics of the last hour", unit: unitCount, prom: true, desc: "Metrics of the last closed hour flagged invalid, and invalid input samples per second.",
			targets:    promTargets(prom(`sum(eipgw_park_last_hour_invalid_metrics{`+roleSel+`})`, "invalid metrics"), prom(`sum(rate(eipgw_park_invalid_samples_total{`+roleSel+`}[$__rate_interval]))`, "invalid samples/s")),
			thresholds: []threshold{base("green"), at(1, "orange")}},
		panel{title: "InfluxDB write errors (park)", unit: unitPerSec, prom: true, desc: "Failed write attempts of derived records (each is retried).",
			targets:    promTargets(prom(`sum(rate(eipgw_park_write_errors_total{`+roleSel+`}[$__rate_interval]))`, "errors")),
			thresholds: []threshold{base("green"), at(0.01, "red")}},
	)
	return b
}

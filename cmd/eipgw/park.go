//go:build !eipgw_edge && !eipgw_ingest

package main

import (
	"context"
	"fmt"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/audit"
	"github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/status"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

func init() { register(cmdPark) }

var cmdPark = &command{
	name:    "park",
	summary: "compute the park's live metrics, hourly records and tenant statements from its readings",
	usage:   "-config FILE",
	example: `  EIPGW_MQTT_PASSWORD=secret EIPGW_INFLUX_TOKEN=user:password \
    eipgw park -config config/examples/park.yaml

  Subscribes to eip/v1/{park}/+/+ with its own persistent session
  (park_engine.client_id) and, on event time:
    every interval   live metrics -> InfluxDB park_live, retained MQTT
                     eip/v1/{park}/metrics/{name}, Prometheus /metrics
    every hour       hourly records with validity flags -> park_hourly
    every day/month  per-tenant statements -> park_statement
  A message is acknowledged once counted; docs/metrics.md lists every metric.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		f, _, log, path, err := roleSetupAt(c, e, args, "park_engine", func(f *config.File) bool { return f.ParkEngine != nil })
		if err != nil {
			return err
		}
		reg := telemetry.NewRegistry()
		role, err := f.ParkRole()
		if err != nil {
			return err
		}
		// An hour that began before the start is filled, as it closes,
		// with the signed batches stored for it: the audit recomputes it
		// from them.
		backfill, err := audit.EngineBackfill(role)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		svc, err := park.NewService(role, log, reg, park.Options{Backfill: backfill})
		if err != nil {
			return err
		}
		pe := f.ParkEngine
		log.Info("park engine starting", "park", f.Park, "tenants", len(pe.Tenants), "interval", pe.Interval, "grace", pe.Grace,
			"broker", f.MQTT.Broker, "influxdb", pe.InfluxDB.URL, "bucket", pe.InfluxDB.Bucket)
		page := statusPage(f, "park", func() any { return svc.View() })
		err = withMetrics(ctx, f, reg, log, noReload(log, path, svc.Run), svc, status.Routes(page))
		st := svc.Stats()
		log.Info("park engine stopped", "received", st.Received, "malformed", st.Malformed, "intervals", st.Intervals,
			"hours", st.Hours, "statements", st.Statements, "write_errors", st.WriteErrors, "backfilled", st.Backfilled)
		return err
	},
}

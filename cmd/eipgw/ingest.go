//go:build !eipgw_edge

package main

import (
	"context"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/plumbing/status"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

func init() { register(cmdIngest) }

var cmdIngest = &command{
	name:    "ingest",
	summary: "write readings from MQTT into InfluxDB, acknowledging each message only after it is stored",
	usage:   "-config FILE",
	example: `  EIPGW_INFLUX_TOKEN=user:password eipgw ingest -config config/examples/ingest.yaml

  One worker takes eip/v1/{park}/+/+ through a plain subscription. Several
  workers with distinct mqtt.client_id and one ingest.group share the work
  through $share/{ingest.group}/eip/v1/{park}/+/+.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		f, _, log, path, err := roleSetupAt(c, e, args, "ingest", func(f *config.File) bool { return f.Ingest != nil })
		if err != nil {
			return err
		}
		reg := telemetry.NewRegistry()
		role, err := f.IngestRole()
		if err != nil {
			return err
		}
		in, err := ingest.New(role, log, reg)
		if err != nil {
			return err
		}
		procs := applyProcs(f.Ingest.Procs)
		gcPercent, memLimit := applyIngestGC(f.Ingest.MaxWriteBytes)
		log.Info("ingest starting", "park", f.Park, "broker", f.MQTT.Broker, "influxdb", f.Ingest.InfluxDB.URL, "bucket", f.Ingest.InfluxDB.Bucket,
			"procs", procs, "gc_percent", gcPercent, "memory_limit_mib", memLimit>>20)
		page := statusPage(f, "ingest", func() any { return in.View() })
		err = withMetrics(ctx, f, reg, log, noReload(log, path, in.Run), in, status.Routes(page))
		st := in.Stats()
		log.Info("ingest stopped", "received", st.Received, "acked", st.Acked, "points", st.Points, "dead_letters", st.DeadLetters)
		return err
	},
}

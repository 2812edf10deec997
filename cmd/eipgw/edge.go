//go:build !eipgw_ingest

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/edge"
	"github.com/eipgw/eipgw/gateway/plumbing/status"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

func init() { register(cmdEdge) }

var cmdEdge = &command{
	name:    "edge",
	summary: "poll the configured Modbus devices and publish their readings over MQTT",
	usage:   "-config FILE",
	example: `  EIPGW_MQTT_PASSWORD=secret eipgw edge -config config/examples/edge.yaml

  Publishes one JSON batch per device per poll on eip/v1/{park}/{gateway}/{device}
  (QoS 1) from its write-ahead log, and a retained status on
  eip/v1/{park}/{gateway}/status. SIGTERM stops polling and publishes for up to
  edge.publish_timeout; what the broker has not acknowledged stays in the log.
  SIGHUP reloads the file: buses and devices added, removed or changed take
  effect without losing a batch; a file with errors changes nothing.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		f, profiles, log, path, err := roleSetupAt(c, e, args, "edge", func(f *config.File) bool { return f.Edge != nil })
		if err != nil {
			return err
		}
		reg := telemetry.NewRegistry()
		role, err := f.EdgeRole()
		if err != nil {
			return err
		}
		ed, err := edge.New(role, driverRegistry(profiles), log, reg)
		if err != nil {
			return err
		}
		procs := applyProcs(f.Edge.Procs)
		log.Info("edge starting", "park", f.Park, "gateway", f.Edge.Gateway, "devices", len(f.Edge.Devices), "broker", f.MQTT.Broker,
			"procs", procs)
		run := func(ctx context.Context) error { return onHangup(ctx, log, path, reloadEdge(ed, f, path, log), ed.Run) }
		page := statusPage(f, "edge", func() any { return ed.View() })
		err = withMetrics(ctx, f, reg, log, run, ed, status.Routes(page))
		st := ed.Stats()
		log.Info("edge stopped", "polled", st.Polled, "published", st.Published, "acked", st.Acked, "replayed", st.Replayed, "republished", st.Republished, "dropped", st.Dropped)
		return err
	},
}

// reloadEdge loads path again and applies its buses and devices to ed
// (edge.Reload); the metrics endpoint and every other section must be
// unchanged.
func reloadEdge(ed *edge.Edge, running *config.File, path string, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		f, profiles, err := loadConfig(path)
		if err != nil {
			return err
		}
		if f.Edge == nil {
			return fmt.Errorf("%s: no edge section", path)
		}
		// The files a start would read (signing key, OPC UA certificates):
		// a reload that would fail on them changes nothing either.
		if err := edgeFiles(f).Err(); err != nil {
			return err
		}
		if !reflect.DeepEqual(f.Metrics, running.Metrics) {
			return errors.New("metrics changed; only a restart applies it (nothing was changed)")
		}
		if f.Edge.Procs != running.Edge.Procs {
			return fmt.Errorf("edge.procs changed (%d to %d); only a restart applies it (nothing was changed)", running.Edge.Procs, f.Edge.Procs)
		}
		role, err := f.EdgeRole()
		if err != nil {
			return err
		}
		res, err := ed.Reload(ctx, role, driverRegistry(profiles))
		if err != nil {
			return err
		}
		if res.Unchanged() {
			log.Info("configuration reloaded: no bus or device changed", "file", path)
			return nil
		}
		log.Info("configuration reloaded", "file", path, "devices_added", res.Added, "devices_removed", res.Removed,
			"devices_changed", res.Changed, "buses_started", res.Started, "buses_stopped", res.Stopped, "buses_restarted", res.Restarted)
		return nil
	}
}

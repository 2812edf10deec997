package park

import (
	"context"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

var _ telemetry.Health = (*Service)(nil)

// health is what the park engine reports on /healthz and /readyz.
type health struct {
	// loop beats at every tick of the main loop (each second) and at
	// every InfluxDB write attempt of the sink, which the main loop waits
	// for when the sink is behind.
	loop       *telemetry.Heartbeat
	subscribed *telemetry.Condition
	influx     *telemetry.Condition
}

func newHealth(pe *config.ParkEngine) *health {
	timeout := config.DefaultWriteTimeout
	if pe.InfluxDB != nil && pe.InfluxDB.Timeout > 0 {
		timeout = pe.InfluxDB.Timeout
	}
	return &health{
		// The sink's retries wait at most 10 s between attempts, each
		// bounded by the write timeout.
		loop:       telemetry.NewHeartbeat(20*time.Second + 2*timeout),
		subscribed: telemetry.NewCondition(false, "not subscribed yet"),
		influx:     telemetry.NewCondition(true, "no write yet"),
	}
}

// observed records the outcome of every write through it.
type observed struct {
	api.WriteAPIBlocking
	h *health
}

// observe returns w recording each write's outcome in the health.
func (h *health) observe(w api.WriteAPIBlocking) api.WriteAPIBlocking {
	return observed{WriteAPIBlocking: w, h: h}
}

func (o observed) WriteRecord(ctx context.Context, line ...string) error {
	err := o.WriteAPIBlocking.WriteRecord(ctx, line...)
	o.h.wrote(ctx, err)
	return err
}

func (o observed) WritePoint(ctx context.Context, p ...*write.Point) error {
	err := o.WriteAPIBlocking.WritePoint(ctx, p...)
	o.h.wrote(ctx, err)
	return err
}

func (h *health) wrote(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping: says nothing about InfluxDB
	}
	h.loop.Beat()
	if err != nil {
		h.influx.Set(false, "last write failed: "+err.Error())
		return
	}
	h.influx.Set(true, "last write ok")
}

// Live reports whether the main loop (consume, advance every second, hand
// records to the sink) has turned within its window.
func (s *Service) Live() []telemetry.Check {
	return []telemetry.Check{s.health.loop.Check("main_loop", time.Now())}
}

// Ready reports whether the engine can do its job: subscribed (the broker
// acknowledged the subscription since the last connection) and its last
// InfluxDB write succeeded (ok before the first write).
func (s *Service) Ready() []telemetry.Check {
	return []telemetry.Check{s.health.subscribed.Check("subscribed"), s.health.influx.Check("influxdb_write")}
}

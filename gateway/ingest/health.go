package ingest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

var _ telemetry.Health = (*Ingest)(nil)

// Health timing. The main loop wakes at least every loopWake, so that an
// idle worker still turns; InfluxDB is pinged every pingEvery when no
// write was attempted meanwhile, and counts as reachable while a write or
// ping succeeded within its window (see newHealth).
const (
	loopWake  = time.Second
	pingEvery = 5 * time.Second
)

// health is what an ingest worker reports on /healthz and /readyz.
type health struct {
	loop       *telemetry.Heartbeat
	subscribed *telemetry.Condition
	influx     *telemetry.Condition
	// lastOK and lastTry are the Unix ns of the last InfluxDB write or
	// ping that succeeded, and of the last write attempted.
	lastOK, lastTry atomic.Int64
	pingEvery       time.Duration
	window          time.Duration // of lastOK
	timeout         time.Duration // of one ping
}

func newHealth(cfg *config.Ingest) *health {
	timeout := config.DefaultWriteTimeout
	if cfg.InfluxDB != nil && cfg.InfluxDB.Timeout > 0 {
		timeout = cfg.InfluxDB.Timeout
	}
	return &health{
		// A round writes request after request, each bounded by the
		// write timeout and each a beat (wrote); gather waits at most
		// batch_wait after the first message and wakes every loopWake.
		loop:       telemetry.NewHeartbeat(10*time.Second + 2*timeout + 2*cfg.BatchWait),
		subscribed: telemetry.NewCondition(false, "not subscribed yet"),
		influx:     telemetry.NewCondition(false, "no write or ping yet"),
		pingEvery:  pingEvery,
		window:     3*pingEvery + timeout,
		timeout:    timeout,
	}
}

// wakeBy returns when the main loop must wake at the latest: wakeAt (zero:
// no entry waiting) or loopWake from now, whichever comes first.
func (h *health) wakeBy(wakeAt time.Time) time.Time {
	if t := time.Now().Add(loopWake); wakeAt.IsZero() || t.Before(wakeAt) {
		return t
	}
	return wakeAt
}

// wrote records the outcome of one InfluxDB write request.
func (h *health) wrote(err error) {
	now := time.Now()
	h.lastTry.Store(now.UnixNano())
	h.loop.Beat()
	if err != nil {
		h.influx.Set(false, "last write failed: "+err.Error())
		return
	}
	h.lastOK.Store(now.UnixNano())
	h.influx.Set(true, "last write ok")
}

// watchInflux pings InfluxDB every pingEvery unless a write was attempted
// meanwhile, until the returned function is called (it waits for the
// pinger to return).
func (h *health) watchInflux(ctx context.Context, ic influxdb2.Client) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.pingEvery)
		defer t.Stop()
		for {
			if time.Since(time.Unix(0, h.lastTry.Load())) >= h.pingEvery {
				h.ping(ctx, ic)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (h *health) ping(ctx context.Context, ic influxdb2.Client) {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	ok, err := ic.Ping(pctx)
	if ctx.Err() != nil {
		return // stopping: says nothing about InfluxDB
	}
	switch {
	case err != nil:
		h.influx.Set(false, "ping failed: "+err.Error())
	case !ok:
		h.influx.Set(false, "ping failed: InfluxDB not ready")
	default:
		h.lastOK.Store(time.Now().UnixNano())
		h.influx.Set(true, "ping ok")
	}
}

// connectionLost is the MQTT connection-lost handler: logged as
// mqttconn.Options does, and the subscription is gone until the next
// SUBACK.
func (in *Ingest) connectionLost(clientID string) mqtt.ConnectionLostHandler {
	return func(_ mqtt.Client, err error) {
		in.log.Warn("mqtt connection lost", "broker", config.RedactURL(in.cfg.MQTT.Broker), "client_id", clientID, "err", err)
		in.health.subscribed.Set(false, "connection lost: "+err.Error())
	}
}

// Live reports whether the main loop (receive, write, acknowledge) has
// turned within its window. A round that waits for the broker to take a
// dead letter does not turn it.
func (in *Ingest) Live() []telemetry.Check {
	return []telemetry.Check{in.health.loop.Check("main_loop", time.Now())}
}

// Ready reports whether the worker can take and store messages: subscribed
// (the broker acknowledged the subscription since the last connection)
// and InfluxDB reachable (the last write or ping succeeded, within the
// window).
func (in *Ingest) Ready() []telemetry.Check {
	h := in.health
	db := h.influx.Check("influxdb")
	if ns := h.lastOK.Load(); db.OK {
		if age := time.Since(time.Unix(0, ns)); age > h.window {
			db.OK = false
			db.Detail = fmt.Sprintf("no write or ping succeeded for %s (window %s)", age.Round(time.Millisecond), h.window)
			db.Since = time.Unix(0, ns).Add(h.window)
		}
	}
	return []telemetry.Check{h.subscribed.Check("subscribed"), db}
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
	if ctx.Err() == nil {
		o.h.wrote(err)
	}
	return err
}

func (o observed) WritePoint(ctx context.Context, p ...*write.Point) error {
	err := o.WriteAPIBlocking.WritePoint(ctx, p...)
	if ctx.Err() == nil {
		o.h.wrote(err)
	}
	return err
}

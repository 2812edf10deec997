// Package edge is the polling side of eipgw: it owns the Modbus buses of one
// site, polls every configured device on schedule, stamps each poll as a
// batch with the gateway's sequence number and publishes it over MQTT QoS 1.
// A batch is forgotten only after the broker acknowledged it; at shutdown
// every batch polled but not yet acknowledged is persisted and published at
// the next start.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/batch"
	"github.com/eipgw/eipgw/gateway/mqttconn"
)

// maxInflight bounds the batches published but not yet acknowledged.
const maxInflight = 1024

// seqBlock is how many sequence numbers one disk write reserves.
const seqBlock = 1000

// Edge polls the devices of one gateway and publishes their batches.
type Edge struct {
	park, site, gateway string
	cfg                 *config.File
	buses               []*modbus.Bus
	log                 *slog.Logger
	stateDir            string
	publishTimeout      time.Duration

	// Stats, readable while running.
	mu    sync.Mutex
	stats Stats
}

// Stats counts what the edge did.
type Stats struct {
	Polled    uint64 // batches polled
	Published uint64 // publish calls (including replays)
	Acked     uint64 // batches acknowledged by the broker
	Spooled   uint64 // batches persisted at shutdown
	Replayed  uint64 // spooled batches published again at start
}

// New builds an edge from a validated configuration; it does no I/O.
func New(cfg *config.File, profiles modbus.Profiles, log *slog.Logger) (*Edge, error) {
	if cfg.Edge == nil || cfg.MQTT == nil {
		return nil, errors.New("edge: configuration needs mqtt and edge sections")
	}
	e := &Edge{
		park: cfg.Park, site: cfg.Site, gateway: cfg.Edge.Gateway, cfg: cfg,
		log: log.With("gateway", cfg.Edge.Gateway), stateDir: cfg.Edge.StateDir,
		publishTimeout: cfg.Edge.PublishTimeout,
	}
	byBus := map[string][]*modbus.Device{}
	for _, d := range cfg.Edge.Devices {
		p, ok := profiles[d.Profile]
		if !ok {
			return nil, fmt.Errorf("edge: device %s: unknown profile %q", d.Name, d.Profile)
		}
		byBus[d.Bus] = append(byBus[d.Bus], modbus.NewDevice(d, p))
	}
	for _, b := range cfg.Edge.Buses {
		bus, err := modbus.NewBus(b, byBus[b.Name], e.log)
		if err != nil {
			return nil, err
		}
		e.buses = append(e.buses, bus)
	}
	return e, nil
}

// Stats returns a snapshot of the counters.
func (e *Edge) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Edge) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

type status struct {
	State   string `json:"state"`
	Gateway string `json:"gateway"`
	Time    string `json:"ts,omitempty"`
}

func (e *Edge) statusPayload(state string) []byte {
	s := status{State: state, Gateway: e.gateway}
	if state == "online" {
		s.Time = time.Now().UTC().Format(batch.TimeLayout)
	}
	b, _ := json.Marshal(s) // cannot fail: strings only
	return b
}

// Run connects to the broker, polls until ctx is done, then stops polling,
// waits up to the publish timeout for outstanding acknowledgements, persists
// what is still unacknowledged and disconnects.
func (e *Edge) Run(ctx context.Context) error {
	if err := os.MkdirAll(e.stateDir, 0o750); err != nil {
		return fmt.Errorf("edge: state dir: %w", err)
	}
	seq, err := openSeq(e.stateDir, seqBlock)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	spooled, err := readSpool(e.stateDir)
	if err != nil {
		// Corrupt records are reported; the good ones still go out.
		e.log.Error("spool has corrupt records; they are skipped", "err", err)
	}

	statusTopic := mqttconn.StatusTopic(e.park, e.gateway)
	clientID := e.cfg.MQTT.ClientID
	if clientID == "" {
		clientID = "eipgw-edge-" + e.park + "-" + e.gateway
	}
	opts := mqttconn.Options(e.cfg.MQTT, clientID, e.log).
		SetBinaryWill(statusTopic, e.statusPayload("offline"), 1, true).
		SetOnConnectHandler(func(c mqtt.Client) {
			e.log.Info("mqtt connected", "broker", e.cfg.MQTT.Broker, "client_id", clientID)
			// Birth message; not waited for (the connect handler must not block).
			c.Publish(statusTopic, 1, true, e.statusPayload("online"))
		})
	client := mqtt.NewClient(opts)
	if err := mqttconn.Connect(client, e.cfg.MQTT.ConnectTimeout); err != nil {
		e.log.Warn("broker not reachable yet; polling and queueing", "err", err)
	}

	out := make(chan message, maxInflight)
	pubDone := make(chan error, 1)
	go func() { pubDone <- e.publish(client, out, spooled) }()

	var seqErr error
	var wg sync.WaitGroup
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	var seqMu sync.Mutex
	for _, b := range e.buses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			pts := make([]batch.Point, 0, 64)
			b.Run(pollCtx, func(d *modbus.Device, polled time.Time, rs []modbus.Reading) {
				seqMu.Lock()
				n, err := seq.next()
				if err != nil && seqErr == nil {
					seqErr = err
					stopPolling()
				}
				seqMu.Unlock()
				if err != nil {
					e.log.Error("cannot persist sequence number; stopping", "err", err)
					return
				}
				pts = pts[:0]
				for _, r := range rs {
					p := batch.Point{Name: r.Point.Name, Unit: r.Point.Unit, Quality: string(r.Quality)}
					if r.Quality == modbus.Good {
						p.Value, p.HasValue, p.Float32 = r.Value, true, r.Point.Float32()
					}
					pts = append(pts, p)
				}
				bt := batch.Batch{
					Gateway: e.gateway, Seq: n, Device: d.Name, Kind: d.Kind,
					Site: e.site, Tenant: d.Tenant, Time: polled, Points: pts,
				}
				buf = bt.AppendJSON(buf[:0])
				e.count(func(s *Stats) { s.Polled++ })
				out <- message{seq: n, topic: mqttconn.DataTopic(e.park, e.gateway, d.Name), payload: append([]byte(nil), buf...)}
			})
		}()
	}
	wg.Wait() // polling stopped: ctx done or sequence failure
	close(out)
	pubErr := <-pubDone

	errs := []error{seqErr, pubErr}
	if err := seq.close(); err != nil {
		errs = append(errs, err)
	}
	if client.IsConnectionOpen() {
		t := client.Publish(statusTopic, 1, true, e.statusPayload("offline"))
		t.WaitTimeout(e.publishTimeout)
	}
	client.Disconnect(250)
	return errors.Join(errs...)
}

type inflight struct {
	msg message
	tok mqtt.Token
}

// publish sends spooled batches first, then each polled batch, keeping at
// most maxInflight unacknowledged. When out is closed it waits up to the
// publish timeout for the outstanding acknowledgements and persists the
// batches still unacknowledged.
func (e *Edge) publish(c mqtt.Client, out <-chan message, replay []message) error {
	var pending []inflight
	send := func(m message) {
		pending = append(pending, inflight{msg: m, tok: c.Publish(m.topic, 1, false, m.payload)})
		e.count(func(s *Stats) { s.Published++ })
	}
	settle := func() bool {
		h := pending[0]
		if err := h.tok.Error(); err != nil {
			// Not acknowledged (e.g. the client gave up on it): send again.
			e.log.Warn("publish failed; retrying", "topic", h.msg.topic, "err", err)
			pending = pending[1:]
			send(h.msg)
			return false
		}
		pending = pending[1:]
		e.count(func(s *Stats) { s.Acked++ })
		return true
	}
	for _, m := range replay {
		send(m)
		e.count(func(s *Stats) { s.Replayed++ })
		for len(pending) >= maxInflight {
			<-pending[0].tok.Done()
			settle()
		}
	}
	if len(replay) > 0 {
		e.log.Info("replaying batches spooled at the last stop", "count", len(replay))
	}
	for {
		var head <-chan struct{}
		if len(pending) > 0 {
			head = pending[0].tok.Done()
		}
		in := out
		if len(pending) >= maxInflight {
			in = nil // back-pressure: the pollers wait
		}
		select {
		case m, ok := <-in:
			if !ok {
				return e.drain(c, pending)
			}
			send(m)
		case <-head:
			settle()
		}
	}
}

func (e *Edge) drain(c mqtt.Client, pending []inflight) error {
	deadline := time.After(e.publishTimeout)
	var left []message
wait:
	for i, p := range pending {
		select {
		case <-p.tok.Done():
			if p.tok.Error() != nil {
				left = append(left, p.msg)
				continue
			}
			e.count(func(s *Stats) { s.Acked++ })
		case <-deadline:
			for _, q := range pending[i:] {
				left = append(left, q.msg)
			}
			break wait
		}
	}
	if err := writeSpool(e.stateDir, left); err != nil {
		return fmt.Errorf("edge: persisting %d unacknowledged batches: %w", len(left), err)
	}
	if len(left) > 0 {
		e.log.Warn("broker did not acknowledge every batch before shutdown; persisted for the next start",
			"count", len(left), "first_seq", left[0].seq, "dir", e.stateDir)
	}
	e.count(func(s *Stats) { s.Spooled += uint64(len(left)) })
	return nil
}

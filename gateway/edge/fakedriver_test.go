package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// fakeDriver is a protocol that pushes: each device sends a reading of a
// counter every period, exact integers beyond 2^53, and every third one of
// the second device is a timeout.
type fakeDriver struct{ period time.Duration }

type fakeSource struct {
	name   string
	devs   []*drivers.Device
	period time.Duration
	mu     sync.Mutex
	sent   map[string]int
}

func (f fakeDriver) Sources(buses []config.Bus, devices []config.Device, _ *slog.Logger) ([]drivers.Source, error) {
	var out []drivers.Source
	for _, b := range buses {
		s := &fakeSource{name: b.Name, period: f.period, sent: map[string]int{}}
		for _, d := range devices {
			if d.Bus == b.Name {
				s.devs = append(s.devs, &drivers.Device{Name: d.Name, Kind: "fake_meter", Tenant: d.Tenant, Source: b.Name})
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *fakeSource) Name() string               { return s.name }
func (s *fakeSource) Devices() []*drivers.Device { return s.devs }

func (s *fakeSource) Run(ctx context.Context, sink drivers.Sink) {
	t := time.NewTicker(s.period)
	defer t.Stop()
	rs := make([]drivers.Reading, 2)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for i, d := range s.devs {
				s.mu.Lock()
				s.sent[d.Name]++
				n := s.sent[d.Name]
				s.mu.Unlock()
				rs[0] = drivers.Reading{Name: "energy", Unit: "Wh", Quality: drivers.Good, HasValue: true,
					Kind: drivers.Int, Int: 1<<53 + int64(n), Float: float64(1<<53 + n)}
				rs[1] = drivers.Reading{Name: "power", Unit: "kW", Quality: drivers.Good, HasValue: true, Float: float64(n) / 4}
				if i == 1 && n%3 == 0 {
					rs[1] = drivers.Reading{Name: "power", Unit: "kW", Quality: drivers.Timeout}
				}
				sink(d, now, rs)
			}
		}
	}
}

func (s *fakeSource) States() []drivers.DeviceState {
	out := make([]drivers.DeviceState, len(s.devs))
	for i, d := range s.devs {
		out[i] = drivers.DeviceState{Device: d.Name, Up: true}
	}
	return out
}

// startBroker runs the embedded MQTT broker on a free loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "tcp://" + addr
}

// The edge runs a driver it knows only through the contract: three
// sources of a pushing protocol, every reading published once, in batches
// whose sequence numbers are 1..N without a gap, exact integers exact.
func TestEdgeRunsFakeDriver(t *testing.T) {
	broker := startBroker(t)
	received := map[uint64]*batch.Batch{}
	var mu sync.Mutex
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("watch").
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			if strings.HasSuffix(m.Topic(), "/status") {
				return // the gateway's birth and will
			}
			b, err := batch.Decode(m.Payload())
			if err != nil {
				t.Errorf("undecodable batch on %s: %v", m.Topic(), err)
				return
			}
			mu.Lock()
			received[b.Seq] = b
			mu.Unlock()
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(topic.GatewayFilter("p", "gw"), 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	dir := t.TempDir()
	retain := time.Duration(0)
	cfg := &config.File{Park: "p", Site: "s",
		MQTT: &config.MQTT{Broker: broker, ClientID: "edge-fake", KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second},
		Edge: &config.Edge{Gateway: "gw", StateDir: dir, PublishTimeout: 5 * time.Second, MaxInflight: 16, MaxBatchPoints: 2000,
			WAL: &config.WAL{Sync: "interval", SyncInterval: 50 * time.Millisecond, MaxMB: 64, SegmentMB: 1, Full: "drop_oldest", Retain: &retain}}}
	for i := range 3 {
		bus := fmt.Sprintf("line-%d", i)
		cfg.Edge.Buses = append(cfg.Edge.Buses, config.Bus{Name: bus, Protocol: "fake"})
		for j := range 2 {
			cfg.Edge.Devices = append(cfg.Edge.Devices, config.Device{Name: fmt.Sprintf("dev-%d-%d", i, j), Bus: bus, Tenant: "t01"})
		}
	}
	e, err := New(edgeRole(t, cfg), drivers.Registry{"fake": fakeDriver{period: 20 * time.Millisecond}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	time.Sleep(time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := e.Stats()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if uint64(n) >= st.Polled || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if st.Polled < 60 || st.Acked != st.Polled || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	for seq := uint64(1); seq <= st.Polled; seq++ {
		b, ok := received[seq]
		if !ok {
			t.Fatalf("seq %d of %d never arrived", seq, st.Polled)
		}
		if b.Kind != "fake_meter" || b.Tenant != "t01" || b.Site != "s" || len(b.Points) != 2 {
			t.Fatalf("batch %d: %+v", seq, b)
		}
		en := b.Points[0]
		if en.Kind != batch.IntValue || en.Int <= 1<<53 || en.Int > 1<<53+1000 {
			t.Fatalf("batch %d energy %+v: not the exact integer sent", seq, en)
		}
	}
}

// TestSecondEdgeOnOneStateDirRefused: an edge started on a state directory
// another edge runs on is refused at once, naming the holder, and writes
// nothing there (the two would number batches from one log); once the
// first stopped, the directory is free, and a holder that died leaves it
// free too (the kernel drops the lock).
func TestSecondEdgeOnOneStateDirRefused(t *testing.T) {
	broker := startBroker(t)
	dir := t.TempDir()
	retain := time.Duration(0)
	cfg := func(clientID string) *config.File {
		return &config.File{Park: "p", Site: "s",
			MQTT: &config.MQTT{Broker: broker, ClientID: clientID, KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second},
			Edge: &config.Edge{Gateway: "gw", StateDir: dir, PublishTimeout: 5 * time.Second, MaxInflight: 16, MaxBatchPoints: 2000,
				WAL:     &config.WAL{Sync: "interval", SyncInterval: 50 * time.Millisecond, MaxMB: 64, SegmentMB: 1, Full: "drop_oldest", Retain: &retain},
				Buses:   []config.Bus{{Name: "line", Protocol: "fake"}},
				Devices: []config.Device{{Name: "dev", Bus: "line"}}}}
	}
	drv := drivers.Registry{"fake": fakeDriver{period: 20 * time.Millisecond}}
	first := startEdge(t, cfg("edge-a"), drv)
	deadline := time.Now().Add(10 * time.Second)
	for first.e.Stats().Polled == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	walBefore, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := New(edgeRole(t, cfg("edge-b")), drv, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = second.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "is in use by another edge (pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), first.e.instance) {
		t.Fatalf("second edge on the state dir: %v; want refused, naming the first's pid and instance", err)
	}
	if st := second.Stats(); st.Polled != 0 {
		t.Errorf("the refused edge polled %d times", st.Polled)
	}
	if walAfter, _ := os.ReadDir(filepath.Join(dir, "wal")); len(walAfter) != len(walBefore) {
		t.Errorf("the log's files went from %d to %d", len(walBefore), len(walAfter))
	}
	first.stop()
	again := startEdge(t, cfg("edge-b"), drv)
	deadline = time.Now().Add(10 * time.Second)
	for again.e.Stats().Polled == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if again.e.Stats().Polled == 0 {
		t.Error("the state dir stayed locked after the first edge stopped")
	}
}

package sim_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/opcua"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
)

// The simulator serves devices over OPC UA; the OPC UA driver reads every
// point of them, polled and subscribed, as the park model has it.
func TestOPCUAServerThroughDriver(t *testing.T) {
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	park, err := sim.NewPark(sim.Config{Seed: 3}, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := sim.NewOPCUAServer(park, profiles, []string{"chp-1", "cems-1"}, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Run(ctx, time.Hour); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	bus := config.Bus{Name: "ua", Protocol: config.ProtocolOPCUA, OPCUA: &config.OPCUABus{Endpoint: srv.Endpoint()}}
	bus = bus.WithDefaults()
	chp, err := sim.OPCUAEdgeDevice(park, profiles, "chp-1", "ua", config.OPCUAPolling, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cems, err := sim.OPCUAEdgeDevice(park, profiles, "cems-1", "ua", config.OPCUASubscription, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cems.OPCUA.QueueSize, cems.OPCUA.SamplingInterval = 10, 100*time.Millisecond
	src, err := opcua.NewSource(bus, []config.Device{chp, cems}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]map[string]drivers.Reading{"chp-1": {}, "cems-1": {}}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(rctx, func(d *drivers.Device, _ time.Time, rs []drivers.Reading) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				got[d.Name][r.Name] = r
			}
		})
	}()
	defer func() { stop(); <-done }()
	// The driver may connect before the server listens: its first
	// readings are then comm_error, and it tries again. Wait until every
	// point has a reading the server answered.
	answered := func(dev string) int {
		n := 0
		for _, r := range got[dev] {
			if r.Quality != drivers.CommError && r.Quality != drivers.Timeout {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n1, n2 := answered("chp-1"), answered("cems-1")
		mu.Unlock()
		if n1 == len(chp.OPCUA.Nodes) && n2 == len(cems.OPCUA.Nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("answered %d of %d chp points, %d of %d cems points; states %+v", n1, len(chp.OPCUA.Nodes), n2, len(cems.OPCUA.Nodes), src.States())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, dev := range []string{"chp-1", "cems-1"} {
		good := 0
		want := map[string]float64{}
		if err := park.Values(dev, want); err != nil {
			t.Fatal(err)
		}
		p := profiles[map[string]string{"chp-1": "chp", "cems-1": "cems"}[dev]]
		for i := range p.Points {
			pt := &p.Points[i]
			if pt.Text() {
				continue
			}
			r := got[dev][pt.Name]
			w := want[pt.Name]
			if pt.Float32() {
				w = float64(float32(w))
			}
			if r.Quality == drivers.OutOfRange {
				continue // the model may leave a point's plausible range; the driver says so
			}
			if r.Quality != drivers.Good || (pt.ValueKind() == modbus.FloatValue && r.Float != w) || r.Unit != pt.Unit {
				t.Errorf("%s %s: %+v, want %v %s", dev, pt.Name, r, w, pt.Unit)
			}
			good++
		}
		if good < len(got[dev])*3/4 {
			t.Errorf("%s: %d of %d points good", dev, good, len(got[dev]))
		}
		t.Logf("%s: %d of %d points good and equal to the model's", dev, good, len(got[dev]))
	}
}

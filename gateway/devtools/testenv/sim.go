package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
)

// StartSim serves the simulated reference park (seeded) over Modbus TCP on
// a free loopback port, stepping the model every step, until the test
// ends. It returns the server (for fault injection) and its address.
func StartSim(t testing.TB, seed int64, step time.Duration) (*sim.Server, string) {
	t.Helper()
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	park, err := sim.NewPark(sim.Config{Seed: seed}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.NewServer(park, profiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx, ln, step) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, ln.Addr().String()
}

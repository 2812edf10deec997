package sim

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// The simulator serves RTU on a pseudo-terminal; faults switched while it
// runs reach the gateway as qualities, and clearing them brings the values
// back.
func TestServeRTUWithFaults(t *testing.T) {
	park, err := NewPark(Config{Seed: 2}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(park, profiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	pty, err := modbusserver.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(ctx, nil, time.Hour, RTUPort{Port: pty, Line: modbusserver.Line{Baud: 115200}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	d := modbus.NewDevice(config.Device{Name: "chp-1", Unit: 1, Interval: time.Second}, profiles["chp"])
	bus, err := modbus.NewBus(config.Bus{Name: "rs485", Transport: config.TransportRTU, Device: pty.SlavePath,
		Baud: 115200, DataBits: 8, Parity: "E", StopBits: 1, Timeout: 200 * time.Millisecond}, []*modbus.Device{d}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	qualities := func() map[modbus.Quality]int {
		m := map[modbus.Quality]int{}
		for _, r := range bus.Poll(d) {
			m[r.Quality]++
		}
		return m
	}
	n := len(profiles["chp"].Points)
	for _, tc := range []struct {
		fault string
		want  modbus.Quality
	}{
		{"none", modbus.Good},
		{"garbage", modbus.Good}, // the RTU reader resynchronises
		{"exception:4", "exception:4"},
		{"timeout", modbus.Timeout},
		{"none", modbus.Good},
	} {
		f, err := ParseFault(tc.fault)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.SetFault("chp-1", f); err != nil {
			t.Fatal(err)
		}
		if got := qualities(); got[tc.want] != n {
			t.Errorf("fault %s: qualities %v, want %d x %s", tc.fault, got, n, tc.want)
		}
	}
	// A unit with no device stays silent on a serial line.
	ghost := modbus.NewDevice(config.Device{Name: "ghost", Unit: 99, Interval: time.Second}, profiles["chp"])
	for _, r := range bus.Poll(ghost) {
		if r.Quality != modbus.Timeout {
			t.Fatalf("unit 99: %s, want timeout", r.Quality)
		}
	}
}

package opcua_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua"
)

// collector records what a source hands to its sink.
type collector struct {
	mu      sync.Mutex
	batches []batch
	log     strings.Builder // the source's log
}

func (c *collector) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(b)
}

// logged is the source's log so far.
func (c *collector) logged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

type batch struct {
	device string
	at     time.Time
	rs     []drivers.Reading
}

func (c *collector) sink(d *drivers.Device, at time.Time, rs []drivers.Reading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, batch{d.Name, at, append([]drivers.Reading(nil), rs...)})
}

// latest is the latest reading of each point of the device.
func (c *collector) latest(device string) map[string]drivers.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]drivers.Reading{}
	for _, b := range c.batches {
		if b.device != device {
			continue
		}
		for _, r := range b.rs {
			out[r.Name] = r
		}
	}
	return out
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts the sources of a configuration and stops them at the end of
// the test; it returns the collector and the source.
func run(t *testing.T, yaml string) (*collector, drivers.Source) {
	t.Helper()
	c, src, _ := start(t, yaml)
	return c, src
}

// start is run, with a function that stops the source (as a restart of
// the edge does) and returns once it returned.
func start(t *testing.T, yaml string) (*collector, drivers.Source, func()) {
	t.Helper()
	f, err := config.Parse("opcua-test.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srcs, err := opcua.Driver{}.Sources(f.Edge.Buses, f.Edge.Devices, slog.New(slog.NewTextHandler(c, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srcs[0].Run(ctx, c.sink)
		close(done)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", c.logged())
		}
		stop()
	})
	return c, srcs[0], stop
}

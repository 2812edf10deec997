package modbus_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// A USB serial adapter pulled out and plugged back in: its device node
// goes away with the line (a pseudo-terminal closed, its link removed).
// Every poll meanwhile fails at once with an error naming the line, and
// the first poll after the adapter is back reads again, through a new
// open of the same path.
func TestSerialAdapterReplugged(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyUSB0")
	line := modbusserver.Line{Baud: 115200, BitsPerChar: 11}
	plug := func() func() {
		pty, err := modbusserver.OpenPTY()
		if err != nil {
			t.Skipf("no pseudo-terminals here: %v", err)
		}
		os.Remove(link)
		if err := os.Symlink(pty.SlavePath, link); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			(&modbusserver.Server{Registers: testRegisters{}}).ServeRTU(ctx, pty, line)
		}()
		return func() { cancel(); pty.Close(); <-done; os.Remove(link) }
	}
	unplug := plug()
	d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), registers125(t))
	cfg := modbus.SerialBus(link, 115200)
	cfg.Timeout = 200 * time.Millisecond
	b := modbus.NewRTUBus(t, cfg, d)
	poll := func(what string) modbus.Reading {
		start := time.Now()
		r := b.Poll(d)[124]
		if took := time.Since(start); r.Quality != modbus.Good && took > cfg.Timeout {
			t.Errorf("%s: a poll took %v to fail, more than the bus's timeout %v", what, took, cfg.Timeout)
		}
		return r
	}
	if r := poll("plugged"); r.Quality != modbus.Good || r.Value != 0x1000+124 {
		t.Fatalf("plugged: %+v", r)
	}
	unplug()
	for i := range 3 {
		if r := poll("unplugged"); r.Quality == modbus.Good {
			t.Fatalf("unplugged poll %d: %+v", i, r)
		}
	}
	if st := d.State(); !strings.Contains(st.LastError, link) {
		t.Errorf("last error does not name the line: %q", st.LastError)
	}
	unplug = plug()
	defer unplug()
	if r := poll("replugged"); r.Quality != modbus.Good || r.Value != 0x1000+124 {
		t.Fatalf("first poll after the adapter is back: %+v", r)
	}
}

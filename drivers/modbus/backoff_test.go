package modbus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
)

// deadUnits answers like testRegisters except for the units listed, which
// never answer; it counts the requests each unit got.
type deadUnits struct {
	dead map[byte]bool
	mu   sync.Mutex
	reqs map[byte]int
}

func (d *deadUnits) ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	d.mu.Lock()
	d.reqs[unit]++
	dead := d.dead[unit]
	d.mu.Unlock()
	if dead {
		return 0, false
	}
	return testRegisters{}.ReadRegisters(unit, table, address, dst)
}

func (d *deadUnits) requests(unit byte) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reqs[unit]
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// On a shared bus, two dead devices do not hold up the others: those keep
// their poll interval, while the dead ones are backed off and reported.
func TestDeadDevicesDoNotStallTheBus(t *testing.T) {
	const interval = 100 * time.Millisecond
	regs := &deadUnits{dead: map[byte]bool{8: true, 9: true}, reqs: map[byte]int{}}
	addr := startServer(t, regs)
	p := modbus.MustParse(t, modbus.CounterProfile)
	mk := func(name string, unit int, timeout time.Duration) *modbus.Device {
		c := modbus.DeviceConfig(name, unit)
		c.Interval, c.Timeout = interval, timeout
		return modbus.NewDevice(c, p)
	}
	good1, good2 := mk("good-1", 1, 0), mk("good-2", 2, 0)
	dead8, dead9 := mk("dead-8", 8, 40*time.Millisecond), mk("dead-9", 9, 40*time.Millisecond)
	var logs syncBuffer
	b, err := modbus.NewBus(config.Bus{Name: "b", Transport: "tcp", Address: addr, Timeout: time.Second, BackoffMax: 800 * time.Millisecond},
		[]*modbus.Device{dead8, good1, dead9, good2}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	polls := map[string][]time.Time{}
	quality := map[string][]modbus.Quality{}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := b.Run(ctx, func(d *modbus.Device, polled time.Time, rs []drivers.Reading) {
		polls[d.Name] = append(polls[d.Name], polled)
		quality[d.Name] = append(quality[d.Name], rs[0].Quality)
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*modbus.Device{good1, good2} {
		ts := polls[d.Name]
		if len(ts) < 18 {
			t.Errorf("%s polled %d times in 2 s at a %v interval", d.Name, len(ts), interval)
		}
		// One poll in every interval: a poll may start late by the
		// timeouts of dead devices retried in the same slot, never miss
		// its slot. A machine too busy to run the test on time may make
		// it miss one (go test -race on two loaded cores); dead devices
		// that held up the bus would make it miss most of them.
		var missed []string
		for i := 1; i < len(ts); i++ {
			prev, cur := ts[i-1].UnixNano()/int64(interval), ts[i].UnixNano()/int64(interval)
			if cur != prev+1 {
				missed = append(missed, fmt.Sprintf("poll %d in slot %d, poll %d in slot %d (%v apart)", i, prev, i+1, cur, ts[i].Sub(ts[i-1])))
			}
		}
		if len(missed) > 1 {
			t.Errorf("%s missed %d slots: %s", d.Name, len(missed), strings.Join(missed, "; "))
		} else if len(missed) == 1 {
			t.Logf("%s missed one slot (a busy machine): %s", d.Name, missed[0])
		}
		for _, q := range quality[d.Name] {
			if q != modbus.Good {
				t.Errorf("%s: quality %s", d.Name, q)
			}
		}
		if st := d.State(); !st.Up || st.Failures != 0 || st.LastError != "" {
			t.Errorf("%s state %+v", d.Name, st)
		}
	}
	for _, d := range []*modbus.Device{dead8, dead9} {
		// Every slot still yields a reading, all of them timeouts.
		if n := len(polls[d.Name]); n < 18 {
			t.Errorf("%s: %d polls reached the sink, want one per interval", d.Name, n)
		}
		for _, q := range quality[d.Name] {
			if q != modbus.Timeout {
				t.Errorf("%s: quality %s, want timeout", d.Name, q)
			}
		}
		st := d.State()
		if st.Up || st.Failures < 3 || st.Skipped == 0 || st.LastPoll.IsZero() {
			t.Errorf("%s state %+v: want down, backed off", d.Name, st)
		}
		if !strings.Contains(st.LastError, "device "+d.Name) || !strings.Contains(st.LastError, "register 0") {
			t.Errorf("%s last error %q: want device and register named", d.Name, st.LastError)
		}
		// Backed off: asked on far fewer than its 20 slots.
		if n := regs.requests(d.Unit); n > 7 {
			t.Errorf("%s asked %d times in 2 s; want back-off", d.Name, n)
		}
	}
	if !strings.Contains(logs.String(), "backing off") || !strings.Contains(logs.String(), "device=dead-8") {
		t.Errorf("log does not report the back-off by device:\n%s", logs.String())
	}
}

// A device that answers again leaves its back-off at once.
func TestDeviceRecovers(t *testing.T) {
	regs := &deadUnits{dead: map[byte]bool{1: true}, reqs: map[byte]int{}}
	addr := startServer(t, regs)
	d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), modbus.MustParse(t, modbus.CounterProfile))
	d.Timeout = 30 * time.Millisecond
	b := modbus.NewTestBus(t, addr, time.Second, d)
	b.Poll(d)
	b.Poll(d)
	if st := d.State(); st.Up || st.Failures != 2 || st.BackoffUntil.IsZero() {
		t.Fatalf("after two timeouts: %+v", st)
	}
	regs.mu.Lock()
	regs.dead[1] = false
	regs.mu.Unlock()
	modbus.CheckReadings(t, "recovered", b.Poll(d), map[string]modbus.Want{"n": {Value: 0x1000, Quality: modbus.Good}})
	if st := d.State(); !st.Up || st.Failures != 0 || !st.BackoffUntil.IsZero() || st.Answered != 1 || st.Polls != 3 {
		t.Fatalf("after recovery: %+v", st)
	}
}

// Illegal function and address are configuration errors: logged once,
// naming device, register and code.
func TestConfigurationErrorsReported(t *testing.T) {
	addr := startServer(t, testRegisters{}) // exception 2 from register 1000
	p := modbus.MustParse(t, "kind: test\naddress_base: 1\npoints:\n"+
		"  - {name: ok, address: 1, type: uint16, unit: \"1\"}\n"+
		"  - {name: missing, address: 1001, type: uint16, unit: \"1\"}\n")
	d := modbus.NewDevice(modbus.DeviceConfig("boiler-7", 4), p)
	var logs syncBuffer
	b, err := modbus.NewBus(config.Bus{Name: "b", Transport: "tcp", Address: addr, Timeout: time.Second}, []*modbus.Device{d}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for range 3 {
		modbus.CheckReadings(t, "poll", b.Poll(d), map[string]modbus.Want{"ok": {Value: 0x1000, Quality: modbus.Good}, "missing": {Quality: "exception:2"}})
	}
	out := logs.String()
	if n := strings.Count(out, "configuration error"); n != 1 {
		t.Errorf("%d configuration errors logged, want 1:\n%s", n, out)
	}
	for _, want := range []string{"device=boiler-7", `register="register 1001 (protocol address 1000)"`, "exception=2", "points=[missing]"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

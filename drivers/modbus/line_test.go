package modbus_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
)

// absentUnit serves testRegisters to every unit but one, which stays
// silent as a dead device on the line does.
type absentUnit struct{ unit byte }

func (a absentUnit) ReadRegisters(unit byte, table modbus.Table, address uint16, dst []uint16) (byte, bool) {
	if unit == a.unit {
		return 0x0B, true
	}
	return testRegisters{}.ReadRegisters(unit, table, address, dst)
}

// registers125 is a profile of 125 uint16 points at addresses 0 to 124:
// one read of 125 holding registers, the most a read carries.
func registers125(t testing.TB) *modbus.Profile {
	var y strings.Builder
	y.WriteString("kind: test\npoints:\n")
	for i := range 125 {
		fmt.Fprintf(&y, "  - {name: r%03d, address: %d, type: uint16, unit: \"1\"}\n", i, i)
	}
	return modbus.MustParse(t, y.String())
}

// servedLine is a pseudo-terminal whose far end the paced server serves
// with regs at line's pace until the test ends; it returns the path a bus
// opens.
func servedLine(t testing.TB, regs modbusserver.Registers, line modbusserver.Line) string {
	t.Helper()
	pty, err := modbusserver.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	serveRTU(t, pty, regs, line)
	return pty.SlavePath
}

// A serial bus counts what its exchanges put on the line, character by
// character at the line's framing, and how long the exchanges took; the
// paced server answers no faster than the line allows.
func TestLineStatsOverRTU(t *testing.T) {
	const baud = 115200
	path := servedLine(t, absentUnit{unit: 9}, modbusserver.Line{Baud: baud, BitsPerChar: 11}) // 8E1
	p := registers125(t)
	live := modbus.NewDevice(modbus.DeviceConfig("live", 1), p)
	dead := modbus.NewDevice(modbus.DeviceConfig("dead", 9), p)
	cfg := modbus.SerialBus(path, baud)
	cfg.Timeout = 150 * time.Millisecond
	b := modbus.NewRTUBus(t, cfg, live, dead)
	if st, ok := b.Line(); !ok || st.Baud != baud || st.Frames != 0 || st.Busy != 0 || st.Exchanges != 0 {
		t.Fatalf("before any request: %+v, %v", st, ok)
	}

	c := 11 * time.Second / baud // one character
	// One read of 125 registers: a request of 8 bytes and an answer of
	// 5 + 250, each followed by 3.5 characters of silence.
	const polls = 5
	began := time.Now()
	for i := range polls {
		rs := b.Poll(live)
		if rs[124].Quality != modbus.Good || rs[124].Value != 0x1000+124 {
			t.Fatalf("poll %d, register 124: %+v", i, rs[124])
		}
	}
	elapsed := time.Since(began)
	st, ok := b.Line()
	if !ok {
		t.Fatal("a serial bus reports no line")
	}
	if want := time.Duration(polls*(2*8+7+2*255+7)) * c / 2; st.Frames != want {
		t.Errorf("frames %v, want %v (%d exchanges of 270 characters)", st.Frames, want, polls)
	}
	if st.Exchanges != polls || st.Timeouts != 0 {
		t.Errorf("exchanges %d, timeouts %d; want %d and 0", st.Exchanges, st.Timeouts, polls)
	}
	// The server takes each request's 8 characters, keeps 3.5 of silence
	// and sends its 255 paced; the bus keeps 3.5 of silence before each
	// request after the first.
	if least := time.Duration(polls*(2*8+7+2*255)-7) * c / 2; st.Busy < least || st.Busy > elapsed {
		t.Errorf("busy %v, want from %v (the line's limit) to %v (the polls' wall time)", st.Busy, least, elapsed)
	}
	t.Logf("%d polls at %d baud: frames %v, busy %v: %.0f %% of the line's limit", polls, baud, st.Frames, st.Busy, 100*float64(st.Frames)/float64(st.Busy))

	// A dead device: each request unanswered counts its frame alone, and
	// its timeout as busy.
	b.Poll(dead)
	st2, _ := b.Line()
	timeouts := st2.Timeouts - st.Timeouts
	if timeouts == 0 || st2.Exchanges-st.Exchanges != timeouts {
		t.Fatalf("a dead device's poll: %d more exchanges, %d timeouts; want as many timeouts as exchanges, at least one", st2.Exchanges-st.Exchanges, timeouts)
	}
	if got, want := st2.Frames-st.Frames, time.Duration(timeouts)*time.Duration(2*8+7)*c/2; got != want {
		t.Errorf("a dead device's poll added frames of %v, want %v (%d requests)", got, want, timeouts)
	}
	if got := st2.Busy - st.Busy; got < time.Duration(timeouts)*cfg.Timeout {
		t.Errorf("a dead device's poll added %v busy, want at least %d timeouts of %v", got, timeouts, cfg.Timeout)
	}
}

// Only a local serial line reports one: Modbus TCP and RTU over TCP have
// no line of the gateway's own.
func TestLineStatsOnlyForSerialLines(t *testing.T) {
	for name, cfg := range map[string]config.Bus{
		"tcp":          {Transport: config.TransportTCP, Address: "127.0.0.1:1"},
		"rtu-over-tcp": {Transport: config.TransportRTUOverTCP, Address: "127.0.0.1:1"},
	} {
		b := modbus.NewRTUBus(t, cfg)
		if st, ok := b.Line(); ok {
			t.Errorf("%s: reports a line: %+v", name, st)
		}
	}
}

// The answer to a read comes at the line's baud rate, a few bytes at a
// time: the reader lets them gather until the answer can be complete
// instead of waking for each burst.
func TestSerialReadsGatherTheAnswer(t *testing.T) {
	const baud = 19200
	path := servedLine(t, testRegisters{}, modbusserver.Line{Baud: baud, BitsPerChar: 11})
	d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), registers125(t))
	b := modbus.NewRTUBus(t, modbus.SerialBus(path, baud), d)
	const polls = 3
	for i := range polls {
		if rs := b.Poll(d); rs[124].Quality != modbus.Good || rs[124].Value != 0x1000+124 {
			t.Fatalf("poll %d, register 124: %+v", i, rs[124])
		}
	}
	// 255 bytes in 146 ms; the paced server sends them in bursts at its
	// timer's resolution and the last few one by one.
	if reads := b.SerialReads(); reads > polls*25 {
		t.Errorf("%d reads for %d answers of 255 bytes: the reader wakes for every burst", reads, polls)
	} else {
		t.Logf("%d reads for %d answers of 255 bytes", reads, polls)
	}
}

// failing answers every read with exception 4 (server device failure).
type failing struct{}

func (failing) ReadRegisters(byte, modbus.Table, uint16, []uint16) (byte, bool) { return 4, true }

// An exception answer is five bytes: the exchange ends once they are in,
// not when an answer of the registers asked for could have been.
func TestSerialExceptionAnswerIsNotWaitedOut(t *testing.T) {
	const baud = 19200
	line := modbusserver.Line{Baud: baud, BitsPerChar: 11}
	path := servedLine(t, failing{}, line)
	d := modbus.NewDevice(modbus.DeviceConfig("dev", 1), registers125(t))
	b := modbus.NewRTUBus(t, modbus.SerialBus(path, baud), d)
	const polls = 5
	for i := range polls {
		if rs := b.Poll(d); rs[0].Quality == modbus.Good {
			t.Fatalf("poll %d: read good: %+v", i, rs[0])
		}
	}
	st, _ := b.Line()
	// The answer to 125 registers would take 255 characters, 146 ms at
	// this rate; the exception takes 5.
	full := 255 * line.CharTime()
	if per := st.Busy / time.Duration(max(st.Exchanges, 1)); st.Exchanges != polls || per > full/4 {
		t.Errorf("%d exchanges of %v each on average, want %d well under %v: an exception answer was waited out as a full one", st.Exchanges, per, polls, full)
	} else {
		t.Logf("%d exchanges of %v each on average", st.Exchanges, per)
	}
}

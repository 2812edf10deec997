package modbus

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// spreadProfile has n uint16 points 200 registers apart: n reads, as no
// read spans more than 125 registers. Point pK at address 200K.
func spreadProfile(t *testing.T, n int) *Profile {
	t.Helper()
	var b strings.Builder
	b.WriteString("kind: test\npoints:\n")
	for k := range n {
		fmt.Fprintf(&b, "  - {name: p%d, address: %d, type: uint16, unit: \"1\"}\n", k, 200*k)
	}
	return mustParse(t, b.String())
}

// spreadWant is every point of spreadProfile good, with the value its
// address/200 + 1.
func spreadWant(n int) map[string]result {
	want := map[string]result{}
	for k := range n {
		want[fmt.Sprint("p", k)] = result{float64(k + 1), Good}
	}
	return want
}

// spreadValue is the register a spread device serves for a read.
func spreadValue(req mbRequest) []uint16 { return []uint16{req.addr/200 + 1} }

func TestPipelinePairsAnswersInAnyOrder(t *testing.T) {
	const window, reads = 4, 8
	// The device answers only once it holds a whole window, last request
	// first, each answer preceded by a frame of a transaction nobody
	// asked for. A client that waits for each answer before its next
	// request never gets one.
	var held []mbRequest
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		held = append(held, req)
		if len(held) < window {
			return
		}
		for i := len(held) - 1; i >= 0; i-- {
			r := held[i]
			stray := r
			stray.tid += 1000
			c.Write(regsFrame(stray, []uint16{0xDEAD}))
			c.Write(regsFrame(r, spreadValue(r)))
		}
		held = held[:0]
	})
	d := NewDevice(deviceConfig("dev", 5), spreadProfile(t, reads))
	b := newPipelinedBus(t, f.addr, time.Second, window, d)
	if n, mode := b.InFlight(), b.PipelineMode(); n != int(window) || mode != PipelineFixed {
		t.Errorf("%d in flight, mode %s: want %d, %s", n, mode, window, PipelineFixed)
	}
	for poll := range 2 {
		checkReadings(t, fmt.Sprint("poll ", poll+1), b.Poll(d), spreadWant(reads))
	}
	reqs := f.requests()
	if len(reqs) != 2*reads || reqs[len(reqs)-1].conn != 1 {
		t.Fatalf("requests %+v: want %d on one connection", reqs, 2*reads)
	}
	seen := map[uint16]bool{}
	for _, r := range reqs {
		if seen[r.tid] {
			t.Errorf("transaction id %d used twice", r.tid)
		}
		seen[r.tid] = true
	}
	if got := b.pipe.stale; got != 2*reads {
		t.Errorf("%d stray frames dropped, want %d", got, 2*reads)
	}
}

func TestPipelineTimeoutInAWindow(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// On the first connection the device answers the first two requests
	// and then nothing.
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if req.conn == 1 && n > 2 {
			return
		}
		c.Write(regsFrame(req, spreadValue(req)))
	})
	d := NewDevice(deviceConfig("dev", 1), spreadProfile(t, 4))
	b := newPipelinedBus(t, f.addr, timeout, 4, d)
	checkReadings(t, "poll 1", b.Poll(d), map[string]result{
		"p0": {1, Good}, "p1": {2, Good}, "p2": {0, Timeout}, "p3": {0, Timeout},
	})
	// The connection that timed out is closed; the next poll starts a
	// new one and reads everything.
	checkReadings(t, "poll 2", b.Poll(d), spreadWant(4))
	if reqs := f.requests(); reqs[len(reqs)-1].conn != 2 {
		t.Errorf("the poll after a timeout used connection %d, want a new one (2)", reqs[len(reqs)-1].conn)
	}
}

func TestPipelineBadAnswers(t *testing.T) {
	tests := []struct {
		name  string
		reply func(req mbRequest) []byte
		want  Quality
	}{
		{"another unit", func(req mbRequest) []byte {
			other := req
			other.unit++
			return regsFrame(other, spreadValue(req))
		}, CommError},
		{"another function code", func(req mbRequest) []byte {
			return frame(req, 4, 2, 0, 1)
		}, CommError},
		{"byte count beyond the data", func(req mbRequest) []byte {
			return frame(req, req.fc, 4, 0, 1)
		}, CommError},
		{"more registers than asked", func(req mbRequest) []byte {
			return regsFrame(req, []uint16{1, 2})
		}, CommError},
		{"exception without its code", func(req mbRequest) []byte {
			return frame(req, req.fc|0x80)
		}, CommError},
		{"exception", func(req mbRequest) []byte {
			return frame(req, req.fc|0x80, ExDeviceFailure)
		}, ExceptionQuality(ExDeviceFailure)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The second read of the first poll gets the bad answer.
			f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
				if n == 2 {
					c.Write(tt.reply(req))
					return
				}
				c.Write(regsFrame(req, spreadValue(req)))
			})
			d := NewDevice(deviceConfig("dev", 9), spreadProfile(t, 3))
			b := newPipelinedBus(t, f.addr, 200*time.Millisecond, 3, d)
			first := b.Poll(d)
			got := byName(first)
			if got["p0"] != (result{1, Good}) || got["p1"].quality != tt.want {
				t.Fatalf("poll 1: %+v, want p0 good and p1 %s", got, tt.want)
			}
			checkReadings(t, "poll 2", b.Poll(d), spreadWant(3))
		})
	}
}

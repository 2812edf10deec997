package modbus

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// runPolls runs b until it has delivered polls polls of its devices and
// returns each poll's readings, copied.
func runPolls(t *testing.T, b *Bus, polls int) [][]drivers.Reading {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got [][]drivers.Reading
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(_ *Device, _ time.Time, rs []drivers.Reading) {
			got = append(got, append([]drivers.Reading(nil), rs...))
			if len(got) == polls {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not deliver its polls")
	}
	return got
}

func autoDevice(t *testing.T, reads int, interval time.Duration) *Device {
	cfg := deviceConfig("dev", 1)
	cfg.Interval = interval
	return NewDevice(cfg, spreadProfile(t, reads))
}

// TestPipelineAutoQueues: a server that reads requests from the stream
// one frame at a time answers the trial after the first poll, and the
// bus sends each poll's reads together from then on.
func TestPipelineAutoQueues(t *testing.T) {
	const reads = 6
	f := startFakeDevice(t, func(_ int, req mbRequest, c net.Conn) { c.Write(regsFrame(req, spreadValue(req))) })
	d := autoDevice(t, reads, 50*time.Millisecond)
	b := newPipelinedBus(t, f.addr, time.Second, config.PipelineAuto, d)
	if got, mode := b.InFlight(), b.PipelineMode(); got != 1 || mode != PipelineUntried {
		t.Fatalf("before any poll: %d in flight, mode %s; want 1, %s", got, mode, PipelineUntried)
	}
	for i, rs := range runPolls(t, b, 4) {
		checkContract(t, fmt.Sprint("poll ", i+1), rs, spreadWant(reads))
	}
	if got, mode := b.InFlight(), b.PipelineMode(); got != reads || mode != PipelinePipelined {
		t.Errorf("after the trial: %d in flight, mode %s; want %d, %s", got, mode, reads, PipelinePipelined)
	}
	// The first poll one at a time, the trial, three polls pipelined:
	// all on the first connection.
	reqs := f.requests()
	if len(reqs) != 5*reads || reqs[len(reqs)-1].conn != 1 {
		t.Errorf("%d requests, the last on connection %d: want %d on connection 1", len(reqs), reqs[len(reqs)-1].conn, 5*reads)
	}
	if st := d.State(); st.Missed != 0 {
		t.Errorf("%d polls missed", st.Missed)
	}
}

// segmentServer is a Modbus TCP server that reads one TCP segment as one
// request, as some devices do: it answers the first request of whatever
// one read returns and throws the rest away.
type segmentServer struct {
	addr string
	mu   sync.Mutex
	// answered and dropped count requests; conns counts connections.
	answered, dropped, conns int
}

func startSegmentServer(t *testing.T) *segmentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &segmentServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var cs []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			cs = append(cs, c)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				var buf [1024]byte
				for {
					n, err := c.Read(buf[:])
					if err != nil {
						return
					}
					if n < 12 {
						continue
					}
					req := mbRequest{tid: binary.BigEndian.Uint16(buf[0:]), unit: buf[6], fc: buf[7],
						addr: binary.BigEndian.Uint16(buf[8:]), qty: binary.BigEndian.Uint16(buf[10:])}
					s.mu.Lock()
					s.answered++
					s.dropped += n/12 - 1
					s.mu.Unlock()
					c.Write(regsFrame(req, spreadValue(req)))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range cs {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// TestPipelineAutoOneRequestPerSegment: a server that answers only the
// first request of a segment fails the trial; the bus goes on one
// request at a time, and no poll loses a reading or its slot to it.
func TestPipelineAutoOneRequestPerSegment(t *testing.T) {
	const reads = 6
	s := startSegmentServer(t)
	d := autoDevice(t, reads, 300*time.Millisecond)
	b := newPipelinedBus(t, s.addr, time.Second, config.PipelineAuto, d)
	for i, rs := range runPolls(t, b, 4) {
		checkContract(t, fmt.Sprint("poll ", i+1), rs, spreadWant(reads))
	}
	if got, mode := b.InFlight(), b.PipelineMode(); got != 1 || mode != PipelineOneAtTime {
		t.Errorf("after a failed trial: %d in flight, mode %s; want 1, %s", got, mode, PipelineOneAtTime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Four polls of six reads one at a time and the trial's first read;
	// its other five thrown away. The trial's connection is closed: the
	// polls after it are on a second one, and no other trial is made.
	if s.answered != 4*reads+1 || s.dropped != reads-1 || s.conns != 2 {
		t.Errorf("answered %d, dropped %d, connections %d: want %d, %d, 2", s.answered, s.dropped, s.conns, 4*reads+1, reads-1)
	}
	if st := d.State(); st.Missed != 0 {
		t.Errorf("%d polls missed", st.Missed)
	}
}

// TestPipelineAutoFallsBack: a server that passed the trial and then
// leaves reads of a window unanswered (it queues fewer requests than it
// did, or lost them) costs those reads of that poll, as a lost answer
// does one at a time; the bus then goes back to one request at a time.
func TestPipelineAutoFallsBack(t *testing.T) {
	const reads = 6
	// Connection 1: the first poll (6 requests), the trial (6), a
	// pipelined poll (6), then only the first two of the next window.
	f := startFakeDevice(t, func(n int, req mbRequest, c net.Conn) {
		if req.conn == 1 && n > 3*reads+2 {
			return
		}
		c.Write(regsFrame(req, spreadValue(req)))
	})
	d := autoDevice(t, reads, 500*time.Millisecond)
	b := newPipelinedBus(t, f.addr, 200*time.Millisecond, config.PipelineAuto, d)
	polls := runPolls(t, b, 4)
	third := spreadWant(reads)
	for k := 2; k < reads; k++ {
		third[fmt.Sprint("p", k)] = result{0, Timeout}
	}
	for i, rs := range polls {
		want := spreadWant(reads)
		if i == 2 {
			want = third
		}
		checkContract(t, fmt.Sprint("poll ", i+1), rs, want)
	}
	if got, mode := b.InFlight(), b.PipelineMode(); got != 1 || mode != PipelineOneAtTime {
		t.Errorf("after reads of a window went unanswered: %d in flight, mode %s; want 1, %s", got, mode, PipelineOneAtTime)
	}
	reqs := f.requests()
	if last := reqs[len(reqs)-1]; last.conn != 2 || len(reqs) != 5*reads {
		t.Errorf("%d requests, the last on connection %d: want %d, the last poll on connection 2", len(reqs), last.conn, 5*reads)
	}
}

package opcua_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// chunkProxy forwards OPC UA TCP connections to a server. A server message
// of more than one chunk, which only a large value makes here, is not
// forwarded: the proxy sends an ERR message with BadEncodingLimitsExceeded
// instead and closes the connection, as a server does when a response
// does not fit the limits the client negotiated ("maxChunkCount is not big
// enough").
type chunkProxy struct {
	t      *testing.T
	l      net.Listener
	target string
	plain  bool // forward every message (a proxy that only cuts, Cut)
	mu     sync.Mutex
	drops  int
	conns  []net.Conn
}

func startChunkProxy(t *testing.T, target string) *chunkProxy { return startProxy(t, target, false) }

// startCutProxy forwards every message, and cuts every connection on Cut,
// as a flaky link or a firewall that drops flows does.
func startCutProxy(t *testing.T, target string) *chunkProxy { return startProxy(t, target, true) }

func startProxy(t *testing.T, target string, plain bool) *chunkProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &chunkProxy{t: t, l: l, target: strings.TrimPrefix(target, "opc.tcp://"), plain: plain}
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

// Endpoint is the proxy's opc.tcp URL.
func (p *chunkProxy) Endpoint() string { return "opc.tcp://" + p.l.Addr().String() }

// Drops counts the connections closed for a large message.
func (p *chunkProxy) Drops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drops
}

func (p *chunkProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() {
			io.Copy(s, c)
			s.Close()
		}()
		if p.plain {
			go func() { io.Copy(c, s); c.Close() }()
		} else {
			go p.serverToClient(s, c)
		}
	}
}

// Cut closes every connection open through the proxy.
func (p *chunkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

const badEncodingLimitsExceeded = 0x80080000

func (p *chunkProxy) serverToClient(s, c net.Conn) {
	defer c.Close()
	defer s.Close()
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(s, hdr); err != nil {
			return
		}
		size := binary.LittleEndian.Uint32(hdr[4:])
		if size < 8 || size > 1<<24 {
			return
		}
		body := make([]byte, size-8)
		if _, err := io.ReadFull(s, body); err != nil {
			return
		}
		if string(hdr[:3]) == "MSG" && hdr[3] == 'C' {
			reason := "maxChunkCount is not big enough"
			msg := binary.LittleEndian.AppendUint32([]byte("ERRF\x00\x00\x00\x00"), badEncodingLimitsExceeded)
			msg = binary.LittleEndian.AppendUint32(msg, uint32(len(reason)))
			msg = append(msg, reason...)
			binary.LittleEndian.PutUint32(msg[4:], uint32(len(msg)))
			c.Write(msg)
			p.mu.Lock()
			p.drops++
			p.mu.Unlock()
			return
		}
		if _, err := c.Write(append(hdr, body...)); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

const oversizeDevices = `    - name: pushed
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        sampling_interval: 50ms
        nodes:
          - {name: big, node_id: "ns=1;s=Big", type: float}
          - {name: power, node_id: "ns=1;s=Power"}
    - name: other
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        sampling_interval: 50ms
        nodes:
          - {name: counter, node_id: "ns=1;s=Counter"}
    - name: polled
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        nodes:
          - {name: double, node_id: "ns=1;s=Double"}
`

// TestFaultOversizedValue: a node's value grows too large for a message
// and the server closes the connection each time it would send it, in
// every new session before any notification arrives. Every device on the
// bus then hands comm_error batches on its interval (it did not: a session
// that connected reset the back-off, so none came between the
// reconnects), its state is down with the error, naming the endpoint, and
// the reconnects back off to backoff_max. Once the value is small again
// the devices read good values.
func TestFaultOversizedValue(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	proxy := startChunkProxy(t, srv.Endpoint())
	// The server keeps the sessions of the connections it closed until
	// they time out, and refuses more than 10.
	c, src := run(t, busYAML(proxy.Endpoint(), "        session_timeout: 3s\n", oversizeDevices))
	waitFor(t, "good values", 30*time.Second, func() bool {
		return c.count("pushed", "big", drivers.Good, 0) > 0 && c.count("other", "counter", drivers.Good, 0) > 0 &&
			c.count("polled", "double", drivers.Good, 0) > 0
	})
	srv.Command("big Big 200000")
	m, logged, start := c.mark(), len(c.logged()), time.Now()
	waitFor(t, "comm_error batches of the subscribed devices", 20*time.Second, func() bool {
		return c.count("pushed", "big", drivers.CommError, m) >= 5 && c.count("other", "counter", drivers.CommError, m) >= 5 &&
			c.count("polled", "double", drivers.CommError, m) >= 5 && time.Since(start) > 5*time.Second
	})
	// Attempts at once, after 1s, 2s, 2s...: not a new session as soon as
	// one dropped.
	if n := strings.Count(c.logged()[logged:], "opcua session created"); n > 6 {
		t.Errorf("%d sessions created within %s: the reconnects do not back off", n, time.Since(start).Round(time.Second))
	}
	if !strings.Contains(c.logged(), "retry_in=2s") {
		t.Error("the log does not show the back-off reaching backoff_max (2s)")
	}
	if proxy.Drops() < 2 {
		t.Errorf("%d connections dropped, want the first and those of the new sessions", proxy.Drops())
	}
	for _, d := range []string{"pushed", "other"} {
		st := state(src, d)
		if st.Up || st.Failures < 2 || !strings.Contains(st.LastError, "endpoint "+proxy.Endpoint()) {
			t.Errorf("%s: state %+v; want down after several failures, naming the endpoint", d, st)
		}
	}
	// The connection drops before the device's first notification (or
	// while its items are created): its state says which nodes were
	// waiting for a value.
	if st := state(src, "pushed"); !strings.Contains(st.LastError, "device pushed got no data this session: no value yet from node ns=1;s=Big (big), ns=1;s=Power (power)") &&
		!strings.Contains(st.LastError, "device pushed: create monitored items") {
		t.Errorf("pushed: state %+v; want the device and its nodes waiting for a value named", st)
	}
	// Backed off: 2s (backoff_max) between attempts, each device handing a
	// batch a slot meanwhile.
	m = c.mark()
	time.Sleep(2 * time.Second)
	if n := c.count("other", "counter", drivers.CommError, m); n < 5 {
		t.Errorf("other: %d comm_error batches in 2s at an interval of 200ms", n)
	}
	srv.Command("big Big 1")
	m = c.mark()
	waitFor(t, "good values again", 30*time.Second, func() bool {
		return c.count("pushed", "big", drivers.Good, m) > 0 && c.count("other", "counter", drivers.Good, m) > 0
	})
	for _, d := range []string{"pushed", "other"} {
		if st := state(src, d); !st.Up {
			t.Errorf("%s after the value shrank: %+v", d, st)
		}
		c.checkTimes(t, d, 0)
	}
}

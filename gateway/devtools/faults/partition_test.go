package faults

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// cutLink is a TCP relay to target that can be cut as a network partition
// cuts a link: nothing is refused or reset, bytes simply stop arriving.
// While cut, a relay holds what it read and forwards nothing (the senders'
// socket buffers fill, as when packets are dropped and retransmitted); a
// connection made meanwhile is accepted but not carried to the target
// (its handshake is never answered); an end that closes is not told to
// the other end. Healed, held bytes go through and closed ends are closed
// on the other side, as retransmissions and resets arrive once the link is
// back.
type cutLink struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	cond  *sync.Cond
	cut   bool
	conns map[net.Conn]bool
}

func newCutLink(t *testing.T, target string) *cutLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &cutLink{t: t, ln: ln, target: target, conns: map[net.Conn]bool{}}
	l.cond = sync.NewCond(&l.mu)
	go l.accept()
	t.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		l.cut = false
		for c := range l.conns {
			c.Close()
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	return l
}

// addr is the relay's address, host:port.
func (l *cutLink) addr() string { return l.ln.Addr().String() }

// setCut cuts or heals the link.
func (l *cutLink) setCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	l.cond.Broadcast()
	l.mu.Unlock()
}

// waitHealed blocks while the link is cut.
func (l *cutLink) waitHealed() {
	l.mu.Lock()
	for l.cut {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

func (l *cutLink) track(c net.Conn) {
	l.mu.Lock()
	l.conns[c] = true
	l.mu.Unlock()
}

func (l *cutLink) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.track(c)
		go l.serve(c)
	}
}

func (l *cutLink) serve(c net.Conn) {
	l.waitHealed()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.track(up)
	go l.pump(c, up)
	go l.pump(up, c)
}

// pump copies src to dst, holding each read while the link is cut.
func (l *cutLink) pump(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.waitHealed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.waitHealed()
			}
			src.Close()
			dst.Close()
			return
		}
	}
}

// viaLink rewrites each configuration's broker URL to go through the
// link, with a keep-alive of 2 s so that each client finds the silent
// link in seconds rather than the default 30 s.
func (r *rig) viaLink(l *cutLink) {
	from := `broker: "` + r.mq.URL + `"`
	to := `broker: "tcp://` + l.addr() + `", keepalive: 2s`
	for _, p := range append([]string{r.edgeCfg}, r.ingests...) {
		b, err := os.ReadFile(p)
		if err != nil {
			r.t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			r.t.Fatalf("%s has no %s", p, from)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// networkPartition cuts the edge and ingest off the broker for 10 s
// without a reset or a refused connection: each finds out by its
// keep-alive going unanswered (or the broker by the client's silence),
// while the edge keeps polling into its log. Healed, every batch is
// stored once, whatever crossed the link before the cut was noticed.
func networkPartition(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	link := newCutLink(t, strings.TrimPrefix(r.mq.URL, "tcp://"))
	r.viaLink(link)
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	link.setCut(true)
	time.Sleep(10 * time.Second)
	link.setCut(false)
	repaired := time.Now()
	// Both found the link silent and connected again.
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	waitCount(t, in, "mqtt connection lost", 1, 30*time.Second)
	waitCount(t, in, "subscribed", 2, 30*time.Second)
	time.Sleep(time.Second)
	r.finish(top.name("network partition 10s (no reset), healed"), e, repaired, "keep-alive 2s")
	in.Term(t, 10*time.Second)
}

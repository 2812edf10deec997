package testenv

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutLink is a TCP relay to target that can be cut as a network partition
// cuts a link: nothing is refused or reset, bytes simply stop arriving.
// While cut, a relay holds what it read and forwards nothing (the senders'
// socket buffers fill, as when packets are dropped and retransmitted); a
// connection made meanwhile is accepted but not carried to the target
// (its handshake is never answered); an end that closes is not told to
// the other end. Healed, held bytes go through and closed ends are closed
// on the other side, as retransmissions and resets arrive once the link is
// back.
type CutLink struct {
	ln     net.Listener
	target string

	mu   sync.Mutex
	cond *sync.Cond
	cut  bool
	// conns are both ends' connections, each true once severed.
	conns   map[net.Conn]bool
	dropped atomic.Int64
}

// NewCutLink starts a relay to target (host:port), healed; the test's
// end stops it and closes its connections.
func NewCutLink(t testing.TB, target string) *CutLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &CutLink{ln: ln, target: target, conns: map[net.Conn]bool{}}
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

// Addr is the relay's address, host:port.
func (l *CutLink) Addr() string { return l.ln.Addr().String() }

// SetCut cuts (true) or heals (false) the link.
func (l *CutLink) SetCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	l.cond.Broadcast()
	l.mu.Unlock()
}

// waitHealed blocks while the link is cut.
func (l *CutLink) waitHealed() {
	l.mu.Lock()
	for l.cut {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

// Sever kills the connections open now, as a link that died does: from
// now on they carry nothing, and what either end sends on them is read
// and dropped (Dropped counts the bytes). Connections made afterwards
// are carried.
func (l *CutLink) Sever() {
	l.mu.Lock()
	for c := range l.conns {
		l.conns[c] = true
	}
	l.mu.Unlock()
}

// Dropped is how many bytes severed connections have dropped.
func (l *CutLink) Dropped() int64 { return l.dropped.Load() }

func (l *CutLink) severed(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[c]
}

// track adds c, severed already if its client end (peer) was.
func (l *CutLink) track(c, peer net.Conn) {
	l.mu.Lock()
	l.conns[c] = peer != nil && l.conns[peer]
	l.mu.Unlock()
}

func (l *CutLink) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.track(c, nil)
		go l.serve(c)
	}
}

func (l *CutLink) serve(c net.Conn) {
	l.waitHealed()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.track(up, c)
	go l.pump(c, up)
	go l.pump(up, c)
}

// pump copies src to dst, holding each read while the link is cut.
func (l *CutLink) pump(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && l.severed(src) {
			l.dropped.Add(int64(n))
		} else if n > 0 {
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

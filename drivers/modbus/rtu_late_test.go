package modbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLateRepliesFence(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		owed    [][]byte // requests that timed out
		req     []byte
		wantQty int // of the fence; 0 for none
	}{
		{"nothing owed", nil, rtuRead(5, 3, 100, 10), 0},
		{"another quantity owed", [][]byte{rtuRead(5, 3, 100, 9)}, rtuRead(5, 3, 100, 10), 0},
		{"another unit owes it", [][]byte{rtuRead(6, 3, 100, 10)}, rtuRead(5, 3, 100, 10), 0},
		{"another function owes it", [][]byte{rtuRead(5, 4, 100, 10)}, rtuRead(5, 3, 100, 10), 0},
		{"owed: one register", [][]byte{rtuRead(5, 3, 0, 10)}, rtuRead(5, 3, 100, 10), 1},
		{"owed at another address", [][]byte{rtuRead(5, 3, 0, 10)}, rtuRead(5, 3, 300, 10), 1},
		{"single register: two", [][]byte{rtuRead(5, 4, 7, 1)}, rtuRead(5, 4, 7, 1), 2},
		{"owed counts skipped", [][]byte{rtuRead(5, 3, 0, 1), rtuRead(5, 3, 0, 2), rtuRead(5, 3, 0, 4)}, rtuRead(5, 3, 0, 4), 3},
		// Bits: 1..8 are one byte, 9..16 two.
		{"coils", [][]byte{rtuRead(5, 1, 0, 16)}, rtuRead(5, 1, 0, 16), 1},
		{"eight coils", [][]byte{rtuRead(5, 2, 0, 3)}, rtuRead(5, 2, 0, 8), 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lateReplies
			for _, r := range tt.owed {
				l.add(shapeOf(r), now)
			}
			f := l.fence(nil, tt.req, shapeOf(tt.req))
			if tt.wantQty == 0 {
				if f != nil {
					t.Fatalf("fence % X, want none", f)
				}
				return
			}
			if len(f) != 8 || !ValidCRC(f) {
				t.Fatalf("fence % X is not a read request", f)
			}
			if !bytes.Equal(f[:4], tt.req[:4]) {
				t.Errorf("fence % X: unit, function or address differ from the request's % X", f[:4], tt.req[:4])
			}
			if q := int(binary.BigEndian.Uint16(f[4:6])); q != tt.wantQty {
				t.Errorf("fence reads %d, want %d", q, tt.wantQty)
			}
			if fs := shapeOf(f); l.owes(fs) || fs.count == shapeOf(tt.req).count {
				t.Errorf("the fence's reply (%d bytes) can be confused with an owed one or the request's", fs.count)
			}
		})
	}
}

func TestLateRepliesForget(t *testing.T) {
	now := time.Now()
	var l lateReplies
	a, b := rtuRead(5, 3, 0, 10), rtuRead(6, 3, 0, 10)
	l.add(shapeOf(a), now.Add(-time.Minute))
	l.add(shapeOf(b), now)
	l.expire(now, lateHorizon(time.Second))
	if l.owes(shapeOf(a)) || !l.owes(shapeOf(b)) {
		t.Errorf("after a 30 s horizon: owes a minute-old reply %v, a fresh one %v", l.owes(shapeOf(a)), l.owes(shapeOf(b)))
	}
	l.settled(6)
	if l.owesUnit(6) {
		t.Error("unit 6 still owes after settling")
	}
	for i := range 2 * maxOwed {
		l.add(shapeOf(rtuRead(byte(1+i%200), 3, 0, uint16(1+i/200))), now.Add(time.Duration(i)))
	}
	if len(l.owed) != maxOwed {
		t.Errorf("%d remembered, want at most %d", len(l.owed), maxOwed)
	}
	if !l.owes(shapeOf(rtuRead(byte(1+(2*maxOwed-1)%200), 3, 0, 1))) {
		t.Error("the newest was forgotten")
	}
	// Writes are never fenced (the driver does not write).
	l.add(shapeOf(AppendCRC([]byte{5, 6, 0, 1, 0, 2})), now)
	if l.owesUnit(5) {
		t.Error("a write remembered")
	}
}

// A device that answers the fence with an exception: that may be a late
// exception owed since the timeout, so the request is not sent and the
// poll is a timeout, until a normal answer proves the line clear.
func TestRTUFenceException(t *testing.T) {
	const timeout = 150 * time.Millisecond
	var mu sync.Mutex
	var qty []uint16 // of the requests received
	addr := fakeRTU(t, func(n int, req []byte, c net.Conn) {
		q := binary.BigEndian.Uint16(req[4:6])
		mu.Lock()
		qty = append(qty, q)
		mu.Unlock()
		switch {
		case n == 1:
			// No answer: request 1 times out.
		case q == 2:
			c.Write(AppendCRC([]byte{req[0], req[1] | 0x80, 2}))
		default:
			c.Write(rtuCounter(req, n))
		}
	})
	tr := newRTUOverTCP(addr, timeout)
	t.Cleanup(func() { tr.Close() })
	req := rtuRead(9, 3, 40, 1)
	if _, err := tr.Send(req); !errors.Is(err, ErrTimeout) {
		t.Fatalf("request 1: %v, want a timeout", err)
	}
	if _, err := tr.Send(req); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "exception 2") {
		t.Fatalf("after a fence answered by exception 2: %v, want a timeout naming it", err)
	}
	// A read of three registers, a shape nothing owes, answered normally.
	if _, err := tr.Send(rtuRead(9, 3, 0, 3)); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.Send(req)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.BigEndian.Uint16(resp[3:5]); v != 4 {
		t.Errorf("read %d, want 4 (the answer to request 4)", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []uint16{1, 2, 3, 1}; !slices.Equal(qty, want) {
		t.Errorf("quantities requested %v, want %v (the request, a fence, another read, the request)", qty, want)
	}
}

package modbus

import (
	"encoding/binary"
	"time"
)

// An RTU response carries no transaction id: it names its unit and
// function code and, for a read, its byte count, nothing else. A device that
// answers after the timeout answers a request the master has given up on,
// and when the master's next request to that unit asks the same function
// and quantity, the late reply looks exactly like the answer to it: the
// values read a poll earlier (or more) would be taken for the current ones,
// with good quality. Waiting for the line to be quiet after a timeout
// (settle) catches a reply that comes soon after it, not one that comes
// later than the next poll.
//
// lateReplies remembers, per unit, the shapes of the requests that did not
// get their answer, for a while (lateHorizon). Before a request whose reply
// could be confused with one of them, the transport sends a fence: a read
// of the same unit, function and address with a quantity whose byte count
// no outstanding request has. A device answers its requests in order, so
// once the fence's own answer is in, every reply owed before it has come
// (and been discarded as noise, having another byte count); and any normal
// response with a shape none of them has proves the same.
//
// An exception response is five bytes whatever the request, so it proves
// nothing: it may be the late exception of an earlier request. A fence
// answered by an exception leaves the line unresolved, and a request
// answered by an exception while replies are owed is itself remembered as
// owed.
type lateReplies struct {
	owed []owedReply
}

type owedReply struct {
	unit, fc byte
	count    int       // the byte count of its normal response
	at       time.Time // when it was last given up on
}

const (
	// maxOwed bounds the requests remembered; the oldest is forgotten
	// first.
	maxOwed = 64
	// minLateHorizon is how long a reply is awaited at least after its
	// request timed out; a longer timeout waits ten times the timeout.
	minLateHorizon = 30 * time.Second
)

// lateHorizon is how long after its timeout a reply may still come.
func lateHorizon(timeout time.Duration) time.Duration {
	return max(minLateHorizon, 10*timeout)
}

// fenceable reports whether a request of this shape can be fenced: the
// reads, whose responses carry a byte count set by the quantity.
func (sh rtuShape) fenceable() bool {
	switch sh.fc {
	case 0x01, 0x02, 0x03, 0x04:
		return sh.count >= 0
	}
	return false
}

// expire forgets the requests given up on before horizon.
func (l *lateReplies) expire(now time.Time, horizon time.Duration) {
	kept := l.owed[:0]
	for _, o := range l.owed {
		if now.Sub(o.at) < horizon {
			kept = append(kept, o)
		}
	}
	clear(l.owed[len(kept):])
	l.owed = kept
}

// owes reports whether a reply is owed for a request of this shape.
func (l *lateReplies) owes(sh rtuShape) bool {
	for _, o := range l.owed {
		if o.unit == sh.unit && o.fc == sh.fc && o.count == sh.count {
			return true
		}
	}
	return false
}

// owesUnit reports whether any reply of the unit is owed.
func (l *lateReplies) owesUnit(unit byte) bool {
	for _, o := range l.owed {
		if o.unit == unit {
			return true
		}
	}
	return false
}

// add remembers that a request of this shape did not get its answer.
func (l *lateReplies) add(sh rtuShape, now time.Time) {
	if !sh.fenceable() {
		return
	}
	for i := range l.owed {
		if o := &l.owed[i]; o.unit == sh.unit && o.fc == sh.fc && o.count == sh.count {
			o.at = now
			return
		}
	}
	if len(l.owed) == maxOwed {
		oldest := 0
		for i, o := range l.owed {
			if o.at.Before(l.owed[oldest].at) {
				oldest = i
			}
		}
		l.owed = append(l.owed[:oldest], l.owed[oldest+1:]...)
	}
	l.owed = append(l.owed, owedReply{unit: sh.unit, fc: sh.fc, count: sh.count, at: now})
}

// settled forgets what the unit owed: a reply nothing owed could look like
// came in.
func (l *lateReplies) settled(unit byte) {
	kept := l.owed[:0]
	for _, o := range l.owed {
		if o.unit != unit {
			kept = append(kept, o)
		}
	}
	clear(l.owed[len(kept):])
	l.owed = kept
}

// fence appends to dst the fence to send before req (of shape sh), or
// returns nil when req's reply cannot be confused with an owed one. Its
// quantity is the smallest whose byte count neither req nor an owed
// request of the unit and function has, so it lies within req's range
// unless req reads a single register or eight bits or fewer.
func (l *lateReplies) fence(dst, req []byte, sh rtuShape) []byte {
	if !sh.fenceable() || !l.owes(sh) {
		return nil
	}
	taken := func(count int) bool {
		if count == sh.count {
			return true
		}
		for _, o := range l.owed {
			if o.unit == sh.unit && o.fc == sh.fc && o.count == count {
				return true
			}
		}
		return false
	}
	// A byte count of c is c/2 registers, or up to 8c bits; a read
	// brings at most 125 registers or 2000 bits, 250 bytes.
	for c := 1; c <= 250; c++ {
		var qty int
		switch sh.fc {
		case 0x03, 0x04:
			if c%2 != 0 {
				continue
			}
			qty = c / 2
		default:
			qty = 8*c - 7
		}
		if taken(c) {
			continue
		}
		dst = append(dst, req[0], req[1], req[2], req[3])
		dst = binary.BigEndian.AppendUint16(dst, uint16(qty))
		return AppendCRC(dst)
	}
	return nil
}

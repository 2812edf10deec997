package modbus

import (
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/eipgw/eipgw/drivers"
)

// qcode is a reading's quality as a device keeps it: a number instead of
// a string, so that the device's latest readings hold no pointers.
type qcode uint16

const (
	qNone qcode = iota // not read yet: the empty quality
	qGood
	qOutOfRange
	qTimeout
	qCommError
	qStale
	qSubstituted
	qException                    // qException + code: drivers.Exception(code)
	qOther     = qException + 256 // qOther + i: otherQualities[i]
)

var (
	otherMu        sync.Mutex
	otherQualities []Quality // qualities outside the contract, in the order first seen
)

// qcodeOf is the code of quality q.
func qcodeOf(q Quality) qcode {
	switch q {
	case "":
		return qNone
	case Good:
		return qGood
	case OutOfRange:
		return qOutOfRange
	case Timeout:
		return qTimeout
	case CommError:
		return qCommError
	case drivers.Stale:
		return qStale
	case drivers.Substituted:
		return qSubstituted
	}
	if c, ok := strings.CutPrefix(string(q), "exception:"); ok {
		if n, err := strconv.Atoi(c); err == nil && n >= 0 && n <= 255 && drivers.Exception(byte(n)) == q {
			return qException + qcode(n)
		}
	}
	// The driver makes no other quality; kept exact all the same.
	otherMu.Lock()
	defer otherMu.Unlock()
	for i, o := range otherQualities {
		if o == q {
			return qOther + qcode(i)
		}
	}
	otherQualities = append(otherQualities, q)
	return qOther + qcode(len(otherQualities)-1)
}

// quality is the quality of code c.
func (c qcode) quality() Quality {
	switch {
	case c == qNone:
		return ""
	case c == qGood:
		return Good
	case c == qOutOfRange:
		return OutOfRange
	case c == qTimeout:
		return Timeout
	case c == qCommError:
		return CommError
	case c == qStale:
		return drivers.Stale
	case c == qSubstituted:
		return drivers.Substituted
	case c < qOther:
		return drivers.Exception(byte(c - qException))
	}
	otherMu.Lock()
	defer otherMu.Unlock()
	return otherQualities[c-qOther]
}

// noAnswer reports whether the quality says that the device did not
// answer: a timeout, a failed connection, or exception 0x0A or 0x0B (its
// gateway says so).
func (c qcode) noAnswer() bool {
	switch c {
	case qTimeout, qCommError, qException + 0x0A, qException + 0x0B:
		return true
	}
	return false
}

// readingBufs lends the buffers in which the buses hand each poll's
// readings to their sinks, in the contract's form. There are as many as
// processors (the sinks' work is CPU-bound: encoding and appending to the
// log), so that readings of 80 bytes are held for the polls being handed
// over rather than for every point of every device; a bus whose poll
// completes while all are lent waits for one.
var readingBufs = newLender(runtime.GOMAXPROCS(0))

// lender lends reading buffers, at most as many at once as it was made
// with; each grows to the largest poll it carried.
type lender chan []drivers.Reading

func newLender(n int) lender {
	l := make(lender, max(n, 1))
	for range cap(l) {
		l <- nil
	}
	return l
}

// get waits for a buffer and returns it with length n.
func (l lender) get(n int) []drivers.Reading {
	b := <-l
	if cap(b) < n {
		b = make([]drivers.Reading, n)
	}
	return b[:n]
}

// put gives back a buffer from get.
func (l lender) put(b []drivers.Reading) { l <- b }

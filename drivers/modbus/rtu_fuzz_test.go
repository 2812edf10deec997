package modbus

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

// scriptedPort is a link that delivers data, then fails with io.EOF; what
// is written to it is kept.
type scriptedPort struct {
	mu      sync.Mutex
	data    []byte
	written bytes.Buffer
}

func (p *scriptedPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	// Deliver in small pieces, as a serial line does.
	n := copy(b[:min(len(b), 7)], p.data)
	p.data = p.data[n:]
	return n, nil
}

func (p *scriptedPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written.Write(b)
}

func (p *scriptedPort) Close() error { return nil }

func fuzzSeeds(f *testing.F) {
	req := rtuRead(7, 3, 0, 2)
	good := rtuRegs(req, 0x1234, 0x5678)
	f.Add(uint8(3), uint16(2), good)
	f.Add(uint8(3), uint16(2), append([]byte{0xFF, 7, 3}, good...))
	f.Add(uint8(3), uint16(2), AppendCRC([]byte{7, 0x83, 2}))
	f.Add(uint8(1), uint16(10), AppendCRC([]byte{7, 1, 2, 0xFF, 0x03}))
	f.Add(uint8(6), uint16(1), AppendCRC([]byte{7, 6, 0, 1, 0, 1}))
	f.Add(uint8(0x18), uint16(0), AppendCRC([]byte{7, 0x18, 0, 4, 0, 1, 0, 9}))
	f.Add(uint8(4), uint16(125), []byte{})
}

// FuzzRTUResponse feeds arbitrary bytes to the RTU transport as the reply to
// a request: it never panics, and whatever it returns is a complete frame
// of the request's unit and function (or its exception) with a good CRC.
func FuzzRTUResponse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, fc uint8, qty uint16, data []byte) {
		req := rtuRead(7, fc, 0, qty)
		port := &scriptedPort{data: bytes.Clone(data)}
		tr := &rtuTransport{open: func() (io.ReadWriteCloser, error) { return port, nil }, timeout: time.Second}
		resp, err := tr.Send(req)
		tr.Close()
		if err != nil {
			return
		}
		if !ValidCRC(resp) || resp[0] != 7 || (resp[1] != fc && resp[1] != fc|0x80) {
			t.Fatalf("accepted % X for request % X", resp, req)
		}
		if n, st := shapeOf(req).check(resp); st != frameComplete || n != len(resp) {
			t.Fatalf("accepted % X: check = %d, %d", resp, n, st)
		}
		if !bytes.Contains(data, resp) {
			t.Fatalf("response % X is not in the input", resp)
		}
	})
}

// FuzzFindFrame: findFrame's bounds always lie inside the buffer and keep
// never passes a found frame.
func FuzzFindFrame(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, fc uint8, qty uint16, data []byte) {
		start, end, found, keep := findFrame(data, shapeOf(rtuRead(7, fc, 0, qty)))
		if keep < 0 || keep > len(data) {
			t.Fatalf("keep %d of %d", keep, len(data))
		}
		if found && (start < 0 || end > len(data) || start >= end || keep != start || !ValidCRC(data[start:end])) {
			t.Fatalf("frame [%d:%d] keep %d in % X", start, end, keep, data)
		}
	})
}

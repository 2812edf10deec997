//go:build !linux

package modbusserver

import (
	"errors"
	"os"
	"runtime"
)

// PTY is a pseudo-terminal pair; only Linux's are supported.
type PTY struct {
	Master    *os.File
	SlavePath string
}

// OpenPTY fails: pseudo-terminal pairs are opened only on Linux. Serve RTU
// on a serial device there instead.
func OpenPTY() (*PTY, error) {
	return nil, errors.New("pseudo-terminals are supported on Linux only, not on " + runtime.GOOS + ": serve RTU on a serial device")
}

// Read reads from the master side.
func (p *PTY) Read(b []byte) (int, error) { return p.Master.Read(b) }

// Write writes to the master side.
func (p *PTY) Write(b []byte) (int, error) { return p.Master.Write(b) }

// Close closes the master side.
func (p *PTY) Close() error { return p.Master.Close() }

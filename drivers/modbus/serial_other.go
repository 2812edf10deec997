//go:build !linux

package modbus

import (
	"io"
	"time"

	"github.com/goburrow/serial"
)

// openSerial opens a serial line for Modbus RTU with goburrow/serial, whose
// reads wake every serialPollPeriod to notice a Close.
func openSerial(cfg serial.Config) (io.ReadWriteCloser, error) {
	cfg.Timeout = serialPollPeriod
	return serial.Open(&cfg)
}

// serialPollPeriod is how often a serial link's reader wakes while idle to
// notice that it should stop.
const serialPollPeriod = 50 * time.Millisecond

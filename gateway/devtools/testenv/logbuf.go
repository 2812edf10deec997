package testenv

import (
	"strings"
	"sync"
)

// LogBuffer collects what the log handlers of several goroutines write
// (slog.NewTextHandler(&buf, nil)), for a test to read.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

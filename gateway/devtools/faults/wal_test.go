package faults

import "github.com/eipgw/eipgw/gateway/plumbing/wal"

func openWAL(dir string) (*wal.WAL, error) {
	return wal.Open(wal.Options{Dir: dir, SegmentBytes: 1 << 20, MaxBytes: 2 << 30})
}

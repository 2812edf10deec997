//go:build !linux

package modbus

import "net"

// rawConn returns c: elsewhere the connection is read and written through
// the net package.
func rawConn(c net.Conn) net.Conn { return c }

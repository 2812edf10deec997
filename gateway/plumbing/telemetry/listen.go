package telemetry

import (
	"fmt"
	"log/slog"
	"net"
)

// Listen opens a TCP listener on addr for what (for example "metrics" or
// "simulator fault control") and logs a warning with the bound address when
// the listener is reachable from beyond the loopback interface: an empty
// host or ":PORT" listens on every interface, which is allowed but never
// silent.
func Listen(addr, what string, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !Loopback(ln.Addr()) {
		log.Warn("listening beyond loopback: reachable from the network", "what", what, "listen", ln.Addr().String(), "requested", addr)
	}
	return ln, nil
}

// Loopback reports whether a bound TCP address accepts connections from
// this host only. An unspecified address (0.0.0.0, ::) is every interface.
func Loopback(a net.Addr) bool {
	var ip net.IP
	switch v := a.(type) {
	case *net.TCPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return false
		}
		ip = net.ParseIP(host)
	}
	return ip != nil && ip.IsLoopback()
}

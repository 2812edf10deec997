package mqttconn

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/eipgw/eipgw/config"
)

// TLSConfig returns the client TLS configuration of a connection to
// endpoint (a URL, named in logs and errors without credentials) from its
// tls block; a nil block is the system's CA store with TLS 1.2 at least.
// It serves the MQTT broker and InfluxDB alike. A configuration that skips
// certificate verification is returned, and logged at warn.
func TLSConfig(t *config.TLS, endpoint string, log *slog.Logger) (*tls.Config, error) {
	c, err := t.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("tls for %s: %w", config.RedactURL(endpoint), err)
	}
	if c.InsecureSkipVerify {
		log.Warn("tls certificate verification is off (insecure_skip_verify): anyone on the path can read and forge this connection",
			"endpoint", config.RedactURL(endpoint))
	}
	return c, nil
}

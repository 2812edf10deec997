package influxwrite

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
)

// Writer sends one write request of newline-separated lines; the blocking
// write API of influxdb-client-go implements it.
type Writer interface {
	WriteRecord(ctx context.Context, line ...string) error
}

var _ Writer = api.WriteAPIBlocking(nil)

// defaultTimeout bounds one request when the configuration sets none.
const defaultTimeout = 10 * time.Second

// Client writes to one configured InfluxDB.
type Client struct {
	// Influx is the library's client, for its other APIs (Ping, ...).
	Influx influxdb2.Client
	// Writer is the blocking write API: one request per call, no retry
	// and no buffer of its own (the library's retrying writer drops data
	// when its buffer is full or MaxRetryTime passed; eipgw retries
	// itself, so that nothing is acknowledged upstream before it is
	// stored).
	Writer api.WriteAPIBlocking
	// HTTP is the HTTP client of the writes (timeout and TLS), for other
	// requests to the same server.
	HTTP *http.Client
}

// New builds the client of db: v2 write API with millisecond precision,
// each request bounded by db.Timeout (10 s if unset), TLS from db.TLS
// (mqttconn.TLSConfig: a configuration without certificate verification is
// logged at warn). It does no I/O beyond reading the TLS files.
func New(db *config.InfluxDB, log *slog.Logger) (*Client, error) {
	if db == nil || db.URL == "" {
		return nil, errors.New("influxdb: no url configured")
	}
	tlsCfg, err := mqttconn.TLSConfig(db.TLS, db.URL, log)
	if err != nil {
		return nil, err
	}
	timeout := db.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 16
	hc := &http.Client{Timeout: timeout, Transport: tr}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPClient(hc)
	ic := influxdb2.NewClientWithOptions(db.URL, db.Token, opts)
	return &Client{Influx: ic, Writer: ic.WriteAPIBlocking(db.Org, db.Bucket), HTTP: hc}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() {
	c.Influx.Close()
	c.HTTP.CloseIdleConnections()
}

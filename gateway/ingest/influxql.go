package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// influxQL runs ingest's read queries (completeness, sequence checks)
// through the shared InfluxQL client.
type influxQL struct{ *influxwrite.Query }

func newInfluxQL(base, bucket, token string, timeout time.Duration) *influxQL {
	return influxQLFor(&config.InfluxDB{URL: base, Bucket: bucket, Token: token, Timeout: timeout})
}

// influxQLFor is the query client of a configured InfluxDB, with its TLS
// settings. A tls block that no longer loads fails every query with its
// error.
func influxQLFor(db *config.InfluxDB) *influxQL {
	return &influxQL{influxwrite.MustQuery(db, 0)}
}

type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]json.Number   `json:"values"`
}

// query runs q and returns the series of its first statement; times are
// epoch milliseconds. Only numeric columns may be selected.
func (c *influxQL) query(ctx context.Context, q string) ([]series, error) {
	body, err := c.Post(ctx, q, 256<<20)
	if err != nil {
		return nil, err
	}
	var r struct {
		Results []struct {
			Series []series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("influxql: %w", err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("influxql: %s", r.Error)
	}
	if len(r.Results) == 0 {
		return nil, nil
	}
	if e := r.Results[0].Error; e != "" {
		return nil, fmt.Errorf("influxql: %s", e)
	}
	return r.Results[0].Series, nil
}

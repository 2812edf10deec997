package ingest

import (
	"context"
	"encoding/json"
	"fmt"
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
	all, err := c.Series(ctx, q, 256<<20)
	if err != nil {
		return nil, err
	}
	out := make([]series, len(all))
	for k, s := range all {
		out[k] = series{Name: s.Name, Tags: s.Tags, Columns: s.Columns, Values: make([][]json.Number, len(s.Values))}
		for r, v := range s.Values {
			nums := make([]json.Number, len(v))
			for i, x := range v {
				switch x := x.(type) {
				case json.Number:
					nums[i] = x
				case nil:
				default:
					return nil, fmt.Errorf("influxql: %s column %q holds %v, not a number", s.Name, s.Columns[i], x)
				}
			}
			out[k].Values[r] = nums
		}
	}
	return out, nil
}

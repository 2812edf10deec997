package statement

import (
	"context"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// Series is one series of an InfluxQL answer. Values hold json.Number for
// numbers, string, bool or nil; times are epoch milliseconds.
type Series = influxwrite.Series

// Querier runs one InfluxQL statement and returns its series.
type Querier interface {
	Query(ctx context.Context, q string) ([]Series, error)
}

// InfluxQL queries the /query endpoint that InfluxDB 1.8, 2.x (with a DBRP
// mapping) and 3.x serve.
type InfluxQL struct{ q *influxwrite.Query }

var _ Querier = (*InfluxQL)(nil)

// NewInfluxQL is a client of the configured InfluxDB (its bucket's
// database and retention policy, token and TLS settings); a month's query
// gets at least 30 s.
func NewInfluxQL(db *config.InfluxDB) (*InfluxQL, error) {
	q, err := influxwrite.NewQuery(db, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &InfluxQL{q}, nil
}

// Query runs q and returns the series of its first statement; numbers are
// json.Number, times epoch milliseconds.
func (c *InfluxQL) Query(ctx context.Context, q string) ([]Series, error) {
	return c.q.Series(ctx, q, 512<<20)
}

// quote returns s as an InfluxQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ident returns s as a double-quoted InfluxQL identifier.
func ident(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// rfc returns t as an InfluxQL time literal.
func rfc(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'" }

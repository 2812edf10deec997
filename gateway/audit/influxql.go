package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

// Store reads what InfluxDB holds through the InfluxQL endpoint (/query),
// which InfluxDB 1.8, 2.x (with a DBRP mapping) and 3.x serve.
type Store struct{ q *influxwrite.Query }

// NewStore returns a reader of the configured InfluxDB (its URL, bucket's
// database, token, timeout and TLS settings).
func NewStore(db *config.InfluxDB) (*Store, error) {
	// An audit query reads an hour of a park: allow it more than a write.
	q, err := influxwrite.NewQuery(db, 60*time.Second)
	if err != nil {
		return nil, err
	}
	return &Store{q}, nil
}

// row is one row of a result: column name to value (numbers as
// json.Number, so integers stay exact), plus the series' tags.
type row map[string]any

func (r row) str(k string) string {
	s, _ := r[k].(string)
	return s
}

func (r row) millis() (int64, error) {
	n, ok := r["time"].(json.Number)
	if !ok {
		return 0, fmt.Errorf("row without a time: %v", r["time"])
	}
	return strconv.ParseInt(n.String(), 10, 64)
}

// rows runs q and returns the rows of its first statement, tags merged in;
// times are epoch milliseconds.
func (s *Store) rows(ctx context.Context, q string) ([]row, error) {
	series, err := s.q.Series(ctx, q, 1<<30)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", q, err)
	}
	var out []row
	for _, se := range series {
		for _, v := range se.Values {
			rw := make(row, len(v)+len(se.Tags))
			for k, t := range se.Tags {
				rw[k] = t
			}
			for i, c := range se.Columns {
				if i < len(v) && v[i] != nil {
					rw[c] = v[i]
				}
			}
			out = append(out, rw)
		}
	}
	return out, nil
}

// measurements lists the measurements of the database.
func (s *Store) measurements(ctx context.Context) ([]string, error) {
	rs, err := s.rows(ctx, "SHOW MEASUREMENTS")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.str("name"))
	}
	return out, nil
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// quoteString quotes an InfluxQL string literal.
func quoteString(s string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'`
}

// window is the WHERE clause of a park and a time range [from, to).
func window(park string, from, to time.Time) string {
	return fmt.Sprintf("park = %s AND time >= %dms AND time < %dms", quoteString(park), from.UnixMilli(), to.UnixMilli())
}

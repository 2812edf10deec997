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

// row is one row of a result: its values (numbers as json.Number, so
// integers stay exact) under its series' columns, and the series' tags.
// The columns' index is built once a series, not once a row.
type row struct {
	s *columns
	v []any
}

// columns are the column names of a series, their positions, and the
// series' tags (those with a value).
type columns struct {
	names []string
	index map[string]int
	tags  map[string]string
}

// column returns the value of column k, absent when null.
func (r row) column(k string) (any, bool) {
	if i, ok := r.s.index[k]; ok && i < len(r.v) && r.v[i] != nil {
		return r.v[i], true
	}
	return nil, false
}

// get returns the value of column or tag k; a null column is absent.
func (r row) get(k string) (any, bool) {
	if v, ok := r.column(k); ok {
		return v, true
	}
	if t, ok := r.s.tags[k]; ok {
		return t, true
	}
	return nil, false
}

// val is get's value (nil when absent).
func (r row) val(k string) any {
	v, _ := r.get(k)
	return v
}

func (r row) str(k string) string {
	s, _ := r.val(k).(string)
	return s
}

// all yields each column with a value, then each tag not also a column
// with a value.
func (r row) all(yield func(k string, v any) bool) {
	for i, k := range r.s.names {
		if i < len(r.v) && r.v[i] != nil && !yield(k, r.v[i]) {
			return
		}
	}
	for k, t := range r.s.tags {
		if _, ok := r.column(k); ok {
			continue // the column's value, as get gives it
		}
		if !yield(k, t) {
			return
		}
	}
}

func (r row) millis() (int64, error) {
	n, ok := r.val("time").(json.Number)
	if !ok {
		return 0, fmt.Errorf("row without a time: %v", r.val("time"))
	}
	return strconv.ParseInt(n.String(), 10, 64)
}

// rows runs q and returns the rows of its first statement; times are epoch
// milliseconds.
func (s *Store) rows(ctx context.Context, q string) ([]row, error) {
	series, err := s.q.Series(ctx, q, 1<<30)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", q, err)
	}
	n := 0
	for _, se := range series {
		n += len(se.Values)
	}
	out := make([]row, 0, n)
	for _, se := range series {
		c := &columns{names: se.Columns, index: make(map[string]int, len(se.Columns))}
		for i, k := range se.Columns {
			c.index[k] = i
		}
		for k, t := range se.Tags {
			if t != "" { // GROUP BY * names a series' absent tags with ""
				if c.tags == nil {
					c.tags = map[string]string{}
				}
				c.tags[k] = t
			}
		}
		for _, v := range se.Values {
			out = append(out, row{s: c, v: v})
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

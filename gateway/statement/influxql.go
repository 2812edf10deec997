package statement

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
)

// Series is one series of an InfluxQL answer. Values hold json.Number for
// numbers, string, bool or nil; times are epoch milliseconds.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Querier runs one InfluxQL statement and returns its series.
type Querier interface {
	Query(ctx context.Context, q string) ([]Series, error)
}

// InfluxQL queries the /query endpoint that InfluxDB 1.8, 2.x (with a DBRP
// mapping) and 3.x serve.
type InfluxQL struct {
	base, db, rp, token string
	client              *http.Client
}

var _ Querier = (*InfluxQL)(nil)

// NewInfluxQL returns a client for the configured InfluxDB: bucket
// "database/retention-policy" (InfluxDB 1.8) or a bucket mapped to a
// database, its token, timeout and TLS settings. It does no I/O.
func NewInfluxQL(db *config.InfluxDB) (*InfluxQL, error) {
	if db == nil || db.URL == "" {
		return nil, fmt.Errorf("influxql: no influxdb url configured")
	}
	name, rp, _ := strings.Cut(db.Bucket, "/")
	timeout := db.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c := &InfluxQL{base: strings.TrimRight(db.URL, "/"), db: name, rp: rp, token: db.Token, client: &http.Client{Timeout: timeout}}
	tc, err := db.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("influxql: tls for %s: %w", config.RedactURL(db.URL), err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	c.client.Transport = t
	return c, nil
}

// Query runs q and returns the series of its first statement.
func (c *InfluxQL) Query(ctx context.Context, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "db": {c.db}, "epoch": {"ms"}}
	if c.rp != "" {
		form.Set("rp", c.rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influxql: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return nil, fmt.Errorf("influxql: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("influxql: status %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var r struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("influxql: decoding the answer: %w", err)
	}
	switch {
	case r.Error != "":
		return nil, fmt.Errorf("influxql: %s", r.Error)
	case len(r.Results) == 0:
		return nil, nil
	case r.Results[0].Error != "":
		return nil, fmt.Errorf("influxql: %s", r.Results[0].Error)
	}
	return r.Results[0].Series, nil
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

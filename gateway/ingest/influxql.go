package ingest

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

// influxQL runs read queries through the InfluxQL endpoint (/query), which
// InfluxDB 1.8, 2.x (with a DBRP mapping) and 3.x serve.
type influxQL struct {
	base, db, token string
	client          *http.Client
}

func newInfluxQL(base, bucket, token string, timeout time.Duration) *influxQL {
	db, _, _ := strings.Cut(bucket, "/")
	return &influxQL{base: strings.TrimRight(base, "/"), db: db, token: token, client: &http.Client{Timeout: timeout}}
}

// influxQLFor is newInfluxQL for a configured InfluxDB, with its TLS
// settings (CA, client certificate, server name, minimum version). A tls
// block that no longer loads fails every query with its error.
func influxQLFor(db *config.InfluxDB) *influxQL {
	c := newInfluxQL(db.URL, db.Bucket, db.Token, db.Timeout)
	tc, err := db.TLS.ClientConfig()
	if err != nil {
		c.client.Transport = failingTransport{fmt.Errorf("influxql: tls for %s: %w", config.RedactURL(db.URL), err)}
		return c
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	c.client.Transport = t
	return c
}

type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]json.Number   `json:"values"`
}

// query runs q and returns the series of its first statement; times are
// epoch milliseconds. Only numeric columns may be selected.
func (c *influxQL) query(ctx context.Context, q string) ([]series, error) {
	body, err := c.post(ctx, q, 256<<20)
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

// post runs q (epoch milliseconds) and returns the answer's body, at most
// limit bytes; a status other than 2xx is an error with InfluxDB's text.
func (c *influxQL) post(ctx context.Context, q string, limit int64) ([]byte, error) {
	form := url.Values{"q": {q}, "db": {c.db}, "epoch": {"ms"}}
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
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("influxql: status %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

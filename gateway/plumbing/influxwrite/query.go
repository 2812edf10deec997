package influxwrite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
)

// Query posts InfluxQL statements to one configured InfluxDB's /query
// endpoint (served by InfluxDB 1.8, 2.x with a DBRP mapping, and 3.x), with
// the configuration's TLS settings and token, the bucket's database and
// retention policy, and times as epoch milliseconds. The callers decode
// the answer in the shape they need (ingest's checks, statements, audit).
type Query struct {
	base, db, rp, token string
	client              *http.Client
	bufs                chan *bytes.Buffer // see keptAnswers
}

// NewQuery is a query client for db whose requests time out after the
// configured timeout, or minTimeout when that is longer (reading a month
// takes longer than a write). A tls block that does not load is an error.
func NewQuery(db *config.InfluxDB, minTimeout time.Duration) (*Query, error) {
	if db == nil || db.URL == "" {
		return nil, fmt.Errorf("influxql: no influxdb url configured")
	}
	q := newQuery(db, minTimeout)
	tc, err := db.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("influxql: tls for %s: %w", config.RedactURL(db.URL), err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	// On this host gzip only costs both ends CPU (InfluxDB's share of a
	// month's audit was a third higher with it); across a network it
	// saves more than it costs.
	t.DisableCompression = onThisHost(db.URL)
	q.client.Transport = t
	return q, nil
}

// MustQuery is NewQuery for a long-running role: a tls block that no
// longer loads (its files changed since the configuration was checked)
// fails every request with its error instead of the role's start.
func MustQuery(db *config.InfluxDB, minTimeout time.Duration) *Query {
	q, err := NewQuery(db, minTimeout)
	if err != nil {
		q = newQuery(db, minTimeout)
		q.client.Transport = failing{err}
	}
	return q
}

func newQuery(db *config.InfluxDB, minTimeout time.Duration) *Query {
	name, rp, _ := strings.Cut(db.Bucket, "/")
	timeout := db.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Query{base: strings.TrimRight(db.URL, "/"), db: name, rp: rp, token: db.Token,
		client: &http.Client{Timeout: max(timeout, minTimeout)}, bufs: make(chan *bytes.Buffer, keptAnswers)}
}

// onThisHost reports whether the URL names this host (localhost or a
// loopback address).
func onThisHost(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// Post runs stmt and returns the answer's body in JSON, at most limit
// bytes; a status other than 2xx is an error carrying InfluxDB's text.
func (q *Query) Post(ctx context.Context, stmt string, limit int64) ([]byte, error) {
	body, _, err := q.post(ctx, stmt, limit, "application/json", new(bytes.Buffer))
	return body, err
}

// post runs stmt asking for an answer of the media types accept and
// returns the body, read into buf, with the answer's media type.
func (q *Query) post(ctx context.Context, stmt string, limit int64, accept string, buf *bytes.Buffer) ([]byte, string, error) {
	form := url.Values{"q": {stmt}, "db": {q.db}, "epoch": {"ms"}}
	if q.rp != "" {
		form.Set("rp", q.rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.base+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", accept)
	if q.token != "" {
		req.Header.Set("Authorization", "Token "+q.token)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("influxql: %w", err)
	}
	defer resp.Body.Close()
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n))
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, limit))
	body := buf.Bytes()
	if err != nil {
		return nil, "", fmt.Errorf("influxql: reading the answer: %w", err)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode/100 != 2 {
		text := strings.TrimSpace(string(body))
		if ct == msgpackType {
			if a, err := decodeMsgpack(body); err == nil && a.Error != "" {
				text = a.Error
			}
		}
		return nil, "", fmt.Errorf("influxql: status %s: %s", resp.Status, text)
	}
	return body, ct, nil
}

// keptAnswers is how many buffers of answers a Query keeps for the next
// answers (as many as the queries an audit runs at once), and
// maxKeptAnswer the largest it keeps.
const (
	keptAnswers   = 2
	maxKeptAnswer = 128 << 20
)

// Series is one series of an InfluxQL answer: numbers are json.Number,
// times epoch milliseconds, a missing value nil.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Series runs stmt and returns the series of its first statement, reading
// at most limit bytes; an error InfluxDB reports in the answer is an error.
func (q *Query) Series(ctx context.Context, stmt string, limit int64) ([]Series, error) {
	// The answer is decoded into values of their own (strings are copied),
	// so its buffer serves the next answer: a month's audit reads
	// gigabytes of answers, tens of megabytes at a time.
	var buf *bytes.Buffer
	select {
	case buf = <-q.bufs:
	default:
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxKeptAnswer {
			buf.Reset()
			select {
			case q.bufs <- buf:
			default:
			}
		}
	}()
	body, ct, err := q.post(ctx, stmt, limit, msgpackType+", application/json;q=0.9", buf)
	if err != nil {
		return nil, err
	}
	var r *answer
	if ct == msgpackType {
		if r, err = decodeMsgpack(body); err != nil {
			return nil, fmt.Errorf("influxql: decoding the answer: %w", err)
		}
	} else {
		r = new(answer)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("influxql: decoding the answer: %w", err)
		}
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

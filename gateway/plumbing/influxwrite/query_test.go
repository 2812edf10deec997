package influxwrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
)

// A query goes to /query with the bucket's database and retention policy,
// epoch milliseconds and the token; a refusal carries InfluxDB's text.
func TestQueryPost(t *testing.T) {
	var got url.Values
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got, _ = url.ParseQuery(string(body))
		auth = r.Header.Get("Authorization")
		if r.URL.Path != "/query" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if strings.Contains(got.Get("q"), "BAD") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"error parsing query"}`)
			return
		}
		io.WriteString(w, `{"results":[{}]}`)
	}))
	defer srv.Close()
	q, err := NewQuery(&config.InfluxDB{URL: srv.URL + "/", Bucket: "eipgw/two_years", Token: "u:p", Timeout: time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	body, err := q.Post(context.Background(), "SELECT 1", 1<<10)
	if err != nil || string(body) != `{"results":[{}]}` {
		t.Fatalf("body %q, err %v", body, err)
	}
	if got.Get("db") != "eipgw" || got.Get("rp") != "two_years" || got.Get("epoch") != "ms" || got.Get("q") != "SELECT 1" || auth != "Token u:p" {
		t.Fatalf("form %v, auth %q", got, auth)
	}
	if _, err := q.Post(context.Background(), "BAD", 1<<10); err == nil || !strings.Contains(err.Error(), "400 Bad Request: {\"error\":\"error parsing query\"}") {
		t.Fatalf("refusal: %v", err)
	}
}

// A tls block whose files are gone: NewQuery refuses it; MustQuery gives a
// client whose every request fails with that error.
func TestQueryTLSFilesGone(t *testing.T) {
	db := &config.InfluxDB{URL: "https://127.0.0.1:1", Bucket: "b", TLS: &config.TLS{CAFile: t.TempDir() + "/gone.pem"}}
	if _, err := NewQuery(db, 0); err == nil || !strings.Contains(err.Error(), "gone.pem") {
		t.Fatalf("NewQuery: %v", err)
	}
	if _, err := MustQuery(db, 0).Post(context.Background(), "SELECT 1", 1<<10); err == nil || !strings.Contains(err.Error(), "gone.pem") {
		t.Fatalf("MustQuery: %v", err)
	}
}

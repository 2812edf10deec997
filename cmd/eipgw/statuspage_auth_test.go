package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/status"
)

// metrics.user and its password put the status page and its API behind
// basic authentication; without them the page is open.
func TestStatusPageAuthFromConfig(t *testing.T) {
	view := func() any { return map[string]int{"x": 1} }
	for _, tc := range []struct {
		metrics    *config.Metrics
		user, pass string
		want       int
	}{
		{nil, "", "", http.StatusOK},
		{&config.Metrics{User: "engineer", Password: "open-sesame"}, "", "", http.StatusUnauthorized},
		{&config.Metrics{User: "engineer", Password: "open-sesame"}, "engineer", "wrong", http.StatusUnauthorized},
		{&config.Metrics{User: "engineer", Password: "open-sesame"}, "engineer", "open-sesame", http.StatusOK},
	} {
		mux := http.NewServeMux()
		status.Routes(statusPage(&config.File{Metrics: tc.metrics}, "edge", view))(mux)
		req := httptest.NewRequest(http.MethodGet, "/api/status", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("metrics %+v, credentials %q/%q: status %d, want %d", tc.metrics, tc.user, tc.pass, rec.Code, tc.want)
		}
	}
}

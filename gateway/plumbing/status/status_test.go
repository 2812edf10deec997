package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, p Page) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	Routes(p)(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, user, pass string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// The page, its assets and the JSON view are served from the binary; the
// page fetches nothing from elsewhere.
func TestPageAssetsAndAPI(t *testing.T) {
	srv := serve(t, Page{Role: "edge", View: func() any { return map[string]int{"answer": 42} }})
	res, body := get(t, srv.URL+"/status", "", "")
	if res.StatusCode != 200 || !strings.Contains(body, "/status/assets/status.js") {
		t.Fatalf("/status: %d\n%s", res.StatusCode, body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("page refers to another host:\n%s", body)
	}
	for _, a := range []string{"status.js", "status.css"} {
		res, body := get(t, srv.URL+"/status/assets/"+a, "", "")
		if res.StatusCode != 200 || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes", a, res.StatusCode, len(body))
		}
		// The SVG namespace is a name, not an address: nothing is fetched.
		body = strings.ReplaceAll(body, `"http://www.w3.org/2000/svg"`, "")
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another host", a)
		}
	}
	res, body = get(t, srv.URL+"/api/status", "", "")
	var v struct {
		Role string         `json:"role"`
		View map[string]int `json:"view"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || res.StatusCode != 200 {
		t.Fatalf("/api/status: %d %v\n%s", res.StatusCode, err, body)
	}
	if v.Role != "edge" || v.View["answer"] != 42 {
		t.Errorf("/api/status = %+v", v)
	}
	res, _ = get(t, srv.URL+"/status/assets/missing.js", "", "")
	if res.StatusCode != 404 {
		t.Errorf("missing asset: %d", res.StatusCode)
	}
}

// With a password every path asks for basic authentication and only the
// right user and password pass.
func TestBasicAuth(t *testing.T) {
	srv := serve(t, Page{Role: "edge", View: func() any { return 1 }, User: "plant", Password: "s3cret"})
	for _, path := range []string{"/status", "/status/assets/status.js", "/api/status"} {
		for _, c := range []struct {
			user, pass string
			want       int
		}{{"", "", 401}, {"plant", "wrong", 401}, {"other", "s3cret", 401}, {"plant", "s3cret", 200}} {
			res, _ := get(t, srv.URL+path, c.user, c.pass)
			if res.StatusCode != c.want {
				t.Errorf("%s as %q/%q: %d, want %d", path, c.user, c.pass, res.StatusCode, c.want)
			}
			if c.want == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s: no basic challenge", path)
			}
		}
	}
}

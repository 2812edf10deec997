// Package status serves a role's status page beside its metrics: a
// read-only page for the engineer standing at the gateway (GET /status,
// its script and style embedded in the binary, nothing fetched from
// elsewhere) and the JSON behind it (GET /api/status), which the page
// polls every second. Each role provides its view as a value that
// encodes to JSON; docs/status.md documents every view's fields.
package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Page is what a role's status page shows.
type Page struct {
	// Role names the role: "edge", "ingest" or "park".
	Role string
	// View returns the role's current state; it must be safe to call
	// from any goroutine and encode to JSON.
	View func() any
	// User and Password, when Password is set, are required with HTTP
	// basic authentication on every path of the page and its API.
	User, Password string
}

// Routes returns the function that adds the page's paths to a mux:
// GET /status (and / redirects there), GET /status/assets/..., GET
// /api/status.
func Routes(p Page) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		sub, err := fs.Sub(assets, "assets")
		if err != nil {
			panic(err) // the embedded tree is part of the binary
		}
		files := http.StripPrefix("/status/assets/", http.FileServerFS(sub))
		mux.Handle("GET /status/assets/", p.guard(files))
		mux.Handle("GET /status", p.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(sub, "index.html")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(b)
		})))
		mux.Handle("GET /{$}", http.RedirectHandler("/status", http.StatusFound))
		mux.Handle("GET /api/status", p.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			if err := enc.Encode(struct {
				Role string `json:"role"`
				View any    `json:"view"`
			}{p.Role, p.View()}); err != nil {
				http.Error(w, "encoding the status: "+err.Error(), http.StatusInternalServerError)
			}
		})))
	}
}

// guard requires basic authentication when a password is set.
func (p Page) guard(h http.Handler) http.Handler {
	if p.Password == "" {
		return h
	}
	wantUser, wantPass := sha256.Sum256([]byte(p.User)), sha256.Sum256([]byte(p.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(pw))
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="eipgw status", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

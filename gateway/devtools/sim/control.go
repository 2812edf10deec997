package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ControlHandler switches faults while the simulator runs:
//
//	GET /faults                   the injected faults, {"chp-1":"timeout", ...}
//	PUT /faults/{device}          body: a fault (ParseFault), "none" clears it
//	DELETE /faults/{device}       clears it
//
// It is meant for a loopback listener: it has no authentication.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Faults())
	})
	set := func(w http.ResponseWriter, device, spec string) {
		f, err := ParseFault(spec)
		if err == nil {
			err = s.SetFault(device, f)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.log.Info("fault set", "device", device, "fault", FormatFault(f))
		fmt.Fprintf(w, "%s: %s\n", device, FormatFault(f))
	}
	mux.HandleFunc("PUT /faults/{device}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		set(w, r.PathValue("device"), strings.TrimSpace(string(body)))
	})
	mux.HandleFunc("DELETE /faults/{device}", func(w http.ResponseWriter, r *http.Request) {
		set(w, r.PathValue("device"), "none")
	})
	return mux
}

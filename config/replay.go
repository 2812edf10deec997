package config

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Replay says which replay requests the edge honours (edge.replay). An
// ingest worker asks the park's edges, by a retained message on
// eip/v1/{park}/control/replay/{requester}, to publish again what their
// write-ahead logs hold since a time; the requester is the last topic
// level, the worker's MQTT client id. The broker's ACL decides who may
// publish there (config/examples/mosquitto-acl.conf); this block bounds
// what an accepted request can cost.
type Replay struct {
	// Allow lists the requester ids whose requests are served. An entry
	// is an exact id or a pattern where '*' matches any run of
	// characters and '?' one character (Go's path.Match). Unset: the
	// default ingest client ids, eipgw-ingest-*. An empty list ([])
	// refuses every request.
	Allow []string `yaml:"allow"`
	// MinInterval is the least time between two served requests of one
	// requester; a request sooner is refused (default 10s).
	MinInterval time.Duration `yaml:"min_interval"`
	// MaxAge bounds how far back a request reaches: a since older than
	// this is moved forward to it. A request issued longer ago than this
	// (or further in the future) is refused as stale (default 10m).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBatches bounds the batches one request publishes again
	// (default 50000).
	MaxBatches int `yaml:"max_batches"`
}

// Replay defaults.
const (
	DefaultReplayMinInterval = 10 * time.Second
	DefaultReplayMaxAge      = 10 * time.Minute
	DefaultReplayMaxBatches  = 50000
)

// DefaultReplayAllow matches the client ids ingest workers get by default
// (eipgw-ingest-{park}-{host}) and the ones the examples use.
var DefaultReplayAllow = []string{"eipgw-ingest-*"}

func (e *Edge) replayDefaults() {
	if e.Replay == nil {
		e.Replay = &Replay{}
	}
	r := e.Replay
	if r.Allow == nil {
		r.Allow = append([]string(nil), DefaultReplayAllow...)
	}
	setDur(&r.MinInterval, DefaultReplayMinInterval)
	setDur(&r.MaxAge, DefaultReplayMaxAge)
	if r.MaxBatches == 0 {
		r.MaxBatches = DefaultReplayMaxBatches
	}
}

// Allows reports whether requests of requester are served.
func (r *Replay) Allows(requester string) bool {
	if r == nil || requester == "" {
		return false
	}
	for _, p := range r.Allow {
		if ok, err := path.Match(p, requester); err == nil && ok {
			return true
		}
	}
	return false
}

func (f *File) validateReplay() Errors {
	e := f.Edge
	if e == nil || e.Replay == nil {
		return nil
	}
	var errs Errors
	s, r := f.Source, e.Replay
	for i, p := range r.Allow {
		at := fmt.Sprintf("edge.replay.allow[%d]", i)
		switch {
		case p == "":
			errs = append(errs, s.Errorf(at, "empty requester id"))
		case strings.ContainsAny(p, "/+#"):
			errs = append(errs, s.Errorf(at, "%q must not contain '/', '+' or '#': a requester id is one MQTT topic level", p))
		default:
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, s.Errorf(at, "%q is not a valid pattern: %v", p, err))
			}
		}
	}
	if r.MaxAge < time.Second {
		errs = append(errs, s.Errorf("edge.replay.max_age", "%s is below the 1s minimum", r.MaxAge))
	}
	if r.MinInterval > 24*time.Hour {
		errs = append(errs, s.Errorf("edge.replay.min_interval", "%s is above the 24h maximum", r.MinInterval))
	}
	if r.MaxBatches < 1 || r.MaxBatches > 10_000_000 {
		errs = append(errs, s.Errorf("edge.replay.max_batches", "%d out of range 1-10000000", r.MaxBatches))
	}
	return errs
}

package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

// Reasons a replay request is refused (label of
// eipgw_edge_replay_requests_refused_total).
const (
	reasonNotAllowed  = "not_allowed"  // requester not in edge.replay.allow
	reasonMalformed   = "malformed"    // topic, JSON, version, id or a time unusable
	reasonStale       = "stale"        // issued longer than max_age ago (e.g. left retained)
	reasonFuture      = "future"       // issued, or since, more than max_age ahead of this clock
	reasonDuplicate   = "duplicate"    // this requester's id was served before (remembered across restarts)
	reasonRateLimited = "rate_limited" // sooner than min_interval after the requester's last served one
	reasonQueueFull   = "queue_full"   // more requests waiting than the edge takes
)

var replayReasons = []string{reasonNotAllowed, reasonMalformed, reasonStale, reasonFuture, reasonDuplicate, reasonRateLimited, reasonQueueFull}

// Limits that cut a served request short (label of
// eipgw_edge_replay_requests_limited_total).
const (
	limitMaxAge     = "max_age"
	limitMaxBatches = "max_batches"
)

// Bounds of a replay request.
const (
	maxReplayPayload = 1024 // bytes
	replayQueueLen   = 16   // requests waiting for the serving goroutine
	replayWindow     = 64   // publishes of a replay awaiting their PUBACK
	servedFile       = "replay-served.json"
)

var replayIDRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// refusal is why a replay request was not served.
type refusal struct {
	reason string
	detail string
}

func (r *refusal) Error() string { return r.reason + ": " + r.detail }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// errCleared is an empty retained message: a requester clearing its
// request, not a request.
var errCleared = errors.New("replay request cleared")

// grant is a replay request accepted by the policy.
type grant struct {
	requester, id string
	issued        time.Time
	since         time.Time // already moved forward to max_age
	clamped       bool      // since was older than max_age
}

// servedKey identifies a request across restarts.
type servedKey struct{ requester, id string }

// replayPolicy decides on replay requests: who may ask, how often, how far
// back, and never the same request twice. It does no I/O.
type replayPolicy struct {
	park string
	cfg  *config.Replay
	// last is when each requester's last request was accepted.
	last map[string]time.Time
	// served holds the issue time of every request accepted within
	// max_age (older ones are refused as stale anyway).
	served map[servedKey]time.Time
}

func newReplayPolicy(park string, cfg *config.Replay) *replayPolicy {
	return &replayPolicy{park: park, cfg: cfg, last: map[string]time.Time{}, served: map[servedKey]time.Time{}}
}

// decide accepts the request on topic name at now, or returns a *refusal
// (or errCleared for an empty payload). An accepted request is remembered.
func (p *replayPolicy) decide(name string, payload []byte, now time.Time) (grant, error) {
	tp, err := topic.Parse(name)
	if err != nil {
		return grant{}, refuse(reasonMalformed, "%v", err)
	}
	if tp.Kind != topic.KindReplay || tp.Park != p.park {
		return grant{}, refuse(reasonMalformed, "topic %q is not %s", name, topic.Replay(p.park, "{requester}"))
	}
	requester := tp.Requester
	if len(payload) == 0 {
		return grant{}, errCleared
	}
	if !p.cfg.Allows(requester) {
		return grant{}, refuse(reasonNotAllowed, "requester %q is not in edge.replay.allow %v", requester, p.cfg.Allow)
	}
	if len(payload) > maxReplayPayload {
		return grant{}, refuse(reasonMalformed, "payload of %d bytes, more than %d", len(payload), maxReplayPayload)
	}
	var req mqttconn.ReplayRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return grant{}, refuse(reasonMalformed, "payload is not a replay request: %v", err)
	}
	if req.V != 1 {
		return grant{}, refuse(reasonMalformed, "version %d, want 1", req.V)
	}
	if !replayIDRE.MatchString(req.ID) {
		return grant{}, refuse(reasonMalformed, "id %q: want 1-64 letters, digits, '_', '.', ':' or '-'", req.ID)
	}
	issued, err := time.Parse(time.RFC3339Nano, req.Time)
	if err != nil {
		return grant{}, refuse(reasonMalformed, "ts %q is not an RFC 3339 time", req.Time)
	}
	since, err := time.Parse(time.RFC3339Nano, req.Since)
	if err != nil {
		return grant{}, refuse(reasonMalformed, "since %q is not an RFC 3339 time", req.Since)
	}
	maxAge := p.cfg.MaxAge
	switch {
	case now.Sub(issued) > maxAge:
		return grant{}, refuse(reasonStale, "issued %s ago, more than max_age %s", now.Sub(issued).Round(time.Second), maxAge)
	case issued.Sub(now) > maxAge:
		return grant{}, refuse(reasonFuture, "issued %s ahead of this edge's clock, more than max_age %s", issued.Sub(now).Round(time.Second), maxAge)
	case since.Sub(now) > maxAge:
		return grant{}, refuse(reasonFuture, "since %s ahead of this edge's clock, more than max_age %s", since.Sub(now).Round(time.Second), maxAge)
	}
	key := servedKey{requester, req.ID}
	if _, ok := p.served[key]; ok {
		return grant{}, refuse(reasonDuplicate, "request %s of %s was served before", req.ID, requester)
	}
	if last, ok := p.last[requester]; ok && now.Sub(last) < p.cfg.MinInterval {
		return grant{}, refuse(reasonRateLimited, "%s after the last served request of %s, less than min_interval %s",
			now.Sub(last).Round(time.Millisecond), requester, p.cfg.MinInterval)
	}
	g := grant{requester: requester, id: req.ID, issued: issued, since: since}
	if floor := now.Add(-maxAge); since.Before(floor) {
		g.since, g.clamped = floor, true
	}
	p.last[requester] = now
	p.served[key] = issued
	p.prune(now)
	return g, nil
}

// prune forgets served requests that are refused as stale by now.
func (p *replayPolicy) prune(now time.Time) {
	for k, issued := range p.served {
		if now.Sub(issued) > p.cfg.MaxAge {
			delete(p.served, k)
		}
	}
}

// servedRecord is one entry of the served-requests file.
type servedRecord struct {
	Requester string `json:"requester"`
	ID        string `json:"id"`
	Time      string `json:"ts"`
}

// load reads the requests served by earlier runs from path; a missing file
// is an empty one.
func (p *replayPolicy) load(path string, now time.Time) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var recs []servedRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, r := range recs {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil || r.Requester == "" || r.ID == "" {
			return fmt.Errorf("%s: entry %d: want requester, id and an RFC 3339 ts", path, i)
		}
		p.served[servedKey{r.Requester, r.ID}] = t
	}
	p.prune(now)
	return nil
}

// save writes the served requests to path atomically (temporary file,
// fsync, rename, fsync of the directory).
func (p *replayPolicy) save(path string) error {
	recs := make([]servedRecord, 0, len(p.served))
	for k, t := range p.served {
		recs = append(recs, servedRecord{Requester: k.requester, ID: k.id, Time: t.UTC().Format(time.RFC3339Nano)})
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Time < recs[j].Time })
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// replayMsg is a request as received.
type replayMsg struct {
	topic    string
	payload  []byte
	retained bool
}

// replayServer takes the replay requests the MQTT client delivers, decides
// on them and serves the accepted ones from the write-ahead log, one scan
// at a time. The policy and its file belong to the serving goroutine.
type replayServer struct {
	park   string
	cfg    *config.Replay
	log    *slog.Logger
	m      *metrics
	path   string
	now    func() time.Time
	queue  chan replayMsg
	policy *replayPolicy
}

func newReplayServer(park string, cfg *config.Edge, log *slog.Logger, m *metrics) *replayServer {
	rc := cfg.Replay
	if rc == nil { // an Edge built in code, not loaded
		rc = &config.Replay{Allow: config.DefaultReplayAllow, MinInterval: config.DefaultReplayMinInterval,
			MaxAge: config.DefaultReplayMaxAge, MaxBatches: config.DefaultReplayMaxBatches}
	}
	return &replayServer{
		park: park, cfg: rc, log: log, m: m, path: filepath.Join(cfg.StateDir, servedFile), now: time.Now,
		queue: make(chan replayMsg, replayQueueLen), policy: newReplayPolicy(park, rc),
	}
}

// replayRequested hands a message of the replay filter to the serving
// goroutine. It runs in the MQTT client's delivery and never blocks.
func (e *Edge) replayRequested(m mqtt.Message) {
	e.replay.enqueue(m.Topic(), m.Payload(), m.Retained())
}

func (s *replayServer) enqueue(topic string, payload []byte, retained bool) {
	if len(payload) == 0 {
		return // a requester clearing its retained request
	}
	select {
	case s.queue <- replayMsg{topic: topic, payload: payload, retained: retained}:
	default:
		s.refused(replayMsg{topic: topic, retained: retained}, &refusal{reason: reasonQueueFull,
			detail: fmt.Sprintf("%d requests already wait", replayQueueLen)})
	}
}

func (s *replayServer) refused(m replayMsg, r *refusal) {
	s.m.replayRefused.WithLabelValues(r.reason).Inc()
	s.log.Warn("replay request refused", "topic", m.topic, "retained", m.retained, "reason", r.reason, "detail", r.detail)
}

// serveReplays serves replay requests from w until ctx ends.
func (e *Edge) serveReplays(ctx context.Context, c mqtt.Client, w *wal.WAL) {
	e.replay.serve(ctx, c, w)
}

func (s *replayServer) serve(ctx context.Context, c mqtt.Client, w *wal.WAL) {
	if err := s.policy.load(s.path, s.now()); err != nil {
		s.log.Error("cannot read the replay requests served before; a request still retained may be served again within max_age",
			"file", s.path, "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.queue:
			s.handle(ctx, c, w, append([]replayMsg{m}, s.drain()...))
		}
	}
}

// drain takes every request waiting in the queue.
func (s *replayServer) drain() []replayMsg {
	var ms []replayMsg
	for {
		select {
		case m := <-s.queue:
			ms = append(ms, m)
		default:
			return ms
		}
	}
}

// handle decides on requests received together and serves the accepted
// ones with one scan of the log, from the earliest since.
func (s *replayServer) handle(ctx context.Context, c mqtt.Client, w *wal.WAL, ms []replayMsg) {
	var grants []grant
	for _, m := range ms {
		g, err := s.policy.decide(m.topic, m.payload, s.now())
		var r *refusal
		switch {
		case errors.As(err, &r):
			s.refused(m, r)
		case err != nil: // errCleared
		default:
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 {
		return
	}
	// Remembered before serving: a crash while serving must not make the
	// next start serve the same request again.
	if err := s.policy.save(s.path); err != nil {
		s.log.Error("cannot record the replay requests served; after a restart they may be served again within max_age",
			"file", s.path, "err", err)
	}
	s.publish(ctx, c, w, grants)
}

var errReplayLimit = errors.New("replay: max_batches reached")

// publish publishes again what w holds since the earliest of grants, at
// most max_batches, with a bounded window of unacknowledged publishes.
func (s *replayServer) publish(ctx context.Context, c mqtt.Client, w *wal.WAL, grants []grant) {
	since := grants[0].since
	var who []string
	for _, g := range grants {
		if g.since.Before(since) {
			since = g.since
		}
		who = append(who, g.requester+"/"+g.id)
		// Moving since forward only limits the request when the log
		// holds batches from before the new since: a request from a
		// worker that has stored nothing yet reaches back further than
		// a new edge's log.
		if oldest, ok := w.Earliest(); g.clamped && ok && oldest.Before(g.since) {
			s.m.replayLimited.WithLabelValues(limitMaxAge).Inc()
			s.log.Warn("replay request reaches back further than max_age; serving max_age only",
				"requester", g.requester, "id", g.id, "max_age", s.cfg.MaxAge, "from", g.since.UTC().Format(batch.TimeLayout),
				"log_from", oldest.UTC().Format(batch.TimeLayout))
		}
	}
	var window []mqtt.Token
	n := 0
	err := w.Scan(since, func(rec wal.Record) error {
		if n >= s.cfg.MaxBatches {
			return errReplayLimit
		}
		for len(window) >= replayWindow {
			select {
			case <-window[0].Done():
				window = window[1:]
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		window = append(window, c.Publish(rec.Topic, 1, false, rec.Payload))
		n++
		return nil
	})
	for _, t := range window {
		select {
		case <-t.Done():
		case <-ctx.Done():
		}
	}
	s.m.replayedOnRequest.Add(float64(n))
	s.m.replayServed.Add(float64(len(grants)))
	requests := strings.Join(who, ",")
	switch {
	case errors.Is(err, errReplayLimit):
		s.m.replayLimited.WithLabelValues(limitMaxBatches).Inc()
		s.log.Warn("replay stopped at max_batches", "requests", requests, "since", since.UTC().Format(batch.TimeLayout), "batches", n)
	case err != nil && ctx.Err() == nil:
		s.log.Error("replay failed", "requests", requests, "since", since.UTC().Format(batch.TimeLayout), "published", n, "err", err)
	case err == nil:
		s.log.Info("published the log's batches again on request", "requests", requests, "since", since.UTC().Format(batch.TimeLayout), "batches", n)
	}
}

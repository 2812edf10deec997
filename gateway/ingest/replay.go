package ingest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// replayMargin is how far before the newest batch seen a replay request
// reaches back (clock skew between hosts, batches in flight).
const replayMargin = time.Minute

// replayHold is how long a replay request stays retained before the worker
// clears it: long enough for an edge that is reconnecting to receive it,
// short against the edges' replay.max_age.
const replayHold = time.Minute

// clearTimeout bounds the wait for the broker to acknowledge a clearing.
const clearTimeout = 5 * time.Second

// storedLookback is how far back a worker that starts looks for the newest
// batch stored; when none is stored within it, its request reaches back
// that far (edges hold their replay.max_age at most, 10 minutes by
// default).
const storedLookback = time.Hour

// storedTimeout bounds that look-up.
const storedTimeout = 10 * time.Second

// requestReplay asks the park's edges, by a retained message, to publish
// again what their logs hold since shortly before the newest batch this
// worker saw or, at start, the newest batch stored in InfluxDB. A broker
// that restarted without persistence, or lost what it queued since its
// last save (killed), or that does not restore shared subscriptions,
// drops what edges published while no worker was subscribed; the replay
// brings it back, and writing it twice is harmless. The request names
// this worker (its client id, the topic's last level), carries a fresh id
// and its issue time, and is cleared after replayHold.
func (in *Ingest) requestReplay(c mqtt.Client, clientID string) {
	now := time.Now()
	since := in.replaySince(now)
	var id [8]byte
	crand.Read(id[:])
	req := mqttconn.ReplayRequest{V: 1, ID: hex.EncodeToString(id[:]),
		Since: since.UTC().Format(time.RFC3339Nano), Time: now.UTC().Format(time.RFC3339Nano)}
	payload, _ := json.Marshal(req) // strings only: cannot fail
	reqTopic := topic.Replay(in.cfg.Park, clientID)
	t := c.Publish(reqTopic, 1, true, payload)
	t.Wait()
	if err := t.Error(); err != nil {
		in.log.Warn("replay request not published", "topic", reqTopic, "err", err)
		return
	}
	in.log.Info("asked the edges to publish again what they hold", "since", req.Since, "topic", reqTopic, "id", req.ID)
	in.replay.held(c, reqTopic, in.log)
}

// replaySince is where a replay request reaches back to: shortly before
// the newest batch received or, before any, the newest stored.
func (in *Ingest) replaySince(now time.Time) time.Time {
	if ms := in.newest.Load(); ms > 0 {
		return time.UnixMilli(ms).Add(-replayMargin)
	}
	if in.lookup == nil {
		return now.Add(-replayMargin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storedTimeout)
	defer cancel()
	ms, err := in.newestStored(ctx)
	switch {
	case err != nil:
		in.log.Warn("newest stored batch unknown: the replay request reaches back a minute only; batches a broker lost while no worker was subscribed may be declared missing",
			"err", err)
		return now.Add(-replayMargin)
	case ms == 0:
		return now.Add(-storedLookback)
	}
	return time.UnixMilli(ms).Add(-replayMargin)
}

// newestStored returns the poll time (Unix ms) of the newest batch of the
// park stored within storedLookback, 0 when there is none. Of gateways
// under evidence it counts only what they signed: a batch anyone sent in
// their name, stored flagged, stamped up to MaxClockSkew ahead, would
// otherwise cut the replay short.
func (in *Ingest) newestStored(ctx context.Context) (int64, error) {
	// Not after now: a batch stamped ahead (up to MaxClockSkew, by a
	// gateway's clock or by anyone inventing a gateway) would cut the
	// replay short.
	base := fmt.Sprintf(`SELECT last(%s) FROM /.*/ WHERE "park" = '%s' AND time > now() - %dm AND time <= now()`,
		SeqField, escapeQL(in.cfg.Park), storedLookback/time.Minute)
	queries := []string{base}
	if v := in.ev; v != nil {
		queries = []string{base + signedOnly}
		if !v.require {
			// The gateways without keys, whose readings carry no
			// batch_check.
			keyed := make([]string, 0, len(v.keys))
			for g := range v.keys {
				keyed = append(keyed, regexp.QuoteMeta(g))
			}
			sort.Strings(keyed)
			q := base
			if len(keyed) > 0 {
				q += fmt.Sprintf(` AND "gateway"::tag !~ /^(%s)$/`, strings.Join(keyed, "|"))
			}
			queries = append(queries, q)
		}
	}
	var newest int64
	for _, q := range queries {
		series, err := in.lookup.query(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, s := range series {
			if isReservedSeries(s.Name) {
				continue
			}
			for _, v := range s.Values {
				if len(v) == 0 {
					continue
				}
				if ms, err := v[0].Int64(); err == nil && ms > newest {
					newest = ms
				}
			}
		}
	}
	return newest, nil
}

// replayRequests clears the worker's retained replay request replayHold
// after it was published, and at the latest when the worker stops.
type replayRequests struct {
	hold time.Duration // replayHold when zero (tests shorten it)

	mu      sync.Mutex
	topic   string // retained request not yet cleared, "" when none
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup // clearings started by the timer
}

// held notes the request just published on topic and schedules its
// clearing, replacing a clearing scheduled for an earlier request.
func (r *replayRequests) held(c mqtt.Client, topic string, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return // stop clears what is retained
	}
	r.topic = topic
	if r.timer != nil && r.timer.Stop() {
		r.running.Done() // its function will not run
	}
	hold := r.hold
	if hold <= 0 {
		hold = replayHold
	}
	r.running.Add(1)
	var t *time.Timer
	t = time.AfterFunc(hold, func() {
		defer r.running.Done()
		r.mu.Lock()
		current := r.timer == t && !r.stopped
		r.mu.Unlock()
		if current {
			r.clear(c, log)
		}
	})
	r.timer = t
}

// clear publishes an empty retained message to the pending request's
// topic, which removes the request from the broker.
func (r *replayRequests) clear(c mqtt.Client, log *slog.Logger) {
	r.mu.Lock()
	topic := r.topic
	r.mu.Unlock()
	if topic == "" {
		return
	}
	t := c.Publish(topic, 1, true, []byte{})
	if !t.WaitTimeout(clearTimeout) {
		log.Warn("replay request not cleared: no acknowledgement; edges refuse it once older than their replay.max_age",
			"topic", topic, "waited", clearTimeout)
		return
	}
	if err := t.Error(); err != nil {
		log.Warn("replay request not cleared; edges refuse it once older than their replay.max_age", "topic", topic, "err", err)
		return
	}
	r.mu.Lock()
	if r.topic == topic {
		r.topic = ""
	}
	r.mu.Unlock()
	log.Info("replay request cleared", "topic", topic)
}

// stop cancels the scheduled clearing, waits for one in progress and
// clears the request still retained. c must still be connected.
func (r *replayRequests) stop(c mqtt.Client, log *slog.Logger) {
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil && r.timer.Stop() {
		r.running.Done() // its function will not run
	}
	r.mu.Unlock()
	r.running.Wait()
	r.clear(c, log)
}

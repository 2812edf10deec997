package edge

import (
	"context"
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/batch"
	"github.com/eipgw/eipgw/gateway/mqttconn"
	"github.com/eipgw/eipgw/gateway/wal"
)

// replayRequested notes a replay request from an ingest worker: publish
// again every batch still in the log since the given time. Requests are
// retained, so each is served once per id.
func (e *Edge) replayRequested(m mqtt.Message) {
	var req mqttconn.ReplayRequest
	if err := json.Unmarshal(m.Payload(), &req); err != nil || req.ID == "" {
		e.log.Warn("ignoring a malformed replay request", "topic", m.Topic(), "payload", string(m.Payload()))
		return
	}
	since, err := time.Parse(time.RFC3339Nano, req.Since)
	if err != nil {
		e.log.Warn("ignoring a replay request with a bad time", "topic", m.Topic(), "since", req.Since)
		return
	}
	e.replayMu.Lock()
	defer e.replayMu.Unlock()
	if e.replayIDs[req.ID] {
		return
	}
	e.replayIDs[req.ID] = true
	if e.replaySince.IsZero() || since.Before(e.replaySince) {
		e.replaySince, e.replayFrom = since, m.Topic()
	}
	select {
	case e.replayNotify <- struct{}{}:
	default:
	}
}

// serveReplays publishes the batches the log still holds since each
// requested time, until ctx ends.
func (e *Edge) serveReplays(ctx context.Context, c mqtt.Client, w *wal.WAL) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.replayNotify:
		}
		e.replayMu.Lock()
		since, from := e.replaySince, e.replayFrom
		e.replaySince = time.Time{}
		e.replayMu.Unlock()
		if since.IsZero() {
			continue
		}
		var window []mqtt.Token
		n := 0
		err := w.Scan(since, func(rec wal.Record) error {
			for len(window) >= 64 {
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
		e.m.replayedOnRequest.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			e.log.Error("replay failed", "since", since, "requested_by", from, "published", n, "err", err)
			continue
		}
		e.log.Info("published the log's batches again on request", "since", since.UTC().Format(batch.TimeLayout), "requested_by", from, "batches", n)
	}
}

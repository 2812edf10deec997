package ingest

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/mqttconn"
)

// replayMargin is how far before the newest batch seen a replay request
// reaches back (clock skew between hosts, batches in flight).
const replayMargin = time.Minute

// requestReplay asks the park's edges, by a retained message, to publish
// again what their logs hold since shortly before the newest batch this
// worker saw (or since a minute ago at start). A broker that restarted
// without persistence, or that does not restore shared subscriptions,
// drops what edges publish before this worker subscribed again; the
// replay brings it back, and writing it twice is harmless.
func (in *Ingest) requestReplay(c mqtt.Client, clientID string) {
	since := time.Now().Add(-replayMargin)
	if ms := in.newest.Load(); ms > 0 {
		since = time.UnixMilli(ms).Add(-replayMargin)
	}
	var id [8]byte
	crand.Read(id[:])
	req := mqttconn.ReplayRequest{V: 1, ID: hex.EncodeToString(id[:]), Since: since.UTC().Format(time.RFC3339Nano)}
	payload, _ := json.Marshal(req) // strings only: cannot fail
	topic := mqttconn.ReplayTopic(in.cfg.Park, clientID)
	t := c.Publish(topic, 1, true, payload)
	t.Wait()
	if err := t.Error(); err != nil {
		in.log.Warn("replay request not published", "topic", topic, "err", err)
		return
	}
	in.log.Info("asked the edges to publish again what they hold", "since", req.Since, "topic", topic)
}

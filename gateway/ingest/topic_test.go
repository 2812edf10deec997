package ingest

import (
	"errors"
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// topicMessage is an MQTT message with a topic and a payload; nothing else of
// it is read before the topic is accepted.
type topicMessage struct {
	mqtt.Message
	topic   string
	payload []byte
}

func (m topicMessage) Topic() string   { return m.topic }
func (m topicMessage) Payload() []byte { return m.payload }

// TestParseTopic checks what ingest does with each kind of topic before it
// looks at the payload: data is decoded, status and metrics are skipped,
// anything else is refused with the reason the dead letter carries.
func TestParseTopic(t *testing.T) {
	w := &worker{park: "p"}
	for _, c := range []struct {
		topic  string
		reason string // "" when skipped
		says   string
	}{
		{topic.Status("p", "gw-1"), "", ""},
		{topic.Metrics("p", "steam_power_mw", "t01"), "", ""},
		{topic.Data("q", "gw-1", "chp-1"), ReasonTopic, `is not eip/v1/p/{gateway}/{device}`},
		{topic.DeadLetter("p"), ReasonTopic, `is not eip/v1/p/{gateway}/{device}`},
		{topic.Replay("p", "eipgw-ingest-1"), ReasonTopic, `is not eip/v1/p/{gateway}/{device}`},
		{"eip/v1/p/gw-1/chp-1/x", ReasonTopic, "unknown kind"},
		{"eip/v1/p/gw-1", ReasonTopic, "unknown kind"},
		{"eip/v1/p//chp-1", ReasonTopic, "level 4: empty level"},
		{"eip/v2/p/gw-1/chp-1", ReasonTopic, "not under eip/v1/"},
		{topic.Data("p", "gw 1", "chp-1"), ReasonName, "level 4 (gateway)"},
		{topic.Data("p", "gw-1", strings.Repeat("d", 200)), ReasonName, "level 5 (device)"},
		{topic.Status("p", "gw\n1"), ReasonName, "level 4 (gateway)"},
		{topic.Metrics("p", "a b", ""), ReasonName, "level 5 (metric)"},
		// The topic is valid; the payload is not a batch.
		{topic.Data("p", "gw-1", "chp-1"), ReasonMalformed, ""},
	} {
		b, _, _, err := w.parse(topicMessage{topic: c.topic, payload: []byte("{}")})
		if b != nil {
			t.Errorf("%q: a batch from an empty object", c.topic)
		}
		if c.reason == "" {
			if !errors.Is(err, errIgnore) {
				t.Errorf("%q: %v, want it skipped", c.topic, err)
			}
			continue
		}
		if err == nil || errors.Is(err, errIgnore) || refusalReason(err) != c.reason || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: %v (reason %s), want reason %s saying %q", c.topic, err, refusalReason(err), c.reason, c.says)
		}
	}
}

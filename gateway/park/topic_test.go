package park

import (
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// topicMessage is an MQTT message with a topic and a payload.
type topicMessage struct {
	mqtt.Message
	topic   string
	payload []byte
	acked   *bool
}

func (m topicMessage) Topic() string   { return m.topic }
func (m topicMessage) Payload() []byte { return m.payload }
func (m topicMessage) Ack()            { *m.acked = true }

// TestConsumeTopics checks what the engine does with each kind of topic
// before it reads a reading: status, metrics and other parks' data are
// skipped, a topic that does not parse is counted as malformed, and every
// message is acknowledged.
func TestConsumeTopics(t *testing.T) {
	s := &Service{cfg: config.ParkRole{Park: "p"}}
	for _, c := range []struct {
		topic     string
		malformed bool
	}{
		{topic.Status("p", "gw-1"), false},
		{topic.Metrics("p", "steam_power_mw", "t01"), false},
		{topic.Data("q", "gw-1", "chp-1"), false},
		{topic.Data("p", "gw 1", "chp-1"), true},
		{topic.Data("p", "gw-1", strings.Repeat("d", 65)), true},
		{"eip/v1/p//chp-1", true},
		{topic.Data("p", "gw-1", "chp-1"), true}, // "{}" is not a batch
	} {
		before := s.Stats()
		acked := false
		s.consume(topicMessage{topic: c.topic, payload: []byte("{}"), acked: &acked})
		after := s.Stats()
		if after.Received != before.Received+1 || !acked {
			t.Errorf("%q: received %d -> %d, acknowledged %v", c.topic, before.Received, after.Received, acked)
		}
		if got := after.Malformed - before.Malformed; got != map[bool]uint64{false: 0, true: 1}[c.malformed] {
			t.Errorf("%q: %d counted malformed, want malformed %v", c.topic, got, c.malformed)
		}
	}
}

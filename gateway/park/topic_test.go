package park

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
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
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	s := &Service{cfg: config.ParkRole{Park: "p"}, prom: newPromMetrics(reg), log: slog.New(slog.NewTextHandler(&logs, nil)),
		malformedLogs: telemetry.Repeats{Interval: excessLogEvery}, clock: time.Now}
	const subMillisecond = `{"v":2,"gateway":"gw-1","seq":1,"device":"chp-1","kind":"chp","ts":"2026-11-26T10:00:01.2345Z","points":[{"n":"a","v":1,"q":"good"}]}`
	const otherDevice = `{"v":2,"gateway":"gw-1","seq":1,"device":"chp-2","kind":"chp","ts":"2026-11-26T10:00:01.234Z","points":[{"n":"a","v":1,"q":"good"}]}`
	for _, c := range []struct {
		topic     string
		malformed bool
		payload   string
	}{
		{topic.Status("p", "gw-1"), false, ""},
		{topic.Metrics("p", "steam_power_mw", "t01"), false, ""},
		{topic.Data("q", "gw-1", "chp-1"), false, ""},
		{topic.Data("p", "gw 1", "chp-1"), true, ""},
		{topic.Data("p", "gw-1", strings.Repeat("d", 65)), true, ""},
		{"eip/v1/p//chp-1", true, ""},
		{topic.Data("p", "gw-1", "chp-1"), true, ""}, // "{}" is not a batch
		{topic.Data("p", "gw-1", "chp-1"), true, subMillisecond},
		{topic.Data("p", "gw-1", "chp-1"), true, otherDevice},
	} {
		before := s.Stats()
		acked := false
		payload := c.payload
		if payload == "" {
			payload = "{}"
		}
		s.consume(topicMessage{topic: c.topic, payload: []byte(payload), acked: &acked})
		after := s.Stats()
		if after.Received != before.Received+1 || !acked {
			t.Errorf("%q: received %d -> %d, acknowledged %v", c.topic, before.Received, after.Received, acked)
		}
		if got := after.Malformed - before.Malformed; got != map[bool]uint64{false: 0, true: 1}[c.malformed] {
			t.Errorf("%q: %d counted malformed, want malformed %v", c.topic, got, c.malformed)
		}
	}
	// Every malformed message is in the batches counter, and the first
	// is logged with its reason; the rest within the interval are not.
	var m dto.Metric
	if err := s.prom.batches.WithLabelValues(resultMalformed).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 6 {
		t.Errorf(`eipgw_park_batches_total{result="malformed"} = %g, want 6`, got)
	}
	if n := strings.Count(logs.String(), "not a valid batch"); n != 1 {
		t.Errorf("%d log lines of malformed messages, want 1 (rate-limited):\n%s", n, logs.String())
	}
	// After the interval the next is logged, with the count left out
	// since, and a sub-millisecond time says so.
	s.clock = func() time.Time { return time.Now().Add(2 * excessLogEvery) }
	acked := false
	s.consume(topicMessage{topic: topic.Data("p", "gw-1", "chp-1"), payload: []byte(subMillisecond), acked: &acked})
	if l := logs.String(); !strings.Contains(l, "finer than a millisecond") || !strings.Contains(l, "left_out_since_last_log=5") {
		t.Errorf("log after the interval:\n%s", l)
	}
}

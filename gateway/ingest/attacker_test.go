package ingest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// publisher is a test's MQTT client on park p's topics: it publishes
// batches as an edge (or anyone) would, keeps the dead letters ingest
// publishes by the sequence number of their payload, and sees ingest's
// retained replay request, which ingest publishes once it has subscribed.
type publisher struct {
	t          *testing.T
	c          mqtt.Client
	subscribed chan struct{}

	mu   sync.Mutex
	dead map[uint64]string // seq -> "reason: error"
}

func newPublisher(t *testing.T, broker, clientID string) *publisher {
	t.Helper()
	p := &publisher{t: t, subscribed: make(chan struct{}, 1), dead: map[uint64]string{}}
	p.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID))
	if tok := p.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { p.c.Disconnect(100) })
	p.c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var d struct{ Error, Reason, Payload string }
		var b struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload(), &d); err != nil || json.Unmarshal([]byte(d.Payload), &b) != nil {
			t.Errorf("dead letter %q: %v", m.Payload(), err)
			return
		}
		p.mu.Lock()
		p.dead[b.Seq] = d.Reason + ": " + d.Error
		p.mu.Unlock()
	}).Wait()
	p.c.Subscribe(topic.ReplayFilter("p"), 1, func(mqtt.Client, mqtt.Message) {
		select {
		case p.subscribed <- struct{}{}:
		default:
		}
	}).Wait()
	return p
}

// waitIngest waits for a started ingest's subscription.
func (p *publisher) waitIngest() {
	p.t.Helper()
	select {
	case <-p.subscribed:
	case <-time.After(30 * time.Second):
		p.t.Fatal("ingest did not subscribe")
	}
}

// publish sends b on its data topic and waits for the broker.
func (p *publisher) publish(b batch.Batch) {
	p.t.Helper()
	if tok := p.c.Publish(topic.Data("p", b.Gateway, b.Device), 1, false, b.AppendJSON(nil)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish: %v", tok.Error())
	}
}

// deadLetters returns a copy of the dead letters so far.
func (p *publisher) deadLetters() map[uint64]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[uint64]string, len(p.dead))
	for k, v := range p.dead {
		out[k] = v
	}
	return out
}

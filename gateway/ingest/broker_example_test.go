package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// siteSpecific are the options of config/examples/mosquitto.conf that name
// the site (its port, files and users); the test's broker keeps its own.
var siteSpecific = []string{"listener", "per_listener_settings", "allow_anonymous", "password_file", "acl_file", "persistence_location"}

// TestBrokerExample runs a real Mosquitto with the broker settings of
// config/examples/mosquitto.conf (Mosquitto refuses to start on an option
// it does not know): a batch as large as an edge may send passes, a
// larger message is not delivered and its sender is disconnected, and a
// subscriber's persistent session queues what was published while it was
// away.
func TestBrokerExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "config", "examples", "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var settings strings.Builder
	for _, line := range strings.Split(string(example), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if !slices.Contains(siteSpecific, f[0]) {
			settings.WriteString(line + "\n")
		}
	}
	if !strings.Contains(settings.String(), "max_packet_size ") {
		t.Fatalf("the example sets no max_packet_size:\n%s", settings.String())
	}
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{Extra: settings.String()})

	var mu sync.Mutex
	got := map[string]int{} // topic -> payload size
	opts := mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("example-ingest").SetCleanSession(false)
	opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got[m.Topic()] = len(m.Payload())
		mu.Unlock()
	})
	sub := mqtt.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	if tok := sub.Subscribe(topic.DataFilter("p"), 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	lost := make(chan error, 1)
	pubOpts := mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("publisher").SetAutoReconnect(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	pub := mqtt.NewClient(pubOpts)
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	publish := func(c mqtt.Client, topic string, size int) error {
		tok := c.Publish(topic, 1, false, bytes.Repeat([]byte{'x'}, size))
		tok.WaitTimeout(20 * time.Second)
		return tok.Error()
	}
	// About an edge's largest batch: 100,000 points.
	edgeMax := 6 << 20
	if err := publish(pub, topic.Data("p", "gw-1", "big"), edgeMax); err != nil {
		t.Fatalf("publishing %d bytes: %v", edgeMax, err)
	}
	waitHostile(t, "the edge-sized batch delivered", func() bool { mu.Lock(); defer mu.Unlock(); return got[topic.Data("p", "gw-1", "big")] == edgeMax })

	// Above the bound: the sender is disconnected, nothing is delivered.
	_ = publish(pub, topic.Data("p", "gw-1", "huge"), 17<<20)
	select {
	case <-lost:
	case <-time.After(20 * time.Second):
		t.Fatal("the sender of a 17 MiB message is still connected")
	}

	// The subscriber goes away; what is published meanwhile waits in its
	// session and comes when it is back.
	sub.Disconnect(100)
	pub = mqtt.NewClient(pubOpts.SetConnectionLostHandler(nil))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher again: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	for _, dev := range []string{"a", "b", "c"} {
		if err := publish(pub, topic.Data("p", "gw-1", dev), 1000); err != nil {
			t.Fatal(err)
		}
	}
	sub = mqtt.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber again: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	waitHostile(t, "the batches published while the subscriber was away", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[topic.Data("p", "gw-1", "a")] == 1000 && got[topic.Data("p", "gw-1", "b")] == 1000 && got[topic.Data("p", "gw-1", "c")] == 1000
	})
	mu.Lock()
	defer mu.Unlock()
	if n, ok := got[topic.Data("p", "gw-1", "huge")]; ok {
		t.Errorf("the 17 MiB message was delivered (%d bytes)", n)
	}
}

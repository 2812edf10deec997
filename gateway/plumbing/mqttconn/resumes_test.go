package mqttconn_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/mqttconn"
)

// TestResumedPublishCompletesWithoutAck shows, against a real Mosquitto,
// what Resumes guards against: a QoS 1 publish sent while the link to the
// broker is cut (no reset, bytes stop arriving) has its token completed,
// without an error, when the client reconnects and sends the publish
// again, before the broker acknowledged anything; Resumes has counted
// the reconnection by then. The broker does get the message, from the
// copy sent again.
func TestResumedPublishCompletesWithoutAck(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	link := testenv.NewCutLink(t, strings.TrimPrefix(mq.URL, "tcp://"))

	got := make(chan string, 10)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("resumes-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("resumes/x", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	cfg := &config.MQTT{Broker: "tcp://" + link.Addr(), KeepAlive: time.Second, ConnectTimeout: 2 * time.Second}
	var r mqttconn.Resumes
	c := mqttconn.NewClient(r.Track(mqttconn.Options(cfg, "resumes-pub", slog.New(slog.DiscardHandler))))
	if err := mqttconn.Connect(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)

	link.SetCut(true)
	sent := r.Count()
	tok := c.Publish("resumes/x", 1, false, "m1")
	select {
	case <-tok.Done():
		t.Fatalf("completed while the link is cut: %v", tok.Error())
	case <-time.After(4 * time.Second): // the keep-alive finds the link silent
	}
	link.SetCut(false)
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("the publish never completed after the link came back")
	}
	if tok.Error() != nil {
		t.Logf("the client reported %v (not the behaviour Resumes is for)", tok.Error())
	} else if r.Count() == sent {
		t.Fatal("the token completed without an error and no reconnection was counted: it would pass for the broker's acknowledgement")
	}
	select {
	case m := <-got:
		if m != "m1" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the broker never got the message")
	}
}

// TestResumeKeepsPublishOrder: QoS 1 publishes that vanished with a
// connection (a link severed under it: testenv.CutLink.Sever) are sent
// again on the reconnection in the order they were first published, so
// the broker's subscribers see them in that order: a client stopped in
// the middle of that resend leaves the broker a prefix, never later
// messages without earlier ones. paho's own in-memory store would send
// them in a map's order.
func TestResumeKeepsPublishOrder(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	link := testenv.NewCutLink(t, strings.TrimPrefix(mq.URL, "tcp://"))

	const n = 60
	got := make(chan string, 4*n)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("order-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("order/x", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	cfg := &config.MQTT{Broker: "tcp://" + link.Addr(), KeepAlive: time.Second, ConnectTimeout: 2 * time.Second}
	c := mqttconn.NewClient(mqttconn.Options(cfg, "order-pub", slog.New(slog.DiscardHandler)))
	if err := mqttconn.Connect(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)

	link.Sever() // the connection up now loses whatever it carries
	toks := make([]mqtt.Token, n)
	for i := range toks {
		toks[i] = c.Publish("order/x", 1, false, fmt.Sprintf("m%03d", i))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(30 * time.Second) {
			t.Fatalf("publish %d never completed", i)
		}
	}
	seen := map[string]bool{}
	var order []string
	for len(seen) < n {
		select {
		case m := <-got:
			if !seen[m] {
				seen[m] = true
				order = append(order, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the broker passed on %d of %d messages: %v", len(seen), n, order)
		}
	}
	if !slices.IsSorted(order) {
		t.Fatalf("messages sent again out of their order: %v", order)
	}
	if link.Dropped() == 0 {
		t.Fatal("the severed connection dropped nothing: the messages were not sent again")
	}
}

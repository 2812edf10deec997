package mqttconn

import (
	"io"
	"sync"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The store hands out its own copy of a publish: marking it a duplicate,
// as paho does on a reconnect, does not touch the packet the connection
// may be writing at that moment (go test -race sees no race), and the
// payload is not copied.
func TestStoreHandsOutCopies(t *testing.T) {
	s := newStore()
	s.Open()
	defer s.Close()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.TopicName, p.MessageID, p.Payload = 1, "eip/v1/p/gw/d", 7, []byte(`{"v":2}`)
	s.Put("o.7", p)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Write(io.Discard) }() // the connection writing it
	got, ok := s.Get("o.7").(*packets.PublishPacket)
	if !ok || got == p {
		t.Fatalf("Get returned %T %p, the stored packet is %p: want a copy", got, got, p)
	}
	got.Dup = true // what paho's resume does
	wg.Wait()
	if p.Dup || got.MessageID != 7 || got.TopicName != p.TopicName || &got.Payload[0] != &p.Payload[0] {
		t.Fatalf("copy %+v of %+v", got, p)
	}
	if again := s.Get("o.7").(*packets.PublishPacket); again.Dup || again == got {
		t.Fatalf("a second Get %+v: want a fresh copy without the first one's Dup", again)
	}
	if s.Get("o.8") != nil || len(s.All()) != 1 {
		t.Fatalf("missing key or All: %v", s.All())
	}
	s.Del("o.7")
	if len(s.All()) != 0 {
		t.Fatalf("after Del: %v", s.All())
	}
}

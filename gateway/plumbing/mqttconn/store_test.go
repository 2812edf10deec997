package mqttconn

import (
	"fmt"
	"io"
	"slices"
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

// All lists the packets in the order they were first stored, whatever
// their message ids (which wrap around and are reused once acknowledged);
// storing a key again keeps its place, and one deleted and stored again
// goes last.
func TestStoreListsInStoredOrder(t *testing.T) {
	s := newStore()
	s.Open()
	defer s.Close()
	put := func(id uint16) {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID = 1, id
		s.Put(fmt.Sprintf("o.%d", id), p)
	}
	var want []string
	for _, id := range []uint16{65533, 65534, 65535, 1, 2, 3, 40, 7, 12, 9} {
		put(id)
		want = append(want, fmt.Sprintf("o.%d", id))
	}
	put(1) // stored again (paho does on a resend): keeps its place
	s.Del("o.65534")
	put(65534)
	want = append(slices.Delete(want, 1, 2), "o.65534")
	for range 5 { // a map's order would differ between calls
		if got := s.All(); !slices.Equal(got, want) {
			t.Fatalf("All = %v, want %v", got, want)
		}
	}
	s.Reset()
	put(5)
	if got := s.All(); !slices.Equal(got, []string{"o.5"}) {
		t.Fatalf("after Reset: %v", got)
	}
}

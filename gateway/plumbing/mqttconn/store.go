package mqttconn

import (
	"cmp"
	"slices"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is paho's in-memory store of in-flight packets, with two
// changes.
//
// A publish is kept, and handed back, as its own copy of the packet's
// header (the payload is shared: nobody writes it). On a reconnect paho
// marks the stored publishes as duplicates (Dup) while the new connection
// may be writing the very packet a publish made meanwhile: a data race in
// paho v1.5.1 (eclipse-paho/paho.mqtt.golang issue 703), which copies
// avoid.
//
// All lists the packets in the order they were first stored. paho sends
// the stored publishes again on a reconnect in the order All gives, and
// its MemoryStore gives a map's order: the broker then received an
// edge's batches out of their sequence, and a client stopped in the
// middle of that left later numbers stored before earlier ones that were
// polled long before, which ingest's completeness check takes for a gap.
// Kept in order, whatever part of the resend reaches the broker is the
// oldest part.
type copyStore struct {
	*mqtt.MemoryStore
	mu    sync.Mutex
	next  uint64
	order map[string]uint64 // key -> when it was first stored
}

func newStore() mqtt.Store {
	return &copyStore{MemoryStore: mqtt.NewMemoryStore(), order: map[string]uint64{}}
}

// Put keeps a copy of p, made before paho hands p to the connection. A
// key stored again keeps its place.
func (s *copyStore) Put(key string, p packets.ControlPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.order[key]; !ok {
		s.next++
		s.order[key] = s.next
	}
	s.MemoryStore.Put(key, copyPacket(p))
}

// Get returns a copy of what Put kept.
func (s *copyStore) Get(key string) packets.ControlPacket { return copyPacket(s.MemoryStore.Get(key)) }

// All returns the keys in the order they were first stored.
func (s *copyStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.MemoryStore.All()
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(s.order[a], s.order[b]) })
	return keys
}

// Del forgets key.
func (s *copyStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.order, key)
	s.MemoryStore.Del(key)
}

// Reset forgets every packet.
func (s *copyStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.order)
	s.MemoryStore.Reset()
}

func copyPacket(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok {
		c := *pub
		return &c
	}
	return p
}

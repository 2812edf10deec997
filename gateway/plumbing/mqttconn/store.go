package mqttconn

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is paho's in-memory store of in-flight packets, except that a
// publish is kept, and handed back, as its own copy of the packet's header
// (the payload is shared: nobody writes it). On a reconnect paho marks the
// stored publishes as duplicates (Dup) while the new connection may be
// writing the very packet a publish made meanwhile: a data race in paho
// v1.5.1 (eclipse-paho/paho.mqtt.golang issue 703), which copies avoid.
type copyStore struct{ *mqtt.MemoryStore }

func newStore() mqtt.Store { return copyStore{mqtt.NewMemoryStore()} }

// Put keeps a copy of p, made before paho hands p to the connection.
func (s copyStore) Put(key string, p packets.ControlPacket) { s.MemoryStore.Put(key, copyPacket(p)) }

// Get returns a copy of what Put kept.
func (s copyStore) Get(key string) packets.ControlPacket { return copyPacket(s.MemoryStore.Get(key)) }

func copyPacket(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok {
		c := *pub
		return &c
	}
	return p
}

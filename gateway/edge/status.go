package edge

import (
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

// The gateway's status: a retained birth message on every connection, the
// last will "offline", and a watch for another live process publishing
// births under this gateway id.

type status struct {
	State    string `json:"state"`
	Gateway  string `json:"gateway"`
	Instance string `json:"instance,omitempty"`
	Time     string `json:"ts,omitempty"`
}

func (e *Edge) statusPayload(state string) []byte {
	s := status{State: state, Gateway: e.gateway, Instance: e.instance}
	if state == "online" {
		s.Time = time.Now().UTC().Format(batch.TimeLayout)
	}
	b, _ := json.Marshal(s) // cannot fail: strings only
	return b
}

// watchStatus reports another live process publishing births for this
// gateway id: its batches would collide with ours.
func (e *Edge) watchStatus(_ mqtt.Client, m mqtt.Message) {
	if m.Retained() {
		return // a birth or will from an earlier run
	}
	var s status
	if json.Unmarshal(m.Payload(), &s) != nil || s.State != "online" || s.Instance == "" || s.Instance == e.instance {
		return
	}
	e.m.conflicts.Inc()
	e.count(func(st *Stats) { st.Conflicts++ })
	e.log.Error("another process is publishing as this gateway: two edges with one gateway or client id",
		"topic", m.Topic(), "other_instance", s.Instance, "instance", e.instance)
}

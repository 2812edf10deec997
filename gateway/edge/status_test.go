package edge

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

func twinConfig(broker, clientID, dir string) *config.File {
	retain := time.Duration(0)
	return &config.File{Park: "p", Site: "s",
		MQTT: &config.MQTT{Broker: broker, ClientID: clientID, KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second},
		Edge: &config.Edge{Gateway: "gw", StateDir: dir, PublishTimeout: 2 * time.Second, MaxInflight: 16, MaxBatchPoints: 2000,
			WAL:     &config.WAL{Sync: "interval", SyncInterval: 50 * time.Millisecond, MaxMB: 64, SegmentMB: 1, Full: "drop_oldest", Retain: &retain},
			Buses:   []config.Bus{{Name: "line", Protocol: "fake"}},
			Devices: []config.Device{{Name: "dev", Bus: "line"}}}}
}

// TestTwinsOnOneClientIDReported: two edges of one gateway id with the
// default client id, on Mosquitto. Each connection closes the other's, so
// neither ever receives the other's birth; the churn is reported as a
// conflict all the same, on the counter and in the log.
func TestTwinsOnOneClientIDReported(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	drv := drivers.Registry{"fake": fakeDriver{period: 100 * time.Millisecond}}
	a := startEdge(t, twinConfig(mq.URL, "", t.TempDir()), drv)
	b := startEdge(t, twinConfig(mq.URL, "", t.TempDir()), drv)
	deadline := time.Now().Add(60 * time.Second)
	for a.value(t, "eipgw_edge_gateway_conflicts_total")+b.value(t, "eipgw_edge_gateway_conflicts_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("two edges with one client id ran for 60s and neither reported a conflict")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAnotherInstancesOfflineDoesNotStick: a second process of the
// gateway (its own client id) stops cleanly and publishes "offline",
// retained; the running edge publishes its birth again, so the retained
// status says what is true: online, this instance.
func TestAnotherInstancesOfflineDoesNotStick(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	drv := drivers.Registry{"fake": fakeDriver{period: 100 * time.Millisecond}}
	a := startEdge(t, twinConfig(mq.URL, "edge-a", t.TempDir()), drv)
	b := startEdge(t, twinConfig(mq.URL, "edge-b", t.TempDir()), drv)
	time.Sleep(time.Second)
	b.stop()
	waitRetainedOnline(t, mq.URL, a.e.instance)
}

// waitRetainedOnline waits until the gateway's retained status is online,
// of instance.
func waitRetainedOnline(t *testing.T, broker, instance string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := retainedStatus(t, broker)
		if s.State == "online" && s.Instance == instance {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retained status %+v while edge %s runs; want online, its instance", s, instance)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// retainedStatus reads the gateway's retained status message.
func retainedStatus(t *testing.T, broker string) status {
	t.Helper()
	got := make(chan []byte, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("status-reader"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	c.Subscribe(topic.Status("p", "gw"), 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	var s status
	select {
	case p := <-got:
		if err := json.Unmarshal(p, &s); err != nil {
			t.Fatalf("status %q: %v", p, err)
		}
	case <-time.After(2 * time.Second):
	}
	return s
}

// TestTakeoverNotABrokerCrashLoop: connections lost within seconds of
// being made, with failed attempts between them, are a broker going down
// again and again, not another process with the client id: no conflict.
// Without failed attempts between, the fifth loss within a minute is one.
func TestTakeoverNotABrokerCrashLoop(t *testing.T) {
	var tk takeovers
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 4 * time.Second)
		tk.connectedAt(at)
		if tk.lostAt(at.Add(2 * time.Second)) {
			t.Fatalf("loss %d reported as a takeover though attempts failed between", i+1)
		}
		tk.attemptFailed()
	}
	var twin takeovers
	for i := range takeoverLosses {
		at := t0.Add(time.Duration(i) * 2 * time.Second)
		twin.connectedAt(at)
		if got, want := twin.lostAt(at.Add(time.Second)), i == takeoverLosses-1; got != want {
			t.Fatalf("loss %d: takeover %v, want %v", i+1, got, want)
		}
	}
}

// TestForgedOfflineDoesNotStick: anyone who can publish on the gateway's
// status topic sends "offline", retained, in this very instance's name
// (or the broker sends the will of this instance's older connection late):
// the running edge publishes its birth again.
func TestForgedOfflineDoesNotStick(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	drv := drivers.Registry{"fake": fakeDriver{period: 100 * time.Millisecond}}
	a := startEdge(t, twinConfig(mq.URL, "edge-a", t.TempDir()), drv)
	time.Sleep(500 * time.Millisecond)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("forger"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	forged, _ := json.Marshal(status{State: "offline", Gateway: "gw", Instance: a.e.instance})
	if tok := c.Publish(topic.Status("p", "gw"), 1, true, forged); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitRetainedOnline(t, mq.URL, a.e.instance)
}

// TestBirthsAgainLimited: "offline" repeated 200 times at once gets
// one birth at once and one a second later (the last answered), none after
// the edge began to stop.
func TestBirthsAgainLimited(t *testing.T) {
	var b births
	var mu sync.Mutex
	n := 0
	publish := func() { mu.Lock(); n++; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return n }
	for range 200 {
		b.again(publish)
	}
	if got := count(); got != 1 {
		t.Fatalf("%d births at once, want 1", got)
	}
	time.Sleep(birthEvery + 200*time.Millisecond)
	if got := count(); got != 2 {
		t.Fatalf("%d births after a second, want 2", got)
	}
	b.again(publish)
	b.stop()
	time.Sleep(birthEvery + 200*time.Millisecond)
	b.again(publish)
	if got := count(); got != 2 {
		t.Errorf("%d births, want none after the stop", got)
	}
}

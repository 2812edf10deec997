package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// TestRejectedPointsAreDeadLettered: InfluxDB refuses one batch of a write
// (older than the retention policy keeps: "partial write: points beyond
// retention policy dropped=1"); only that batch goes to the dead-letter
// topic, the others are stored, and every message is acknowledged.
func TestRejectedPointsAreDeadLettered(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	resp, err := http.PostForm(ifx.URL+"/query", url.Values{"q": {`CREATE RETENTION POLICY "hour" ON "eipgw" DURATION 1h REPLICATION 1`}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("creating the retention policy: %v %v", err, resp)
	}
	resp.Body.Close()
	cfg, err := config.Parse("ingest.yaml", []byte(fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: reject-ingest}
ingest:
  batch_size: 10
  batch_wait: 300ms
  influxdb: {url: "%s", bucket: eipgw/hour}
  completeness: {disabled: true}
`, mq.URL, ifx.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(ingestRole(t, cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() { cancel(); <-done }()

	dead := make(chan string, 10)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("reject-test"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) { dead <- string(m.Payload()) }).Wait()
	// Wait for ingest's subscription.
	deadline := time.Now().Add(10 * time.Second)
	for probe := uint64(100); in.newest.Load() == 0 && time.Now().Before(deadline); probe++ {
		tok := c.Publish(topic.Data("p", "gw", "probe"), 1, false, (&batch.Batch{Gateway: "gw", Seq: probe, Device: "probe", Kind: "probe", Time: time.Now(),
			Points: []batch.Point{{Name: "x", Value: 1, HasValue: true, Quality: batch.Good}}}).AppendJSON(nil))
		tok.Wait()
		time.Sleep(100 * time.Millisecond)
	}
	t0 := time.Now().Truncate(time.Second)
	for i, kind := range []string{"boiler", "chp", "boiler"} {
		at := t0.Add(time.Duration(i) * time.Second)
		if kind == "chp" {
			at = t0.Add(-3 * time.Hour) // beyond the retention policy
		}
		b := batch.Batch{Gateway: "gw", Seq: uint64(i + 1), Device: kind + "-1", Kind: kind, Time: at,
			Points: []batch.Point{{Name: "electric_power", Value: 1.5, HasValue: true, Unit: "MW", Quality: batch.Good}}}
		if tok := c.Publish(topic.Data("p", "gw", b.Device), 1, false, b.AppendJSON(nil)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	select {
	case msg := <-dead:
		var rec struct{ Topic, Error, Payload string }
		if err := json.Unmarshal([]byte(msg), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Topic != topic.Data("p", "gw", "chp-1") || !strings.Contains(rec.Error, "rejected") || !strings.Contains(rec.Payload, `"seq":2`) {
			t.Fatalf("dead letter %+v", rec)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no dead letter")
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		series, _ := ifx.Query("eipgw", `SELECT count(electric_power) FROM "hour".boiler`)
		if len(series) == 1 && fmt.Sprint(series[0].Values[0][1]) == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("boiler rows: %+v", series)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case extra := <-dead:
		t.Fatalf("a second dead letter: %s", extra)
	case <-time.After(500 * time.Millisecond):
	}
	if st := in.Stats(); st.DeadLetters != 1 {
		t.Fatalf("stats %+v", st)
	}
}

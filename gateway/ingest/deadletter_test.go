package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// TestDeadLetterDuringAFlood: a message to dead-letter arrives at the head
// of a backlog. The broker's acknowledgement of the dead letter comes on
// the path that delivers the backlog, which fills ingest's hand-over while
// the worker waits for that acknowledgement: the worker keeps taking
// deliveries meanwhile, so the acknowledgement gets through, the dead
// letter is published once and every batch of the backlog is stored (it
// waited forever before).
func TestDeadLetterDuringAFlood(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	yaml := fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: flood-ingest}
ingest:
  batch_size: 2
  batch_wait: 20ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
`, mq.URL, ifx.URL)

	dead := make(chan string, 1000)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("flood-test").SetMaxResumePubInFlight(1000))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) { dead <- string(m.Payload()) }).Wait()
	publish := func(gw, dev string, payload []byte) {
		t.Helper()
		if tok := c.Publish(topic.Data("p", gw, dev), 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}

	// The first run subscribes (a persistent session) and stores a probe.
	in, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(10 * time.Second)
	for probe := uint64(1); in.newest.Load() == 0; probe++ {
		if time.Now().After(deadline) {
			t.Fatal("ingest did not store a probe")
		}
		publish("gw", "probe", (&batch.Batch{Gateway: "gw", Seq: probe, Device: "probe", Kind: "probe", Time: time.Now(),
			Points: []batch.Point{{Name: "x", Value: 1, HasValue: true, Quality: batch.Good}}}).AppendJSON(nil))
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	// While it is away: a message that can never be stored, then a backlog
	// many times the hand-over's size.
	const backlog = 300
	publish("gw2", "meter-1", []byte(`{"v":2,"gateway":"gw2","seq":`))
	t0 := time.Now().Truncate(time.Second).Add(-time.Hour)
	for i := range backlog {
		b := batch.Batch{Gateway: "gw2", Seq: uint64(i + 1), Device: "meter-1", Kind: "meter", Time: t0.Add(time.Duration(i) * time.Second),
			Points: []batch.Point{{Name: "flow", Value: float64(i), HasValue: true, Unit: "t/h", Quality: batch.Good}}}
		publish("gw2", "meter-1", b.AppendJSON(nil))
	}

	_, stop = startIngest(t, yaml, slog.New(slog.DiscardHandler))
	defer stop()
	select {
	case <-dead:
	case <-time.After(20 * time.Second):
		t.Fatal("no dead letter")
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		series, _ := ifx.Query("eipgw", `SELECT count(flow) FROM meter`)
		if len(series) == 1 && fmt.Sprint(series[0].Values[0][1]) == fmt.Sprint(backlog) {
			break
		}
		if time.Now().After(deadline) {
			var more []string
			for len(dead) > 0 && len(more) < 3 {
				more = append(more, <-dead)
			}
			t.Fatalf("after the dead letter, stored %+v of %d; %d more dead letters: %s", series, backlog, len(dead)+len(more), more)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case extra := <-dead:
		t.Fatalf("a second dead letter: %s", extra)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDeadLetterRecord: every dead letter is JSON that gives back the
// topic, error, reason and time, and the payload byte for byte (as text
// when it is UTF-8, else in base64), for payloads of every kind of byte;
// and it is built in a buffer of its final size.
func TestDeadLetterRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 7))
	payloads := []string{"", `{"v":2}`, "quote \" backslash \\ nul \x00 tab \t del \x7f", "\u2028\u2029 é €", "pl\xffnt", "\xfe\xff\x00A"}
	for range 200 {
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		payloads = append(payloads, string(b))
	}
	payloads = append(payloads, strings.Repeat(`{"n":"a\"b","v":1}`, 50000))
	for _, p := range payloads {
		topic, errText := "eip/v1/p/gw-1/d\xff", "invalid batch: \"x\"\n\x01"
		rec := deadLetterRecord(topic, errText, ReasonMalformed, []byte(p), "2026-12-04T17:00:00.000Z", 1<<30)
		var d struct {
			Topic, Error, Reason, Payload, TS string
			PayloadBase64                     string `json:"payload_base64"`
		}
		if err := json.Unmarshal(rec, &d); err != nil {
			t.Fatalf("%.40q: not JSON (%v): %.200s", p, err, rec)
		}
		var keys map[string]json.RawMessage
		json.Unmarshal(rec, &keys)
		got := d.Payload
		if _, b64 := keys["payload_base64"]; b64 {
			raw, err := base64.StdEncoding.DecodeString(d.PayloadBase64)
			if _, text := keys["payload"]; err != nil || text {
				t.Fatalf("%.40q: payload_base64 %v, payload present %v", p, err, text)
			}
			got = string(raw)
		}
		if got != p || d.Topic != strings.ToValidUTF8(topic, "\uFFFD") || d.Error != errText || d.Reason != ReasonMalformed || d.TS != "2026-12-04T17:00:00.000Z" {
			t.Fatalf("%.40q: record %.200s does not give back what it was made of", p, rec)
		}
		if len(rec) > cap(rec) || cap(rec)-len(rec) > 200 {
			t.Fatalf("%.40q: %d bytes in a buffer of %d", p, len(rec), cap(rec))
		}
	}
}

// TestDeadLetterRecordTruncated: a dead letter that would be larger than
// its bound holds the start of the payload, cut on a character (text) or
// on whole bytes (base64), its size and its SHA-256, and fits the bound;
// a payload whose record just fits is kept whole. The cases are those a
// publisher can send: a payload of quotes that escaping doubles, bytes
// that are not UTF-8 (base64 adds a third), and text whose cut falls
// inside a character.
func TestDeadLetterRecordTruncated(t *testing.T) {
	const limit = 1 << 20
	type record struct {
		Payload       string
		PayloadBase64 string `json:"payload_base64"`
		Truncated     bool
		PayloadBytes  int    `json:"payload_bytes"`
		PayloadSHA256 string `json:"payload_sha256"`
		Reason, TS    string
	}
	decode := func(rec []byte) record {
		t.Helper()
		var d record
		if err := json.Unmarshal(rec, &d); err != nil {
			t.Fatalf("not JSON (%v): %.200s", err, rec)
		}
		return d
	}
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"quotes", bytes.Repeat([]byte(`"`), limit)},
		{"not UTF-8", bytes.Repeat([]byte{0xff}, limit)},
		{"euro signs and a newline", append(bytes.Repeat([]byte("\u20ac"), limit/2), '\n')},
		{"one byte above", bytes.Repeat([]byte("a"), limit)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := deadLetterRecord("eip/v1/p/gw-1/d", "invalid batch: x", ReasonMalformed, tc.payload, "2026-12-04T17:00:00.000Z", limit)
			if len(rec) > limit {
				t.Fatalf("%d bytes, above the bound of %d", len(rec), limit)
			}
			d := decode(rec)
			kept := []byte(d.Payload)
			if d.PayloadBase64 != "" {
				var err error
				if kept, err = base64.StdEncoding.DecodeString(d.PayloadBase64); err != nil {
					t.Fatal(err)
				}
			}
			sum := sha256.Sum256(tc.payload)
			if !d.Truncated || d.PayloadBytes != len(tc.payload) || d.PayloadSHA256 != hex.EncodeToString(sum[:]) ||
				!bytes.HasPrefix(tc.payload, kept) || !utf8.Valid(kept) && d.PayloadBase64 == "" || d.Reason != ReasonMalformed {
				t.Fatalf("truncated %v, %d bytes of %d kept (%d said), sha256 %s", d.Truncated, len(kept), len(tc.payload), d.PayloadBytes, d.PayloadSHA256)
			}
			if len(kept) < limit/4 {
				t.Errorf("only %d bytes of the payload kept in a record of %d", len(kept), len(rec))
			}
		})
	}
	// The largest payload kept whole, and one byte more.
	whole := deadLetterRecord("t", "e", ReasonMalformed, nil, "ts", limit)
	fits := bytes.Repeat([]byte("a"), limit-len(whole)-64)
	if d := decode(deadLetterRecord("t", "e", ReasonMalformed, fits, "ts", limit)); d.Truncated || d.Payload != string(fits) {
		t.Errorf("a payload of %d bytes that fits was truncated", len(fits))
	}
}

// TestDeadLetterUnderBrokerLimit: against a Mosquitto that takes packets
// of 2 MiB at most, a publisher sends 1.5 MiB of quotes, which the broker
// passes on and whose dead letter, escaped whole, would be 3 MiB: the
// broker would drop ingest's connection at every attempt, and the MQTT
// client would complete the dead letter's token at each reconnection, as
// if delivered. With dead_letter_max_bytes at 1 MiB, the dead letter
// arrives truncated, with the payload's size and hash, once; the
// batches sent after it are all stored; ingest's connection is never
// lost.
func TestDeadLetterUnderBrokerLimit(t *testing.T) {
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{Extra: "max_packet_size 2097152\n"})
	ifx := testenv.StartInflux(t, "eipgw")
	var logs testenv.LogBuffer
	_, stop := startIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: limit-ingest}
ingest:
  batch_size: 10
  batch_wait: 20ms
  dead_letter_max_bytes: 1048576
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
`, mq.URL, ifx.URL), slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()

	dead := make(chan []byte, 10)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("limit-test"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) { dead <- m.Payload() }).Wait()
	publish := func(payload []byte) {
		t.Helper()
		if tok := c.Publish(topic.Data("p", "gw", "meter-1"), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	hostile := bytes.Repeat([]byte(`"`), 1536<<10)
	publish(hostile)
	t0 := time.Now().Truncate(time.Second).Add(-time.Hour)
	const after = 50
	for i := range after {
		b := batch.Batch{Gateway: "gw", Seq: uint64(i + 1), Device: "meter-1", Kind: "meter", Time: t0.Add(time.Duration(i) * time.Second),
			Points: []batch.Point{{Name: "flow", Value: float64(i), HasValue: true, Unit: "t/h", Quality: batch.Good}}}
		publish(b.AppendJSON(nil))
	}
	var rec []byte
	select {
	case rec = <-dead:
	case <-time.After(20 * time.Second):
		t.Fatalf("no dead letter within 20 s; ingest's log:\n%s", logs.String())
	}
	var d struct {
		Reason, Payload string
		Truncated       bool
		PayloadBytes    int    `json:"payload_bytes"`
		PayloadSHA256   string `json:"payload_sha256"`
	}
	sum := sha256.Sum256(hostile)
	if err := json.Unmarshal(rec, &d); err != nil || !d.Truncated || d.PayloadBytes != len(hostile) ||
		d.PayloadSHA256 != hex.EncodeToString(sum[:]) || !bytes.HasPrefix(hostile, []byte(d.Payload)) || len(rec) > 1<<20 {
		t.Fatalf("dead letter of %d bytes: %v; truncated %v, payload_bytes %d, reason %s", len(rec), err, d.Truncated, d.PayloadBytes, d.Reason)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		series, _ := ifx.Query("eipgw", `SELECT count(flow) FROM meter`)
		if len(series) == 1 && fmt.Sprint(series[0].Values[0][1]) == fmt.Sprint(after) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %+v of the %d batches sent after it; ingest's log:\n%s", series, after, logs.String())
		}
	}
	select {
	case extra := <-dead:
		t.Errorf("a second dead letter: %.200s", extra)
	case <-time.After(300 * time.Millisecond):
	}
	if strings.Contains(logs.String(), "mqtt connection lost") {
		t.Errorf("ingest lost its connection:\n%s", logs.String())
	}
}

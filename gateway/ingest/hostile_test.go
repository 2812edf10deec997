package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// TestHostilePayloads: an attacker who can publish to the broker sends
// each case below to a running ingest (real Mosquitto, real InfluxDB
// 1.8.10). Every one is dead-lettered with its reason; InfluxDB then holds
// only the measurements, tag keys, tag values and fields of the real
// gateway and of completeness; and the real gateway's data and gap records
// still work: a real gap after the forged seq 10^9 is declared, and no
// billion missing batches are. Run with -v to print the table
// (docs/testing.md, "Hostile payloads").
func TestHostilePayloads(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	in, _, logs := loggedIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: hostile-ingest}
ingest:
  batch_size: 50
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {interval: 300ms, grace: 1s, max_seq_jump: 1000}
`, mq.URL, ifx.URL))
	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() { cancel(); <-done }()

	type deadLetter struct {
		Topic, Error, Reason, Payload string
		PayloadBase64                 string `json:"payload_base64"`
		Truncated                     bool
		PayloadBytes                  int    `json:"payload_bytes"`
		PayloadSHA256                 string `json:"payload_sha256"`
	}
	var mu sync.Mutex
	dead := map[string]deadLetter{}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("attacker"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var d deadLetter
		if err := json.Unmarshal(m.Payload(), &d); err != nil {
			t.Errorf("dead letter is not JSON: %v", err)
			return
		}
		mu.Lock()
		dead[d.Topic] = d
		mu.Unlock()
	}).Wait()
	// Ingest asks for a replay (retained) once it has subscribed.
	subscribed := make(chan struct{}, 1)
	c.Subscribe(topic.ReplayFilter("p"), 1, func(mqtt.Client, mqtt.Message) {
		select {
		case subscribed <- struct{}{}:
		default:
		}
	}).Wait()
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("ingest did not subscribe")
	}
	publish := func(topic string, payload []byte) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}

	// The real gateway: chp-1 polls once a second, ten minutes ago.
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	real := func(seq uint64) []byte {
		b := batch.Batch{Gateway: "gw-1", Seq: seq, Device: "chp-1", Kind: "chp", Site: "plant", Time: t0.Add(time.Duration(seq) * time.Second),
			Points: []batch.Point{{Name: "electric_power", Value: float64(seq), HasValue: true, Unit: "MW", Quality: batch.Good}}}
		return b.AppendJSON(nil)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		publish(topic.Data("p", "gw-1", "chp-1"), real(seq))
	}
	waitHostile(t, "the real gateway's first batches", func() bool {
		s, _ := ifx.Query("eipgw", `SELECT count(electric_power) FROM chp`)
		return len(s) == 1 && fmt.Sprint(s[0].Values[0][1]) == "10"
	})

	ts := t0.Add(5 * time.Second).UTC().Format(batch.TimeLayout)
	const pt = `{"n":"electric_power","v":1,"u":"MW","q":"good"}`
	// payload builds a batch of device dev; edit replaces the first
	// occurrence of each old string with the new one.
	payload := func(dev string, edits ...string) string {
		s := `{"v":1,"gateway":"gw-1","seq":5,"device":"` + dev + `","kind":"chp","site":"plant","ts":"` + ts + `","points":[` + pt + `]}`
		for i := 0; i+1 < len(edits); i += 2 {
			s = strings.Replace(s, edits[i], edits[i+1], 1)
		}
		return s
	}
	var many strings.Builder
	for i := range MaxPoints + 1 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"n":"p%d","v":1,"q":"good"}`, i)
	}
	long := strings.Repeat("d", 200)
	type hostile struct {
		name, summary, reason string
		device                string // the topic's device level
		payload               string
	}
	cases := []hostile{
		{"newline in kind", `kind "chp\ninjected_kind,park=bad,device=zz fake=42"`, ReasonName, "h01", payload("h01", `"kind":"chp"`, `"kind":"chp\ninjected_kind,park=bad,device=zz fake=42"`)},
		{"newline in site", `site "plant\nx y=1"`, ReasonName, "h02", payload("h02", `"site":"plant"`, `"site":"plant\nx y=1"`)},
		{"site ending in backslash", `site "plant\\"`, ReasonName, "h03", payload("h03", `"site":"plant"`, `"site":"plant\\"`)},
		{"kind completeness", "kind completeness, float fields missing_first/missing_count", ReasonReserved, "h04",
			payload("h04", `"kind":"chp"`, `"kind":"completeness"`, pt, `{"n":"missing_first","v":1.5,"q":"good"},{"n":"missing_count","v":2.5,"q":"good"}`)},
		{"kind park_hourly", "kind park_hourly (park engine records)", ReasonReserved, "h05", payload("h05", `"kind":"chp"`, `"kind":"park_hourly"`)},
		{"kind park_live", "kind park_live", ReasonReserved, "h06", payload("h06", `"kind":"chp"`, `"kind":"park_live"`)},
		{"kind Completeness", "kind in other letter case", ReasonReserved, "h07", payload("h07", `"kind":"chp"`, `"kind":"Completeness"`)},
		{"kind eipgw_", "kind eipgw_deadletter", ReasonReserved, "h08", payload("h08", `"kind":"chp"`, `"kind":"eipgw_deadletter"`)},
		{"tag value with =", `site "a=b"`, ReasonName, "h09", payload("h09", `"site":"plant"`, `"site":"a=b"`)},
		{"tag value with ,", `site "a,park=x"`, ReasonName, "h10", payload("h10", `"site":"plant"`, `"site":"a,park=x"`)},
		{"tag value with space", `tenant "t 01"`, ReasonName, "h11", payload("h11", `"site":"plant"`, `"site":"plant","tenant":"t 01"`)},
		{"tag value with NUL", `site "a\u0000b"`, ReasonName, "h12", payload("h12", `"site":"plant"`, `"site":"a\u0000b"`)},
		{"very long device name", "device of 200 characters (topic and payload)", ReasonName, long, payload(long)},
		{"point name with space", `point "a b"`, ReasonName, "h14", payload("h14", `"n":"electric_power"`, `"n":"a b"`)},
		{"point name batch_seq", "point batch_seq = 1e9", ReasonReserved, "h15", payload("h15", `"n":"electric_power","v":1`, `"n":"batch_seq","v":1000000000`)},
		{"point name *_q", "good point electric_power_q (the quality field)", ReasonReserved, "h16", payload("h16", `"n":"electric_power"`, `"n":"electric_power_q"`)},
		{"huge number", `"v":1e400`, ReasonMalformed, "h17", payload("h17", `"v":1,"u"`, `"v":1e400,"u"`)},
		{"NaN spelled", `"v":NaN`, ReasonMalformed, "h18", payload("h18", `"v":1,"u"`, `"v":NaN,"u"`)},
		{"Infinity spelled", `"v":Infinity`, ReasonMalformed, "h19", payload("h19", `"v":1,"u"`, `"v":Infinity,"u"`)},
		{"NaN as string", `"v":"NaN"`, ReasonMalformed, "h20", payload("h20", `"v":1,"u"`, `"v":"NaN","u"`)},
		{"duplicate key", `"kind":"chp",...,"kind":"park_hourly"`, ReasonMalformed, "h21", payload("h21", `"site":"plant"`, `"site":"plant","kind":"park_hourly"`)},
		{"nested object", `"site":{"a":"b"}`, ReasonMalformed, "h22", payload("h22", `"site":"plant"`, `"site":{"a":"b"}`)},
		{"array for a string", `"kind":["chp"]`, ReasonMalformed, "h23", payload("h23", `"kind":"chp"`, `"kind":["chp"]`)},
		{"unknown field", `"extra":"x"`, ReasonMalformed, "h24", payload("h24", `"site":"plant"`, `"site":"plant","extra":"x"`)},
		{"unknown point field", `point with "x":1`, ReasonMalformed, "h25", payload("h25", `"q":"good"}`, `"q":"good","x":1}`)},
		{"wrong payload gateway", "topic gw-1, payload gateway gw-2", ReasonTopic, "h26", payload("h26", `"gateway":"gw-1"`, `"gateway":"gw-2"`)},
		{"empty points", `"points":[]`, ReasonMalformed, "h27", payload("h27", pt, "")},
		{"too many points", fmt.Sprintf("%d points (30 MB)", MaxPoints+1), ReasonPoints, "h28", payload("h28", pt, many.String())},
		{"deep nesting", "points nested 10000 arrays deep", ReasonMalformed, "h29", payload("h29", pt, strings.Repeat("[", 10000)+strings.Repeat("]", 10000))},
		{"byte order mark", "UTF-8 BOM before the object", ReasonMalformed, "h30", "\ufeff" + payload("h30")},
		{"trailing garbage", "object followed by `}garbage`", ReasonMalformed, "h31", payload("h31") + "}garbage"},
		{"invalid UTF-8", `site "pl\xffnt"`, ReasonMalformed, "h32", payload("h32", `"site":"plant"`, "\"site\":\"pl\xffnt\"")},
		{"far past", "ts 1970-01-01", ReasonTime, "h33", payload("h33", ts, "1970-01-01T00:00:00.000Z")},
		{"far future", "ts 2100-01-01", ReasonTime, "h34", payload("h34", ts, "2100-01-01T00:00:00.000Z")},
		{"seq 0", `"seq":0`, ReasonMalformed, "h35", payload("h35", `"seq":5`, `"seq":0`)},
		{"seq 2^64-1", `"seq":18446744073709551615`, ReasonSeqRange, "h36", payload("h36", `"seq":5`, `"seq":18446744073709551615`)},
		{"negative seq", `"seq":-1`, ReasonMalformed, "h37", payload("h37", `"seq":5`, `"seq":-1`)},
		{"seq 10^9", `"seq":1000000000 (the real gateway is at 15)`, ReasonSeqJump, "h38", payload("h38", `"seq":5`, `"seq":1000000000`)},
		{"quality with quotes", `"q":"good\" x=1"`, ReasonMalformed, "h39", payload("h39", `"q":"good"`, `"q":"good\" x=1"`)},
		{"unit with newline", `"u":"MW\nfake"`, ReasonUnit, "h40", payload("h40", `"u":"MW"`, `"u":"MW\nfake"`)},
		{"seq of a stored batch, other content", "device chp-1, seq 5, value 666", ReasonSeqConflict, "chp-1", strings.Replace(string(real(5)), `"v":5.0,`, `"v":666.0,`, 1)},
		{"not JSON", "`hello`", ReasonMalformed, "h42", "hello"},
		{"empty payload", "0 bytes", ReasonMalformed, "h43", ""},
		// A field named like a tag hides the tag from InfluxQL: the gap
		// search (WHERE "gateway" = ...) would find nothing, for every
		// gateway, from then on.
		{"point named gateway", "good point gateway (a tag key)", ReasonReserved, "h44", payload("h44", `"n":"electric_power"`, `"n":"gateway"`)},
		{"point named device", "good point device (a tag key)", ReasonReserved, "h45", payload("h45", `"n":"electric_power"`, `"n":"device"`)},
		{"point named time", "good point time (InfluxDB drops it, answering 204)", ReasonReserved, "h46", payload("h46", `"n":"electric_power"`, `"n":"time"`)},
		// The names of eipgw's own topics, which no edge may take.
		{"device named metrics", "topic eip/v1/p/gw-1/metrics", ReasonTopic, "metrics", payload("metrics")},
		{"device named deadletter", "topic eip/v1/p/gw-1/deadletter", ReasonTopic, "deadletter", payload("deadletter")},
	}
	// The real gateway goes on (11..15), the attacks arrive, then the real
	// gateway loses 16 and 17 and goes on with 18..20.
	for seq := uint64(11); seq <= 15; seq++ {
		publish(topic.Data("p", "gw-1", "chp-1"), real(seq))
	}
	for _, h := range cases {
		publish(topic.Data("p", "gw-1", h.device), []byte(h.payload))
	}
	for seq := uint64(18); seq <= 20; seq++ {
		publish(topic.Data("p", "gw-1", "chp-1"), real(seq))
	}
	waitHostile(t, "", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(dead) >= len(cases)
	})
	waitHostile(t, "the real gap 16..17 declared", func() bool {
		s, _ := ifx.Query("eipgw", `SELECT missing_first FROM completeness`)
		return len(s) == 1 && len(s[0].Values) >= 1
	})

	var table strings.Builder
	table.WriteString("| case | payload | observed |\n|---|---|---|\n")
	mu.Lock()
	for _, h := range cases {
		d, ok := dead[topic.Data("p", "gw-1", h.device)]
		observed := "not dead-lettered"
		if ok {
			observed = fmt.Sprintf("dead-lettered, reason `%s`: %s", d.Reason, strings.TrimPrefix(d.Error, batch.ErrInvalid.Error()+": "))
			if len(observed) > 160 {
				observed = observed[:160] + "…"
			}
		}
		fmt.Fprintf(&table, "| %s | %s | %s |\n", h.name, strings.ReplaceAll(h.summary, "|", `\|`), strings.ReplaceAll(strings.ReplaceAll(observed, "|", `\|`), "\n", `\n`))
		if !ok || d.Reason != h.reason || d.Error == "" {
			t.Errorf("%s: dead letter with reason %q (%s), want reason %s", h.name, d.Reason, d.Error, h.reason)
		}
	}
	if len(dead) != len(cases) {
		t.Errorf("%d dead letters for %d cases", len(dead), len(cases))
	}
	// A flood of unusable messages is not a flood of log lines: the
	// first, then one every deadLetterLogInterval.
	if n, most := strings.Count(logs.String(), "dead-lettering a message"), 2+int(time.Since(started)/deadLetterLogInterval); n < 1 || n > most {
		t.Errorf("%d log lines for %d dead letters, want 1 to %d", n, len(cases), most)
	}
	// Each dead letter carries its payload byte for byte: as text, or in
	// base64 when it is not UTF-8; one larger than ingest's bound on a
	// dead letter (the 30 MB message) carries its start, its size and its
	// SHA-256.
	for _, h := range cases {
		d := dead[topic.Data("p", "gw-1", h.device)]
		got := d.Payload
		if d.PayloadBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(d.PayloadBase64)
			if err != nil || d.Payload != "" {
				t.Errorf("%s: payload %q, payload_base64 %q (%v)", h.name, d.Payload, d.PayloadBase64, err)
			}
			got = string(b)
		}
		if d.Truncated {
			sum := sha256.Sum256([]byte(h.payload))
			if len(h.payload) < config.DefaultDeadLetterMaxBytes || d.PayloadBytes != len(h.payload) ||
				d.PayloadSHA256 != hex.EncodeToString(sum[:]) || !strings.HasPrefix(h.payload, got) || len(got) < config.DefaultDeadLetterMaxBytes/2 {
				t.Errorf("%s: truncated dead letter of %d bytes: %d kept, payload_bytes %d, sha256 %s", h.name, len(h.payload), len(got), d.PayloadBytes, d.PayloadSHA256)
			}
		} else if got != h.payload {
			t.Errorf("%s: the dead letter's payload is not the message's (%d bytes, want %d)", h.name, len(got), len(h.payload))
		}
	}
	mu.Unlock()
	t.Log("\n" + table.String())

	// InfluxDB holds the real gateway's readings and the gap record,
	// nothing else.
	show := func(q string) string {
		t.Helper()
		s, err := ifx.Query("eipgw", q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var out []string
		for _, se := range s {
			for _, v := range se.Values {
				cols := make([]string, len(v))
				for i, x := range v {
					cols[i] = fmt.Sprint(x)
				}
				out = append(out, se.Name+":"+strings.Join(cols, ","))
			}
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	for q, want := range map[string]string{
		"SHOW MEASUREMENTS": "measurements:chp measurements:completeness",
		"SHOW TAG KEYS":     "chp:device chp:gateway chp:park chp:site completeness:gateway completeness:park",
		`SHOW TAG VALUES WITH KEY IN ("device", "gateway", "park", "site", "tenant")`: "chp:device,chp-1 chp:gateway,gw-1 chp:park,p chp:site,plant completeness:gateway,gw-1 completeness:park,p",
		"SHOW FIELD KEYS": "chp:batch_seq,integer chp:electric_power,float completeness:missing_count,integer completeness:missing_first,integer completeness:missing_last,integer",
	} {
		if got := show(q); got != want {
			t.Errorf("%s:\n got %s\nwant %s", q, got, want)
		}
	}
	// Rows read "chp:TIME,VALUE,SEQ": the forged value is ",666,"; a
	// bare "666" can be part of a time in milliseconds.
	if got := show(`SELECT electric_power, batch_seq FROM chp`); strings.Contains(got, ",666,") || strings.Count(got, "chp:") != 18 {
		t.Errorf("real readings: %s", got)
	}
	if got := show(`SELECT missing_first, missing_last, missing_count FROM completeness`); got != fmt.Sprintf("completeness:%d,16,17,2", t0.Add(18*time.Second).UnixMilli()) {
		t.Errorf("completeness records: %s, want one gap 16..17", got)
	}
}

func waitHostile(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			if what == "" {
				return // the checks below say what is missing
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

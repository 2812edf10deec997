package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// TestEvidenceBreaksAreStoredFlagged: against Mosquitto and InfluxDB
// 1.8.10, a chain of signed batches is stored with its hashes and checks;
// a fork, an altered value and an unknown key are stored flagged (never
// dropped), counted, and each leaves an evidence record with the signed
// message, from which the signature verifies again.
func TestEvidenceBreaksAreStoredFlagged(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	signer, other := evidence.NewSigner(priv), evidence.NewSigner(otherPriv)
	cfg, err := config.Parse("ingest.yaml", []byte(fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: evidence-ingest}
ingest:
  batch_size: 10
  batch_wait: 100ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
  evidence:
    keys:
      gw: ["%s"]
`, mq.URL, ifx.URL, evidence.EncodePublicKey(pub))), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logs testenv.LogBuffer
	in, err := New(ingestRole(t, cfg), slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("evidence-test"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	deadline := time.Now().Add(10 * time.Second)
	for probe := uint64(100); in.newest.Load() == 0 && time.Now().Before(deadline); probe++ {
		c.Publish(topic.Data("p", "probe-gw", "probe"), 1, false, (&batch.Batch{Gateway: "probe-gw", Seq: probe, Device: "probe", Kind: "probe", Time: time.Now(),
			Points: []batch.Point{{Name: "x", Value: 1, HasValue: true, Quality: batch.Good}}}).AppendJSON(nil)).Wait()
		time.Sleep(100 * time.Millisecond)
	}

	t0 := time.Now().Truncate(time.Second).Add(-time.Minute)
	var prev evidence.Hash
	power := []batch.Point{{Name: "electric_power", Value: 28.5, HasValue: true, Unit: "MW", Quality: batch.Good}}
	part := 0 // the part of a split poll the next batch sent is
	send := func(seq uint64, device string, ts time.Time, pts []batch.Point, s *evidence.Signer, prevHash evidence.Hash, alter bool) {
		b := batch.Batch{Gateway: "gw", Seq: seq, Device: device, Kind: "chp", Time: ts,
			Prev: prevHash.String(), Key: s.KeyID(), Points: pts, Part: part}
		payload, h := s.Seal(b.AppendJSON(nil))
		if alter {
			payload = bytes.Replace(payload, []byte(`28.5`), []byte(`38.5`), 1)
		}
		prev = h
		if tok := c.Publish(topic.Data("p", "gw", device), 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// chp-1's batch seq is polled at t0 + seq seconds; the two the
	// gateway did not sign at 1.5 s and 2.5 s, between readings already
	// stored (after the newest, the gateway's own batch of the poll
	// might still come, and they would be dead-lettered).
	at := map[uint64]time.Duration{5: 1500 * time.Millisecond, 6: 2500 * time.Millisecond}
	publish := func(seq uint64, s *evidence.Signer, prevHash evidence.Hash, alter bool) {
		d, ok := at[seq]
		if !ok {
			d = time.Duration(seq) * time.Second
		}
		send(seq, "chp-1", t0.Add(d), power, s, prevHash, alter)
	}
	chp1 := func() [][]any {
		series, _ := ifx.Query("eipgw", `SELECT batch_seq, batch_check, batch_hash, electric_power FROM chp WHERE gateway = 'gw' AND device = 'chp-1'`)
		if len(series) != 1 {
			return nil
		}
		return series[0].Values
	}
	for seq := uint64(1); seq <= 3; seq++ {
		publish(seq, signer, prev, false)
	}
	publish(4, signer, evidence.Sum([]byte("another branch")), false) // fork
	for deadline := time.Now().Add(20 * time.Second); len(chp1()) < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("readings: %v", chp1())
		}
	}
	publish(5, signer, prev, true) // altered value
	publish(6, other, prev, false) // unknown key
	// In order of poll time: seq 1, 5, 2, 6, 3, 4.
	order := []int{1, 5, 2, 6, 3, 4}
	want := []string{"ok", "bad_signature", "ok", "unknown_key", "ok", "fork"}
	// One poll time shared by the two parts of a split poll of chp-2 and
	// by a poll of chp-3: each batch keeps its own evidence record.
	same := t0.Add(30 * time.Second)
	send(7, "chp-2", same, power, signer, prev, false)
	part = 1
	send(8, "chp-2", same, []batch.Point{{Name: "heat_power", Value: 40, HasValue: true, Unit: "MW", Quality: batch.Good}}, signer, prev, false)
	part = 0
	// And the next part of an edge that did not mark parts yet: the
	// number right after the first's.
	send(9, "chp-2", same, []batch.Point{{Name: "heat_flow", Value: 4, HasValue: true, Unit: "t/h", Quality: batch.Good}}, signer, prev, false)
	send(10, "chp-3", same, power, signer, prev, false)

	var rows [][]any
	for deadline := time.Now().Add(20 * time.Second); len(rows) != len(want); rows = chp1() {
		if time.Now().After(deadline) {
			t.Fatalf("readings: %+v", rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, r := range rows {
		if fmt.Sprint(r[1]) != fmt.Sprint(order[i]) || r[2] != want[i] || len(fmt.Sprint(r[3])) != 64 {
			t.Errorf("reading %d: %v, want seq %d, check %s and a hash", i+1, r, order[i], want[i])
		}
	}
	var recs [][]any
	for deadline := time.Now().Add(20 * time.Second); ; {
		series, err := ifx.Query("eipgw", `SELECT seq, "check", hash, sig, msg_0 FROM `+EvidenceMeasurement+` WHERE gateway = 'gw'`)
		if err != nil {
			t.Fatalf("evidence records: %v", err)
		}
		recs = nil
		for _, s := range series {
			recs = append(recs, s.Values...)
		}
		if len(recs) == len(want)+4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d evidence records, want %d: %v", len(recs), len(want)+4, recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	keys := evidence.Keys{}
	keys.Add("gw", pub)
	for _, r := range recs {
		seq := fmt.Sprint(r[1])
		payload := []byte(fmt.Sprint(r[5]) + `,"sig":"` + fmt.Sprint(r[4]) + `"}`)
		h, err := keys.Verify("gw", signer.KeyID(), payload)
		if h.String() != r[3] {
			t.Errorf("seq %s: stored hash %v, message hashes to %s", seq, r[3], h)
		}
		if (seq != "5" && seq != "6") != (err == nil) {
			t.Errorf("seq %s (%v): re-verification gives %v", seq, r[2], err)
		}
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eipgw_ingest_evidence_breaks_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if w := map[string]float64{"fork": 1, "bad_signature": 1, "unknown_key": 1}; fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("eipgw_ingest_evidence_breaks_total %v, want %v", got, w)
	}
	// Three breaks within a few seconds: the first is logged, the others
	// counted (anyone who can publish can send forged batches).
	if n := strings.Count(logs.String(), "batch evidence broken"); n < 1 || n > 2 {
		t.Errorf("%d log lines for 3 broken batches, want 1 (2 on a slow machine):\n%s", n, logs.String())
	}
}

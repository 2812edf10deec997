package park

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

// TestForgedBatchesLeaveRecordsAlone: anyone who can publish on the
// park's data topics sends the engine batches in the gateway's name
// between the gateway's own signed ones, over a real Mosquitto: unsigned,
// signed with the attacker's key, a signed batch with a value changed, in
// the name of a gateway without keys, and copies stamped with a genuine
// poll's time published before it (which, counted, would make the genuine
// batch a duplicate). With the gateway's key configured (and require), the
// hourly record in InfluxDB is the one the engine computes from the
// gateway's batches alone; every forged batch is counted as unverified by
// its check, and the log has a line for the first, not one for each.
func TestForgedBatchesLeaveRecordsAlone(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, attackerPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	gw1, attacker := evidence.NewSigner(priv), evidence.NewSigner(attackerPriv)
	var logs testenv.LogBuffer
	g := newServiceRig(t, func(y string) string {
		return strings.Replace(y, "\npark_engine:\n", fmt.Sprintf("\npark_engine:\n  evidence:\n    require: true\n    keys:\n      gw-1: [%q]\n", evidence.EncodePublicKey(pub)), 1)
	}, slog.New(slog.NewTextHandler(&logs, nil)))

	// The gateway's batches, signed and chained, go to MQTT; the engine
	// the test drives directly takes them as they are.
	r := newReplay(t, loadExample(t), day0, 7)
	var genuine []message
	var prev evidence.Hash
	r.sink = func(b *batch.Batch) {
		b.Prev, b.Key = prev.String(), gw1.KeyID()
		var p []byte
		p, prev = gw1.Seal(b.AppendJSON(nil))
		genuine = append(genuine, message{b.Gateway, b.Device, p})
	}
	end := day0.Add(time.Hour)
	r.run(day0, end, time.Minute)
	r.finish(end)

	// forge builds the attacker's copy of a genuine batch at ts with its
	// first value multiplied by 10, as gateway gw, signed by s (nil:
	// unsigned).
	forge := func(m message, gw string, ts time.Time, s *evidence.Signer) message {
		b, err := batch.Decode(m.payload)
		if err != nil {
			t.Fatal(err)
		}
		b.Gateway, b.Time, b.Sig, b.Key, b.Prev = gw, ts, "", "", ""
		b.Points[0].Value *= 10
		if s == nil {
			return message{gw, b.Device, b.AppendJSON(nil)}
		}
		b.Key, b.Prev = s.KeyID(), evidence.Hash{}.String()
		p, _ := s.Seal(b.AppendJSON(nil))
		return message{gw, b.Device, p}
	}
	pollOf := func(m message) time.Time {
		b, err := batch.Decode(m.payload)
		if err != nil {
			t.Fatal(err)
		}
		return b.Time
	}
	// Each forged batch goes right before the genuine batch it copies.
	attacks := map[int][]message{}
	want := map[string]int{}
	attack := func(i int, check string, m message) {
		attacks[i] = append(attacks[i], m)
		want[check]++
	}
	for i := 0; i < len(genuine); i += 97 {
		m := genuine[i]
		ts := pollOf(m)
		attack(i, "unsigned", forge(m, "gw-1", ts, nil))                     // the genuine poll's time, first
		attack(i, "unsigned", forge(m, "gw-1", ts.Add(30*time.Second), nil)) // between two polls
		attack(i, "unknown_key", forge(m, "gw-1", ts.Add(40*time.Second), attacker))
		attack(i, "unsigned", forge(m, "gw-evil", ts, nil)) // a gateway without keys
		attack(i, "unknown_key", forge(m, "gw-evil", ts.Add(20*time.Second), attacker))
		// The genuine batch with a value changed and its signature kept.
		at := bytes.Index(m.payload, []byte(`"points"`))
		v := bytes.Index(m.payload[at+1:], []byte(`"v":`))
		if at < 0 || v < 0 {
			t.Fatalf("batch %d has no value to alter: %s", i, m.payload)
		}
		v += at + 1 + len(`"v":`)
		altered := append(append(append([]byte(nil), m.payload[:v]...), '1'), m.payload[v:]...)
		attack(i, "bad_signature", message{m.gateway, m.device, altered})
	}
	var msgs []message
	forged := 0
	for i, m := range genuine {
		msgs = append(msgs, attacks[i]...)
		forged += len(attacks[i])
		msgs = append(msgs, m)
	}

	g.clock.Set(end.Add(-time.Minute))
	g.subscribed()
	var n uint64
	g.publish(msgs, &n)
	g.closeHour(end)
	g.compareHour(r.out.Hours[0])

	if got := counterValue(t, g.reg, "eipgw_park_batches_total", "accepted"); got != float64(len(genuine)) {
		t.Errorf("eipgw_park_batches_total{result=accepted} = %v, want %d (the gateway's batches)", got, len(genuine))
	}
	if got := counterValue(t, g.reg, "eipgw_park_batches_total", "unverified"); got != float64(forged) {
		t.Errorf("eipgw_park_batches_total{result=unverified} = %v, want %d (the forged batches)", got, forged)
	}
	for check, w := range want {
		if got := labelValue(t, g.reg, "eipgw_park_evidence_refused_total", "check", check); got != float64(w) {
			t.Errorf("eipgw_park_evidence_refused_total{check=%q} = %v, want %d", check, got, w)
		}
	}
	if v := g.svc.View(); v.Counts.Unverified != uint64(forged) {
		t.Errorf("status page: %d unverified, want %d", v.Counts.Unverified, forged)
	}
	out := logs.String()
	if lines := strings.Count(out, "batch left out of the park's metrics"); lines < 1 || lines > 3 {
		t.Errorf("%d log lines for %d forged batches, want 1 to 3 (one every 10 s at most):\n%s", lines, forged, out)
	}
	t.Logf("%d genuine batches, %d forged refused (%v)", len(genuine), forged, want)
	g.stop()
}

// TestVerifierChecks: which batches reach the engine, with and without
// require, for a gateway with keys and one without.
func TestVerifierChecks(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	s, other := evidence.NewSigner(priv), evidence.NewSigner(otherPriv)
	zero := evidence.Hash{}.String()
	b := func(gw string) *batch.Batch {
		return &batch.Batch{Gateway: gw, Seq: 7, Device: "chp-1", Kind: "chp", Time: day0,
			Points: []batch.Point{{Name: "electric_power", Value: 28.5, HasValue: true, Unit: "MW", Quality: batch.Good}}}
	}
	signed := func(gw string, s *evidence.Signer, prev, key string) ([]byte, *batch.Batch) {
		x := b(gw)
		x.Prev, x.Key = prev, key
		p, _ := s.Seal(x.AppendJSON(nil))
		d, err := batch.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, d
	}
	type input struct {
		name    string
		payload []byte
		b       *batch.Batch
	}
	unsigned := func(gw string) input { x := b(gw); return input{"unsigned " + gw, x.AppendJSON(nil), x} }
	in := func(name string, p []byte, x *batch.Batch) input { return input{name, p, x} }
	good, goodB := signed("gw-1", s, zero, s.KeyID())
	foreign, foreignB := signed("gw-1", other, zero, other.KeyID())
	claimed, claimedB := signed("gw-1", other, zero, s.KeyID()) // names gw-1's key
	badPrev, badPrevB := signed("gw-1", s, "not-a-hash", s.KeyID())
	noKeys, noKeysB := signed("gw-2", other, zero, other.KeyID())
	altered := bytes.Replace(good, []byte("28.5"), []byte("38.5"), 1)
	alteredB, err := batch.Decode(altered)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []input{
		in("signed", good, goodB), unsigned("gw-1"), in("other key", foreign, foreignB),
		in("other key, gw-1's id", claimed, claimedB), in("altered", altered, alteredB),
		in("malformed prev", badPrev, badPrevB), unsigned("gw-2"), in("signed, gateway without keys", noKeys, noKeysB),
	}
	for _, require := range []bool{false, true} {
		want := []string{"", "unsigned", "unknown_key", "bad_signature", "bad_signature", "invalid", "", "unknown_key"}
		if require {
			want[6] = "unsigned"
		}
		v, err := newVerifier(&config.EvidenceKeys{Keys: map[string][]string{"gw-1": {evidence.EncodePublicKey(pub)}}, Require: require},
			slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range inputs {
			if got := v.check(x.b, x.payload, day0); got != want[i] {
				t.Errorf("require %v, %s: %q, want %q", require, x.name, got, want[i])
			}
		}
	}
	if _, err := newVerifier(&config.EvidenceKeys{Keys: map[string][]string{"gw-1": {"AAAA"}}}, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "gw-1[0]") {
		t.Errorf("a malformed key: %v", err)
	}
}

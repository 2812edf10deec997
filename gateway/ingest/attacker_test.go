package ingest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// publisher is a test's MQTT client on park p's topics: it publishes
// batches as an edge (or anyone) would, keeps the dead letters ingest
// publishes by the sequence number of their payload, and sees ingest's
// retained replay request, which ingest publishes once it has subscribed.
type publisher struct {
	t          *testing.T
	c          mqtt.Client
	subscribed chan struct{}

	mu   sync.Mutex
	dead map[uint64]string // seq -> "reason: error"
}

func newPublisher(t *testing.T, broker, clientID string) *publisher {
	t.Helper()
	p := &publisher{t: t, subscribed: make(chan struct{}, 1), dead: map[uint64]string{}}
	p.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID))
	if tok := p.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { p.c.Disconnect(100) })
	p.c.Subscribe(topic.DeadLetter("p"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var d struct{ Error, Reason, Payload string }
		var b struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload(), &d); err != nil || json.Unmarshal([]byte(d.Payload), &b) != nil {
			t.Errorf("dead letter %q: %v", m.Payload(), err)
			return
		}
		p.mu.Lock()
		p.dead[b.Seq] = d.Reason + ": " + d.Error
		p.mu.Unlock()
	}).Wait()
	p.c.Subscribe(topic.ReplayFilter("p"), 1, func(mqtt.Client, mqtt.Message) {
		select {
		case p.subscribed <- struct{}{}:
		default:
		}
	}).Wait()
	return p
}

// waitIngest waits for a started ingest's subscription.
func (p *publisher) waitIngest() {
	p.t.Helper()
	select {
	case <-p.subscribed:
	case <-time.After(30 * time.Second):
		p.t.Fatal("ingest did not subscribe")
	}
}

// publish sends b on its data topic and waits for the broker.
func (p *publisher) publish(b batch.Batch) {
	p.t.Helper()
	if tok := p.c.Publish(topic.Data("p", b.Gateway, b.Device), 1, false, b.AppendJSON(nil)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish: %v", tok.Error())
	}
}

// deadLetters returns a copy of the dead letters so far.
func (p *publisher) deadLetters() map[uint64]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[uint64]string, len(p.dead))
	for k, v := range p.dead {
		out[k] = v
	}
	return out
}

// publishRaw sends payload on gateway gw's data topic of device dev.
func (p *publisher) publishRaw(gw, dev string, payload []byte) {
	p.t.Helper()
	if tok := p.c.Publish(topic.Data("p", gw, dev), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish: %v", tok.Error())
	}
}

// TestForgedBatchesCannotTakeNumbersOrReadings: a gateway signs its
// batches (one every 10 s of poll time) and ingest has its key. Anyone who
// can publish sends, between the gateway's batches: an unsigned batch with
// the gateway's next sequence number, one a million numbers ahead, one at
// the time of a stored reading, the gateway's batch with a value changed,
// and one signed with another key at a stored reading's time. Forged
// batches at times between stored readings are stored flagged; those that
// would change a stored reading are dead-lettered (reason unverified); and
// none takes a number from the gateway: its own batches of those numbers
// are all stored, unflagged, none refused as a conflict. Then a forged
// copy of the gateway's next poll, with a field the gateway's batch does
// not carry, sent before it, and one sent right after the gateway's batch
// of a poll: both are dead-lettered, and the gateway's readings of those
// polls are stored as it signed them, without the forged field.
func TestForgedBatchesCannotTakeNumbersOrReadings(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	_, attackerPriv, _ := ed25519.GenerateKey(nil)
	gw, attacker := evidence.NewSigner(priv), evidence.NewSigner(attackerPriv)
	in, stop := startIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: forged-ingest}
ingest:
  batch_size: 10
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  evidence:
    keys:
      gw-1: ["%s"]
`, mq.URL, ifx.URL, evidence.EncodePublicKey(pubKey)), slog.New(slog.DiscardHandler))
	defer stop()
	pub := newPublisher(t, mq.URL, "forged-test")
	pub.waitIngest()

	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	reading := meterReading
	var prev evidence.Hash
	signed := map[uint64][]byte{}
	genuine := func(seq uint64) {
		b := reading(seq, at(10*int(seq)), 10.5)
		b.Prev, b.Key = prev.String(), gw.KeyID()
		signed[seq], prev = gw.Seal(b.AppendJSON(nil))
		pub.publishRaw("gw-1", "meter", signed[seq])
	}
	stored := func() map[int]string { return storedMeter(ifx, t0) }
	waitFor := func(what string, rows, deadLetters int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); len(stored()) < rows || len(pub.deadLetters()) < deadLetters; {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %d readings stored, %d dead letters:\nstored %v\ndead letters %v", what, rows, deadLetters, stored(), pub.deadLetters())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		genuine(seq)
	}
	waitFor("the gateway's first three batches", 3, 0)

	pub.publish(reading(4, at(15), 99.5))         // the gateway's next number, unsigned
	pub.publish(reading(1_000_004, at(25), 99.5)) // a million ahead
	pub.publish(reading(30, at(20), 99.5))        // at a stored reading's time
	altered := bytes.Replace(signed[3], []byte(`10.5`), []byte(`99.5`), 1)
	pub.publishRaw("gw-1", "meter", altered) // bad_signature, seq 3
	other := reading(31, at(10), 99.5)
	other.Prev, other.Key = evidence.Hash{}.String(), attacker.KeyID()
	p, _ := attacker.Seal(other.AppendJSON(nil))
	pub.publishRaw("gw-1", "meter", p) // unknown_key, at seq 1's time
	for seq := uint64(4); seq <= 6; seq++ {
		genuine(seq)
	}
	waitFor("six batches of the gateway and two forged ones stored, three dead letters", 8, 3)

	want := map[int]string{15: "[99.5 4 unsigned]", 25: "[99.5 1000004 unsigned]"}
	for seq := 1; seq <= 6; seq++ {
		want[10*seq] = fmt.Sprintf("[10.5 %d ok]", seq)
	}
	if got := stored(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored (second after t0: value, seq, check):\n%v\nwant\n%v", got, want)
	}
	dead := pub.deadLetters()
	for _, seq := range []uint64{30, 3, 31} {
		if !strings.HasPrefix(dead[seq], ReasonUnverified+": ") || !strings.Contains(dead[seq], "fails its evidence and differs from the readings stored") {
			t.Errorf("forged seq %d: dead letter %q, want reason %s", seq, dead[seq], ReasonUnverified)
		}
	}
	if len(dead) != 3 {
		t.Errorf("dead letters %v, want the three forged batches only", dead)
	}

	// A forged copy of the next poll, with a field of its own, ahead of
	// the gateway's batch; then one right behind the gateway's batch of
	// the poll after, before ingest has written it.
	ahead := reading(32, at(70), 99.5)
	ahead.Points = append(ahead.Points, batch.Point{Name: "b", Value: 1, HasValue: true, Quality: batch.Good})
	pub.publish(ahead)
	genuine(7)
	genuine(8)
	pub.publish(reading(33, at(80), 99.5))
	waitFor("the gateway's batches 7 and 8, two more dead letters", 10, 5)
	want[70], want[80] = "[10.5 7 ok]", "[10.5 8 ok]"
	if got := stored(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored (second after t0: value, seq, check):\n%v\nwant\n%v", got, want)
	}
	if s, err := ifx.Query("eipgw", `SELECT b FROM meter`); err != nil || len(s) != 0 {
		t.Errorf("the forged field b is stored: %v %v", s, err)
	}
	dead = pub.deadLetters()
	for _, seq := range []uint64{32, 33} {
		if !strings.HasPrefix(dead[seq], ReasonUnverified+": ") || !strings.Contains(dead[seq], "may still come") {
			t.Errorf("forged seq %d: dead letter %q, want reason %s: the gateway's batch may still come", seq, dead[seq], ReasonUnverified)
		}
	}
	// A restarted worker follows the gateway from the highest number it
	// signed, not the forged one a million ahead.
	if hi, ok := in.guard.highestStored("gw-1"); !ok || hi != 8 {
		t.Errorf("highest stored number of gw-1: %d (%v), want 8", hi, ok)
	}
}

// TestRequireRefusesGatewaysWithoutKeys: with ingest.evidence.require, a
// batch in the name of a gateway without a key is dead-lettered
// (unverified), not stored flagged: anyone who can publish could
// otherwise add readings, and a batch of thousands of invented point
// names, as many fields, to any device kind. The keyed gateway's batches
// are stored.
func TestRequireRefusesGatewaysWithoutKeys(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	gw := evidence.NewSigner(priv)
	_, stop := startIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: require-ingest}
ingest:
  batch_size: 10
  batch_wait: 20ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  evidence:
    require: true
    keys:
      gw-1: ["%s"]
`, mq.URL, ifx.URL, evidence.EncodePublicKey(pubKey)), slog.New(slog.DiscardHandler))
	defer stop()
	pub := newPublisher(t, mq.URL, "require-test")
	pub.waitIngest()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	wide := batch.Batch{Gateway: "gw-x", Seq: 7, Device: "meter", Kind: "meter", Time: t0}
	for i := range 5000 {
		wide.Points = append(wide.Points, batch.Point{Name: fmt.Sprintf("f%05d", i), Value: 1, HasValue: true, Quality: batch.Good})
	}
	pub.publish(wide)
	b := batch.Batch{Gateway: "gw-1", Seq: 1, Device: "meter", Kind: "meter", Time: t0,
		Prev: evidence.Hash{}.String(), Key: gw.KeyID(), Points: []batch.Point{{Name: "a", Value: 1.5, HasValue: true, Quality: batch.Good}}}
	signed, _ := gw.Seal(b.AppendJSON(nil))
	pub.publishRaw("gw-1", "meter", signed)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, _ := ifx.Query("eipgw", `SELECT a FROM meter WHERE gateway = 'gw-1'`)
		if d := pub.deadLetters()[7]; len(s) == 1 && d != "" {
			if !strings.HasPrefix(d, ReasonUnverified+": ") || !strings.Contains(d, "gateway gw-x has no key") {
				t.Fatalf("dead letter %q", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gw-1's batch stored and gw-x's dead-lettered: %v", pub.deadLetters())
		}
	}
	if s, err := ifx.Query("eipgw", `SHOW FIELD KEYS FROM meter`); err != nil || len(s) != 1 || len(s[0].Values) > 10 {
		t.Errorf("field keys of meter: %v (%v)", s, err)
	}
}

// TestForgedBatchesDoNotBlockTheGateway: a signing gateway's batch 4 is
// lost to ingest; forged unsigned batches in its name, with its point
// names, are stored flagged at that poll's time (free, and before the
// newest signed batch). The gateway's batch 4 then comes back as a replay
// and is stored over the forged one, not refused seq_regress. After an
// ingest restart, before a signed batch of the device came, forged
// batches at the times of its coming polls are dead-lettered (a batch
// failing its evidence is written only with the names of the device's
// last signed batch the worker saw), and the gateway's own batches of
// those polls are stored: none refused time_taken.
func TestForgedBatchesDoNotBlockTheGateway(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	gw := evidence.NewSigner(priv)
	yaml := signingIngest(mq.URL, ifx.URL, "forged-block-ingest", pubKey)
	_, stop := startIngest(t, yaml, slog.New(slog.DiscardHandler))
	pub := newPublisher(t, mq.URL, "forged-block-test")
	pub.waitIngest()

	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	reading := meterReading
	var prev evidence.Hash
	signed := map[uint64][]byte{}
	seal := func(seq uint64) []byte {
		if signed[seq] == nil {
			b := reading(seq, at(int(seq)), 10.5)
			b.Prev, b.Key = prev.String(), gw.KeyID()
			signed[seq], prev = gw.Seal(b.AppendJSON(nil))
		}
		return signed[seq]
	}
	// A replay after a later batch verifies as a chain restart: signed
	// by the gateway all the same.
	stored := func() map[int]string {
		out := storedMeter(ifx, t0)
		for k, v := range out {
			out[k] = strings.Replace(v, "chain_restart", "ok", 1)
		}
		return out
	}
	waitStored := func(what string, want map[int]string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); fmt.Sprint(stored()) != fmt.Sprint(want); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stored (second after t0: value, seq, check)\n%v\nwant\n%v\ndead letters %v", what, stored(), want, pub.deadLetters())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The gateway's batches 1-3 and 5; 4 is lost to ingest.
	want := map[int]string{}
	seal(4)
	for _, seq := range []uint64{1, 2, 3, 5} {
		pub.publishRaw("gw-1", "meter", seal(seq))
		want[int(seq)] = fmt.Sprintf("[10.5 %d ok]", seq)
	}
	waitStored("the gateway's batches", want)
	pub.publish(reading(200_004, at(4), 999))
	want[4] = "[999 200004 unsigned]"
	waitStored("the forged batch at the lost poll, flagged", want)
	pub.publishRaw("gw-1", "meter", seal(4)) // the edge's replay
	want[4] = "[10.5 4 ok]"
	waitStored("the gateway's replayed batch over the forged one", want)
	stop()

	// Ingest restarts; before the gateway's next batch, forged ones at its
	// coming polls (6-8).
	_, stop = startIngest(t, yaml, slog.New(slog.DiscardHandler))
	defer stop()
	pub.waitIngest()
	for s := 6; s <= 8; s++ {
		pub.publish(reading(uint64(200_000+s), at(s), 999))
	}
	for deadline := time.Now().Add(20 * time.Second); len(pub.deadLetters()) < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %v, want the three forged batches", pub.deadLetters())
		}
	}
	for s := uint64(200_006); s <= 200_008; s++ {
		if d := pub.deadLetters()[s]; !strings.HasPrefix(d, ReasonUnverified+": ") || !strings.Contains(d, "point names are not those of the last batch") {
			t.Errorf("forged seq %d: dead letter %q", s, d)
		}
	}
	for seq := uint64(6); seq <= 8; seq++ {
		pub.publishRaw("gw-1", "meter", seal(seq))
		want[int(seq)] = fmt.Sprintf("[10.5 %d ok]", seq)
	}
	waitStored("the gateway's batches of those polls", want)
	if dead := pub.deadLetters(); len(dead) != 3 {
		t.Errorf("dead letters %v, want only the three forged batches", dead)
	}
}

// meterReading is gw-1's batch seq of device meter at ts, one point a = v.
func meterReading(seq uint64, ts time.Time, v float64) batch.Batch {
	return batch.Batch{Gateway: "gw-1", Seq: seq, Device: "meter", Kind: "meter", Site: "plant", Time: ts,
		Points: []batch.Point{{Name: "a", Value: v, HasValue: true, Unit: "MW", Quality: batch.Good}}}
}

// storedMeter maps the second after t0 of each of gw-1's stored meter
// readings to its value, batch_seq and batch_check.
func storedMeter(ifx *testenv.Influx, t0 time.Time) map[int]string {
	s, err := ifx.Query("eipgw", `SELECT a, batch_seq, batch_check FROM meter WHERE gateway = 'gw-1'`)
	if err != nil || len(s) == 0 {
		return nil
	}
	out := map[int]string{}
	for _, r := range s[0].Values {
		ms, _ := r[0].(json.Number).Int64()
		out[int(time.UnixMilli(ms).Sub(t0)/time.Second)] = fmt.Sprint(r[1:])
	}
	return out
}

// TestAlteredSignatureCannotFlagSignedReadings: the gateway's own batch,
// sent again with one character of its signature changed, carries the
// very readings stored: written, it would replace their batch_check with
// bad_signature (the readings then count as not signed, and the audit and
// the completeness check as missing). It is dead-lettered, and the stored
// readings stay signed.
func TestAlteredSignatureCannotFlagSignedReadings(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	pubKey, priv, _ := ed25519.GenerateKey(nil)
	gw := evidence.NewSigner(priv)
	_, stop := startIngest(t, signingIngest(mq.URL, ifx.URL, "sigflip-ingest", pubKey), slog.New(slog.DiscardHandler))
	defer stop()
	pub := newPublisher(t, mq.URL, "sigflip-test")
	pub.waitIngest()
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	var prev evidence.Hash
	signed := map[uint64][]byte{}
	want := map[int]string{}
	for seq := uint64(1); seq <= 3; seq++ {
		b := meterReading(seq, t0.Add(time.Duration(seq)*time.Second), 10.5)
		b.Prev, b.Key = prev.String(), gw.KeyID()
		signed[seq], prev = gw.Seal(b.AppendJSON(nil))
		pub.publishRaw("gw-1", "meter", signed[seq])
		want[int(seq)] = fmt.Sprintf("[10.5 %d ok]", seq)
	}
	waitStored := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); fmt.Sprint(storedMeter(ifx, t0)) != fmt.Sprint(want); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stored %v, want %v", what, storedMeter(ifx, t0), want)
			}
		}
	}
	waitStored("the gateway's batches")
	i := bytes.Index(signed[2], []byte(`"sig":"`)) + len(`"sig":"`)
	flipped := bytes.Clone(signed[2])
	flipped[i] ^= 1
	pub.publishRaw("gw-1", "meter", flipped)
	for deadline := time.Now().Add(20 * time.Second); pub.deadLetters()[2] == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter for the altered signature; stored %v", storedMeter(ifx, t0))
		}
	}
	if d := pub.deadLetters()[2]; !strings.HasPrefix(d, ReasonUnverified+": ") || !strings.Contains(d, "signed by the gateway") {
		t.Errorf("dead letter %q", d)
	}
	waitStored("after the altered signature")
}

// signingIngest is the configuration of an ingest worker that holds gw-1's
// key, without the completeness check.
func signingIngest(broker, influx, clientID string, key ed25519.PublicKey) string {
	return ingestYAML(broker, influx, clientID) + fmt.Sprintf(`  completeness: {disabled: true}
  evidence:
    keys:
      gw-1: ["%s"]
`, evidence.EncodePublicKey(key))
}

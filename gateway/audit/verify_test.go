package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// day0 is the start of the simulated run: midnight in the park's time zone.
var day0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))

// fixture is a park whose signed batches went through Mosquitto and the
// real ingest into InfluxDB 1.8.10, with the hourly records the park
// engine computed from the same batches.
type fixture struct {
	t       testing.TB
	ifx     *testenv.Influx
	store   *Store
	opts    Options
	parkCfg *config.File
	mq      mqtt.Client
	signer  *evidence.Signer
	pub     ed25519.PublicKey
	// sent are the payloads published, by sequence number.
	sent map[uint64]*batch.Batch
	seq  uint64
	prev evidence.Hash
	end  time.Time
	// auditLog is the directory of the sealed hourly records.
	auditLog string
	hours    []park.Hour
}

func newFixture(t testing.TB, hours int) *fixture {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	t.Setenv("EIPGW_MQTT_PASSWORD", "x")
	t.Setenv("EIPGW_INFLUX_TOKEN", "")
	parkCfg, err := config.Load("../../config/examples/park.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	f := &fixture{t: t, ifx: ifx, parkCfg: parkCfg, signer: evidence.NewSigner(priv), pub: pub, sent: map[uint64]*batch.Batch{}}
	cfg, err := config.Parse("ingest.yaml", []byte(fmt.Sprintf(`park: %s
mqtt: {broker: "%s", client_id: audit-ingest}
ingest:
  batch_size: 500
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {disabled: true}
  evidence:
    keys:
      gw-1: ["%s"]
`, parkCfg.Park, mq.URL, ifx.URL, evidence.EncodePublicKey(pub))), nil)
	if err != nil {
		t.Fatal(err)
	}
	role, err := cfg.IngestRole()
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(role, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	f.mq = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("audit-test").SetMaxResumePubInFlight(1000))
	if tok := f.mq.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { f.mq.Disconnect(100) })
	// Wait until ingest is subscribed: a probe gateway (not under evidence)
	// publishes until one of its readings is stored.
	for probe, deadline := uint64(1), time.Now().Add(20*time.Second); ; probe++ {
		f.publish((&batch.Batch{Gateway: "probe", Seq: probe, Device: "probe", Kind: "probe", Time: time.Now(),
			Points: []batch.Point{{Name: "x", Value: 1, HasValue: true, Quality: batch.Good}}}).AppendJSON(nil), "probe", "probe")
		if s, _ := ifx.Query("eipgw", "SELECT count(x) FROM probe"); len(s) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ingest did not store a probe reading")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Simulate the park, sign every batch, publish it and feed the engine.
	sp, err := sim.NewPark(sim.Config{Seed: 1}, day0)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	clock := day0
	eng, err := park.New(parkCfg.ParkEngine, park.Options{Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	var out park.Output
	vals := map[string]float64{}
	f.end = day0.Add(time.Duration(hours) * time.Hour)
	for ts := day0; ts.Before(f.end); ts = ts.Add(time.Minute) {
		sp.Step(ts)
		clock = ts
		for _, d := range sp.Devices() {
			if err := sp.Values(d.Name, vals); err != nil {
				t.Fatal(err)
			}
			p := profiles[d.Kind]
			b := &batch.Batch{Gateway: "gw-1", Device: d.Name, Kind: d.Kind, Site: "plant", Tenant: d.Tenant, Time: ts}
			for i := range p.Points {
				pt := &p.Points[i]
				b.Points = append(b.Points, batch.Point{Name: pt.Name, Unit: pt.Unit, Value: vals[pt.Name], HasValue: true, Quality: batch.Good})
			}
			f.sign(b, f.signer)
			if r := eng.Add("gw-1", b); r != park.Accepted {
				t.Fatalf("engine: %s at %s: %s", d.Name, ts, r)
			}
		}
		o := eng.Advance()
		out.Hours = append(out.Hours, o.Hours...)
	}
	clock = f.end.Add(time.Hour)
	out.Hours = append(out.Hours, eng.Advance().Hours...)
	f.waitStored(len(f.sent))
	// A day of hourly records a request: InfluxDB refuses bodies above
	// 25 MB, which a month of them passes.
	for i := 0; i < len(out.Hours); i += 24 {
		f.write(park.Lines(parkCfg.Park, park.Output{Hours: out.Hours[i:min(i+24, len(out.Hours))]}))
	}
	// Seal the hours as the park engine does (park_engine.audit_log).
	f.hours = out.Hours
	f.auditLog = t.TempDir()
	sl, err := seal.Open(f.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range out.Hours {
		e, err := sl.Append(h.Start, park.SealLines(park.HourRecords(parkCfg.Park, h)))
		if err != nil {
			t.Fatal(err)
		}
		f.write(append(park.SealRecord(parkCfg.Park, e).Line, '\n'))
	}
	sl.Close()

	db := *parkCfg.ParkEngine.InfluxDB
	db.URL, db.Token = ifx.URL, ""
	if f.store, err = NewStore(&db); err != nil {
		t.Fatal(err)
	}
	keys := evidence.Keys{}
	keys.Add("gw-1", pub)
	f.opts = Options{Park: parkCfg.Park, Keys: keys, Engine: parkCfg.ParkEngine, From: day0, To: f.end, AuditLog: f.auditLog}
	return f
}

// sign seals b as the next batch of gw-1 with s and publishes it.
func (f *fixture) sign(b *batch.Batch, s *evidence.Signer) {
	f.seq++
	b.Seq, b.Prev, b.Key = f.seq, f.prev.String(), s.KeyID()
	payload, h := s.Seal(b.AppendJSON(nil))
	f.prev = h
	f.sent[b.Seq] = b
	f.publish(payload, b.Gateway, b.Device)
}

func (f *fixture) publish(payload []byte, gw, dev string) {
	tok := f.mq.Publish(topic.Data(f.parkCfg.Park, gw, dev), 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		f.t.Fatalf("publish: %v", tok.Error())
	}
}

// waitStored waits until InfluxDB holds n evidence records of gw-1.
func (f *fixture) waitStored(n int) {
	f.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		s, err := f.ifx.Query("eipgw", "SELECT count(seq) FROM "+EvidenceMeasurement+" WHERE gateway = 'gw-1'")
		if err == nil && len(s) == 1 && fmt.Sprint(s[0].Values[0][1]) == fmt.Sprint(n) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("evidence records stored: %v %+v, want %d", err, s, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// write writes line protocol straight into InfluxDB, as someone with
// write access to the database would.
func (f *fixture) write(lines []byte) {
	f.t.Helper()
	resp, err := http.Post(f.ifx.URL+"/write?db=eipgw&precision=ms", "text/plain", bytes.NewReader(lines))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		f.t.Fatalf("write: %s: %s", resp.Status, b.String())
	}
}

func (f *fixture) query(q string) {
	f.t.Helper()
	if _, err := f.ifx.Query("eipgw", q); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// verify runs Verify and returns its findings as text.
func (f *fixture) verify() (*Result, []string) {
	f.t.Helper()
	res, err := Verify(context.Background(), f.store, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, x := range res.Findings {
		out = append(out, x.String())
	}
	return res, out
}

// batchAt finds the sent batch of device dev polled at ts.
func (f *fixture) batchAt(dev string, ts time.Time) *batch.Batch {
	for _, b := range f.sent {
		if b.Device == dev && b.Time.Equal(ts) {
			return b
		}
	}
	f.t.Fatalf("no batch of %s at %s", dev, ts)
	return nil
}

// TestTamperingIsDetectedAndPinpointed: a two-hour run of the reference
// park, signed at the edge and stored by the real ingest in InfluxDB
// 1.8.10 with the park engine's hourly records, verifies with 0
// mismatches. Then each tampering of the database (or of the signing
// key) is made in turn, and the next verification reports exactly the
// new findings it should, with the gateway and sequence number (or the
// hour and metric) where it happened.
func TestTamperingIsDetectedAndPinpointed(t *testing.T) {
	f := newFixture(t, 2)
	start := time.Now()
	res, got := f.verify()
	took := time.Since(start)
	if len(got) != 0 {
		t.Fatalf("clean run: %d findings:\n%s", len(got), strings.Join(got, "\n"))
	}
	if res.Batches != len(f.sent) || res.Hours != 2 || res.Heads["gw-1"].Seq != f.seq || res.Unchecked != 0 ||
		res.SealedHours != 2 || res.SealHead == nil || res.SealHead.Seq != 2 {
		t.Fatalf("clean run checked %d batches (sent %d), %d hours, head %+v, unchecked %d, sealed hours %d, seal head %+v",
			res.Batches, len(f.sent), res.Hours, res.Heads, res.Unchecked, res.SealedHours, res.SealHead)
	}
	t.Logf("clean run: %d evidence records, %d readings, %d hours recomputed, verified in %s", res.Batches, res.Readings, res.Hours, took)
	// The chains vouch for every batch but each hour's last of each
	// gateway; with AllSignatures every signature is verified.
	if res.Signatures+res.Vouched != res.Batches || res.Signatures > 2*len(res.Heads) {
		t.Fatalf("clean run: %d signatures verified and %d vouched for of %d batches, %d gateways", res.Signatures, res.Vouched, res.Batches, len(res.Heads))
	}
	// An hour a query (two queries of each measurement, merged in order)
	// finds what one query of both hours finds.
	hourly := f.opts
	hourly.HoursPerQuery = 1
	if r, err := Verify(context.Background(), f.store, hourly); err != nil {
		t.Fatal(err)
	} else if !r.Pass() || r.Batches != res.Batches || r.Readings != res.Readings || r.Hours != res.Hours || r.Heads["gw-1"] != res.Heads["gw-1"] {
		t.Fatalf("clean run, an hour a query: %d findings, %d batches, %d readings, %d hours, head %+v", len(r.Findings), r.Batches, r.Readings, r.Hours, r.Heads)
	}
	// Hours before the data (the engine not running yet): no reading, no
	// record, nothing claimed: counted, not findings.
	before := f.opts
	before.From = f.opts.From.Add(-3 * time.Hour)
	if r, err := Verify(context.Background(), f.store, before); err != nil {
		t.Fatal(err)
	} else if !r.Pass() || r.Empty != 3 || r.Hours != res.Hours+3 {
		t.Fatalf("three empty hours before: %d findings (%v), %d empty, %d hours", len(r.Findings), r.Findings, r.Empty, r.Hours)
	}
	all := f.opts
	all.AllSignatures = true
	if r, err := Verify(context.Background(), f.store, all); err != nil {
		t.Fatal(err)
	} else if !r.Pass() || r.Signatures != r.Batches || r.Vouched != 0 {
		t.Fatalf("clean run, every signature: %d findings, %d signatures verified of %d batches", len(r.Findings), r.Signatures, r.Batches)
	}

	ms := func(ts time.Time) int64 { return ts.UnixMilli() }
	t1 := day0.Add(10 * time.Minute)
	// A batch stored again under the lane ingest used to give it (seq mod
	// 1024), as a redelivery across ingest's change of lanes would: the
	// same batch, counted once, no finding.
	{
		b := f.batchAt("boiler-1", t1.Add(40*time.Minute))
		rs, err := f.store.rows(context.Background(), fmt.Sprintf("SELECT * FROM %s WHERE lane = %s AND time = %dms", EvidenceMeasurement, quoteString(laneOf(b)), ms(b.Time)))
		if err != nil || len(rs) != 1 {
			t.Fatalf("evidence record of seq %d: %v, %d rows", b.Seq, err, len(rs))
		}
		rec := asMap(rs[0])
		oldLane := strconv.FormatUint(b.Seq%1024, 10)
		rec["lane"] = oldLane
		f.write(lineOf(t, f, EvidenceMeasurement, rec, ms(b.Time)))
		r, got := f.verify()
		if len(got) != 0 || r.Batches != res.Batches {
			t.Fatalf("a batch under two lanes: %d batches (want %d), findings:\n%s", r.Batches, res.Batches, strings.Join(got, "\n"))
		}
		f.query(fmt.Sprintf("DELETE FROM %s WHERE lane = '%s'", EvidenceMeasurement, oldLane))
	}
	seen := map[string]bool{}
	for _, tc := range []struct {
		name   string
		tamper func() []string // makes the change, returns the findings it must add
		// alsoAllowed are findings that may follow from the change.
		alsoAllowed []string
	}{
		{"altered value", func() []string {
			b := f.batchAt("chp-1", t1)
			f.write(fmt.Appendf(nil, "chp,device=chp-1,gateway=gw-1,park=%s,site=plant %s=%v %d\n", f.opts.Park, b.Points[0].Name, b.Points[0].Value*1.1, ms(t1)))
			return []string{fmt.Sprintf("reading_altered gateway=gw-1 seq=%d device=chp-1 time=%s", b.Seq, t1.UTC().Format(time.RFC3339Nano))}
		}, nil},
		{"altered signed message", func() []string {
			// The value is changed in the evidence record's message and in
			// the reading alike, so that they agree; the signature does not.
			ts := t1.Add(3 * time.Minute)
			b := f.batchAt("chp-1", ts)
			p := b.Points[1]
			rs, err := f.store.rows(context.Background(), fmt.Sprintf("SELECT * FROM %s WHERE gateway = 'gw-1' AND lane = %s AND time >= %dms AND time <= %dms", EvidenceMeasurement, quoteString(laneOf(b)), ms(ts), ms(ts)))
			if err != nil || len(rs) != 1 {
				t.Fatalf("evidence record of seq %d: %v, %d rows", b.Seq, err, len(rs))
			}
			rec := asMap(rs[0])
			msg := rs[0].str("msg_0")
			from := regexp.MustCompile(`\{"n":"` + p.Name + `","v":[^,]*,`).FindString(msg)
			to := fmt.Sprintf(`{"n":%q,"v":%s,`, p.Name, strconv.FormatFloat(p.Value*1.1, 'g', -1, 64))
			if from == "" {
				t.Fatalf("message of seq %d has no %s: %s", b.Seq, p.Name, msg)
			}
			rec["msg_0"] = strings.Replace(msg, from, to, 1)
			f.write(lineOf(t, f, EvidenceMeasurement, rec, ms(ts)))
			f.write(fmt.Appendf(nil, "chp,device=chp-1,gateway=gw-1,park=%s,site=plant %s=%v %d\n", f.opts.Park, p.Name, p.Value*1.1, ms(ts)))
			return []string{
				fmt.Sprintf("bad_signature gateway=gw-1 seq=%d device=chp-1", b.Seq),
				fmt.Sprintf("reading_unsigned gateway=gw-1 seq=%d device=chp-1", b.Seq),
				// The batch no longer counts as signed: a hole in the chain.
				fmt.Sprintf("gap gateway=gw-1 seq=%d", b.Seq+1),
			}
		}, []string{"hour_altered time=" + day0.UTC().Format(time.RFC3339Nano)}},
		{"deleted reading", func() []string {
			ts := t1.Add(time.Minute)
			b := f.batchAt("boiler-1", ts)
			f.query(fmt.Sprintf("DELETE FROM boiler WHERE device = 'boiler-1' AND time >= %dms AND time <= %dms", ms(ts), ms(ts)))
			return []string{fmt.Sprintf("reading_missing gateway=gw-1 seq=%d device=boiler-1", b.Seq)}
		}, nil},
		{"forged batch", func() []string {
			ts := t1.Add(90 * time.Second)
			f.write(fmt.Appendf(nil, "chp,device=chp-1,gateway=gw-1,park=%s,site=plant electric_power=30,batch_seq=999999i %d\n", f.opts.Park, ms(ts)))
			return []string{fmt.Sprintf("reading_unsigned gateway=gw-1 seq=999999 device=chp-1 time=%s", ts.UTC().Format(time.RFC3339Nano))}
		}, nil},
		{"replayed batch", func() []string {
			// The evidence record and reading of an old poll are copied to
			// a later time, as if the device had been polled again.
			old := f.batchAt("chp-1", t1.Add(2*time.Minute))
			to := day0.Add(70*time.Minute + 30*time.Second)
			copyPoint(t, f, ms(old.Time), ms(to), EvidenceMeasurement, fmt.Sprintf("gateway = 'gw-1' AND lane = %s", quoteString(laneOf(old))))
			copyPoint(t, f, ms(old.Time), ms(to), "chp", "device = 'chp-1'")
			return []string{
				fmt.Sprintf("moved gateway=gw-1 seq=%d device=chp-1 time=%s", old.Seq, to.UTC().Format(time.RFC3339Nano)),
				fmt.Sprintf("reading_unsigned gateway=gw-1 seq=%d device=chp-1 time=%s", old.Seq, to.UTC().Format(time.RFC3339Nano)),
			}
		}, nil},
		{"reordered readings", func() []string {
			// Two polls of a meter swap their stored values.
			a, b := f.batchAt("steam-t01", t1.Add(5*time.Minute)), f.batchAt("steam-t01", t1.Add(6*time.Minute))
			swapPoints(t, f, "steam_meter", "steam-t01", ms(a.Time), ms(b.Time))
			return []string{
				fmt.Sprintf("reading_altered gateway=gw-1 seq=%d device=steam-t01", a.Seq),
				fmt.Sprintf("reading_altered gateway=gw-1 seq=%d device=steam-t01", b.Seq),
			}
		}, nil},
		{"deleted batch", func() []string {
			b := f.batchAt("cems-1", t1.Add(20*time.Minute))
			f.query(fmt.Sprintf("DELETE FROM %s WHERE gateway = 'gw-1' AND lane = %s AND time >= %dms AND time <= %dms", EvidenceMeasurement, quoteString(laneOf(b)), ms(b.Time), ms(b.Time)))
			return []string{
				fmt.Sprintf("gap gateway=gw-1 seq=%d", b.Seq+1),
				fmt.Sprintf("reading_unsigned gateway=gw-1 seq=%d device=cems-1", b.Seq),
			}
		}, []string{
			// The hour is recomputed without the batch, which no longer
			// verifies: the records resting on cems-1 differ.
			"hour_altered time=" + day0.UTC().Format(time.RFC3339Nano),
		}},
		{"altered hourly record", func() []string {
			f.write(fmt.Appendf(nil, "park_hourly,metric=bds_h2s_removed_kg,park=%s value=1234.5 %d\n", f.opts.Park, ms(day0.Add(time.Hour))))
			at := day0.Add(time.Hour).UTC().Format(time.RFC3339Nano)
			return []string{
				fmt.Sprintf("hour_altered time=%s metric=bds_h2s_removed_kg", at),
				fmt.Sprintf("sealed_record_altered seq=2 time=%s metric=bds_h2s_removed_kg", at),
			}
		}, nil},
		{"removed hourly record", func() []string {
			m, e := f.sealedRecord(0, 0)
			at := day0.UTC()
			f.query(fmt.Sprintf("DELETE FROM park_hourly WHERE metric = '%s' AND tenant = '%s' AND time >= %dms AND time <= %dms", m, e, ms(at), ms(at)))
			return []string{
				fmt.Sprintf("hour_missing time=%s metric=%s entity=%s", at.Format(time.RFC3339Nano), m, e),
				fmt.Sprintf("sealed_record_missing seq=1 time=%s metric=%s entity=%s", at.Format(time.RFC3339Nano), m, e),
			}
		}, nil},
		{"sealed record removed from the audit log, its chain and checkpoint rewritten", func() []string {
			// Whoever holds the file rewrites it whole: the chain holds,
			// InfluxDB's seal records do not match it any more.
			m, e := f.sealedRecord(0, 1)
			f.rewriteLog(func(entries []seal.Entry) {
				recs := entries[0].Records[:0:0]
				for _, r := range entries[0].Records {
					if !strings.Contains(r, "metric="+m+",") || !strings.Contains(r, "tenant="+e+" ") {
						recs = append(recs, r)
					}
				}
				entries[0].Records = recs
			})
			h0, h1 := day0.UTC().Format(time.RFC3339Nano), day0.Add(time.Hour).UTC().Format(time.RFC3339Nano)
			return []string{
				fmt.Sprintf("seal_head_mismatch seq=1 time=%s", h0),
				fmt.Sprintf("seal_head_mismatch seq=2 time=%s", h1),
				fmt.Sprintf("unsealed_record seq=1 time=%s metric=%s entity=%s", h0, m, e),
			}
		}, nil},
		{"sealed record changed in the audit log", func() []string {
			m, e := f.sealedRecord(1, 2)
			path := f.auditLog + "/" + seal.LogFile
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var old string
			for _, r := range f.entries()[1].Records {
				if strings.Contains(r, "metric="+m+",") && strings.Contains(r, "tenant="+e+" ") {
					old = r
				}
			}
			rec, err := seal.ParseRecord(old)
			if err != nil {
				t.Fatal(err)
			}
			v := rec.Fields["value"].(float64)
			forged := strings.Replace(old, fmt.Sprintf("value=%v,", v), fmt.Sprintf("value=%v,", v*0.9), 1)
			oj, _ := json.Marshal(old)
			fj, _ := json.Marshal(forged)
			if !bytes.Contains(b, oj) || old == forged {
				t.Fatalf("record %q not found in the audit log", old)
			}
			if err := os.WriteFile(path, bytes.Replace(b, oj, fj, 1), 0o640); err != nil {
				t.Fatal(err)
			}
			at := day0.Add(time.Hour).UTC().Format(time.RFC3339Nano)
			return []string{
				fmt.Sprintf("seal_broken seq=2 time=%s", at),
				fmt.Sprintf("sealed_record_altered seq=2 time=%s metric=%s entity=%s", at, m, e),
			}
		}, nil},
		{"gateway key swapped", func() []string {
			// Batches signed with another key continue the chain; ingest
			// stores them flagged, and the audit trusts none of them. (At
			// a time between the device's stored readings: after the
			// newest, ingest dead-letters it, as the gateway's own batch
			// of that poll may still come; and with the device's point
			// names: other names it dead-letters too.)
			_, priv, _ := ed25519.GenerateKey(nil)
			other := evidence.NewSigner(priv)
			ts := day0.Add(118 * time.Minute).Add(30 * time.Second)
			var points []batch.Point
			for _, sent := range f.sent {
				if sent.Device == "power-t02" {
					points = slices.Clone(sent.Points)
					break
				}
			}
			for i := range points {
				points[i].Value, points[i].Decimal = points[i].Value+1, ""
			}
			b := &batch.Batch{Gateway: "gw-1", Device: "power-t02", Kind: "power_meter", Site: "plant", Tenant: "t02", Time: ts, Points: points}
			f.sign(b, other)
			f.waitStored(len(f.sent))
			return []string{
				fmt.Sprintf("unknown_key gateway=gw-1 seq=%d device=power-t02", b.Seq),
				fmt.Sprintf("reading_unsigned gateway=gw-1 seq=%d device=power-t02", b.Seq),
			}
		}, nil},
	} {
		want := tc.tamper()
		_, got := f.verify()
		var added []string
		for _, g := range got {
			if !seen[g] {
				added = append(added, g)
				seen[g] = true
			}
		}
		// Each wanted finding is there, and each new one is wanted (a
		// finding per field of a reading or record may match one prefix).
		matched := map[string]bool{}
		for _, a := range added {
			ok := false
			for _, w := range append(want, tc.alsoAllowed...) {
				if strings.HasPrefix(a, w+" ") || strings.HasPrefix(a, w+":") {
					ok, matched[w] = true, true
				}
			}
			if !ok {
				t.Errorf("%s: unexpected finding %s", tc.name, a)
			}
		}
		for _, w := range want {
			if !matched[w] {
				t.Errorf("%s: no finding %q in\n  %s", tc.name, w, strings.Join(added, "\n  "))
			}
		}
		t.Logf("%s:\n  %s", tc.name, strings.Join(added, "\n  "))
	}
}

// copyPoint copies the point of measurement m matching where at time
// from to time to, fields and tags alike.
func copyPoint(t *testing.T, f *fixture, from, to int64, m, where string) {
	t.Helper()
	rs, err := f.store.rows(context.Background(), fmt.Sprintf("SELECT * FROM %s WHERE %s AND time >= %dms AND time <= %dms", quoteIdent(m), where, from, from))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%s at %d: %v, %d rows", m, from, err, len(rs))
	}
	f.write(lineOf(t, f, m, asMap(rs[0]), to))
}

// swapPoints exchanges the fields of a device's readings at a and b.
func swapPoints(t *testing.T, f *fixture, m, dev string, a, b int64) {
	t.Helper()
	get := func(at int64) map[string]any {
		rs, err := f.store.rows(context.Background(), fmt.Sprintf("SELECT * FROM %s WHERE device = '%s' AND time >= %dms AND time <= %dms", m, dev, at, at))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s at %d: %v, %d rows", m, at, err, len(rs))
		}
		return asMap(rs[0])
	}
	ra, rb := get(a), get(b)
	delete(ra, "batch_seq")
	delete(rb, "batch_seq")
	delete(ra, "batch_hash")
	delete(rb, "batch_hash")
	f.write(append(lineOf(t, f, m, ra, b), lineOf(t, f, m, rb, a)...))
}

// lineOf is a row as a line of line protocol at time at (tags are the
// known tag keys, the rest are fields of the types InfluxDB holds).
func lineOf(t *testing.T, f *fixture, m string, r map[string]any, at int64) []byte {
	t.Helper()
	types, err := f.store.rows(context.Background(), "SHOW FIELD KEYS FROM "+quoteIdent(m))
	if err != nil {
		t.Fatal(err)
	}
	typeOf := map[string]string{}
	for _, ty := range types {
		typeOf[ty.str("fieldKey")] = ty.str("fieldType")
	}
	tags := map[string]bool{"park": true, "gateway": true, "device": true, "site": true, "tenant": true}
	if m == EvidenceMeasurement {
		tags = map[string]bool{"park": true, "gateway": true, "lane": true}
	}
	var tg, fl []string
	for k, v := range r {
		switch {
		case k == "time":
		case tags[k]:
			tg = append(tg, k+"="+fmt.Sprint(v))
		case typeOf[k] == "string":
			fl = append(fl, fmt.Sprintf("%s=%q", k, v))
		case typeOf[k] == "integer":
			fl = append(fl, fmt.Sprintf("%s=%vi", k, v))
		default:
			fl = append(fl, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return fmt.Appendf(nil, "%s,%s %s %d\n", m, strings.Join(tg, ","), strings.Join(fl, ","), at)
}

// entries reads the audit log.
func (f *fixture) entries() []seal.Entry {
	f.t.Helper()
	es, _, err := seal.Read(f.auditLog)
	if err != nil || len(es) == 0 {
		f.t.Fatalf("audit log: %v, %d entries", err, len(es))
	}
	return es
}

// sealedRecord returns the metric and tenant of the n-th sealed record of
// entry i that is about a tenant, has a value and is not cumulative.
func (f *fixture) sealedRecord(i, n int) (metric, tenant string) {
	f.t.Helper()
	for _, line := range f.entries()[i].Records {
		r, err := seal.ParseRecord(line)
		if err != nil {
			f.t.Fatal(err)
		}
		_, cumulative := r.Fields["hours"]
		if _, ok := r.Fields["value"]; !ok || cumulative || r.Tags["tenant"] == "" {
			continue
		}
		if n == 0 {
			return r.Tags["metric"], r.Tags["tenant"]
		}
		n--
	}
	f.t.Fatalf("entry %d: not enough tenant records", i)
	return "", ""
}

// rewriteLog rewrites the audit log after edit, every hash and the
// checkpoint recomputed, as someone holding the file could.
func (f *fixture) rewriteLog(edit func([]seal.Entry)) {
	f.t.Helper()
	es := f.entries()
	edit(es)
	var out []byte
	var prev seal.Hash
	for _, e := range es {
		line, h, err := seal.Encode(e.Seq, e.Hour, prev, e.Records)
		if err != nil {
			f.t.Fatal(err)
		}
		out, prev = append(out, line...), h
	}
	last := es[len(es)-1]
	cp, _ := json.Marshal(seal.Checkpoint{Seq: last.Seq, Hour: last.Hour.Format(time.RFC3339), Hash: prev.String()})
	if err := os.WriteFile(f.auditLog+"/"+seal.LogFile, out, 0o640); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.auditLog+"/"+seal.CheckpointFile, cp, 0o640); err != nil {
		f.t.Fatal(err)
	}
}

// A float stored by InfluxDB is compared with the signed value as a
// number: InfluxDB writes an integral float as an integer (1234567), which
// is the signed 1234567.0 and not an alteration; any other value is.
func TestCompareReadingFloats(t *testing.T) {
	b := &batch.Batch{Gateway: "gw-1", Seq: 7, Device: "m-1", Site: "plant", Points: []batch.Point{
		{Name: "energy", Value: 1234567, HasValue: true, Quality: batch.Good},
		{Name: "tiny", Value: 1e-7, HasValue: true, Quality: batch.Good},
		{Name: "count", Kind: batch.IntValue, Int: 1234567, HasValue: true, Quality: batch.Good},
	}}
	g := []signed{{b: b, hash: "h"}}
	stored := func(energy, tiny, count string) row {
		return rowOf(map[string]any{"time": json.Number("1"), "gateway": "gw-1", "device": "m-1", "site": "plant", seqField: json.Number("7"), hashField: "h",
			"energy": json.Number(energy), "tiny": json.Number(tiny), "count": json.Number(count)})
	}
	if d := compareReading(stored("1234567", "1e-7", "1234567"), g); len(d) != 0 {
		t.Fatalf("the signed values: %v", d)
	}
	d := compareReading(stored("1234567.5", "0.0000001", "1234568"), g)
	if fmt.Sprint(d) != "[[count 1234568 1234567] [energy 1.2345675e+06 1.234567e+06]]" {
		t.Fatalf("altered: %v", d)
	}
}

// laneOf is the lane of b's evidence record as ingest tags it (the device
// and the first point's name).
func laneOf(b *batch.Batch) string {
	if len(b.Points) == 0 {
		return b.Device + "/"
	}
	return b.Device + "/" + b.Points[0].Name
}

// asMap is a row's columns and tags with values.
func asMap(r row) map[string]any {
	m := map[string]any{}
	for k, v := range r.all {
		m[k] = v
	}
	return m
}

// rowOf is a row of the columns of m.
func rowOf(m map[string]any) row {
	c := &columns{index: map[string]int{}}
	var v []any
	for k, x := range m {
		c.index[k] = len(c.names)
		c.names = append(c.names, k)
		v = append(v, x)
	}
	return row{s: c, v: v}
}

// TestReadingMatchesAgreesWithTheFieldByFieldCheck: the allocation-free
// check of a stored reading never passes a reading in which the field by
// field comparison finds a difference, and passes the readings ingest
// stores for split and whole polls of every kind of value.
func TestReadingMatchesAgreesWithTheFieldByFieldCheck(t *testing.T) {
	parts := []*batch.Batch{
		{Gateway: "gw-1", Seq: 7, Device: "m-1", Site: "plant", Tenant: "t01", Points: []batch.Point{
			{Name: "energy", Value: 1234567, HasValue: true, Quality: batch.Good},
			{Name: "tiny", Value: 1e-7, HasValue: true, Quality: batch.Good},
			{Name: "count", Kind: batch.IntValue, Int: -42, HasValue: true, Quality: batch.Good},
		}},
		{Gateway: "gw-1", Seq: 8, Part: 1, Device: "m-1", Site: "plant", Tenant: "t01", Points: []batch.Point{
			{Name: "total", Kind: batch.UintValue, Uint: 1 << 40, HasValue: true, Quality: batch.Good},
			{Name: "huge", Kind: batch.UintValue, Uint: math.MaxUint64, HasValue: true, Quality: batch.Good},
			{Name: "temp", Quality: batch.CommError},
		}},
	}
	// The reading ingest stores for parts[:n].
	stored := func(n int) map[string]any {
		m := map[string]any{"time": json.Number("1"), "park": "p", "gateway": "gw-1", "device": "m-1", "site": "plant", "tenant": "t01",
			seqField: json.Number("7"), hashField: "h7", checkField: "ok",
			"energy": json.Number("1234567"), "tiny": json.Number("1e-7"), "count": json.Number("-42")}
		if n == 2 {
			// The parts are one point: each number in a field of its
			// own, the hash the last written.
			m[config.SeqFieldOf(1)], m[hashField] = json.Number("8"), "h8"
			m["total"], m["huge_q"], m["temp_q"] = json.Number("1099511627776"), batch.OutOfRange, batch.CommError
		}
		return m
	}
	group := func(n int) []signed {
		var g []signed
		for i, b := range parts[:n] {
			g = append(g, signed{b: b, hash: fmt.Sprintf("h%d", 7+i)})
		}
		return g
	}
	// clean: no differences; deferred: a clean reading the fast check
	// leaves to the field by field one.
	check := func(name string, m map[string]any, g []signed, clean bool, deferred ...bool) {
		t.Helper()
		r := rowOf(m)
		fast, diffs := readingMatches(r, g), readingDiffs(r, g)
		if fast && len(diffs) > 0 {
			t.Errorf("%s: the fast check passes a reading with differences %v", name, diffs)
		}
		if clean && !fast && len(deferred) == 0 {
			t.Errorf("%s: the fast check fails an unaltered reading (differences %v)", name, diffs)
		}
		if clean != (len(diffs) == 0) {
			t.Errorf("%s: differences %v", name, diffs)
		}
	}
	for n := 1; n <= 2; n++ {
		check(fmt.Sprintf("%d parts", n), stored(n), group(n), true)
		base := stored(n)
		for k, v := range base {
			if k == "time" || k == "park" || k == "gateway" || k == "device" || k == checkField {
				continue
			}
			m := stored(n)
			delete(m, k)
			// The values still match without the batch's sequence number
			// or hash: no difference, which the fast check leaves to the
			// field by field one.
			if config.IsSeqField(k) || k == hashField {
				check(fmt.Sprintf("%d parts without %s", n, k), m, group(n), true, true)
				continue
			}
			check(fmt.Sprintf("%d parts without %s", n, k), m, group(n), false)
			for _, alt := range []any{json.Number("1234568"), json.Number("1.2345675e+06"), json.Number("0"), "other", batch.Good, json.Number("9")} {
				if text(alt) == text(v) {
					continue
				}
				m := stored(n)
				m[k] = alt
				check(fmt.Sprintf("%d parts with %s=%v", n, k, alt), m, group(n), false)
			}
		}
		m := stored(n)
		m["extra"] = json.Number("1")
		check(fmt.Sprintf("%d parts with an unsigned field", n), m, group(n), false)
		m = stored(n)
		m["energy"] = "1234567"
		check(fmt.Sprintf("%d parts with a float stored as a string", n), m, group(n), false)
	}
	// A clean reading of good points is checked without allocating.
	clean, g1 := rowOf(stored(1)), group(1)
	if a := testing.AllocsPerRun(100, func() { readingMatches(clean, g1) }); a != 0 {
		t.Errorf("readingMatches allocates %v times a reading", a)
	}
	// The integer stored as a string holds the same text: the field by
	// field check lets it pass, the fast one defers to it.
	m := stored(1)
	m["count"] = "-42"
	check("integer stored as a string", m, group(1), true, true)
	// Parts that disagree on the site: the field by field check decides.
	other := *parts[1]
	other.Site = "yard"
	g := []signed{{b: parts[0], hash: "h7"}, {b: &other, hash: "h8"}}
	m = stored(2)
	m["site"] = "yard"
	check("parts of two sites", m, g, true, true)
}

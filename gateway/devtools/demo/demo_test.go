package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/audit"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

// TestEndToEnd runs simulator, edge and ingest against a real Mosquitto and
// a real InfluxDB and proves that what InfluxDB stores is exactly what the
// simulator served: every poll of every device, each value equal at its
// precision, with the right tags and poll timestamps. The tenants' power
// meters are on the demo's RS-485 line (the simulator's RTU on a
// pseudo-terminal), the rest on the Modbus TCP bus.
func TestEndToEnd(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	state := t.TempDir()

	var mu sync.Mutex
	served := map[string][]sim.Served{}
	ready := make(chan struct{})
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Park: "e2e", Seed: 42, ModbusListen: "127.0.0.1:0", Broker: mq.URL,
			InfluxURL: ifx.URL, Bucket: "eipgw/autogen", StateDir: state,
			Interval: 500 * time.Millisecond, Step: 100 * time.Millisecond, Report: -1,
			// At twice the demo's rate, 18 meters at 19200 baud would fill
			// nine tenths of the line, and a loaded machine makes polls
			// overrun; 115200 baud leaves it a sixth.
			RS485Baud: 115200,
			Out:       &out,
			OnServe: func(s sim.Served) {
				mu.Lock()
				served[s.Device] = append(served[s.Device], s)
				mu.Unlock()
			},
			Ready: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready after 30s")
	}

	// Readings of every device kind reach InfluxDB within 10 seconds, and
	// the evidence records of the signed batches.
	kinds := []string{"bds", "boiler", "cems", "chp", "eipgw_batch_evidence", "heat_meter", "power_meter", "steam_meter"}
	start := time.Now()
	for {
		series, err := ifx.Query("eipgw", "SHOW MEASUREMENTS")
		var got []string
		if err == nil && len(series) > 0 {
			for _, v := range series[0].Values {
				got = append(got, v[0].(string))
			}
		}
		if slices.Equal(got, kinds) {
			t.Logf("all %d kinds stored %.1fs after start", len(kinds), time.Since(start).Seconds())
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("after 10s InfluxDB has measurements %v (err %v), want %v", got, err, kinds)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}

	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	park, _ := sim.NewPark(sim.Config{Seed: 42}, time.Now())
	total := 0
	for _, d := range park.Devices() {
		rows := query(t, ifx, fmt.Sprintf(`SELECT * FROM %q WHERE "device"='%s' ORDER BY time`, d.Kind, d.Name))
		for i, row := range rows {
			if row["batch_check"] != "ok" {
				t.Errorf("%s row %d: batch_check %v, want ok (a batch signed by the demo's gateway)", d.Name, i, row["batch_check"])
			}
		}
		mu.Lock()
		reads := served[d.Name]
		mu.Unlock()
		// Every read the simulator answered was stored, once.
		if len(rows) != len(reads) || len(rows) < 4 {
			t.Errorf("%s: %d rows stored, %d reads served\n%s", d.Name, len(rows), len(reads), out.String())
			for _, r := range reads {
				t.Logf("served %s", r.Time.Format("15:04:05.000"))
			}
			for _, row := range rows {
				t.Logf("stored %s", time.UnixMilli(int64(num(t, row["time"]))).Format("15:04:05.000"))
			}
			continue
		}
		p := profiles[d.Kind]
		for i, row := range rows {
			s := reads[i]
			ts := time.UnixMilli(int64(num(t, row["time"])))
			if s.Time.Before(ts) || s.Time.Sub(ts) > 500*time.Millisecond {
				t.Errorf("%s row %d: stored time %s, read served at %s", d.Name, i, ts.Format(time.RFC3339Nano), s.Time.Format(time.RFC3339Nano))
			}
			wantTags := map[string]string{"park": "e2e", "site": "plant", "gateway": "gw-1", "device": d.Name}
			if d.Tenant != "" {
				wantTags["tenant"] = d.Tenant
			}
			for k, v := range wantTags {
				if row[k] != v {
					t.Errorf("%s row %d: tag %s = %v, want %q", d.Name, i, k, row[k], v)
				}
			}
			for j := range p.Points {
				pt := &p.Points[j]
				off := pt.Address - int(s.Address)
				want, ok := pt.Decode(s.Regs[off:])
				got, present := row[pt.Name]
				if !ok {
					if present && got != nil {
						t.Errorf("%s row %d: %s stored %v although out of range", d.Name, i, pt.Name, got)
					}
					continue
				}
				g := num(t, got)
				if pt.Float32() {
					if float32(g) != float32(want) {
						t.Errorf("%s row %d: %s = %v, served %v", d.Name, i, pt.Name, g, float32(want))
					}
				} else if math.Abs(g-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s row %d: %s = %v, served %v", d.Name, i, pt.Name, g, want)
				}
				total++
			}
		}
	}
	t.Logf("compared %d stored readings with what the simulator served", total)
	if !strings.Contains(out.String(), "dead letters") {
		t.Errorf("no closing summary in the demo output:\n%s", out.String())
	}
	checkRS485(t, state, park, profiles, 115200)
	checkAudit(t, state, ifx.URL, start)
	if !strings.Contains(out.String(), "RS-485: the power_meter devices are on a serial line at 115200 baud") {
		t.Errorf("the banner does not say which devices are on the RS-485 line:\n%s", out.String())
	}
}

// checkAudit runs the audit over the demo's run, with the key the demo
// made in state: every batch verified, the chain whole, every reading as
// signed, the park engine's hours (none closed in so short a run) agree.
func checkAudit(t *testing.T, state, influxURL string, from time.Time) {
	t.Helper()
	line, err := os.ReadFile(filepath.Join(state, "gw-1.key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := evidence.ParsePublicKey(strings.TrimSpace(string(line)))
	if err != nil {
		t.Fatal(err)
	}
	keys := evidence.Keys{}
	keys.Add("gw-1", pub)
	s, err := audit.NewStore(&config.InfluxDB{URL: influxURL, Bucket: "eipgw/autogen"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(context.Background(), s, audit.Options{Park: "e2e", Keys: keys, From: from.Add(-time.Minute), To: time.Now().Add(time.Minute), AllSignatures: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass() || res.Batches == 0 || res.Signatures != res.Batches || res.Unchecked != 0 {
		t.Errorf("audit of the demo's run: %d batches, %d signatures verified, %d readings unchecked, findings %v", res.Batches, res.Signatures, res.Unchecked, res.Findings)
	}
	t.Logf("audit: %d signed batches verified, %d readings, pass", res.Batches, res.Readings)
}

// checkRS485 checks the edge configuration the demo generated in state:
// with a baud rate, the tenants' power meters (and nothing else) on a bus
// of their own on a local serial line at that speed, the rest on Modbus
// TCP; with 0, every Modbus device on Modbus TCP. Every device of the park
// is in it once.
func checkRS485(t *testing.T, state string, park *sim.Park, profiles modbus.Profiles, baud int) {
	t.Helper()
	f, err := config.Load(filepath.Join(state, "demo-edge.yaml"), profiles.Has)
	if err != nil {
		t.Fatal(err)
	}
	buses := map[string]config.Bus{}
	for _, b := range f.Edge.Buses {
		buses[b.Name] = b
	}
	onLine := 0
	for _, d := range f.Edge.Devices {
		b := buses[d.Bus]
		switch {
		case b.IsOPCUA():
		case baud > 0 && d.Profile == "power_meter":
			onLine++
			if b.Transport != config.TransportRTU || b.Device == "" || b.Baud != baud {
				t.Errorf("%s on bus %+v, want the RS-485 line at %d baud", d.Name, b, baud)
			}
		case b.Transport != config.TransportTCP:
			t.Errorf("%s (%s) on bus %s of transport %s, want Modbus TCP", d.Name, d.Profile, b.Name, b.Transport)
		}
	}
	want := 0
	if baud > 0 {
		for _, d := range park.Devices() {
			if d.Kind == "power_meter" {
				want++
			}
		}
	}
	if onLine != want || len(f.Edge.Devices) != len(park.Devices()) {
		t.Errorf("%d devices on the RS-485 line, want %d; %d devices configured, the park has %d",
			onLine, want, len(f.Edge.Devices), len(park.Devices()))
	}
}

func query(t *testing.T, ifx *testenv.Influx, q string) []map[string]any {
	t.Helper()
	series, err := ifx.Query("eipgw", q)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	for _, s := range series {
		for _, v := range s.Values {
			row := map[string]any{}
			for i, c := range s.Columns {
				row[c] = v[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// waitIngested waits for ingest to take and acknowledge what the broker
// acknowledged to the edge, then for a quiet spell; it gives up at its
// limit and says so.
func TestWaitIngested(t *testing.T) {
	var mu sync.Mutex
	st := ingest.Stats{}
	stats := func() ingest.Stats { mu.Lock(); defer mu.Unlock(); return st }
	go func() {
		for i := range 10 {
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			st.Received = uint64(i + 1)
			st.Acked = uint64(i)
			mu.Unlock()
		}
		mu.Lock()
		st.Acked = st.Received
		mu.Unlock()
	}()
	start := time.Now()
	if !waitIngested(10, stats, 10*time.Second) {
		t.Fatal("gave up although ingest took and acknowledged all 10")
	}
	if took := time.Since(start); took < 200*time.Millisecond+ingestQuiet {
		t.Errorf("returned after %v, before the last message and the quiet spell", took)
	}
	if waitIngested(11, stats, 300*time.Millisecond) {
		t.Error("reported done with 10 acknowledged of 11")
	}
}

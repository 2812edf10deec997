package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
	"github.com/eipgw/eipgw/gateway/plumbing/wal"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CleanupBinaries()
	os.Exit(code)
}

func start(t *testing.T, args ...string) *testenv.Proc {
	t.Helper()
	return testenv.Start(t, testenv.Eipgw(t), args...)
}

// startSim serves the simulated park on a free port.
func startSim(t *testing.T) string {
	t.Helper()
	_, addr := testenv.StartSim(t, 3, 100*time.Millisecond)
	return addr
}

// watcher is a persistent-session subscriber that records which sequence
// numbers arrived on a gateway's data topics.
type watcher struct {
	mu   sync.Mutex
	seqs map[uint64]int
	// bodies are the payloads by number; clashes counts numbers that came
	// with two different payloads (a number given to two batches).
	bodies  map[uint64]string
	clashes int
	c       mqtt.Client
}

func watch(t *testing.T, broker, filter string) *watcher {
	t.Helper()
	w := &watcher{seqs: map[uint64]int{}, bodies: map[uint64]string{}}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("test-watcher").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			if tp, err := topic.Parse(m.Topic()); err == nil && tp.Kind == topic.KindStatus {
				return
			}
			b, err := batch.Decode(m.Payload())
			if err != nil {
				t.Errorf("watcher: %v", err)
				return
			}
			w.mu.Lock()
			w.seqs[b.Seq]++
			if old, ok := w.bodies[b.Seq]; ok && old != string(m.Payload()) {
				w.clashes++
			}
			w.bodies[b.Seq] = string(m.Payload())
			w.mu.Unlock()
		}).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(filter, 1, nil).Wait() })
	w.c = mqtt.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

// missing returns the numbers in 1..n not received.
func (w *watcher) missing(n uint64) []uint64 { return w.missingIn(1, n) }

// missingIn returns the numbers in from..to not received.
func (w *watcher) missingIn(from, to uint64) []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var miss []uint64
	for s := from; s <= to; s++ {
		if w.seqs[s] == 0 {
			miss = append(miss, s)
		}
	}
	return miss
}

func (w *watcher) waitAll(t *testing.T, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		miss := w.missing(n)
		if len(miss) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d batches never arrived: %v", len(miss), n, miss)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readSeq(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(string(b)), " clean"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeEdgeConfig(t *testing.T, broker, modbusAddr, stateDir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`park: sig
site: plant
mqtt:
  broker: %s
  client_id: sigterm-edge
  connect_timeout: 2s
edge:
  gateway: gw-1
  state_dir: %s
  publish_timeout: 1s
  buses:
    - {name: sim, address: "%s", timeout: 500ms}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: 200ms}
    - {name: cems-1, profile: cems, bus: sim, unit: 2, interval: 200ms}
    - {name: steam-supply, profile: steam_meter, bus: sim, unit: 6, interval: 200ms}
`, broker, stateDir, modbusAddr)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEdgeSIGTERMWithBrokerUp: every batch polled before SIGTERM reaches
// the broker, and the sequence continues without a gap after a restart.
func TestEdgeSIGTERMWithBrokerUp(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	simAddr := startSim(t)
	w := watch(t, mq.URL, topic.GatewayFilter("sig", "gw-1"))
	state := t.TempDir()
	cfg := writeEdgeConfig(t, mq.URL, simAddr, state)

	e := start(t, "edge", "-config", cfg)
	time.Sleep(2 * time.Second)
	e.Term(t, 10*time.Second)
	n := readSeq(t, state)
	if n < 10 {
		t.Fatalf("only %d batches polled\n%s", n, e.Output())
	}
	log, err := wal.Open(wal.Options{Dir: filepath.Join(state, "wal")})
	if err != nil {
		t.Fatal(err)
	}
	if st := log.Stats(); st.Pending != 0 {
		t.Errorf("%d batches unacknowledged although the broker was up", st.Pending)
	}
	log.Close()
	w.waitAll(t, n, 5*time.Second)

	e = start(t, "edge", "-config", cfg)
	time.Sleep(time.Second)
	e.Term(t, 10*time.Second)
	n2 := readSeq(t, state)
	if n2 <= n {
		t.Fatalf("seq did not advance: %d then %d", n, n2)
	}
	w.waitAll(t, n2, 5*time.Second)
	t.Logf("%d batches, sequence 1..%d complete across a restart", n2, n2)
}

// TestEdgeSIGTERMWithBrokerDown: batches the broker never acknowledged stay
// in the write-ahead log at SIGTERM and are delivered after the next start.
func TestEdgeSIGTERMWithBrokerDown(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	simAddr := startSim(t)
	w := watch(t, mq.URL, topic.GatewayFilter("sig", "gw-1"))
	state := t.TempDir()
	cfg := writeEdgeConfig(t, mq.URL, simAddr, state)

	e := start(t, "edge", "-config", cfg)
	time.Sleep(1500 * time.Millisecond)
	mq.Stop()
	time.Sleep(1500 * time.Millisecond) // polling goes on; nothing is acknowledged
	e.Term(t, 15*time.Second)
	n := readSeq(t, state)
	log, err := wal.Open(wal.Options{Dir: filepath.Join(state, "wal")})
	if err != nil {
		t.Fatal(err)
	}
	spooled := log.Stats().Pending
	log.Close()
	if spooled < 5 {
		t.Fatalf("only %d batches kept in the write-ahead log\n%s", spooled, e.Output())
	}
	mq.Restart()
	e = start(t, "edge", "-config", cfg)
	time.Sleep(1500 * time.Millisecond)
	e.Term(t, 10*time.Second)
	if !strings.Contains(e.Output(), "write-ahead log holds unacknowledged batches") {
		t.Errorf("restart did not replay the log:\n%s", e.Output())
	}
	n2 := readSeq(t, state)
	w.waitAll(t, n2, 10*time.Second)
	t.Logf("%d polled before SIGTERM, %d kept in the log with the broker down; all %d delivered after restart", n, spooled, n2)
}

// TestIngestSIGTERMAcksOnlyWhatItWrote: with InfluxDB down, ingest
// receives messages but acknowledges none; after SIGTERM and a restart the
// broker delivers them again and every one is stored exactly once.
func TestIngestSIGTERMAcksOnlyWhatItWrote(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	cfg := fmt.Sprintf(`park: sig
mqtt:
  broker: %s
  client_id: sigterm-ingest
ingest:
  batch_size: 10
  batch_wait: 50ms
  influxdb:
    url: %s
    bucket: eipgw/autogen
    timeout: 2s
`, mq.URL, ifx.URL)
	cfgPath := filepath.Join(t.TempDir(), "ingest.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("test-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	t0 := time.Now().Truncate(time.Second)
	publish := func(from, to uint64) {
		for s := from; s <= to; s++ {
			b := batch.Batch{Gateway: "gw-9", Seq: s, Device: "chp-1", Kind: "chp", Site: "plant",
				Time:   t0.Add(time.Duration(s) * time.Second),
				Points: []batch.Point{{Name: "electric_power", Value: float64(s), HasValue: true, Unit: "MW", Quality: batch.Good}}}
			tok := pub.Publish(topic.Data("sig", "gw-9", "chp-1"), 1, false, b.AppendJSON(nil))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", s, tok.Error())
			}
		}
	}
	stored := func() int {
		series, err := ifx.Query("eipgw", `SELECT count(batch_seq) FROM chp WHERE gateway='gw-9'`)
		if err != nil || len(series) == 0 {
			return 0
		}
		n, _ := series[0].Values[0][1].(json.Number).Int64()
		return int(n)
	}
	waitStored := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for stored() != want {
			if time.Now().After(deadline) {
				t.Fatalf("stored %d, want %d", stored(), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	in := start(t, "ingest", "-config", cfgPath)
	in.WaitOutput(t, "subscribed", 10*time.Second)
	publish(1, 20)
	waitStored(20, 10*time.Second)

	ifx.Stop()
	publish(21, 50)
	time.Sleep(2 * time.Second) // ingest holds them, failing to write
	in.Term(t, 10*time.Second)
	if !strings.Contains(in.Output(), "influxdb write failed") {
		t.Errorf("ingest never tried to write while InfluxDB was down:\n%s", in.Output())
	}

	ifx.Restart()
	if got := stored(); got != 20 {
		t.Fatalf("stored %d before ingest restarted, want 20", got)
	}
	in = start(t, "ingest", "-config", cfgPath)
	waitStored(50, 15*time.Second)
	in.Term(t, 10*time.Second)
	series, err := ifx.Query("eipgw", `SELECT batch_seq, electric_power FROM chp WHERE gateway='gw-9'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, v := range series[0].Values {
		s, _ := v[1].(json.Number).Int64()
		p, _ := v[2].(json.Number).Float64()
		if seen[s] || float64(s) != p {
			t.Errorf("seq %d stored twice or with value %v", s, p)
		}
		seen[s] = true
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct batches stored, want 50", len(seen))
	}
}

// TestProcs: edge.procs and ingest.procs set how many CPUs the role runs
// Go code on (default 1); the environment's GOMAXPROCS wins.
func TestProcs(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	bin := testenv.Eipgw(t)
	section := map[string]func(name, procs string) string{
		"ingest": func(name, procs string) string {
			return fmt.Sprintf("park: procs\nmqtt:\n  broker: %s\n  client_id: procs-ingest-%s\ningest:\n%s  influxdb:\n    url: http://127.0.0.1:1\n    bucket: eipgw/autogen\n", mq.URL, name, procs)
		},
		"edge": func(name, procs string) string {
			return fmt.Sprintf("park: procs\nsite: s\nmqtt:\n  broker: %s\n  client_id: procs-edge-%s\nedge:\n%s  gateway: gw-1\n  state_dir: %s\n  buses:\n    - {name: b, address: \"127.0.0.1:1\"}\n  devices:\n    - {name: m1, profile: power_meter, bus: b, unit: 1}\n",
				mq.URL, name, procs, t.TempDir())
		},
	}
	for _, role := range []string{"edge", "ingest"} {
		for _, tc := range []struct {
			name, procs, env, want string
		}{
			{"default", "", "", "procs=1"},
			{"set", "  procs: 2\n", "", "procs=2"},
			{"environment", "  procs: 2\n", "3", "procs=3"},
		} {
			t.Run(role+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), role+".yaml")
				if err := os.WriteFile(path, []byte(section[role](tc.name, tc.procs)), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Setenv("GOMAXPROCS", tc.env)
				if tc.env == "" {
					os.Unsetenv("GOMAXPROCS")
				}
				p := testenv.Start(t, bin, role, "-config", path)
				p.WaitOutput(t, role+" starting", 10*time.Second)
				p.Term(t, 10*time.Second)
				if !strings.Contains(p.Output(), tc.want) {
					t.Errorf("want %s in:\n%s", tc.want, p.Output())
				}
			})
		}
	}
}

// TestEdgeSecondSIGTERMStopsAtOnce: with the broker down, a stopping edge
// waits its publish timeout (30 s here) for acknowledgements; a second
// SIGTERM ends it at once, and the batches it held are in its log: the
// next start delivers every one.
func TestEdgeSecondSIGTERMStopsAtOnce(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	simAddr := startSim(t)
	w := watch(t, mq.URL, topic.GatewayFilter("sig", "gw-1"))
	state := t.TempDir()
	cfg := writeEdgeConfig(t, mq.URL, simAddr, state)
	slow, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	slowCfg := filepath.Join(t.TempDir(), "edge-slow.yaml")
	if err := os.WriteFile(slowCfg, []byte(strings.Replace(string(slow), "publish_timeout: 1s", "publish_timeout: 30s", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, "edge", "-config", slowCfg)
	time.Sleep(1500 * time.Millisecond)
	mq.Stop()
	time.Sleep(time.Second)
	twice := func(e *testenv.Proc, sig syscall.Signal, status string) {
		t.Helper()
		if err := e.Signal(sig); err != nil {
			t.Fatal(err)
		}
		e.WaitOutput(t, "stopping: signal received", 5*time.Second)
		if _, ended := e.Wait(time.Second); ended {
			t.Fatalf("the edge did not wait for the broker's acknowledgements:\n%s", e.Output())
		}
		if err := e.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err, ended := e.Wait(5 * time.Second)
		if !ended || err == nil || !strings.Contains(err.Error(), status) {
			t.Fatalf("after a second %v: ended %v, %v; want %s at once\n%s", sig, ended, err, status, e.Output())
		}
	}
	// Two at once are one request (a terminal's Ctrl-C and a script
	// relaying it): the stop goes on.
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.WaitOutput(t, "stopping: signal received", 5*time.Second)
	if _, ended := e.Wait(time.Second); ended {
		t.Fatalf("two signals at once stopped the edge at once:\n%s", e.Output())
	}
	e.Kill()
	e = start(t, "edge", "-config", slowCfg)
	time.Sleep(1500 * time.Millisecond)
	twice(e, syscall.SIGTERM, "exit status 143")
	// Started with SIGINT ignored, as a background job of a script is:
	// the second SIGINT still ends it.
	e = testenv.Start(t, "/bin/sh", "-c", "trap '' INT; exec "+testenv.Eipgw(t)+" edge -config "+slowCfg)
	time.Sleep(1500 * time.Millisecond)
	twice(e, syscall.SIGINT, "exit status 130")
	mq.Restart()
	e = start(t, "edge", "-config", cfg)
	time.Sleep(1500 * time.Millisecond)
	e.Term(t, 10*time.Second)
	w.waitAll(t, readSeq(t, state), 10*time.Second)
}

// TestEdgeDamagedLogAfterKill: the edge is killed and its log is then
// damaged: a byte in the middle of its last segment (a bad sector), or
// its last third cut off, mid-record (a file truncated: it reads as a
// torn last record). The next start numbers its batches above every
// number its log's acknowledgement checkpoint covers, and after damage
// above every number its sequence file covered: every batch of the new run
// is published (a number at or below the checkpoint would have been taken
// for acknowledged and never sent), and after damage none goes to two
// batches and the loss is logged.
func TestEdgeDamagedLogAfterKill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		damaged bool
	}{
		{"bad byte mid-segment", func(b []byte) []byte {
			// A byte in the body of the record at the segment's
			// middle: it and every record after it are unreadable.
			off := 0
			for off < len(b)/2 {
				off += 8 + int(binary.LittleEndian.Uint32(b[off:off+4]))
			}
			b[off+8+20] ^= 0xff
			return b
		}, true},
		{"last third cut off", func(b []byte) []byte { return b[:len(b)*2/3] }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mq := testenv.StartMosquitto(t)
			simAddr := startSim(t)
			w := watch(t, mq.URL, topic.GatewayFilter("sig", "gw-1"))
			state := t.TempDir()
			cfg := writeEdgeConfig(t, mq.URL, simAddr, state)
			e := start(t, "edge", "-config", cfg)
			time.Sleep(2500 * time.Millisecond)
			e.Kill()
			segs, err := filepath.Glob(filepath.Join(state, "wal", "*.wal"))
			if err != nil || len(segs) == 0 {
				t.Fatalf("segments %v, %v", segs, err)
			}
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, tc.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			reserved := readSeq(t, state)
			restarted := time.Now()
			e = start(t, "edge", "-config", cfg)
			time.Sleep(2500 * time.Millisecond)
			e.Term(t, 10*time.Second)
			if reported := strings.Contains(e.Output(), "batches lost: the write-ahead log's tail was damaged and cut off"); reported != tc.damaged {
				t.Errorf("loss reported %v, want %v:\n%s", reported, tc.damaged, e.Output())
			}
			m := regexp.MustCompile(`msg="edge stopped" polled=(\d+)`).FindStringSubmatch(e.Output())
			if m == nil {
				t.Fatalf("no stop line:\n%s", e.Output())
			}
			polled, _ := strconv.Atoi(m[1])
			n := readSeq(t, state)
			if tc.damaged && n <= reserved+5 {
				t.Fatalf("the new run numbered up to %d, the file covered %d before it", n, reserved)
			}
			// Every batch the new run polled arrives.
			deadline := time.Now().Add(10 * time.Second)
			for {
				w.mu.Lock()
				fresh := 0
				for _, body := range w.bodies {
					if bt, err := batch.Decode([]byte(body)); err == nil && !bt.Time.Before(restarted) {
						fresh++
					}
				}
				clashes := w.clashes
				w.mu.Unlock()
				if fresh == polled {
					if tc.damaged && clashes > 0 {
						t.Errorf("%d numbers published with two different batches", clashes)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the new run polled %d batches, %d arrived (the others numbered as acknowledged?)", polled, fresh)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

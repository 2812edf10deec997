package faults

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/devtools/bench"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

func TestMain(m *testing.M) {
	code := m.Run()
	printTable()
	testenv.CleanupBinaries()
	os.Exit(code)
}

// result is one row of the table.
type result struct {
	scenario                  string
	polled, stored, lost, dup int
	recovery                  time.Duration
	note                      string
}

var (
	resultsMu sync.Mutex
	results   []result
)

func record(r result) {
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
}

func printTable() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Println()
	fmt.Printf("| %-44s | %7s | %7s | %5s | %10s | %9s | %s\n", "scenario", "polled", "stored", "lost", "duplicates", "recovery", "note")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s\n", strings.Repeat("-", 46), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 7), strings.Repeat("-", 12), strings.Repeat("-", 11), strings.Repeat("-", 20))
	for _, r := range results {
		fmt.Printf("| %-44s | %7d | %7d | %5d | %10d | %8.1fs | %s\n", r.scenario, r.polled, r.stored, r.lost, r.dup, r.recovery.Seconds(), r.note)
	}
}

const (
	park    = "faults"
	gateway = "gw-f"
)

// rig is one scenario's world.
type rig struct {
	t        *testing.T
	watchMu  sync.Mutex
	watched  map[int]int             // seqs a plain (non-shared) subscriber received
	contents map[int]map[uint64]bool // distinct payloads seen per seq: more than one is a reused number
	bin      string
	mq       *testenv.Mosquitto
	ifx      *testenv.Influx
	influx   string // the URL ingest writes to (a proxy in some scenarios)
	simAddr  string
	sim      *testenv.Proc // the simulator's process (the site topology)
	rtuLink  string        // the link to its RTU pseudo-terminal
	stateDir string
	edgeCfg  string
	ingests  []string        // config paths, one per worker
	workers  []*testenv.Proc // ingest processes started, for their logs
	shared   bool            // workers share a subscription group
	// ingestExtra is appended to the ingest section of each worker.
	ingestExtra string
}

type rigOptions struct {
	noBrokerPersistence bool
	workers             int
	stateDir            string
	walMB               int
	interval            time.Duration
	multiBus            bool // the site topology: see multiBusDevices
	// signed: the edge signs and chains its batches (edge.evidence, a key
	// made by eipgw keygen) and ingest has its public key.
	signed bool
	// noWatch: no watcher client. A scenario that judges only what the
	// broker acknowledged needs none, and a watcher slower than a drain
	// makes the broker queue the backlog for it, which slows the broker
	// down to the watcher's pace.
	noWatch bool
}

// multiBusDevices is a realistic site: three Modbus TCP buses and one RTU
// line (a pseudo-terminal to the simulator at 115200 baud), devices polled
// at different intervals. The single-bus topology puts five devices on one
// TCP bus. %[1]s is the base interval.
const multiBusDevices = `  buses:
    - {name: plant, address: "%[2]s", timeout: 500ms}
    - {name: network, address: "%[2]s", timeout: 500ms, pipeline: 4}
    - {name: tenants, address: "%[2]s", timeout: 500ms}
    - {name: rs485, transport: rtu, device: "%[3]s", baud: 115200, timeout: 500ms}
  devices:
    - {name: chp-1, profile: chp, bus: plant, unit: 1, interval: %[1]s}
    - {name: cems-1, profile: cems, bus: plant, unit: 2, interval: %[4]s}
    - {name: bds-1, profile: bds, bus: network, unit: 3, interval: %[5]s}
    - {name: steam-supply, profile: steam_meter, bus: network, unit: 6, interval: %[1]s}
    - {name: steam-t01, profile: steam_meter, bus: tenants, unit: 11, interval: %[1]s, tenant: t01}
    - {name: steam-t02, profile: steam_meter, bus: tenants, unit: 12, interval: %[4]s, tenant: t02}
    - {name: power-t01, profile: power_meter, bus: rs485, unit: 31, interval: %[4]s, tenant: t01}
    - {name: power-t02, profile: power_meter, bus: rs485, unit: 32, interval: %[5]s, tenant: t02}
`

const singleBusDevices = `  buses:
    - {name: sim, address: "%[2]s", timeout: 500ms}
  devices:
    - {name: chp-1, profile: chp, bus: sim, unit: 1, interval: %[1]s}
    - {name: cems-1, profile: cems, bus: sim, unit: 2, interval: %[1]s}
    - {name: bds-1, profile: bds, bus: sim, unit: 3, interval: %[1]s}
    - {name: steam-supply, profile: steam_meter, bus: sim, unit: 6, interval: %[1]s}
    - {name: steam-t01, profile: steam_meter, bus: sim, unit: 11, interval: %[1]s, tenant: t01}
`

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, bin: testenv.Eipgw(t)}
	if o.noBrokerPersistence {
		r.mq = testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{NoPersistence: true})
	} else {
		r.mq = testenv.StartMosquitto(t)
	}
	r.ifx = testenv.StartInflux(t, "eipgw")
	r.influx = r.ifx.URL
	if o.multiBus {
		r.rtuLink = filepath.Join(t.TempDir(), "rtu")
		r.simAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		r.sim = startSimProcess(t, r.bin, r.simAddr, r.rtuLink)
	} else {
		r.simAddr = startSim(t)
	}
	r.stateDir = o.stateDir
	if r.stateDir == "" {
		r.stateDir = t.TempDir()
	}
	walMB := o.walMB
	if walMB == 0 {
		walMB = 64
	}
	iv := o.interval
	if iv == 0 {
		iv = 100 * time.Millisecond
	}
	devices := singleBusDevices
	if o.multiBus {
		devices = multiBusDevices
	}
	signing := ""
	if o.signed {
		key := filepath.Join(t.TempDir(), "gw-f.key")
		if out, err := exec.Command(r.bin, "keygen", "-out", key).CombinedOutput(); err != nil {
			t.Fatalf("eipgw keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(key + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		signing = fmt.Sprintf("  evidence: {key_file: %q}\n", key)
		r.ingestExtra += fmt.Sprintf("  evidence: {keys: {%s: [%q]}}\n", gateway, strings.TrimSpace(string(pub)))
	}
	r.edgeCfg = write(t, "edge.yaml", fmt.Sprintf(`park: %s
site: plant
mqtt: {broker: "%s", client_id: faults-edge, connect_timeout: 2s}
edge:
  gateway: %s
  state_dir: %s
  publish_timeout: 2s
  wal: {max_mb: %d, segment_mb: 1}
  replay: {allow: ["faults-ingest-*"], min_interval: 1s}
%s`, park, r.mq.URL, gateway, r.stateDir, walMB, signing)+fmt.Sprintf(devices, iv, r.simAddr, r.rtuLink, 2*iv, 3*iv))
	if !o.noWatch {
		r.watch()
	}
	workers := max(1, o.workers)
	r.shared = workers > 1
	for i := range workers {
		r.ingests = append(r.ingests, "")
		r.setIngest(i, r.influx)
	}
	return r
}

// watch subscribes a plain persistent-session client to the gateway's
// data topics: when a batch is missing from InfluxDB, it tells whether the
// broker ever delivered it.
func (r *rig) watch() {
	r.watched = map[int]int{}
	r.contents = map[int]map[uint64]bool{}
	opts := mqtt.NewClientOptions().AddBroker(r.mq.URL).SetClientID("faults-watcher").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			var b struct{ Seq int }
			if json.Unmarshal(m.Payload(), &b) == nil && b.Seq > 0 {
				h := fnv.New64a()
				h.Write(m.Payload())
				r.watchMu.Lock()
				r.watched[b.Seq]++
				if r.contents[b.Seq] == nil {
					r.contents[b.Seq] = map[uint64]bool{}
				}
				r.contents[b.Seq][h.Sum64()] = true
				r.watchMu.Unlock()
			}
		}).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(topic.GatewayFilter(park, gateway), 1, nil).Wait() })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		r.t.Fatalf("watcher: %v", tok.Error())
	}
	r.t.Cleanup(func() { c.Disconnect(100) })
}

func (r *rig) setIngest(i int, influxURL string) {
	group := ""
	if r.shared {
		group = "group: faults"
	}
	r.ingests[i] = write(r.t, fmt.Sprintf("ingest-%d.yaml", i), fmt.Sprintf(`park: %s
mqtt: {broker: "%s", client_id: faults-ingest-%d}
ingest:
  %s
  batch_size: 200
  batch_wait: 50ms
  influxdb: {url: "%s", bucket: eipgw/autogen, timeout: 3s}
  completeness: {interval: 1s, grace: 3s}
%s`, park, r.mq.URL, i, group, influxURL, r.ingestExtra))
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startSimProcess runs the simulator as its own process, serving Modbus
// TCP at addr and RTU on a new pseudo-terminal linked from rtuLink.
func startSimProcess(t *testing.T, bin, addr, rtuLink string) *testenv.Proc {
	t.Helper()
	p := testenv.Start(t, bin, "sim", "-listen", addr, "-rtu", "pty", "-rtu-link", rtuLink,
		"-baud", "115200", "-seed", "11", "-step", "100ms")
	p.WaitOutput(t, "simulator serving Modbus RTU", 15*time.Second)
	testenv.WaitTCP(t, addr, 10*time.Second)
	return p
}

func startSim(t *testing.T) string {
	t.Helper()
	_, addr := testenv.StartSim(t, 11, 100*time.Millisecond)
	return addr
}

func (r *rig) edge() *testenv.Proc { return testenv.Start(r.t, r.bin, "edge", "-config", r.edgeCfg) }

func (r *rig) ingest(i int) *testenv.Proc {
	p := testenv.Start(r.t, r.bin, "ingest", "-config", r.ingests[i])
	p.WaitOutput(r.t, "subscribed", 15*time.Second)
	r.workers = append(r.workers, p)
	return p
}

// workerLogs is the tail of every ingest worker's output, for a failure.
func (r *rig) workerLogs() string {
	var b strings.Builder
	for i, p := range r.workers {
		lines := strings.Split(strings.TrimSpace(p.Output()), "\n")
		fmt.Fprintf(&b, "--- ingest worker %d (last %d lines)\n%s\n", i, min(40, len(lines)), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return b.String()
}

// polled is the number of batches the edge produced: after a clean stop
// its sequence file holds the exact last number.
func (r *rig) polled() int {
	b, err := os.ReadFile(filepath.Join(r.stateDir, "seq"))
	if err != nil {
		r.t.Fatal(err)
	}
	text, clean := strings.CutSuffix(strings.TrimSpace(string(b)), " clean")
	if !clean {
		r.t.Fatalf("sequence file %q was not written by a clean stop", b)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// stored returns the rows stored for the gateway and their distinct seqs.
func (r *rig) stored() (rows int, seqs map[int]int) {
	series, err := r.ifx.Query("eipgw", fmt.Sprintf(`SELECT batch_seq FROM /.*/ WHERE gateway='%s'`, gateway))
	if err != nil {
		return 0, nil
	}
	seqs = map[int]int{}
	for _, s := range series {
		for _, v := range s.Values {
			n, _ := v[1].(json.Number).Int64()
			seqs[int(n)]++
			rows++
		}
	}
	return rows, seqs
}

// finish stops the edge cleanly, waits for every polled batch to be
// stored (the recovery time runs from repaired), checks the count and
// records the row.
func (r *rig) finish(name string, edge *testenv.Proc, repaired time.Time, note string) {
	t := r.t
	t.Helper()
	edge.Term(t, 30*time.Second)
	polled := r.polled()
	deadline := time.Now().Add(90 * time.Second)
	var rows int
	var seqs map[int]int
	var caughtUp time.Time
	for {
		rows, seqs = r.stored()
		if len(seqs) >= polled {
			caughtUp = time.Now()
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var missing []int
	for s := 1; s <= polled; s++ {
		if seqs[s] == 0 {
			missing = append(missing, s)
		}
	}
	dup := rows - len(seqs)
	if declared := r.declared(); declared != 0 {
		t.Errorf("ingest declared %d batches missing in a scenario where the edge dropped none", declared)
	}
	if reused := r.reused(); len(reused) > 0 {
		t.Errorf("sequence numbers published with different content (reused): %v", reused[:min(20, len(reused))])
	}
	rec := time.Duration(0)
	if !caughtUp.IsZero() {
		rec = caughtUp.Sub(repaired)
	}
	res := result{scenario: name, polled: polled, stored: len(seqs), lost: len(missing), dup: dup, recovery: rec, note: note}
	record(res)
	t.Logf("%+v", res)
	if len(missing) > 0 {
		sort.Ints(missing)
		r.watchMu.Lock()
		var viaBroker []int
		for _, s := range missing {
			viaBroker = append(viaBroker, r.watched[s])
		}
		r.watchMu.Unlock()
		t.Errorf("%d of %d batches lost: %v (times the plain subscriber received each: %v)\n%s", len(missing), polled, missing[:min(20, len(missing))], viaBroker[:min(20, len(viaBroker))], r.workerLogs())
	}
	if dup != 0 {
		t.Errorf("%d duplicate rows", dup)
	}
	if polled < 50 {
		t.Errorf("only %d batches polled: the scenario did not run long enough", polled)
	}
}

// topology is the site a scenario runs on: one TCP bus, or the multi-bus
// site (three TCP buses and an RTU line, devices at different intervals).
type topology struct{ multi bool }

func (tp topology) name(scenario string) string {
	if tp.multi {
		return "4 buses: " + scenario
	}
	return "1 bus: " + scenario
}

func TestFaults(t *testing.T) {
	for _, top := range []topology{{false}, {true}} {
		t.Run(top.name(""), func(t *testing.T) {
			t.Run("broker restart, persistent", func(t *testing.T) { brokerRestart(t, top, false) })
			t.Run("broker restart, no persistence", func(t *testing.T) { brokerRestart(t, top, true) })
			t.Run("broker restart, two shared workers", func(t *testing.T) { brokerRestartShared(t, top) })
			t.Run("edge SIGKILL mid-publish", func(t *testing.T) { edgeKill(t, top) })
			t.Run("network partition", func(t *testing.T) { networkPartition(t, top) })
			t.Run("network partition, then edge SIGKILL", func(t *testing.T) { partitionThenKill(t, top) })
			t.Run("InfluxDB stopped and restarted", func(t *testing.T) { influxRestart(t, top) })
			t.Run("InfluxDB slow (proxy +300ms)", func(t *testing.T) { influxSlow(t, top) })
			t.Run("InfluxDB frozen (SIGSTOP)", func(t *testing.T) { influxFrozen(t, top) })
			t.Run("two ingest workers, one killed", func(t *testing.T) { ingestKill(t, top) })
			t.Run("corrupted WAL tail", func(t *testing.T) { walCorrupt(t, top) })
			t.Run("WAL disk full", func(t *testing.T) { walDiskFull(t, top) })
			t.Run("WAL full, oldest dropped", func(t *testing.T) { walFull(t, top) })
			t.Run("broker down, then edge SIGKILL", func(t *testing.T) { brokerDownEdgeKill(t, top) })
			t.Run("disk full, then broker down", func(t *testing.T) { diskFullBrokerDown(t, top) })
			t.Run("InfluxDB slow with a huge batch in the stream", func(t *testing.T) { influxSlowHugeBatch(t, top) })
			if top.multi {
				t.Run("devices and serial line gone", func(t *testing.T) { devicesGone(t, top) })
			}
		})
	}
}

// waitCount waits until text appears n times in p's output.
func waitCount(t *testing.T, p *testenv.Proc, text string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(p.Output(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q printed fewer than %d times in %s:\n%s", text, n, within, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// droppedByEdge sums the counts of the edge's "batches lost" log lines.
func droppedByEdge(out string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `msg="batches lost"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "count="); ok {
				c, _ := strconv.Atoi(v)
				n += c
			}
		}
	}
	return n
}

// reused lists the sequence numbers the watcher saw with more than one
// distinct payload: numbers given to two batches.
func (r *rig) reused() []int {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	var out []int
	for seq, hs := range r.contents {
		if len(hs) > 1 {
			out = append(out, seq)
		}
	}
	sort.Ints(out)
	return out
}

// declared returns how many batches ingest's completeness records mark as
// missing for the gateway.
func (r *rig) declared() int {
	series, err := r.ifx.Query("eipgw", fmt.Sprintf(`SELECT sum(missing_count) FROM completeness WHERE gateway='%s'`, gateway))
	if err != nil || len(series) == 0 {
		return 0
	}
	n, _ := series[0].Values[0][1].(json.Number).Int64()
	return int(n)
}

// walFull overflows a 2 MB log while the broker is down: the oldest
// batches are dropped, and every dropped one must come back as an explicit
// missing marker: polled == stored + declared missing, none silent.
func walFull(t *testing.T, top topology) {
	r := newRig(t, rigOptions{walMB: 2, interval: 10 * time.Millisecond, multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(8 * time.Second) // ~4000 batches of ~1 kB: more than the log holds
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 2, 30*time.Second) // the client's back-off may take a while
	time.Sleep(3 * time.Second)
	e.Term(t, 30*time.Second)
	polled := r.polled()
	deadline := time.Now().Add(60 * time.Second)
	var rows, declared int
	var seqs map[int]int
	for {
		rows, seqs = r.stored()
		declared = r.declared()
		if len(seqs)+declared >= polled || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	recovery := time.Since(repaired)
	dropped := droppedByEdge(e.Output())
	res := result{scenario: top.name("WAL full (2 MB) while broker down 8s"), polled: polled, stored: len(seqs),
		lost: polled - len(seqs) - declared, dup: rows - len(seqs), recovery: recovery,
		note: fmt.Sprintf("%d dropped oldest, each declared missing by ingest (%d)", polled-len(seqs), declared)}
	record(res)
	t.Logf("%+v", res)
	if declared == 0 || dropped == 0 {
		t.Errorf("nothing dropped (declared %d, drop logs %d): the scenario did not overflow the log\n%s", declared, dropped, e.Output())
	}
	if reused := r.reused(); len(reused) > 0 {
		t.Errorf("sequence numbers published with different content (reused): %v", reused[:min(20, len(reused))])
	}
	if dropped != declared {
		t.Errorf("the edge counted %d batches lost, ingest declared %d missing", dropped, declared)
	}
	if len(seqs)+declared != polled || rows != len(seqs) {
		t.Errorf("polled %d != stored %d + declared missing %d (rows %d)", polled, len(seqs), declared, rows)
	}
	in.Term(t, 10*time.Second)
}

func brokerRestart(t *testing.T, top topology, noPersistence bool) {
	r := newRig(t, rigOptions{noBrokerPersistence: noPersistence, multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(3 * time.Second) // the edge polls into its log meanwhile
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	time.Sleep(time.Second)
	name := "broker stopped 3s, restarted (persistence)"
	if noPersistence {
		name = "broker stopped 3s, restarted (no persistence)"
	}
	r.finish(top.name(name), e, repaired, "")
	in.Term(t, 10*time.Second)
}

// brokerRestartShared restarts a persistent Mosquitto under two workers of
// one shared subscription, which Mosquitto 2.0 does not restore: what the
// edge publishes before the workers subscribe again comes back through the
// replay they request.
func brokerRestartShared(t *testing.T, top topology) {
	r := newRig(t, rigOptions{workers: 2, multiBus: top.multi})
	a, b := r.ingest(0), r.ingest(1)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(3 * time.Second)
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	time.Sleep(time.Second)
	r.finish(top.name("broker stopped 3s, restarted (2 shared workers)"), e, repaired, "replayed on request")
	a.Term(t, 10*time.Second)
	b.Term(t, 10*time.Second)
}

func edgeKill(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	e.Kill()
	e = r.edge()
	repaired := time.Now()
	time.Sleep(2 * time.Second)
	e.Kill()
	e = r.edge()
	time.Sleep(2 * time.Second)
	r.finish(top.name("edge SIGKILL twice, restarted"), e, repaired, "")
	in.Term(t, 10*time.Second)
}

// devicesGone: the field side goes away for 3 s, as in a power dip at the
// site: every device stops answering and the RS-485 line's adapter
// disappears with its device node (the simulator's process killed: its
// TCP port closes, its pseudo-terminal and the link to it go away). Every
// poll meanwhile is still published, its points not good; when the
// simulator is back at the same address and link, the TCP devices and
// the serial ones read good values again, and no batch is lost.
func devicesGone(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.sim.Kill()
	gone := time.Now()
	time.Sleep(3 * time.Second)
	r.sim = startSimProcess(t, r.bin, r.simAddr, r.rtuLink)
	repaired := time.Now()
	// Devices that failed are backed off (interval × 2, × 4, ...): wait
	// until one on TCP and one on the line read good values again.
	for _, d := range []struct{ kind, device, point string }{
		{"chp", "chp-1", "electric_power"},
		{"power_meter", "power-t01", "active_power"},
	} {
		good := fmt.Sprintf(`SELECT count(%s) FROM %s WHERE device='%s' AND time > %dms`, d.point, d.kind, d.device, repaired.UnixMilli())
		deadline := time.Now().Add(30 * time.Second)
		for r.count(good) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no good %s stored in the 30 s after the devices came back\n%s", d.device, d.point, e.Output())
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("%s: good values stored again %v after the devices came back", d.device, time.Since(repaired).Round(100*time.Millisecond))
		notGood := fmt.Sprintf(`SELECT count(%s_q) FROM %s WHERE device='%s' AND time > %dms AND time < %dms`,
			d.point, d.kind, d.device, gone.UnixMilli(), repaired.UnixMilli())
		if r.count(notGood) == 0 {
			t.Errorf("%s: no poll stored with %s not good while the devices were gone", d.device, d.point)
		}
	}
	r.finish(top.name("devices and serial line gone 3s"), e, repaired, "")
	in.Term(t, 10*time.Second)
}

// count returns the single count q selects, 0 when there is none.
func (r *rig) count(q string) int {
	series, err := r.ifx.Query("eipgw", q)
	if err != nil || len(series) == 0 || len(series[0].Values) == 0 || len(series[0].Values[0]) < 2 {
		return 0
	}
	n, _ := series[0].Values[0][1].(json.Number).Int64()
	return int(n)
}

func influxRestart(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.ifx.Stop()
	time.Sleep(4 * time.Second)
	r.ifx.Restart()
	repaired := time.Now()
	time.Sleep(2 * time.Second)
	r.finish(top.name("InfluxDB stopped 4s, restarted"), e, repaired, "")
	in.Term(t, 10*time.Second)
}

// influxFrozen stops InfluxDB's process (SIGSTOP) for longer than ingest's
// write timeout and its completeness grace, as a stalled disk or a VM
// pause does: writes time out while InfluxDB still holds the requests,
// and after SIGCONT it stores them while ingest retries. Nothing may be
// lost, and no batch that is only late may be declared missing.
func influxFrozen(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	pid := r.ifx.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	repaired := time.Now()
	time.Sleep(5 * time.Second)
	r.finish(top.name("InfluxDB frozen 8s (SIGSTOP)"), e, repaired, "")
	in.Term(t, 10*time.Second)
}

// slowProxy forwards to target after delay per request.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(delay)
		rp.ServeHTTP(w, req)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func influxSlow(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	r.setIngest(0, slowProxy(t, r.ifx.URL, 300*time.Millisecond))
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(5 * time.Second)
	r.finish(top.name("InfluxDB slow: +300ms per write"), e, time.Now(), "")
	in.Term(t, 10*time.Second)
}

func ingestKill(t *testing.T, top topology) {
	r := newRig(t, rigOptions{workers: 2, multiBus: top.multi})
	a := r.ingest(0)
	b := r.ingest(1)
	e := r.edge()
	time.Sleep(2 * time.Second)
	b.Kill()
	time.Sleep(2 * time.Second)
	b = r.ingest(1) // its session holds what it had not acknowledged
	repaired := time.Now()
	time.Sleep(time.Second)
	r.finish(top.name("2 ingest workers, one SIGKILLed, restarted"), e, repaired, "")
	a.Term(t, 10*time.Second)
	b.Term(t, 10*time.Second)
}

func walCorrupt(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	// Stop the broker so batches pile up in the log, then kill the edge
	// and tear the log's tail as a power cut would.
	time.Sleep(time.Second)
	r.mq.Stop()
	time.Sleep(2 * time.Second)
	e.Kill()
	in.Kill()
	segs, _ := filepath.Glob(filepath.Join(r.stateDir, "wal", "*.wal"))
	sort.Strings(segs)
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x40, 0, 0, 0, 0xde, 0xad}) // a torn record header
	f.Close()
	r.mq.Restart()
	in = r.ingest(0)
	e = r.edge()
	repaired := time.Now()
	e.WaitOutput(t, "truncating a torn or corrupt tail", 10*time.Second)
	time.Sleep(2 * time.Second)
	r.finish(top.name("corrupted WAL tail (torn record), restart"), e, repaired, "tail truncated, logged")
	in.Term(t, 10*time.Second)
}

func walDiskFull(t *testing.T, top topology) {
	mnt := mountSmallDisk(t)
	r := newRig(t, rigOptions{stateDir: mnt, walMB: 64, multiBus: top.multi}) // the log's bound is above the disk
	in := r.ingest(0)
	filler := fillDisk(t, mnt)
	e := r.edge()
	time.Sleep(3 * time.Second)
	os.Remove(filler) // space comes back
	repaired := time.Now()
	time.Sleep(2 * time.Second)
	r.finish(top.name("WAL disk full 3s (broker up)"), e, repaired, "held in memory, counted")
	in.Term(t, 10*time.Second)
	if !strings.Contains(e.Output(), "write-ahead log append failed") {
		t.Errorf("the edge never saw the disk full:\n%s", e.Output())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestBacklogMemory puts 1 GiB of unacknowledged batches (1000 values
// each) in the edge's write-ahead log, then starts the edge with the broker
// up (no subscriber: this measures the edge, not ingest): its anonymous
// memory (heap and stacks, sampled every 50 ms) must stay under 64 MB
// while it drains the backlog, the backlog must drain within 5 minutes,
// and the edge's CPU per drained batch must allow at least 20 times the
// live rate of such batches in the design's budget (20 devices x 1000
// values every second) on one core.
func TestBacklogMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	r := newRig(t, rigOptions{walMB: 2048, noWatch: true})
	const total = 1 << 30
	payload := bigBatch(1000)
	n := total / len(payload)
	if err := prefill(filepath.Join(r.stateDir, "wal"), n, payload); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg, _ := os.ReadFile(r.edgeCfg)
	os.WriteFile(r.edgeCfg, []byte(string(cfg)+"metrics: {listen: \""+metricsAddr+"\"}\n"), 0o644)

	e := r.edge()
	start := time.Now()
	var peak, anon int64
	deadline := start.Add(5 * time.Minute)
	var acked float64
	for time.Now().Before(deadline) {
		if rss, err := e.PeakRSS(); err == nil {
			peak = max(peak, rss)
		}
		if rss, err := e.AnonRSS(); err == nil {
			anon = max(anon, rss)
		}
		acked = metric(metricsAddr, "eipgw_edge_batches_acked_total")
		if acked >= float64(n) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	drain := time.Since(start)
	if rss, err := e.PeakRSS(); err == nil {
		peak = max(peak, rss)
	}
	use, err := bench.ReadUsage(e.Pid())
	if err != nil {
		t.Fatalf("the edge's CPU time: %v", err)
	}
	e.Term(t, 30*time.Second)
	rate := float64(n) / drain.Seconds()
	// The live rate of 1000-value batches in the design's budget: 20
	// devices polled every second.
	live := 20.0
	// The edge's own CPU per drained batch (its start included), and the
	// rate that CPU alone would allow on one core.
	perBatch := use.CPU / time.Duration(n)
	cpuRate := float64(n) / use.CPU.Seconds()
	note := fmt.Sprintf("peak RSS %.1f MB (anonymous, sampled: %.1f MB); drained %d batches (%.0f MB) in %.1fs: %.0f batches/s = %.0fx live; edge CPU %.1fs, %s a batch = %.0fx live on one core", float64(peak)/(1<<20), float64(anon)/(1<<20), n, float64(total)/(1<<20), drain.Seconds(), rate, rate/live, use.CPU.Seconds(), perBatch.Round(time.Microsecond), cpuRate/live)
	record(result{scenario: "1 GiB backlog in the WAL, broker up", polled: n, stored: int(acked), recovery: drain, note: "stored = acknowledged by the broker; " + note})
	t.Log(note)
	if acked < float64(n) {
		t.Fatalf("backlog not drained after %s: %v of %d acknowledged", drain, acked, n)
	}
	// The bound is on the memory the backlog costs (heap and stacks),
	// not on the binary's own resident pages, which grow with every
	// driver the binary carries (about 20 MB of the peak RSS).
	if anon >= 64<<20 {
		t.Errorf("anonymous RSS reached %d bytes while draining, want under 64 MB (peak RSS with the binary's pages %d)", anon, peak)
	}
	// The drain's speed is judged by the edge's CPU per batch, not by the
	// wall-clock rate: the rate also depends on the CPU other processes
	// leave and on the disk the gigabyte is read back from (both differ
	// from run to run with the same build), the CPU per batch on the edge.
	// Its own CPU must allow draining at 20 times the live rate.
	if cpuRate < 20*live {
		t.Errorf("the edge used %s of CPU a drained batch: %.0f batches/s on one core, below 20x the live rate (%v/s)", perBatch.Round(time.Microsecond), cpuRate, live)
	}
}

func bigBatch(points int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"v":1,"gateway":"%s","seq":1,"device":"big","kind":"chp","ts":"2026-11-26T00:00:00.000Z","points":[`, gateway)
	for i := range points {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"n":"p%04d","v":%d.25,"u":"kW","q":"good"}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func prefill(dir string, n int, payload []byte) error {
	w, err := openWAL(dir)
	if err != nil {
		return err
	}
	dataTopic := topic.Data(park, gateway, "big")
	now := time.Now()
	for i := 1; i <= n; i++ {
		if err := w.Append(uint64(i), dataTopic, payload, now); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// metric reads one unlabelled value from a /metrics endpoint, -1 if absent.
func metric(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestGatewayIDConflict runs two edges with one gateway id: each must
// report the other, since their batches would collide.
func TestGatewayIDConflict(t *testing.T) {
	r := newRig(t, rigOptions{})
	cfg2, _ := os.ReadFile(r.edgeCfg)
	other := write(t, "edge-2.yaml", strings.Replace(strings.Replace(string(cfg2),
		"client_id: faults-edge", "client_id: faults-edge-2", 1), r.stateDir, t.TempDir(), 1))
	a := r.edge()
	a.WaitOutput(t, "mqtt connected", 15*time.Second)
	b := testenv.Start(t, r.bin, "edge", "-config", other)
	b.WaitOutput(t, "mqtt connected", 15*time.Second)
	// The first edge sees the second one's birth message.
	a.WaitOutput(t, "another process is publishing as this gateway", 15*time.Second)
	b.Term(t, 15*time.Second)
	a.Term(t, 15*time.Second)
}

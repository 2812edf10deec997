package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// Load is one benchmark load.
type Load struct {
	Devices  int           // devices, each on its own bus
	Values   int           // float32 values per device
	Interval time.Duration // poll interval of every device
	Run      time.Duration // how long the edge polls
	// Pipeline is eipgw's bus pipeline (requests in flight; 0 or 1: one
	// at a time, the default).
	Pipeline int
}

func (l Load) String() string {
	s := fmt.Sprintf("%d x %d @ %s for %s", l.Devices, l.Values, l.Interval, l.Run)
	if l.Pipeline > 1 {
		s += fmt.Sprintf(", pipeline %d", l.Pipeline)
	}
	return s
}

// Process is what one process used during a run.
type Process struct {
	CPU     time.Duration
	PeakRSS int64 // bytes
	Values  int64 // values it handled (polled by the edge, written by ingest)
}

// PerValue is the CPU time per value handled.
func (p Process) PerValue() time.Duration {
	if p.Values == 0 {
		return 0
	}
	return p.CPU / time.Duration(p.Values)
}

// Result is one run's figures.
type Result struct {
	Load Load
	Edge Process
	// EdgeSteady is the edge from the end of its first sixth of the run
	// (5 s of 30) to the end: its start (configuration, profiles,
	// connections) left out, as a gateway that runs for months pays it.
	EdgeSteady Process
	Ingest     Process
	// InfluxCPU and BrokerCPU are what InfluxDB and Mosquitto used while
	// ingest ran (from its start to the end of the drain).
	InfluxCPU, BrokerCPU time.Duration
	// Rate is the values polled per second of the run.
	Rate float64
	// Polled and Stored are values: polled by the edge in the whole run
	// (from its sequence numbers after its clean stop) and stored in
	// InfluxDB after the drain.
	Polled, Stored int64
	// Dropped is the edge's own count of batches it dropped.
	Dropped int64
	// Latency is the poll-to-stored latency from ingest's histogram.
	Latency Latency
	// Unpolled is set when the gateway does not tell what it polled or
	// dropped (Telegraf): Polled, Lost and Dropped are then unknown.
	Unpolled bool
	// Drain is the time ingest took to write the rest after the edge
	// stopped.
	Drain time.Duration
	// Missed is the polls the edge logged as missed ("poll overran its
	// interval"); unknown when Unpolled.
	Missed int64
}

// Lost is the values polled and not stored.
func (r Result) Lost() int64 { return r.Polled - r.Stored }

const (
	park    = "benchpark"
	gateway = "bench-gw"
	db      = "bench"
)

// Env is what both gateways of a run share: the register farm, one
// Mosquitto and one InfluxDB, each gateway with a database of its own.
type Env struct {
	Load     Load
	Farm     *Farm
	MQ       *testenv.Mosquitto
	Influx   *testenv.Influx
	dir      string
	profiles string
}

// NewEnv starts the farm for load, a Mosquitto and an InfluxDB; they stop
// when the test ends.
func NewEnv(t testing.TB, load Load) *Env {
	t.Helper()
	e := &Env{Load: load, MQ: testenv.StartMosquitto(t), Influx: testenv.StartInflux(t, db), dir: t.TempDir()}
	farm, err := StartFarm(load.Devices, load.Values)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(farm.Stop)
	e.Farm = farm
	e.profiles = filepath.Join(e.dir, "profiles")
	if err := os.Mkdir(e.profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteProfile(e.profiles, load.Values); err != nil {
		t.Fatal(err)
	}
	return e
}

// RunEipgw runs the load through eipgw edge and eipgw ingest, with their
// default settings, each from its role's build (edgeBinary,
// ingestBinary).
func RunEipgw(t testing.TB, e *Env) Result {
	t.Helper()
	load, mq, ifx, farm, dir, profiles := e.Load, e.MQ, e.Influx, e.Farm, e.dir, e.profiles
	edgeMetrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ingestMetrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	stateDir := filepath.Join(dir, "state")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `park: %s
site: bench
mqtt: {broker: "%s", client_id: bench-edge}
metrics: {listen: "%s"}
edge:
  gateway: %s
  state_dir: %s
  profile_dirs: ["%s"]
  buses:
`, park, mq.URL, edgeMetrics, gateway, stateDir, profiles)
	for i, a := range farm.Addrs {
		pipeline := ""
		if load.Pipeline > 1 {
			pipeline = fmt.Sprintf(", pipeline: %d", load.Pipeline)
		}
		fmt.Fprintf(&cfg, "    - {name: bus-%03d, address: \"%s\", timeout: 1s%s}\n", i, a, pipeline)
	}
	cfg.WriteString("  devices:\n")
	for i := range farm.Addrs {
		fmt.Fprintf(&cfg, "    - {name: dev-%03d, profile: bench, bus: bus-%03d, unit: 1, interval: %s}\n", i, i, load.Interval)
	}
	edgeCfg := writeFile(t, dir, "edge.yaml", cfg.String())
	ingestCfg := writeFile(t, dir, "ingest.yaml", fmt.Sprintf(`park: %s
mqtt: {broker: "%s", client_id: bench-ingest}
metrics: {listen: "%s"}
ingest:
  influxdb: {url: "%s", bucket: %s/autogen}
`, park, mq.URL, ingestMetrics, ifx.URL, db))

	ing := testenv.Start(t, ingestBinary(t), "ingest", "-config", ingestCfg)
	ing.WaitOutput(t, "subscribed", 15*time.Second)
	ifx0, mq0 := usage(t, ifx.Pid()), usage(t, mq.Pid())
	edge := testenv.Start(t, edgeBinary(t), "edge", "-config", edgeCfg)
	start := time.Now()
	time.Sleep(load.Run / 6)
	// The steady window opens once the edge answers its metrics.
	var es0 Samples
	for {
		var err error
		if es0, err = Scrape("http://" + edgeMetrics + "/metrics"); err == nil {
			break
		}
		if time.Since(start) > load.Run/2 {
			t.Fatalf("edge metrics %s after %s: %v\n%s", edgeMetrics, time.Since(start).Round(time.Millisecond), err, edge.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	eu0 := usage(t, edge.Pid())
	time.Sleep(time.Until(start.Add(load.Run)))

	var r Result
	r.Load = load
	eu, err := ReadUsage(edge.Pid())
	if err != nil {
		t.Fatalf("edge: %v\n%s", err, edge.Output())
	}
	es, err := Scrape("http://" + edgeMetrics + "/metrics")
	if err != nil {
		t.Fatalf("edge metrics: %v", err)
	}
	elapsed := time.Since(start)
	r.Edge = Process{CPU: eu.CPU, PeakRSS: eu.PeakRSS, Values: int64(es.Sum("eipgw_edge_polls_total")) * int64(load.Values)}
	r.EdgeSteady = Process{CPU: eu.CPU - eu0.CPU, PeakRSS: eu.PeakRSS,
		Values: int64(es.Sum("eipgw_edge_polls_total")-es0.Sum("eipgw_edge_polls_total")) * int64(load.Values)}
	r.Rate = float64(r.Edge.Values) / elapsed.Seconds()
	edge.Term(t, 60*time.Second)
	stopped := time.Now()
	r.Missed = missedPolls(edge.Output())
	chunks := (load.Values + config.DefaultMaxBatchPoints - 1) / config.DefaultMaxBatchPoints
	batches := lastSeq(t, stateDir)
	r.Polled = batches / int64(chunks) * int64(load.Values)

	// Drain: wait until ingest wrote what was polled, or made no progress
	// for a while.
	var is Samples
	last, lastAt := -1.0, time.Now()
	for {
		is, err = Scrape("http://" + ingestMetrics + "/metrics")
		if err != nil {
			t.Fatalf("ingest metrics: %v", err)
		}
		w := is.Sum("eipgw_ingest_points_written_total")
		if w >= float64(r.Polled) {
			break
		}
		if w > last {
			last, lastAt = w, time.Now()
		} else if time.Since(lastAt) > 30*time.Second {
			t.Logf("ingest wrote %.0f of %d values and made no progress for 30 s", w, r.Polled)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Drain = time.Since(stopped)
	iu, err := ReadUsage(ing.Pid())
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, ing.Output())
	}
	r.Ingest = Process{CPU: iu.CPU, PeakRSS: iu.PeakRSS, Values: int64(is.Sum("eipgw_ingest_points_written_total"))}
	r.InfluxCPU = usage(t, ifx.Pid()).CPU - ifx0.CPU
	r.BrokerCPU = usage(t, mq.Pid()).CPU - mq0.CPU
	if r.Latency, err = is.HistogramLatency("eipgw_ingest_poll_to_stored_seconds"); err != nil {
		t.Fatal(err)
	}
	r.Dropped = int64(es.Sum("eipgw_edge_batches_dropped_total"))
	r.Stored = storedValues(t, ifx, db, "bench", load.Values, config.DefaultMaxBatchPoints)
	ing.Term(t, 60*time.Second)
	return r
}

// missedRe finds the count of a "poll overran its interval" line, in the
// text or the JSON log format.
var missedRe = regexp.MustCompile(`poll overran its interval.*?missed"?[=:](\d+)`)

// missedPolls sums the polls an edge's log says it missed.
func missedPolls(log string) int64 {
	var n int64
	for _, m := range missedRe.FindAllStringSubmatch(log, -1) {
		k, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil {
			n += k
		}
	}
	return n
}

// edgeBinary is what runs the edge: $EIPGW_EDGE_BIN; else $EIPGW_BIN when
// set; else the edge's build of eipgw from this repository (build tag
// eipgw_edge: the edge without the roles an edge host does not run, as
// Telegraf is built here with only the plugins it needs).
func edgeBinary(t testing.TB) string {
	t.Helper()
	return roleBinary(t, "EIPGW_EDGE_BIN", testenv.EipgwEdge)
}

// ingestBinary is what runs ingest: $EIPGW_INGEST_BIN; else $EIPGW_BIN
// when set; else ingest's build of eipgw from this repository (build tag
// eipgw_ingest).
func ingestBinary(t testing.TB) string {
	t.Helper()
	return roleBinary(t, "EIPGW_INGEST_BIN", testenv.EipgwIngest)
}

func roleBinary(t testing.TB, env string, build func(testing.TB) string) string {
	t.Helper()
	if bin := os.Getenv(env); bin != "" {
		return bin
	}
	if bin := os.Getenv("EIPGW_BIN"); bin != "" {
		return bin
	}
	return build(t)
}

func usage(t testing.TB, pid int) Usage {
	t.Helper()
	u, err := ReadUsage(pid)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lastSeq is the edge's last sequence number, exact after a clean stop.
func lastSeq(t testing.TB, stateDir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	text, clean := strings.CutSuffix(strings.TrimSpace(string(b)), " clean")
	if !clean {
		t.Fatalf("sequence file %q was not written by a clean stop", b)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		t.Fatalf("sequence file %q: %v", b, err)
	}
	return n
}

// storedValues counts the values stored in measurement, from the count of
// the first field of each part a poll of m values is split into (parts of
// at most part values, each written whole or not at all).
func storedValues(t testing.TB, ifx *testenv.Influx, db, measurement string, m, part int) int64 {
	t.Helper()
	var sel []string
	for i := 0; i < m; i += part {
		sel = append(sel, fmt.Sprintf("count(%s)", FieldName(i)))
	}
	series, err := ifx.Query(db, fmt.Sprintf("SELECT %s FROM %s", strings.Join(sel, ", "), measurement))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 0 {
		return 0
	}
	var n int64
	for i, v := range series[0].Values[0][1:] {
		c, err := v.(json.Number).Int64()
		if err != nil {
			t.Fatalf("count %v: %v", v, err)
		}
		n += c * int64(min(part, m-i*part))
	}
	return n
}

// Table prints results as a Markdown table.
func Table(rs ...Result) string {
	var b strings.Builder
	b.WriteString("| load | values/s | edge CPU/value | edge CPU/value, steady | edge peak RSS | ingest CPU/value | ingest peak RSS | InfluxDB CPU / ingest CPU | p50 | p99 | max | polled | stored | lost | dropped | drain | missed polls |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		maxs := r.Latency.Max.String()
		if r.Latency.Max < 0 {
			maxs = "> 1h"
		}
		ratio := 0.0
		if r.Ingest.CPU > 0 {
			ratio = float64(r.InfluxCPU) / float64(r.Ingest.CPU)
		}
		p50, p99, polled, lost, dropped, missed := r.Latency.P50.Round(time.Millisecond).String(), r.Latency.P99.Round(time.Millisecond).String(),
			strconv.FormatInt(r.Polled, 10), strconv.FormatInt(r.Lost(), 10), strconv.FormatInt(r.Dropped, 10), strconv.FormatInt(r.Missed, 10)
		maxs = "≤ " + maxs
		if r.Latency.Count == 0 {
			p50, p99, maxs = "n/a", "n/a", "n/a"
		}
		if r.Unpolled {
			polled, lost, dropped, missed = "n/a", "n/a", "n/a", "n/a"
		}
		steady := "n/a"
		if r.EdgeSteady.Values > 0 {
			steady = fmt.Sprintf("%.3f µs", us(r.EdgeSteady.PerValue()))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.3f µs | %s | %.1f MB | %.3f µs | %.1f MB | %.1f | %s | %s | %s | %s | %d | %s | %s | %s | %s |\n",
			r.Load, r.Rate, us(r.Edge.PerValue()), steady, mb(r.Edge.PeakRSS), us(r.Ingest.PerValue()), mb(r.Ingest.PeakRSS), ratio,
			p50, p99, maxs, polled, r.Stored, lost, dropped, r.Drain.Round(100*time.Millisecond), missed)
	}
	return b.String()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func mb(b int64) float64         { return float64(b) / 1e6 }

// Ratios compares a run of Telegraf with runs of eipgw on the same load:
// Telegraf's figure over the median of eipgw's (above 1: eipgw uses less).
func Ratios(gs []Result, tg Result) string {
	ratio := func(a float64, of func(Result) (float64, bool)) string {
		b := spreadOf(gs, of).Median
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", a/b)
	}
	return fmt.Sprintf("| Telegraf / eipgw | edge CPU/value %s | edge peak RSS %s | ingest CPU/value %s | ingest peak RSS %s |",
		ratio(us(tg.Edge.PerValue()), figure("edge CPU/value")), ratio(mb(tg.Edge.PeakRSS), figure("edge peak RSS")),
		ratio(us(tg.Ingest.PerValue()), figure("ingest CPU/value")), ratio(mb(tg.Ingest.PeakRSS), figure("ingest peak RSS")))
}

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
	// Pipeline is eipgw's bus pipeline: 0 leaves it out (auto, the
	// default: one request at a time until the server has answered reads
	// sent together), 1 is one request at a time, above 1 that many in
	// flight from the start.
	Pipeline int
	// Serial are Modbus RTU lines polled beside the TCP devices, each
	// device of SerialValues float32 values (one read of at most 125
	// registers when SerialValues is at most 62).
	Serial       []SerialLine
	SerialValues int
}

// SerialLine is an RS-485 line of a load: a pseudo-terminal served by the
// paced RTU server at Baud (8E1, 11 bits a character), with Devices units
// (1, 2, ...) polled every Interval.
type SerialLine struct {
	Baud     int
	Devices  int
	Interval time.Duration
}

func (l Load) String() string {
	s := fmt.Sprintf("%d x %d @ %s for %s", l.Devices, l.Values, l.Interval, l.Run)
	switch {
	case l.Pipeline == 1:
		s += ", one request at a time"
	case l.Pipeline > 1:
		s += fmt.Sprintf(", pipeline %d", l.Pipeline)
	}
	for _, sl := range l.Serial {
		s += fmt.Sprintf(" + RTU %d baud %d x %d @ %s", sl.Baud, sl.Devices, l.SerialValues, sl.Interval)
	}
	return s
}

// SiteLoad is the 20 × 1000 load with four RS-485 lines beside it, as a
// site has meters and analysers on serial lines next to its Modbus TCP
// plant: two lines at 19200 baud with 8 devices each polled every 5 s
// (about a quarter of the line's time), two at 115200 baud with 16 each
// every second (about two fifths); each serial device has 60 float32
// values, one read of 120 registers.
func SiteLoad(run time.Duration) Load {
	return Load{Devices: 20, Values: 1000, Interval: time.Second, Run: run, SerialValues: 60, Serial: []SerialLine{
		{Baud: 19200, Devices: 8, Interval: 5 * time.Second}, {Baud: 19200, Devices: 8, Interval: 5 * time.Second},
		{Baud: 115200, Devices: 16, Interval: time.Second}, {Baud: 115200, Devices: 16, Interval: time.Second},
	}}
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
	// LostBatches is the batches the edge numbered and InfluxDB does not
	// hold. With serial lines, whose devices differ from the TCP ones in
	// size, the values of a lost batch are unknown: Polled is then Stored
	// when no batch was lost, and -1 otherwise.
	LostBatches int64
	// Lines are the serial lines' figures over the steady window.
	Lines []LineResult
	// InFlight is the fewest reads a Modbus TCP bus of the edge sent
	// together at the end of the run (eipgw_edge_bus_pipeline); 0 when
	// unknown (Telegraf).
	InFlight int
}

// LineResult is what the edge's metrics tell of one serial line over the
// steady window (the run's last five sixths).
type LineResult struct {
	Bus      string
	Line     SerialLine
	Requests float64
	Timeouts float64
	// Utilisation is the line's frame time over the window's wall time;
	// Efficiency is the frame time over the exchanges' wall time.
	Utilisation, Efficiency float64
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
	// Lines are the serial lines' pseudo-terminals (the edge's side), one
	// per Load.Serial.
	Lines []string
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
	if len(load.Serial) > 0 {
		if err := writeProfile(e.profiles, serialKind, load.SerialValues); err != nil {
			t.Fatal(err)
		}
		lines, err := farm.StartLines(load.Serial)
		if err != nil {
			t.Fatal(err)
		}
		e.Lines = lines
	}
	return e
}

// serialKind is the profile, and the InfluxDB measurement, of the serial
// lines' devices.
const serialKind = "benchrtu"

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
		if load.Pipeline > 0 {
			pipeline = fmt.Sprintf(", pipeline: %d", load.Pipeline)
		}
		fmt.Fprintf(&cfg, "    - {name: bus-%03d, address: \"%s\", timeout: 1s%s}\n", i, a, pipeline)
	}
	for i, sl := range load.Serial {
		fmt.Fprintf(&cfg, "    - {name: %s, transport: rtu, device: \"%s\", baud: %d, parity: E, timeout: 500ms}\n", lineBus(i), e.Lines[i], sl.Baud)
	}
	cfg.WriteString("  devices:\n")
	for i := range farm.Addrs {
		fmt.Fprintf(&cfg, "    - {name: dev-%03d, profile: bench, bus: bus-%03d, unit: 1, interval: %s}\n", i, i, load.Interval)
	}
	for i, sl := range load.Serial {
		for u := 1; u <= sl.Devices; u++ {
			fmt.Fprintf(&cfg, "    - {name: %s-u%02d, profile: %s, bus: %s, unit: %d, interval: %s}\n", lineBus(i), u, serialKind, lineBus(i), u, sl.Interval)
		}
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
	var window time.Time
	for {
		var err error
		if es0, err = Scrape("http://" + edgeMetrics + "/metrics"); err == nil {
			window = time.Now()
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
	r.Edge = Process{CPU: eu.CPU, PeakRSS: eu.PeakRSS, Values: polledValues(es, load)}
	r.EdgeSteady = Process{CPU: eu.CPU - eu0.CPU, PeakRSS: eu.PeakRSS, Values: polledValues(es, load) - polledValues(es0, load)}
	r.Rate = float64(r.Edge.Values) / elapsed.Seconds()
	r.Lines = lineResults(es0, es, time.Since(window), load)
	r.InFlight = inFlight(es, load)
	edge.Term(t, 60*time.Second)
	stopped := time.Now()
	r.Missed = missedPolls(edge.Output())
	chunks := (load.Values + config.DefaultMaxBatchPoints - 1) / config.DefaultMaxBatchPoints
	batches := lastSeq(t, stateDir)
	r.Polled = batches / int64(chunks) * int64(load.Values)
	if len(load.Serial) > 0 {
		r.Polled = -1 // known once the stored batches are counted
	}

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
		if len(load.Serial) > 0 {
			w = is.Sum(`eipgw_ingest_messages_total{outcome="written"}`)
			if w >= float64(batches) {
				break
			}
		} else if w >= float64(r.Polled) {
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
	var storedBatches int64
	r.Stored, storedBatches = storedValues(t, ifx, db, "bench", load.Values, config.DefaultMaxBatchPoints)
	if len(load.Serial) > 0 {
		v, b := storedValues(t, ifx, db, serialKind, load.SerialValues, config.DefaultMaxBatchPoints)
		r.Stored += v
		storedBatches += b
	}
	r.LostBatches = batches - storedBatches
	if len(load.Serial) > 0 && r.LostBatches == 0 {
		r.Polled = r.Stored
	}
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
func storedValues(t testing.TB, ifx *testenv.Influx, db, measurement string, m, part int) (values, batches int64) {
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
		return 0, 0
	}
	for i, v := range series[0].Values[0][1:] {
		c, err := v.(json.Number).Int64()
		if err != nil {
			t.Fatalf("count %v: %v", v, err)
		}
		values += c * int64(min(part, m-i*part))
		batches += c
	}
	return values, batches
}

// lineBus is the name of serial line i's bus, and the start of its
// devices' names.
func lineBus(i int) string { return fmt.Sprintf("%s%02d", linePrefix, i) }

const linePrefix = "line-"

// polledValues is the values the edge polled by the time of the scrape:
// each device's polls times its values.
func polledValues(s Samples, load Load) int64 {
	all := s.Sum("eipgw_edge_polls_total")
	serial := s.SumWhere("eipgw_edge_polls_total", `device="`+linePrefix)
	return int64(all-serial)*int64(load.Values) + int64(serial)*int64(load.SerialValues)
}

// inFlight is the fewest reads any of the load's Modbus TCP buses sends
// together, from the edge's eipgw_edge_bus_pipeline.
func inFlight(s Samples, load Load) int {
	n := 0
	for i := range load.Devices {
		v := int(s[fmt.Sprintf(`eipgw_edge_bus_pipeline{bus="bus-%03d"}`, i)])
		if i == 0 || v < n {
			n = v
		}
	}
	return n
}

// lineResults is the serial lines' figures between two scrapes of the
// edge.
func lineResults(s0, s1 Samples, window time.Duration, load Load) []LineResult {
	var out []LineResult
	for i, sl := range load.Serial {
		bus := fmt.Sprintf(`{bus="%s"}`, lineBus(i))
		d := func(name string) float64 { return s1[name+bus] - s0[name+bus] }
		lr := LineResult{Bus: lineBus(i), Line: sl, Requests: d("eipgw_edge_bus_requests_total"), Timeouts: d("eipgw_edge_bus_timeouts_total")}
		line, busy := d("eipgw_edge_bus_line_seconds_total"), d("eipgw_edge_bus_busy_seconds_total")
		if window > 0 {
			lr.Utilisation = line / window.Seconds()
		}
		if busy > 0 {
			lr.Efficiency = line / busy
		}
		out = append(out, lr)
	}
	return out
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
		if r.Polled < 0 {
			// Serial lines, and batches lost: their values are unknown.
			polled, lost = "n/a", fmt.Sprintf("%d batches", r.LostBatches)
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

// LineTable prints the serial lines' figures of results as a Markdown
// table.
func LineTable(rs ...Result) string {
	var b strings.Builder
	b.WriteString("| run | line | baud | devices × values @ interval | requests | timeouts | utilisation | line / busy (RTU wire efficiency) |\n|---|---|---|---|---|---|---|---|\n")
	for i, r := range rs {
		for _, l := range r.Lines {
			fmt.Fprintf(&b, "| %d | %s | %d | %d × %d @ %s | %.0f | %.0f | %.1f %% | %.1f %% |\n", i+1, l.Bus, l.Line.Baud,
				l.Line.Devices, r.Load.SerialValues, l.Line.Interval, l.Requests, l.Timeouts, 100*l.Utilisation, 100*l.Efficiency)
		}
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

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// TelegrafVersion is the Telegraf release the benchmark compares with.
// scripts/tools.sh builds it into .tools/bin with only the plugins below.
const TelegrafVersion = "v1.37.2"

// telegrafDB is the database Telegraf writes to, beside eipgw's.
const telegrafDB = "telegraf"

// TelegrafBinary finds telegraf: $EIPGW_TELEGRAF, the repository's
// .tools/bin or PATH; missing, the test is skipped (failed under CI).
func TelegrafBinary(t testing.TB) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("EIPGW_TELEGRAF"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, filepath.Join(testenv.RepoRoot(t), ".tools", "bin", "telegraf"))
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	return testenv.Require(t, "telegraf")
}

// RunTelegraf runs the same load through Telegraf as the two roles eipgw
// has: one agent polls the farm (inputs.modbus, one instance per device)
// and publishes with QoS 1 (outputs.mqtt, line protocol); another consumes
// with QoS 1 in a persistent session (inputs.mqtt_consumer) and writes to
// InfluxDB (outputs.influxdb_v2). Both with Telegraf's default batch and
// buffer sizes, at the load's interval. Telegraf reports no
// poll-to-stored latency and no polled count: the table shows n/a there,
// and the values per second and per-value CPU rest on what was stored.
func RunTelegraf(t testing.TB, e *Env) Result {
	t.Helper()
	bin := TelegrafBinary(t)
	load := e.Load
	if _, err := e.Influx.Query("", "CREATE DATABASE "+telegrafDB); err != nil {
		t.Fatal(err)
	}
	var fields strings.Builder
	for i := range load.Values {
		if i > 0 {
			fields.WriteString(",\n")
		}
		fmt.Fprintf(&fields, `      { address=%d, name="%s", type="FLOAT32" }`, 2*i, FieldName(i))
	}
	agent := fmt.Sprintf(`[agent]
  interval = "%[1]s"
  round_interval = true
  flush_interval = "%[1]s"
  flush_jitter = "0s"
  collection_jitter = "0s"
  omit_hostname = true
`, load.Interval)
	var edge strings.Builder
	edge.WriteString(agent)
	for i, a := range e.Farm.Addrs {
		fmt.Fprintf(&edge, `
[[inputs.modbus]]
  name = "dev-%03d"
  controller = "tcp://%s"
  timeout = "1s"
  configuration_type = "request"
  [[inputs.modbus.request]]
    slave_id = 1
    byte_order = "ABCD"
    register = "holding"
    measurement = "bench"
    fields = [
%s
    ]
`, i, a, fields.String())
	}
	fmt.Fprintf(&edge, `
[[outputs.mqtt]]
  servers = ["%s"]
  topic = 'tbench/{{ .Tag "name" }}'
  qos = 1
  keep_alive = 30
  client_id = "bench-telegraf-edge"
  layout = "non-batch"
  data_format = "influx"
`, e.MQ.URL)
	ingest := agent + fmt.Sprintf(`
[[inputs.mqtt_consumer]]
  servers = ["%s"]
  topics = ["tbench/#"]
  qos = 1
  persistent_session = true
  client_id = "bench-telegraf-ingest"
  data_format = "influx"

[[outputs.influxdb_v2]]
  urls = ["%s"]
  token = ""
  organization = ""
  bucket = "%s/autogen"
`, e.MQ.URL, e.Influx.URL, telegrafDB)
	edgeCfg := writeFile(t, e.dir, "telegraf-edge.conf", edge.String())
	ingestCfg := writeFile(t, e.dir, "telegraf-ingest.conf", ingest)

	ing := testenv.Start(t, bin, "--config", ingestCfg)
	ing.WaitOutput(t, "Connected [", 15*time.Second)
	ifx0, mq0 := usage(t, e.Influx.Pid()), usage(t, e.MQ.Pid())
	edgeP := testenv.Start(t, bin, "--config", edgeCfg)
	start := time.Now()
	time.Sleep(load.Run)
	var r Result
	r.Load = load
	eu, err := ReadUsage(edgeP.Pid())
	if err != nil {
		t.Fatalf("telegraf (edge): %v\n%s", err, edgeP.Output())
	}
	elapsed := time.Since(start)
	edgeP.Term(t, 60*time.Second)
	stopped := time.Now()
	// Drain: wait until the stored count stayed the same for five flush
	// intervals.
	last, lastAt := int64(-1), time.Now()
	for time.Since(lastAt) < 5*load.Interval+2*time.Second {
		n, _ := storedValues(t, e.Influx, telegrafDB, "bench", load.Values, load.Values)
		if n != last {
			last, lastAt = n, time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.Drain = lastAt.Sub(stopped).Truncate(0)
	if r.Drain < 0 {
		r.Drain = 0
	}
	iu, err := ReadUsage(ing.Pid())
	if err != nil {
		t.Fatalf("telegraf (ingest): %v\n%s", err, ing.Output())
	}
	r.Stored, r.Polled, r.Unpolled = last, last, true
	r.Rate = float64(r.Stored) / elapsed.Seconds()
	r.Edge = Process{CPU: eu.CPU, PeakRSS: eu.PeakRSS, Values: r.Stored}
	r.Ingest = Process{CPU: iu.CPU, PeakRSS: iu.PeakRSS, Values: r.Stored}
	r.InfluxCPU = usage(t, e.Influx.Pid()).CPU - ifx0.CPU
	r.BrokerCPU = usage(t, e.MQ.Pid()).CPU - mq0.CPU
	ing.Term(t, 60*time.Second)
	if strings.Contains(edgeP.Output(), "E! ") || strings.Contains(ing.Output(), "E! ") {
		t.Logf("telegraf logged errors:\nedge:\n%s\ningest:\n%s", tail(edgeP.Output()), tail(ing.Output()))
	}
	return r
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

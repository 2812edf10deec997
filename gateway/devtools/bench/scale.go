package bench

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// Backlog is a drain: batches of points queued in the broker for ingest's
// shared group while its workers are away.
type Backlog struct {
	Devices int // devices of the publishing gateway
	Batches int // batches in all, spread over the devices in turn
	Points  int // float32 points per batch
}

// Drain is what W ingest workers in one shared group did with a backlog.
type Drain struct {
	Broker  string // "mosquitto" or "embedded"
	Workers int
	Values  int64 // values written
	// PerWorker is what each worker wrote.
	PerWorker []int64
	Took      time.Duration // from the workers' start to the last value written
	// IngestCPU is the sum over the workers; PeakRSS their largest.
	IngestCPU time.Duration
	PeakRSS   int64
	InfluxCPU time.Duration
}

// Rate is values written per second.
func (d Drain) Rate() float64 { return float64(d.Values) / d.Took.Seconds() }

// StartEmbeddedBroker runs the broker eipgw demo embeds (mochi-mqtt) on a
// free loopback port in this process until the test ends; it returns its
// URL.
func StartEmbeddedBroker(t testing.TB) string {
	t.Helper()
	s := mochi.New(&mochi.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if err := s.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "bench", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	testenv.WaitTCP(t, addr, 10*time.Second)
	return "tcp://" + addr
}

// RunDrain measures workers ingest processes sharing one subscription
// group draining a backlog into a fresh database: the workers subscribe
// and stop (their persistent sessions stay in the broker), the backlog is
// published with QoS 1, and the workers start again; the drain ends when
// the values written add up to the backlog.
func RunDrain(t testing.TB, brokerName, brokerURL string, ifx *testenv.Influx, workers int, b Backlog) Drain {
	t.Helper()
	bin := ingestBinary(t)
	dbName := fmt.Sprintf("drain_%s_%d", brokerName, workers)
	if _, err := ifx.Query("", "CREATE DATABASE "+dbName); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	type worker struct {
		cfg, metrics string
		p            *testenv.Proc
	}
	ws := make([]*worker, workers)
	for i := range ws {
		w := &worker{metrics: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
		w.cfg = writeFile(t, dir, fmt.Sprintf("ingest-%d.yaml", i), fmt.Sprintf(`park: %s
mqtt: {broker: "%s", client_id: drain-%s-%d-%d}
metrics: {listen: "%s"}
ingest:
  group: drain
  influxdb: {url: "%s", bucket: %s/autogen}
`, park, brokerURL, brokerName, workers, i, w.metrics, ifx.URL, dbName))
		w.p = testenv.Start(t, bin, "ingest", "-config", w.cfg)
		ws[i] = w
	}
	for _, w := range ws {
		w.p.WaitOutput(t, "subscribed", 15*time.Second)
		w.p.Term(t, 30*time.Second)
	}
	publishBacklog(t, brokerURL, fmt.Sprintf("drain-gw-%s-%d", brokerName, workers), b)

	ifx0 := usage(t, ifx.Pid())
	start := time.Now()
	for _, w := range ws {
		w.p = testenv.Start(t, bin, "ingest", "-config", w.cfg)
	}
	want := float64(b.Batches * b.Points)
	var written float64
	per := make([]int64, workers)
	last, lastAt := -1.0, time.Now()
	for {
		written = 0
		for i, w := range ws {
			s, err := Scrape("http://" + w.metrics + "/metrics")
			if err != nil {
				continue // not serving yet
			}
			per[i] = int64(s.Sum("eipgw_ingest_points_written_total"))
			written += float64(per[i])
		}
		if written >= want {
			break
		}
		if written > last {
			last, lastAt = written, time.Now()
		} else if time.Since(lastAt) > 30*time.Second {
			t.Fatalf("%s, %d workers: %.0f of %.0f values written, no progress for 30 s", brokerName, workers, written, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := Drain{Broker: brokerName, Workers: workers, Values: int64(written), PerWorker: per, Took: time.Since(start)}
	for _, w := range ws {
		u := usage(t, w.p.Pid())
		d.IngestCPU += u.CPU
		d.PeakRSS = max(d.PeakRSS, u.PeakRSS)
	}
	d.InfluxCPU = usage(t, ifx.Pid()).CPU - ifx0.CPU
	for _, w := range ws {
		w.p.Term(t, 30*time.Second)
	}
	return d
}

// publishBacklog publishes the backlog as gateway gw, QoS 1, at most 500
// unacknowledged at a time.
func publishBacklog(t testing.TB, brokerURL, gw string, b Backlog) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(gw + "-publisher").SetCleanSession(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("backlog publisher: %v", tok.Error())
	}
	defer c.Disconnect(250)
	pts := make([]batch.Point, b.Points)
	for i := range pts {
		pts[i] = batch.Point{Name: FieldName(i), Value: float64(float32(i) / 4), HasValue: true, Float32: true, Quality: batch.Good}
	}
	t0 := time.Now().Add(-time.Duration(b.Batches/b.Devices) * time.Second).Truncate(time.Second)
	var window []mqtt.Token
	var buf []byte
	for i := range b.Batches {
		dev := fmt.Sprintf("dev-%03d", i%b.Devices)
		bt := batch.Batch{Gateway: gw, Seq: uint64(i + 1), Device: dev, Kind: "bench", Site: "bench",
			Time: t0.Add(time.Duration(i/b.Devices) * time.Second), Points: pts}
		buf = bt.AppendJSON(buf[:0])
		window = append(window, c.Publish(topic.Data(park, gw, dev), 1, false, append([]byte(nil), buf...)))
		if len(window) == 500 || i == b.Batches-1 {
			for _, tok := range window {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Fatalf("backlog publish: %v", tok.Error())
				}
			}
			window = window[:0]
		}
	}
}

// DrainTable prints drains as a Markdown table.
func DrainTable(ds ...Drain) string {
	var b strings.Builder
	b.WriteString("| broker | workers | values | took | values/s | ingest CPU/value (all workers) | largest worker peak RSS | InfluxDB CPU / ingest CPU |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range ds {
		ratio := 0.0
		if d.IngestCPU > 0 {
			ratio = float64(d.InfluxCPU) / float64(d.IngestCPU)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %.0f | %.3f µs | %.1f MB | %.1f |\n", d.Broker, d.Workers, d.Values,
			d.Took.Round(100*time.Millisecond), d.Rate(), us(d.IngestCPU/time.Duration(max(1, d.Values))), mb(d.PeakRSS), ratio)
	}
	return b.String()
}

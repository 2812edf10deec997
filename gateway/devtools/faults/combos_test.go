package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// walBytes is the size of the edge's write-ahead log on disk.
func (r *rig) walBytes() int64 {
	segs, _ := filepath.Glob(filepath.Join(r.stateDir, "wal", "*.wal"))
	var n int64
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil {
			n += st.Size()
		}
	}
	return n
}

// brokerDownEdgeKill: the broker goes down, the edge polls into its log,
// is killed, and restarts while the broker is still down. It must poll at
// once (not after connect_timeout), keep every batch, and reuse no number.
func brokerDownEdgeKill(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(3 * time.Second)
	e.Kill()
	before := r.walBytes()
	e = r.edge()
	time.Sleep(time.Second) // connect_timeout is 2s
	if after := r.walBytes(); after <= before {
		t.Errorf("the edge did not poll in its first second with the broker down: log %d -> %d bytes\n%s", before, after, e.Output())
	}
	time.Sleep(2 * time.Second)
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 1, 30*time.Second)
	time.Sleep(time.Second)
	r.finish(top.name("broker down 5s, edge SIGKILLed meanwhile"), e, repaired, "restarted with the broker down")
	in.Term(t, 10*time.Second)
}

// mountSmallDisk mounts a 2 MB tmpfs for the edge's state.
func mountSmallDisk(t *testing.T) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "state")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs for the disk-full scenario (needs root): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// fillDisk fills dir's file system but for a few kB and returns the
// filler's path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(f, io.LimitReader(zeros{}, 2<<20))
	f.Close()
	return path
}

// diskFullBrokerDown: the disk is full, so batches are held in memory;
// then the broker goes down, so memory cannot drain by publishing; then
// space comes back: the held batches move into the log, and everything
// reaches InfluxDB once the broker is back.
func diskFullBrokerDown(t *testing.T, top topology) {
	mnt := mountSmallDisk(t)
	r := newRig(t, rigOptions{stateDir: mnt, walMB: 64, multiBus: top.multi})
	in := r.ingest(0)
	filler := fillDisk(t, mnt)
	e := r.edge()
	time.Sleep(2 * time.Second)
	r.mq.Stop()
	time.Sleep(2 * time.Second)
	os.Remove(filler)
	time.Sleep(2 * time.Second)
	r.mq.Restart()
	repaired := time.Now()
	waitCount(t, e, "mqtt connected", 2, 30*time.Second)
	time.Sleep(time.Second)
	r.finish(top.name("disk full 4s, broker down 4s (overlapping)"), e, repaired, "held in memory, then moved into the log")
	in.Term(t, 10*time.Second)
	if !strings.Contains(e.Output(), "write-ahead log append failed") {
		t.Errorf("the edge never saw the disk full:\n%s", e.Output())
	}
}

// hugeBatch is one valid batch of n points from another gateway (about
// 42 bytes a point).
func hugeBatch(gw string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"v":1,"gateway":"%s","seq":1,"device":"big","kind":"power_meter","ts":"%s","points":[`, gw, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"n":"p%06d","v":%d.5,"u":"kWh","q":"good"}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// influxSlowHugeBatch: InfluxDB answers 300 ms late, and one valid 5 MB
// batch of 120,000 points, each a new field, arrives in the stream. The
// edge's batches are all stored meanwhile, on time (nothing declared
// missing). The huge batch is written alone, in smaller and smaller
// requests when InfluxDB times out; InfluxDB 1.8 rewrites its field index
// for every new field, so that may never finish within the timeout: the
// batch goes on being written a line at a time, or is dead-lettered with
// the reason after max_attempts failures in a row. Either way it is
// accounted for, never silently dropped, never in the way.
func influxSlowHugeBatch(t *testing.T, top topology) {
	r := newRig(t, rigOptions{multiBus: top.multi})
	r.ingestExtra = "  max_attempts: 3\n"
	r.setIngest(0, slowProxy(t, r.ifx.URL, 300*time.Millisecond))
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(2 * time.Second)
	const points = 120_000
	payload := hugeBatch("gw-big", points)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(r.mq.URL).SetClientID("faults-big"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	deadLettered := make(chan string, 1)
	if tok := c.Subscribe(topic.DeadLetter(park), 1, func(_ mqtt.Client, m mqtt.Message) {
		var dl struct{ Topic, Error string }
		if json.Unmarshal(m.Payload(), &dl) == nil && strings.HasSuffix(dl.Topic, "/gw-big/big") {
			select {
			case deadLettered <- dl.Error:
			default:
			}
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish(topic.Data(park, "gw-big", "big"), 1, false, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	sent := time.Now()
	time.Sleep(5 * time.Second)
	r.finish(top.name(fmt.Sprintf("InfluxDB +300ms, one %.1f MB batch in the stream", float64(len(payload))/1e6)), e, sent, "the big one on ingest's side lane")
	outcome := ""
	deadline := time.Now().Add(time.Minute)
	for outcome == "" {
		n := r.hugeFieldsStored()
		switch {
		case n == points:
			outcome = "stored whole"
		case time.Now().After(deadline):
			if n == 0 {
				t.Fatalf("nothing of the huge batch stored or dead-lettered within a minute\n%s", in.Output())
			}
			outcome = fmt.Sprintf("partly stored: %d of %d fields after a minute, still being written", n, points)
		}
		select {
		case why := <-deadLettered:
			outcome = "dead-lettered: " + why
		case <-time.After(time.Second):
		}
	}
	t.Logf("the huge batch was %s", outcome)
	in.Term(t, 10*time.Second)
}

// hugeFieldsStored counts the huge batch's fields InfluxDB holds.
func (r *rig) hugeFieldsStored() int {
	series, err := r.ifx.Query("eipgw", `SHOW FIELD KEYS FROM power_meter`)
	if err != nil || len(series) == 0 {
		return 0
	}
	n := 0
	for _, v := range series[0].Values {
		if k, ok := v[0].(string); ok && len(k) == 7 && k[0] == 'p' && k[1] >= '0' && k[1] <= '9' {
			n++
		}
	}
	return n
}

// TestManyBuses polls 40 devices on 20 buses every second, for a minute
// under make faults (EIPGW_SOAK=1) and ten seconds otherwise: the edge
// logs no write-ahead-log error, and every batch is stored exactly once.
func TestManyBuses(t *testing.T) {
	run := 10 * time.Second
	if os.Getenv("EIPGW_SOAK") != "" {
		run = time.Minute
	}
	r := newRig(t, rigOptions{})
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `park: %s
site: plant
mqtt: {broker: "%s", client_id: faults-edge, connect_timeout: 2s}
edge:
  gateway: %s
  state_dir: %s
  publish_timeout: 5s
  replay: {allow: ["faults-ingest-*"], min_interval: 1s}
  buses:
`, park, r.mq.URL, gateway, r.stateDir)
	for i := range 20 {
		fmt.Fprintf(&cfg, "    - {name: bus-%02d, address: \"%s\", timeout: 1s}\n", i, r.simAddr)
	}
	cfg.WriteString("  devices:\n")
	for i := range 20 {
		fmt.Fprintf(&cfg, "    - {name: steam-%02d, profile: steam_meter, bus: bus-%02d, unit: %d, interval: 1s}\n", i, i, 11+i%18)
		fmt.Fprintf(&cfg, "    - {name: power-%02d, profile: power_meter, bus: bus-%02d, unit: %d, interval: 1s}\n", i, i, 31+i%18)
	}
	r.edgeCfg = write(t, "edge-20.yaml", cfg.String())
	in := r.ingest(0)
	e := r.edge()
	time.Sleep(run)
	r.finish(fmt.Sprintf("20 buses x 2 devices at 1s for %s", run), e, time.Now(), "")
	in.Term(t, 10*time.Second)
	for _, bad := range []string{"write-ahead log append failed", "is not above the last appended", "batches lost", "level=ERROR"} {
		if strings.Contains(e.Output(), bad) {
			t.Errorf("edge logged %q:\n%s", bad, e.Output())
		}
	}
}

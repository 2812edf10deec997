// Package demo runs the whole reference park in one process: the simulator
// serving every device over Modbus TCP, an embedded MQTT broker, an edge
// polling the simulator, an ingest writing to InfluxDB and the park engine
// computing the park's metrics. The edge, ingest and park engine are
// configured by YAML generated here and validated exactly like
// an operator's files; the files are left in the state directory to read.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
	"github.com/eipgw/eipgw/drivers/opcua"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/edge"
	"github.com/eipgw/eipgw/gateway/ingest"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// Options configure a demo run.
type Options struct {
	Park         string        // park id (default "demo")
	Seed         int64         // simulator seed
	ModbusListen string        // simulator address (default 127.0.0.1:5020)
	MQTTListen   string        // embedded broker address (default 127.0.0.1:1883)
	Broker       string        // use this broker URL instead of the embedded one
	InfluxURL    string        // default http://127.0.0.1:8086
	Bucket       string        // default eipgw/autogen
	StateDir     string        // edge state and generated configs (default .demo/state)
	Interval     time.Duration // poll interval (default 1s)
	Step         time.Duration // simulator step (default 1s)
	Report       time.Duration // progress line period (default 10s; negative: none)
	Out          io.Writer     // where the banner and progress go
	Log          *slog.Logger
	// CreateDatabase creates the database of Bucket first (InfluxDB 1.x).
	CreateDatabase bool
	// OnServe, when set, sees every Modbus read the simulator answers.
	OnServe func(sim.Served)
	// OPCUAListen, when set (host:port), makes the simulator serve the
	// devices of OPCUADeviceKind over OPC UA there too, and the edge read
	// them with the OPC UA driver by subscription instead of over Modbus.
	OPCUAListen string
	// OPCUADeviceKind is the device kind served over OPC UA (default cems).
	OPCUADeviceKind string
	// RS485Baud puts the tenants' power meters on an RS-485 line beside
	// the Modbus TCP bus: the simulator serves Modbus RTU on a
	// pseudo-terminal at this speed (8E1, paced at the line's rate) and
	// the edge polls them through its serial driver. 0: 19200; negative:
	// every Modbus device on the TCP bus.
	RS485Baud int
	// Ready, when set, is called once everything is running and ingest is
	// subscribed (or after 15 s without its subscription, logged).
	Ready func()
}

func (o *Options) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Park, "demo")
	def(&o.ModbusListen, "127.0.0.1:5020")
	def(&o.MQTTListen, "127.0.0.1:1883")
	def(&o.InfluxURL, "http://127.0.0.1:8086")
	def(&o.Bucket, "eipgw/autogen")
	def(&o.StateDir, filepath.Join(".demo", "state"))
	def(&o.OPCUADeviceKind, "cems")
	if o.RS485Baud == 0 {
		o.RS485Baud = 19200
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Step == 0 {
		o.Step = time.Second
	}
	if o.Report == 0 {
		o.Report = 10 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Run runs the demo until ctx is done, then shuts down in order: polling
// stops, the edge waits for the broker's acknowledgements, ingest writes
// what it received, then the broker and the simulator stop.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	if err := ping(ctx, o.InfluxURL); err != nil {
		return fmt.Errorf("demo: InfluxDB at %s is not answering (%w); start it first (make demo does)", o.InfluxURL, err)
	}
	if o.CreateDatabase {
		if err := createDatabase(ctx, o.InfluxURL, strings.Split(o.Bucket, "/")[0]); err != nil {
			return fmt.Errorf("demo: creating the database: %w", err)
		}
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		return err
	}
	park, err := sim.NewPark(sim.Config{Seed: o.Seed}, time.Now())
	if err != nil {
		return err
	}
	simSrv, err := sim.NewServer(park, profiles, o.Log.With("role", "sim"))
	if err != nil {
		return err
	}
	simSrv.OnServe = o.OnServe
	var uaSrv *sim.OPCUAServer
	if o.OPCUAListen != "" {
		var names []string
		for _, d := range park.Devices() {
			if d.Kind == o.OPCUADeviceKind {
				names = append(names, d.Name)
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("demo: no device of kind %q to serve over OPC UA", o.OPCUADeviceKind)
		}
		uaSrv, err = sim.NewOPCUAServer(park, profiles, names, o.OPCUAListen, o.Log.With("role", "sim"))
		if err != nil {
			return err
		}
	}
	var rtu []sim.RTUPort
	var ptyPath string
	if o.RS485Baud > 0 {
		pty, err := modbusserver.OpenPTY()
		if err != nil {
			return fmt.Errorf("demo: the RS-485 line of the tenants' power meters: %w (-rs485-baud 0 keeps them on Modbus TCP)", err)
		}
		defer pty.Close()
		ptyPath = pty.SlavePath
		rtu = append(rtu, sim.RTUPort{Port: pty, Line: modbusserver.Line{Baud: o.RS485Baud, BitsPerChar: 11}})
	}
	ln, err := net.Listen("tcp", o.ModbusListen)
	if err != nil {
		return fmt.Errorf("demo: simulator: %w", err)
	}

	broker := o.Broker
	var mq *mochi.Server
	if broker == "" {
		mq, err = startBroker(o.MQTTListen, o.Log.With("role", "broker"))
		if err != nil {
			ln.Close()
			return err
		}
		defer mq.Close()
		broker = "tcp://" + o.MQTTListen
	}

	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		ln.Close()
		return err
	}
	edgeCfg, ingestCfg, err := writeConfigs(o, park, broker, ln.Addr().String(), ptyPath, uaSrv)
	if err != nil {
		ln.Close()
		return err
	}
	edgeRole, err := edgeCfg.EdgeRole()
	if err != nil {
		ln.Close()
		return err
	}
	ingestRole, err := ingestCfg.IngestRole()
	if err != nil {
		ln.Close()
		return err
	}
	ed, err := edge.New(edgeRole, drivers.Registry{config.ProtocolModbus: modbus.Driver{Profiles: profiles}, config.ProtocolOPCUA: opcua.Driver{}}, o.Log.With("role", "edge"), nil)
	if err != nil {
		ln.Close()
		return err
	}
	in, err := ingest.New(ingestRole, o.Log.With("role", "ingest"), nil)
	if err != nil {
		ln.Close()
		return err
	}
	pk, err := newParkEngine(o, park, broker)
	if err != nil {
		ln.Close()
		return err
	}

	var wg sync.WaitGroup
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	errs := make(chan error, 5)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- named("sim", simSrv.Run(simCtx, ln, o.Step, rtu...)) }()
	if uaSrv != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- named("sim opcua", uaSrv.Run(simCtx, o.Step)) }()
	}
	ingestCtx, stopIngest := context.WithCancel(context.Background())
	defer stopIngest()
	ingestDone := make(chan struct{})
	go func() { defer close(ingestDone); errs <- named("ingest", in.Run(ingestCtx)) }()
	parkCtx, stopPark := context.WithCancel(context.Background())
	defer stopPark()
	parkDone := make(chan struct{})
	go func() { defer close(parkDone); errs <- named("park", pk.Run(parkCtx)) }()
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()
	edgeDone := make(chan struct{})
	go func() { defer close(edgeDone); errs <- named("edge", ed.Run(edgeCtx)) }()

	banner(o, broker, ln.Addr().String(), len(park.Devices()))
	if ptyPath != "" {
		fmt.Fprintf(o.Out, "RS-485: the %s devices are on a serial line at %d baud, 8E1 (the simulator on the pseudo-terminal %s; drivers/modbus)\n", rs485Kind, o.RS485Baud, ptyPath)
	}
	if uaSrv != nil {
		fmt.Fprintf(o.Out, "OPC UA: the %s devices are also served at %s and read by subscription (drivers/opcua)\n", o.OPCUADeviceKind, uaSrv.Endpoint())
	}
	if o.Ready != nil {
		// Running means ingest takes what is published: a message
		// published before its subscription reached the broker is not
		// kept for it (the replay it asks for covers the edges' logs, not
		// other publishers).
		waitSubscribed(ctx, in, readyWait, o.Log)
		o.Ready()
	}
	var tick <-chan time.Time
	if o.Report > 0 {
		t := time.NewTicker(o.Report)
		defer t.Stop()
		tick = t.C
	}
	var firstErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errs:
			// A role stopped on its own: that is a failure; shut down.
			firstErr = err
			if firstErr == nil {
				firstErr = errors.New("demo: a component stopped unexpectedly")
			}
			stopEdge()
			break loop
		case <-tick:
			es, is := ed.Stats(), in.Stats()
			fmt.Fprintf(o.Out, "%s  polled %d batches, broker acknowledged %d, stored %d batches (%d readings) in InfluxDB\n",
				time.Now().Format("15:04:05"), es.Polled, es.Acked, is.Batches, is.Points)
		}
	}

	fmt.Fprintln(o.Out, "stopping: polling stops, then edge, ingest, park engine, broker and simulator")
	stopEdge()
	<-edgeDone
	if acked := ed.Stats().Acked; !waitIngested(acked, in.Stats, 15*time.Second) {
		st := in.Stats()
		fmt.Fprintf(o.Out, "ingest had not taken everything after 15 s: the broker acknowledged %d batches to the edge; ingest took %d messages and acknowledged %d (the rest stays in the broker's session)\n",
			acked, st.Received, st.Acked)
	}
	stopIngest()
	<-ingestDone
	stopPark()
	<-parkDone
	stopSim()
	wg.Wait()
	close(errs)
	var all []error
	if firstErr != nil {
		all = append(all, firstErr)
	}
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	es, is := ed.Stats(), in.Stats()
	fmt.Fprintf(o.Out, "stopped: polled %d batches, broker acknowledged %d, stored %d batches (%d readings), %d dead letters\n",
		es.Polled, es.Acked, is.Batches, is.Points, is.DeadLetters)
	return errors.Join(all...)
}

// ingestQuiet is how long ingest must take no new message, with every
// one it took acknowledged, before the demo takes the broker's queue for
// it as empty.
const ingestQuiet = 300 * time.Millisecond

// waitIngested lets ingest store what the broker acknowledged to the edge
// (acked batches) before it stops, within limit: until ingest has
// acknowledged at least as many messages, has acknowledged every message
// it took (each written or dead-lettered), and has taken none for
// ingestQuiet. Its counts alone cannot tell: it also takes the gateway's
// status and replayed batches, and the last batches of a poll (a serial
// line's devices, polled one after another) may still be on their way.
// It reports false when limit passed first.
// readyWait bounds how long Run waits for ingest's subscription before it
// calls Ready all the same (a broker not reachable yet).
const readyWait = 15 * time.Second

// waitSubscribed waits until in is subscribed, ctx ends or limit passes
// (logged).
func waitSubscribed(ctx context.Context, in *ingest.Ingest, limit time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil {
		var c telemetry.Check
		for _, c = range in.Ready() {
			if c.Name == "subscribed" {
				break
			}
		}
		if c.OK {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("ingest not subscribed yet; going on", "waited", limit, "detail", c.Detail)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitIngested(acked uint64, stats func() ingest.Stats, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	last, since := stats(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		st := stats()
		if st.Received != last.Received {
			last, since = st, time.Now()
			continue
		}
		if st.Acked >= acked && st.Acked == st.Received && time.Since(since) >= ingestQuiet {
			return true
		}
	}
	return false
}

func named(role string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	return nil
}

func ping(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ping: status %s", resp.Status)
	}
	return nil
}

// createDatabase runs CREATE DATABASE (idempotent) on an InfluxDB 1.x.
func createDatabase(ctx context.Context, base, db string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	form := url.Values{"q": {"CREATE DATABASE " + strconv.Quote(db)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func startBroker(addr string, log *slog.Logger) (*mochi.Server, error) {
	s := mochi.New(&mochi.Options{InlineClient: false, Logger: log})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "demo", Address: addr})); err != nil {
		return nil, fmt.Errorf("demo: embedded broker on %s: %w", addr, err)
	}
	if err := s.Serve(); err != nil {
		return nil, err
	}
	return s, nil
}

// rs485Kind is the device kind the demo polls over its RS-485 line: the
// tenants' electricity meters, on a multi-drop line as such meters
// usually are.
const rs485Kind = "power_meter"

// writeConfigs generates the edge and ingest configuration files in the
// state directory and loads them back through the strict loader. With
// line set (a serial device's path), the devices of rs485Kind are on a
// bus on it.
// demoKey returns the demo gateway's signing key file in the state
// directory, made by the first run (evidence.Generate, as eipgw keygen),
// and its public key's one line.
func demoKey(stateDir string) (keyFile, pub string, err error) {
	keyFile = filepath.Join(stateDir, "gw-1.key")
	b, err := os.ReadFile(keyFile + ".pub")
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(keyFile); err == nil {
			return "", "", fmt.Errorf("demo: %s has no public key beside it (%s.pub): remove it to make a new pair", keyFile, keyFile)
		}
		k, err := evidence.Generate(keyFile)
		if err != nil {
			return "", "", fmt.Errorf("demo: making the gateway's key: %w", err)
		}
		return keyFile, evidence.EncodePublicKey(k), nil
	}
	if err != nil {
		return "", "", err
	}
	return keyFile, strings.TrimSpace(string(b)), nil
}

func writeConfigs(o Options, park *sim.Park, broker, modbusAddr, line string, ua *sim.OPCUAServer) (*config.File, *config.File, error) {
	devices, err := sim.EdgeDevices(park, "sim", o.Interval)
	if err != nil {
		return nil, nil, err
	}
	keyFile, pub, err := demoKey(o.StateDir)
	if err != nil {
		return nil, nil, err
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		return nil, nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by eipgw demo: the edge polling the simulated reference park.
park: %s
site: plant
mqtt:
  broker: %s
  client_id: eipgw-demo-edge
edge:
  gateway: gw-1
  state_dir: %s
  replay: {allow: [eipgw-demo-ingest]}
  evidence: {key_file: %q}   # signs and chains every batch (docs/contracts.md)
  buses:
    - name: sim
      transport: tcp
      address: %s
      timeout: 1s
`, o.Park, broker, filepath.Join(o.StateDir, "edge"), keyFile, modbusAddr)
	if line != "" {
		fmt.Fprintf(&b, "    - name: rs485\n      transport: rtu\n      device: %s\n      baud: %d\n      timeout: 1s\n", line, o.RS485Baud)
	}
	if ua != nil {
		fmt.Fprintf(&b, "    - name: sim-opcua\n      protocol: opcua\n      timeout: 2s\n      opcua: {endpoint: %q}\n", ua.Endpoint())
	}
	b.WriteString("  devices:\n")
	for _, d := range devices {
		if ua != nil && d.Profile == o.OPCUADeviceKind {
			uad, err := sim.OPCUAEdgeDevice(park, profiles, d.Name, "sim-opcua", config.OPCUASubscription, o.Interval)
			if err != nil {
				return nil, nil, err
			}
			writeOPCUADevice(&b, uad)
			continue
		}
		if line != "" && d.Profile == rs485Kind {
			d.Bus = "rs485"
		}
		fmt.Fprintf(&b, "    - {name: %s, profile: %s, bus: %s, unit: %d, interval: %s", d.Name, d.Profile, d.Bus, d.Unit, d.Interval)
		if d.Tenant != "" {
			fmt.Fprintf(&b, ", tenant: %s", d.Tenant)
		}
		b.WriteString("}\n")
	}
	edgePath := filepath.Join(o.StateDir, "demo-edge.yaml")
	ingestPath := filepath.Join(o.StateDir, "demo-ingest.yaml")
	ingestYAML := fmt.Sprintf(`# Generated by eipgw demo: ingest writing the park's readings to InfluxDB.
park: %s
mqtt:
  broker: %s
  client_id: eipgw-demo-ingest
ingest:
  influxdb:
    url: %s
    bucket: %s
  evidence:
    keys:
      gw-1: [%q]
`, o.Park, broker, o.InfluxURL, o.Bucket, pub)
	if err := os.WriteFile(edgePath, []byte(b.String()), 0o644); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(ingestPath, []byte(ingestYAML), 0o644); err != nil {
		return nil, nil, err
	}
	ec, err := config.Load(edgePath, profiles.Has)
	if err != nil {
		return nil, nil, err
	}
	ic, err := config.Load(ingestPath, nil)
	if err != nil {
		return nil, nil, err
	}
	return ec, ic, nil
}

// writeOPCUADevice writes the configuration of a device read over OPC UA.
func writeOPCUADevice(b *strings.Builder, d config.Device) {
	fmt.Fprintf(b, "    - name: %s\n      bus: %s\n      interval: %s\n", d.Name, d.Bus, d.Interval)
	if d.Tenant != "" {
		fmt.Fprintf(b, "      tenant: %s\n", d.Tenant)
	}
	fmt.Fprintf(b, "      opcua:\n        kind: %s\n        mode: %s\n        nodes:\n", d.OPCUA.Kind, d.OPCUA.Mode)
	for _, n := range d.OPCUA.Nodes {
		fmt.Fprintf(b, "          - {name: %s, node_id: %q, unit: %q", n.Name, n.NodeID, n.Unit)
		if n.Min != nil {
			fmt.Fprintf(b, ", min: %s", strconv.FormatFloat(*n.Min, 'g', -1, 64))
		}
		if n.Max != nil {
			fmt.Fprintf(b, ", max: %s", strconv.FormatFloat(*n.Max, 'g', -1, 64))
		}
		b.WriteString("}\n")
	}
}

func banner(o Options, broker, modbusAddr string, devices int) {
	fmt.Fprintf(o.Out, `eipgw demo: the simulated reference park, end to end
  simulator   Modbus TCP on %s (%d devices, unit ids in docs/simulator.md)
  broker      %s (embedded unless -broker was given)
  edge        gateway gw-1 polling every %s, publishing %s
  ingest      writing to %s, bucket %s
  configs     %s, %s
  evidence    gw-1 signs and chains every batch (key %s); ingest and the park
              engine verify them

Look at the data:
  curl -sG %s/query --data-urlencode db=%s --data-urlencode "q=SHOW MEASUREMENTS"
  curl -sG %s/query --data-urlencode db=%s --data-urlencode "q=SELECT last(electric_power) FROM chp"
  mosquitto_sub -h <host> -p <port> -t '%s' -v     (any MQTT client)
  eipgw audit verify -config %s -config %s -from %s -to %s -include-open
    (after Ctrl-C; while the demo runs, leave out -include-open: the hours closed so far)
Stop with Ctrl-C.
`, modbusAddr, devices, broker, o.Interval, topic.Data(o.Park, "gw-1", "{device}"), o.InfluxURL, o.Bucket,
		filepath.Join(o.StateDir, "demo-edge.yaml"), filepath.Join(o.StateDir, "demo-ingest.yaml"), filepath.Join(o.StateDir, "gw-1.key"),
		o.InfluxURL, strings.Split(o.Bucket, "/")[0], o.InfluxURL, strings.Split(o.Bucket, "/")[0], topic.ParkFilter(o.Park),
		filepath.Join(o.StateDir, "demo-ingest.yaml"), filepath.Join(o.StateDir, "demo-park.yaml"),
		time.Now().UTC().Truncate(time.Hour).Format(time.RFC3339), time.Now().UTC().Truncate(time.Hour).Add(2*time.Hour).Format(time.RFC3339))
}

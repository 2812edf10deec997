package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/demo"
	"github.com/eipgw/eipgw/gateway/sim"
)

var cmdSim = &command{
	name:    "sim",
	summary: "serve the simulated reference park (CHP, CEMS, BDS, boilers, 18 tenants' meters) over Modbus TCP",
	usage:   "[-listen ADDR] [-seed N] [-step D] [-trip-chp] [-drift DEVICE=FACTOR]",
	example: `  eipgw sim -listen 127.0.0.1:5020 -seed 7
  mbpoll -m tcp -p 5020 -a 1 -r 3 -c 1 -t 4:float -B -1 127.0.0.1   # chp-1 electric_power, MW

  Every device answers at its unit id on the one endpoint (docs/simulator.md):
  chp-1 1, cems-1 2, bds-1 3, boiler-1 4, boiler-2 5, steam-supply 6, heat-1 7,
  steam-tNN 10+NN, power-tNN 30+NN.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		listen := fs.String("listen", "127.0.0.1:5020", "Modbus TCP listen address")
		seed := fs.Int64("seed", 1, "seed of the park's load profiles and noise")
		step := fs.Duration("step", time.Second, "model update period")
		trip := fs.Bool("trip-chp", false, "start with the CHP tripped (standby boilers carry the load)")
		drift := fs.String("drift", "", "make a meter read FACTOR x the truth, e.g. steam-t03=1.08")
		newLog := logFlags(fs)
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		if *step <= 0 {
			return fmt.Errorf("-step %s must be positive: %w", *step, errUsage)
		}
		log, err := newLog(e.stderr)
		if err != nil {
			return err
		}
		park, err := sim.NewPark(sim.Config{Seed: *seed}, time.Now())
		if err != nil {
			return err
		}
		park.SetCHPTrip(*trip)
		if *drift != "" {
			dev, f, ok := strings.Cut(*drift, "=")
			factor, err := strconv.ParseFloat(f, 64)
			if !ok || err != nil {
				return fmt.Errorf("-drift %q: want DEVICE=FACTOR, e.g. steam-t03=1.08: %w", *drift, errUsage)
			}
			if err := park.SetMeterDrift(dev, factor); err != nil {
				return fmt.Errorf("-drift: %v: %w", err, errUsage)
			}
		}
		profiles, err := modbus.Builtin()
		if err != nil {
			return err
		}
		srv, err := sim.NewServer(park, profiles, log)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		log.Info("simulator serving", "listen", ln.Addr().String(), "devices", len(park.Devices()), "seed", *seed)
		return srv.Run(ctx, ln, *step)
	},
}

var cmdDemo = &command{
	name:    "demo",
	summary: "run the simulated park end to end: simulator, embedded broker, edge and ingest into InfluxDB",
	usage:   "[-influx-url URL] [-bucket DB/RP] [-mqtt-listen ADDR] [-modbus-listen ADDR] [-state-dir DIR]",
	example: `  make demo          # builds and starts InfluxDB 1.8.10 locally, then runs this
  eipgw demo -influx-url http://127.0.0.1:8086 -bucket eipgw/autogen

  Needs a running InfluxDB with the database of -bucket created.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		o := demo.Options{Out: e.stdout}
		fs.StringVar(&o.InfluxURL, "influx-url", "http://127.0.0.1:8086", "InfluxDB base URL")
		fs.StringVar(&o.Bucket, "bucket", "eipgw/autogen", "bucket, or database/retention-policy on InfluxDB 1.8")
		fs.StringVar(&o.MQTTListen, "mqtt-listen", "127.0.0.1:1883", "embedded MQTT broker listen address")
		fs.StringVar(&o.Broker, "broker", "", "use this MQTT broker URL instead of the embedded one")
		fs.StringVar(&o.ModbusListen, "modbus-listen", "127.0.0.1:5020", "simulator Modbus TCP listen address")
		fs.StringVar(&o.StateDir, "state-dir", ".demo/state", "edge state and generated configuration files")
		fs.BoolVar(&o.CreateDatabase, "create-database", false, "create the database of -bucket first (InfluxDB 1.x)")
		fs.StringVar(&o.Park, "park", "demo", "park id")
		fs.Int64Var(&o.Seed, "seed", 1, "simulator seed")
		fs.DurationVar(&o.Interval, "interval", time.Second, "poll interval of every device")
		fs.DurationVar(&o.Report, "report", 10*time.Second, "progress line period")
		newLog := logFlags(fs)
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
		}
		log, err := newLog(e.stderr)
		if err != nil {
			return err
		}
		o.Log = log
		if o.Interval < 10*time.Millisecond {
			return fmt.Errorf("-interval %s is below 10ms: %w", o.Interval, errUsage)
		}
		return demo.Run(ctx, o)
	},
}

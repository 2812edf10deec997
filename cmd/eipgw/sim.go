//go:build !eipgw_edge && !eipgw_ingest

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goburrow/serial"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/modbus/modbusserver"
	"github.com/eipgw/eipgw/gateway/devtools/demo"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

func init() { register(cmdDemo); register(cmdSim) }

var cmdSim = &command{
	name:    "sim",
	summary: "serve the simulated reference park (CHP, CEMS, BDS, boilers, 18 tenants' meters) over Modbus TCP and RTU",
	usage:   "[-listen ADDR] [-rtu DEVICE|pty [-rtu-link PATH] [-baud N] [-parity P]] [-fault DEVICE=FAULT]... [-control ADDR] [-seed N] [-step D] [-trip-chp] [-drift DEVICE=FACTOR]",
	example: `  eipgw sim -listen 127.0.0.1:5020 -seed 7
  mbpoll -m tcp -p 5020 -a 1 -r 3 -c 1 -t 4:float -B -1 127.0.0.1   # chp-1 electric_power, MW

  Every device answers at its unit id on the one endpoint (docs/simulator.md):
  chp-1 1, cems-1 2, bds-1 3, boiler-1 4, boiler-2 5, steam-supply 6, heat-1 7,
  steam-tNN 10+NN, power-tNN 30+NN.

  # RTU on a new pseudo-terminal at 19200 baud 8E1, linked as /tmp/eipgw-rtu:
  eipgw sim -rtu pty -rtu-link /tmp/eipgw-rtu -baud 19200
  mbpoll -m rtu -b 19200 -P even -a 1 -r 3 -c 1 -t 4:float -B -1 /tmp/eipgw-rtu

  # Faults, at start and while running (FAULT: none, timeout, exception:CODE,
  # late:DURATION, garbage, joined by +):
  eipgw sim -fault bds-1=timeout -fault steam-t03=late:1.5s -control 127.0.0.1:5021
  curl -X PUT -d exception:6 http://127.0.0.1:5021/faults/chp-1
  curl http://127.0.0.1:5021/faults`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		listen := fs.String("listen", "127.0.0.1:5020", "Modbus TCP listen address (empty: no TCP)")
		rtu := fs.String("rtu", "", "also serve RTU on this serial device, or on a new pseudo-terminal with \"pty\"")
		rtuLink := fs.String("rtu-link", "", "with -rtu pty: make this path a symbolic link to the pseudo-terminal")
		baud := fs.Int("baud", config.DefaultBaud, "RTU baud rate: answers are paced at it")
		dataBits := fs.Int("data-bits", config.DefaultDataBits, "RTU data bits")
		parity := fs.String("parity", config.DefaultParity, "RTU parity N, E or O")
		stopBits := fs.Int("stop-bits", config.DefaultStopBits, "RTU stop bits")
		uaListen := fs.String("opcua-listen", "", "also serve the park over OPC UA at this host:port (security None; node ids ns=1;s=DEVICE.POINT)")
		uaDevices := fs.String("opcua-devices", "", "with -opcua-listen: comma-separated devices served over OPC UA (default all)")
		control := fs.String("control", "", "serve the fault control endpoint (HTTP, no authentication: keep it on loopback; other addresses are logged at warn) on this address")
		var faults []string
		fs.Func("fault", "inject a fault, DEVICE=FAULT (repeatable)", func(v string) error { faults = append(faults, v); return nil })
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
		if *listen == "" && *rtu == "" {
			return fmt.Errorf("nothing to serve: set -listen or -rtu: %w", errUsage)
		}
		line := config.Bus{Name: "sim", Transport: config.TransportRTU, Device: *rtu, Baud: *baud, DataBits: *dataBits, Parity: *parity, StopBits: *stopBits}
		if *rtu != "" {
			if es := config.ValidateBus(line); len(es) > 0 {
				return fmt.Errorf("-%s: %s: %w", strings.ReplaceAll(strings.TrimPrefix(es[0].Path, "bus."), "_", "-"), es[0].Msg, errUsage)
			}
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
		for _, spec := range faults {
			dev, f, ok := strings.Cut(spec, "=")
			fault, err := sim.ParseFault(f)
			if err == nil && ok {
				err = srv.SetFault(dev, fault)
			}
			if !ok || err != nil {
				return fmt.Errorf("-fault %q: want DEVICE=FAULT, e.g. bds-1=timeout: %v: %w", spec, err, errUsage)
			}
		}
		var ln net.Listener
		if *listen != "" {
			if ln, err = telemetry.Listen(*listen, "simulator Modbus TCP", log); err != nil {
				return fmt.Errorf("-listen: %w", err)
			}
			log.Info("simulator serving Modbus TCP", "listen", ln.Addr().String(), "devices", len(park.Devices()), "seed", *seed)
		}
		var ports []sim.RTUPort
		if *rtu != "" {
			p, closePort, err := openRTUPort(line, *rtuLink)
			if err != nil {
				if ln != nil {
					ln.Close()
				}
				return err
			}
			defer closePort()
			ports = append(ports, sim.RTUPort{Port: p.port, Line: modbusserver.Line{Baud: *baud, BitsPerChar: line.BitsPerChar()}})
			log.Info("simulator serving Modbus RTU", "device", p.path, "line", line.String())
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		// Cancelled (deferred after wg.Wait, so run before it) when Run
		// returns for any reason, which stops the control server.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if *control != "" {
			cl, err := telemetry.Listen(*control, "simulator fault control (no authentication)", log)
			if err != nil {
				if ln != nil {
					ln.Close()
				}
				return fmt.Errorf("-control: %w", err)
			}
			hs := &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
			wg.Add(2)
			go func() { defer wg.Done(); hs.Serve(cl) }()
			go func() { defer wg.Done(); <-ctx.Done(); hs.Close() }()
			log.Info("fault control endpoint", "listen", cl.Addr().String())
		}
		var uaErr error
		if *uaListen != "" {
			var names []string
			if *uaDevices != "" {
				names = strings.Split(*uaDevices, ",")
			} else {
				for _, d := range park.Devices() {
					names = append(names, d.Name)
				}
			}
			ua, err := sim.NewOPCUAServer(park, profiles, names, *uaListen, log)
			if err != nil {
				if ln != nil {
					ln.Close()
				}
				return fmt.Errorf("-opcua-listen: %w", err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if uaErr = ua.Run(ctx, *step); uaErr != nil {
					cancel()
				}
			}()
			log.Info("simulator serving OPC UA", "endpoint", ua.Endpoint(), "devices", len(names))
		}
		err = srv.Run(ctx, ln, *step, ports...)
		cancel()
		wg.Wait()
		return errors.Join(err, uaErr)
	},
}

type rtuPort struct {
	port io.ReadWriteCloser
	path string
}

// openRTUPort opens the serial device of line, or with "pty" a new
// pseudo-terminal (linked from link when set).
func openRTUPort(line config.Bus, link string) (rtuPort, func(), error) {
	if line.Device != "pty" {
		p, err := serial.Open(&serial.Config{
			Address: line.Device, BaudRate: line.Baud, DataBits: line.DataBits,
			StopBits: line.StopBits, Parity: line.Parity, Timeout: 100 * time.Millisecond,
		})
		if err != nil {
			return rtuPort{}, nil, fmt.Errorf("-rtu %s: %w", line.Device, err)
		}
		return rtuPort{p, line.Device}, func() { p.Close() }, nil
	}
	pty, err := modbusserver.OpenPTY()
	if err != nil {
		return rtuPort{}, nil, err
	}
	path := pty.SlavePath
	if link != "" {
		os.Remove(link)
		if err := os.Symlink(pty.SlavePath, link); err != nil {
			pty.Close()
			return rtuPort{}, nil, fmt.Errorf("-rtu-link: %w", err)
		}
		path = link + " -> " + pty.SlavePath
	}
	return rtuPort{pty, path}, func() {
		pty.Close()
		if link != "" {
			os.Remove(link)
		}
	}, nil
}

var cmdDemo = &command{
	name:    "demo",
	summary: "run the simulated park end to end: simulator, embedded broker, edge, ingest and park engine into InfluxDB",
	usage:   "[-influx-url URL] [-bucket DB/RP] [-mqtt-listen ADDR] [-modbus-listen ADDR] [-rs485-baud N] [-opcua-listen ADDR [-opcua-kind KIND]] [-state-dir DIR]",
	example: `  make demo          # builds and starts InfluxDB 1.8.10 locally, then runs this
  eipgw demo -influx-url http://127.0.0.1:8086 -bucket eipgw/autogen

  # Every Modbus device on the TCP bus (no RS-485 line for the tenants' power meters):
  eipgw demo -rs485-baud 0

  # The CEMS over OPC UA (the simulator serves it, the edge subscribes), the rest over Modbus:
  eipgw demo -opcua-listen 127.0.0.1:4840

  Needs a running InfluxDB with the database of -bucket created.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		o := demo.Options{Out: e.stdout}
		fs.StringVar(&o.InfluxURL, "influx-url", "http://127.0.0.1:8086", "InfluxDB base URL")
		fs.StringVar(&o.Bucket, "bucket", "eipgw/autogen", "bucket, or database/retention-policy on InfluxDB 1.8")
		fs.StringVar(&o.MQTTListen, "mqtt-listen", "127.0.0.1:1883", "embedded MQTT broker listen address")
		fs.StringVar(&o.Broker, "broker", "", "use this MQTT broker URL instead of the embedded one")
		fs.StringVar(&o.ModbusListen, "modbus-listen", "127.0.0.1:5020", "simulator Modbus TCP listen address")
		fs.StringVar(&o.OPCUAListen, "opcua-listen", "", "also serve the devices of -opcua-kind over OPC UA at this host:port and read them by subscription (e.g. 127.0.0.1:4840)")
		fs.StringVar(&o.OPCUADeviceKind, "opcua-kind", "cems", "with -opcua-listen: the device kind served over OPC UA")
		fs.IntVar(&o.RS485Baud, "rs485-baud", 19200, "the tenants' power meters on an RS-485 line at this speed (the simulator on a pseudo-terminal); 0: on Modbus TCP like the rest")
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
		if o.RS485Baud == 0 {
			o.RS485Baud = -1 // every device on Modbus TCP
		} else if es := config.ValidateBus(config.Bus{Name: "rs485", Transport: config.TransportRTU, Device: "pty",
			Baud: o.RS485Baud, DataBits: config.DefaultDataBits, Parity: config.DefaultParity, StopBits: config.DefaultStopBits}); len(es) > 0 {
			return fmt.Errorf("-rs485-baud: %s (0: no RS-485 line): %w", es[0].Msg, errUsage)
		}
		return demo.Run(ctx, o)
	},
}

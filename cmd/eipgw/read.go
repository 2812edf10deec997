package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
)

var cmdRead = &command{
	name:    "read",
	summary: "probe a Modbus device (a register block in every type and byte order) or an OPC UA server (its address space with values), or read a configured device once",
	usage: "-address HOST:PORT [-unit N] [-register N] [-count N] [-table holding|input|coil|discrete] [-transport tcp|rtu|rtu-over-tcp] [-device PATH -baud N ...]\n" +
		"       eipgw read -endpoint opc.tcp://HOST:PORT [-browse NODE] [-depth N] [-security-policy None|Basic256Sha256 -certificate FILE -private-key FILE] [-username U -password-env VAR]\n" +
		"       eipgw read -config FILE -device NAME",
	example: `  # Which decoding is right? Every type and byte order of holding registers 0-9 of unit 1:
  eipgw read -address 10.20.0.15:502 -unit 1 -register 0 -count 10

  # The same over RS-485 (serial line settings default to 19200 8E1):
  eipgw read -transport rtu -device /dev/ttyUSB0 -baud 9600 -parity N -stop-bits 2 -unit 3 -count 4

  # An OPC UA server's objects and variables, with the node_id and browse_path that configure
  # each and its value as the driver reads it:
  eipgw read -endpoint opc.tcp://10.20.0.30:4840 -depth 4

  # Poll one configured device (Modbus or OPC UA) once and print its points with quality, as JSON:
  eipgw read -config edge.yaml -device chp-1`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		cfgPath := fs.String("config", "", "configuration file: poll -device of it once")
		transport := fs.String("transport", "tcp", "tcp, rtu or rtu-over-tcp")
		address := fs.String("address", "", "host:port (tcp, rtu-over-tcp)")
		device := fs.String("device", "", "with -config: the device name; with -transport rtu: the serial device path")
		baud := fs.Int("baud", config.DefaultBaud, "rtu: baud rate")
		dataBits := fs.Int("data-bits", config.DefaultDataBits, "rtu: data bits")
		parity := fs.String("parity", config.DefaultParity, "rtu: parity N, E or O")
		stopBits := fs.Int("stop-bits", config.DefaultStopBits, "rtu: stop bits")
		timeout := fs.Duration("timeout", time.Second, "response timeout")
		unit := decimalFlag(fs, "unit", 1, "unit id (slave address) 0-247")
		register := decimalFlag(fs, "register", 0, "first register (protocol address, counted from 0; digits are decimal even with leading zeros, 0x for hexadecimal)")
		count := decimalFlag(fs, "count", 10, "registers to read (1-125; bits 1-2000)")
		table := fs.String("table", "holding", "holding, input, coil or discrete")
		ua := addOPCUAReadFlags(fs)
		newLog := logFlags(fs)
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
		}
		if *timeout < time.Millisecond {
			return fmt.Errorf("-timeout %s is below 1ms: %w", *timeout, errUsage)
		}
		log, err := newLog(e.stderr)
		if err != nil {
			return err
		}
		if *cfgPath != "" {
			if *device == "" {
				return fmt.Errorf("-config needs -device NAME: %w", errUsage)
			}
			var ignored []string
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "config", "device", "log-level", "log-format":
				default:
					ignored = append(ignored, "-"+f.Name)
				}
			})
			if len(ignored) > 0 {
				return fmt.Errorf("%s not used with -config (the device's bus and points come from the file): %w", strings.Join(ignored, ", "), errUsage)
			}
			return readConfigured(ctx, e.stdout, log, *cfgPath, *device)
		}
		if *ua.endpoint != "" {
			return browseOPCUA(ctx, e.stdout, ua, *timeout)
		}
		bus := config.Bus{Name: "probe", Transport: *transport, Address: *address, Timeout: *timeout}
		if *transport == config.TransportRTU {
			bus.Device, bus.Baud, bus.DataBits, bus.Parity, bus.StopBits = *device, *baud, *dataBits, *parity, *stopBits
		}
		if es := config.ValidateBus(bus); len(es) > 0 {
			msgs := make([]string, len(es))
			for i, e := range es {
				flag := "-" + strings.ReplaceAll(strings.TrimPrefix(e.Path, "bus."), "_", "-")
				msgs[i] = flag + ": " + e.Msg
			}
			return fmt.Errorf("%s: %w", strings.Join(msgs, "; "), errUsage)
		}
		tab, ok := map[string]modbus.Table{"holding": modbus.Holding, "input": modbus.Input, "coil": modbus.Coil, "discrete": modbus.Discrete}[*table]
		if !ok {
			return fmt.Errorf("-table %q: want holding, input, coil or discrete: %w", *table, errUsage)
		}
		if *unit < 0 || *unit > 247 || *register < 0 || *register > 65535 || *count < 1 || *register+*count > 65536 {
			return fmt.Errorf("-unit %d -register %d -count %d out of range: %w", *unit, *register, *count, errUsage)
		}
		if most := map[bool]int{false: 125, true: 2000}[tab.Bits()]; *count > most {
			return fmt.Errorf("-count %d: a %s read takes at most %d: %w", *count, *table, most, errUsage)
		}
		b, err := modbus.NewBus(bus, nil, log)
		if err != nil {
			return err
		}
		defer b.Close()
		regs, err := b.ReadBlock(byte(*unit), tab, uint16(*register), uint16(*count))
		if err != nil {
			return err
		}
		printBlock(e.stdout, byte(*unit), tab, *register, regs)
		return nil
	},
}

// printBlock prints regs read from register on in every type and byte
// order.
func printBlock(w io.Writer, unit byte, table modbus.Table, register int, regs []uint16) {
	last := register + len(regs) - 1
	if table.Bits() {
		fmt.Fprintf(w, "unit %d, %s %d-%d (protocol addresses; add 1 for 1-based manuals)\n\n", unit, table, register, last)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "address\tvalue")
		for i, r := range regs {
			fmt.Fprintf(tw, "%d\t%d\n", register+i, r)
		}
		tw.Flush()
		return
	}
	fmt.Fprintf(w, "unit %d, %s registers %d-%d (protocol addresses; add 1 for 1-based manuals)\n\n", unit, table, register, last)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "register\thex\tuint16\tint16\tbcd16\tbits 15..0\tascii")
	for i, r := range regs {
		vals := map[string]string{}
		for _, in := range modbus.Interpretations(regs[i : i+1]) {
			if in.Order == "ABCD" {
				vals[in.Type] = in.Text
			}
		}
		fmt.Fprintf(tw, "%d\t0x%04X\t%s\t%s\t%s\t%016b\t%q\n", register+i, r, vals["uint16"], vals["int16"], vals["bcd16"], r, modbus.ASCII(regs[i:i+1], false))
	}
	tw.Flush()
	for _, size := range []struct {
		words int
		types []string
	}{{2, []string{"float32", "int32", "uint32", "bcd32"}}, {4, []string{"float64", "int64", "uint64"}}} {
		if len(regs) < size.words {
			continue
		}
		fmt.Fprintf(w, "\n%d-bit values starting at each register (ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA little-endian):\n\n", 16*size.words)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "register\torder\t%s\n", strings.Join(size.types, "\t"))
		for i := 0; i+size.words <= len(regs); i++ {
			byOrder := map[string]map[string]string{}
			for _, in := range modbus.Interpretations(regs[i : i+size.words]) {
				if byOrder[in.Order] == nil {
					byOrder[in.Order] = map[string]string{}
				}
				byOrder[in.Order][in.Type] = in.Text
			}
			for _, order := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
				cells := make([]string, len(size.types))
				for k, typ := range size.types {
					cells[k] = byOrder[order][typ]
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", register+i, order, strings.Join(cells, "\t"))
			}
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nstring ABCD: %q\nstring BADC: %q\n", modbus.ASCII(regs, false), modbus.ASCII(regs, true))
}

// readPoint is one point in `eipgw read -config` output.
type readPoint struct {
	Name     string      `json:"n"`
	Value    json.Number `json:"v,omitempty"`
	Text     *string     `json:"s,omitempty"`
	Unit     string      `json:"u"`
	Quality  string      `json:"q"`
	Table    string      `json:"table"`
	Register int         `json:"register"`
}

type readResult struct {
	Device string      `json:"device"`
	Kind   string      `json:"kind"`
	Bus    string      `json:"bus"`
	Unit   int         `json:"unit"`
	Time   string      `json:"ts"`
	Millis int64       `json:"duration_ms"`
	Points []readPoint `json:"points"`
	Error  string      `json:"last_error,omitempty"`
}

// readConfigured polls one configured device once and prints its readings
// as JSON.
func readConfigured(ctx context.Context, w io.Writer, log *slog.Logger, path, name string) error {
	f, profiles, err := loadToolConfigFor(path, otherBusLogin(name))
	if err != nil {
		return err
	}
	if f.Edge == nil {
		return fmt.Errorf("%s: no edge section", path)
	}
	var dc *config.Device
	var names []string
	for i := range f.Edge.Devices {
		names = append(names, f.Edge.Devices[i].Name)
		if f.Edge.Devices[i].Name == name {
			dc = &f.Edge.Devices[i]
		}
	}
	if dc == nil {
		return fmt.Errorf("%s: no device %q (devices: %s): %w", path, name, strings.Join(names, ", "), errUsage)
	}
	var bc config.Bus
	for _, b := range f.Edge.Buses {
		if b.Name == dc.Bus {
			bc = b
		}
	}
	if bc.IsOPCUA() {
		return readOPCUADevice(ctx, w, bc, *dc)
	}
	d := modbus.NewDevice(*dc, profiles[dc.Profile])
	b, err := modbus.NewBus(bc, []*modbus.Device{d}, log)
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	rs := b.Poll(d)
	res := readResult{
		Device: d.Name, Kind: d.Kind, Bus: bc.Name, Unit: int(d.Unit),
		Time: start.UTC().Format("2006-01-02T15:04:05.000Z"), Millis: time.Since(start).Milliseconds(),
		Error: d.State().LastError,
	}
	for _, r := range rs {
		p := readPoint{Name: r.Point.Name, Unit: r.Point.Unit, Quality: string(r.Quality), Table: r.Point.TableName(), Register: r.Point.Address}
		if r.Quality == modbus.Good {
			if r.Point.Text() {
				p.Text = &r.Text
			} else {
				p.Value = readValue(r)
			}
		}
		res.Points = append(res.Points, p)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Quality == modbus.Good {
			return nil
		}
	}
	if res.Error != "" {
		// Nothing read: a script must not take the points' qualities
		// for an answer.
		return fmt.Errorf("%s: device %s did not answer: %s", path, name, res.Error)
	}
	return nil
}

// readValue prints a good reading's value: an integer point exactly, a
// float in its shortest form (float32 precision for an unscaled float32
// register); "" (omitted) for NaN and infinities.
func readValue(r modbus.Reading) json.Number {
	switch {
	case r.Kind == modbus.IntValue:
		return json.Number(strconv.FormatInt(r.Int, 10))
	case r.Kind == modbus.UintValue:
		return json.Number(strconv.FormatUint(r.Uint, 10))
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return ""
	}
	bits := 64
	if r.Point.Float32() {
		bits = 32
	}
	return json.Number(strconv.FormatFloat(r.Value, 'g', -1, bits))
}

// decimalFlag is an int flag read as configuration numbers are
// (config.ParseInteger): digits are decimal even with leading zeros (a
// manual's 0100 is 100, where Go's flag package would read octal 64).
func decimalFlag(fs *flag.FlagSet, name string, value int, usage string) *int {
	p := new(int)
	*p = value
	fs.Func(name, fmt.Sprintf("%s (default %d)", usage, value), func(s string) error {
		neg, mag, err := config.ParseInteger(s)
		if err != nil || mag > math.MaxInt32 {
			return fmt.Errorf("%q is not a number (decimal digits, or 0x and hexadecimal ones)", s)
		}
		*p = int(mag)
		if neg {
			*p = -*p
		}
		return nil
	})
	return p
}

// otherBusLogin reports the configuration paths of the OPC UA login
// secrets of the buses other than device's: reading the device does not
// use them.
func otherBusLogin(device string) func(path string, f *config.File) bool {
	return func(p string, f *config.File) bool {
		if f.Edge == nil || !strings.HasPrefix(p, "edge.buses[") || !strings.Contains(p, "].opcua.password_") {
			return false
		}
		var i int
		if _, err := fmt.Sscanf(p, "edge.buses[%d]", &i); err != nil || i < 0 || i >= len(f.Edge.Buses) {
			return false
		}
		for _, d := range f.Edge.Devices {
			if d.Name == device && d.Bus == f.Edge.Buses[i].Name {
				return false
			}
		}
		return true
	}
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua"
)

// opcuaReadFlags are eipgw read's flags for an OPC UA server.
type opcuaReadFlags struct {
	endpoint, browse, policy, mode, cert, key, user, passwordEnv *string
	depth                                                        *int
}

func addOPCUAReadFlags(fs *flag.FlagSet) *opcuaReadFlags {
	return &opcuaReadFlags{
		endpoint:    fs.String("endpoint", "", "OPC UA server opc.tcp://host:port: browse its address space with values"),
		browse:      fs.String("browse", "", "with -endpoint: the node to browse from (default the Objects folder), e.g. ns=2;s=CHP1"),
		depth:       fs.Int("depth", 3, "with -endpoint: levels to browse (1-20)"),
		policy:      fs.String("security-policy", config.OPCUAPolicyNone, "with -endpoint: None or Basic256Sha256"),
		mode:        fs.String("security-mode", "", "with -endpoint: None, Sign or SignAndEncrypt (default by policy)"),
		cert:        fs.String("certificate", "", "with -endpoint: the gateway's certificate file (Basic256Sha256)"),
		key:         fs.String("private-key", "", "with -endpoint: the certificate's RSA key file"),
		user:        fs.String("username", "", "with -endpoint: user name (default anonymous)"),
		passwordEnv: fs.String("password-env", "", "with -endpoint: environment variable holding the password"),
	}
}

// browseOPCUA prints the address space below a node: one line per object
// and variable, with the node id and browse path that configure it and a
// variable's value and quality as the driver reads it.
func browseOPCUA(ctx context.Context, w io.Writer, fl *opcuaReadFlags, timeout time.Duration) error {
	if *fl.depth < 1 || *fl.depth > 20 {
		return fmt.Errorf("-depth %d: want 1-20: %w", *fl.depth, errUsage)
	}
	o := &config.OPCUABus{
		Endpoint: *fl.endpoint, SecurityPolicy: *fl.policy, SecurityMode: *fl.mode,
		Certificate: *fl.cert, PrivateKey: *fl.key, Username: *fl.user, PasswordEnv: *fl.passwordEnv,
	}
	b := config.Bus{Name: "probe", Protocol: config.ProtocolOPCUA, Timeout: timeout, OPCUA: o}
	if es := config.ValidateBus(b); len(es) > 0 {
		msgs := make([]string, len(es))
		for i, e := range es {
			key := e.Path[strings.LastIndexByte(e.Path, '.')+1:]
			msgs[i] = "-" + strings.ReplaceAll(key, "_", "-") + ": " + e.Msg
		}
		return fmt.Errorf("%s: %w", strings.Join(msgs, "; "), errUsage)
	}
	b = b.WithDefaults()
	if o.PasswordEnv != "" {
		v, ok := os.LookupEnv(o.PasswordEnv)
		if !ok {
			return fmt.Errorf("-password-env: environment variable %s is not set: %w", o.PasswordEnv, errUsage)
		}
		b.OPCUA.Password = v
	}
	p, err := opcua.Dial(ctx, b)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Browse(ctx, *fl.browse, *fl.depth, func(f opcua.Found) {
		line := strings.Repeat("  ", f.Depth-1) + f.BrowsePath + "  " + f.NodeID + "  " + f.Class
		if f.Reading != nil {
			line += "  " + string(f.Reading.Quality)
			if f.Reading.HasValue {
				line += " " + string(contractValue(*f.Reading))
			}
			if f.Why != "" {
				line += "  (" + f.Why + ")"
			}
		}
		fmt.Fprintln(w, line)
	})
}

// readOPCUADevice reads a configured OPC UA device once and prints its
// readings as JSON, as eipgw read does for a Modbus device.
func readOPCUADevice(ctx context.Context, w io.Writer, b config.Bus, d config.Device) error {
	p, err := opcua.Dial(ctx, b)
	if err != nil {
		return err
	}
	defer p.Close()
	start := time.Now()
	rs, why, err := p.ReadDevice(ctx, d)
	res := opcuaReadResult{
		Device: d.Name, Kind: d.OPCUA.Kind, Bus: b.Name, Endpoint: b.OPCUA.Endpoint,
		Time: start.UTC().Format("2006-01-02T15:04:05.000Z"), Millis: time.Since(start).Milliseconds(),
		Error: why,
	}
	if err != nil {
		res.Error = err.Error()
	}
	for i, r := range rs {
		n := d.OPCUA.Nodes[i]
		pt := opcuaReadPoint{Name: r.Name, Unit: r.Unit, Quality: string(r.Quality), NodeID: n.NodeID, BrowsePath: n.BrowsePath}
		if r.HasValue {
			pt.Value = contractValue(r)
		}
		res.Points = append(res.Points, pt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if eerr := enc.Encode(res); eerr != nil {
		return eerr
	}
	if err != nil {
		return errReported
	}
	for _, r := range rs {
		if r.Quality == drivers.Good {
			return nil
		}
	}
	if len(rs) > 0 {
		// Nothing read, as for a Modbus device: a script must not take
		// the points' qualities for an answer.
		return fmt.Errorf("device %s: no point read good: %s", d.Name, res.Error)
	}
	return nil
}

type opcuaReadPoint struct {
	Name       string      `json:"n"`
	Value      json.Number `json:"v,omitempty"`
	Unit       string      `json:"u"`
	Quality    string      `json:"q"`
	NodeID     string      `json:"node_id,omitempty"`
	BrowsePath string      `json:"browse_path,omitempty"`
}

type opcuaReadResult struct {
	Device   string           `json:"device"`
	Kind     string           `json:"kind"`
	Bus      string           `json:"bus"`
	Endpoint string           `json:"endpoint"`
	Time     string           `json:"ts"`
	Millis   int64            `json:"duration_ms"`
	Points   []opcuaReadPoint `json:"points"`
	Error    string           `json:"last_error,omitempty"`
}

// contractValue prints a reading's value: integers exactly, a float in its
// shortest form (float32 precision when read as float32).
func contractValue(r drivers.Reading) json.Number {
	switch r.Kind {
	case drivers.Int:
		return json.Number(strconv.FormatInt(r.Int, 10))
	case drivers.Uint:
		return json.Number(strconv.FormatUint(r.Uint, 10))
	}
	bits := 64
	if r.Float32 {
		bits = 32
	}
	return json.Number(strconv.FormatFloat(r.Float, 'g', -1, bits))
}

package config

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ProtocolOPCUA is the protocol key of a bus read by the OPC UA driver
// (drivers/opcua): the bus is one server endpoint, its keys are in the
// bus's opcua section and each device's nodes in the device's opcua
// section.
const ProtocolOPCUA = "opcua"

// OPC UA security policies and modes the driver offers.
const (
	OPCUAPolicyNone           = "None"
	OPCUAPolicyBasic256Sha256 = "Basic256Sha256"

	OPCUAModeNone           = "None"
	OPCUAModeSign           = "Sign"
	OPCUAModeSignAndEncrypt = "SignAndEncrypt"
)

// OPC UA device modes.
const (
	// OPCUAPolling reads every node of the device in one Read request
	// each interval.
	OPCUAPolling = "polling"
	// OPCUASubscription creates a subscription with one monitored item
	// per node; the server pushes changes.
	OPCUASubscription = "subscription"
)

// OPC UA defaults.
const (
	DefaultOPCUASessionTimeout = time.Minute
	DefaultOPCUAQueueSize      = 10
	DefaultOPCUAApplicationURI = "urn:eipgw:gateway"
	// MaxOPCUANodes bounds the nodes of one device (one Read request).
	MaxOPCUANodes = 10000
)

// OPCUABus is an OPC UA server endpoint (bus key opcua).
type OPCUABus struct {
	// Endpoint is the server's URL, opc.tcp://host:port[/path].
	Endpoint string `yaml:"endpoint"`
	// SecurityPolicy is None (the default) or Basic256Sha256.
	SecurityPolicy string `yaml:"security_policy"`
	// SecurityMode is None (the default with policy None), Sign or
	// SignAndEncrypt (the default with Basic256Sha256).
	SecurityMode string `yaml:"security_mode"`
	// Certificate and PrivateKey are the gateway's application instance
	// certificate and its RSA key (PEM or DER files), required unless the
	// policy is None. The certificate's URI must be ApplicationURI.
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"private_key"`
	// ServerCertificate pins the server's certificate (PEM or DER file);
	// unset, the one in the server's endpoint description is used.
	ServerCertificate string `yaml:"server_certificate"`
	// ApplicationURI is the gateway's application URI (default
	// urn:eipgw:gateway).
	ApplicationURI string `yaml:"application_uri"`
	// Username authenticates the session; the password is read from an
	// environment variable or a file, never inline. Unset: anonymous.
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// SessionTimeout is the session lifetime the gateway asks for
	// (default 1m); a session the server dropped is re-created.
	SessionTimeout time.Duration `yaml:"session_timeout"`

	// Password holds the resolved secret after Load.
	Password string `yaml:"-"`
}

// OPCUADevice is what an OPC UA device reads (device key opcua).
type OPCUADevice struct {
	// Kind is the device kind: the InfluxDB measurement (chp, cems, ...).
	Kind string `yaml:"kind"`
	// Mode is polling (the default) or subscription.
	Mode string `yaml:"mode"`
	// SamplingInterval is how often the server samples each node in
	// subscription mode (default: the device's interval).
	SamplingInterval time.Duration `yaml:"sampling_interval"`
	// QueueSize is each monitored item's queue on the server in
	// subscription mode (default 10): changes between two publishes are
	// kept, up to this many per node.
	QueueSize int `yaml:"queue_size"`
	// Nodes are the device's points.
	Nodes []OPCUANode `yaml:"nodes"`
}

// OPCUANode is one point of an OPC UA device: a variable named by its
// NodeId or by a browse path from the Objects folder.
type OPCUANode struct {
	// Name is the point name (the MQTT "n" and the InfluxDB field).
	Name string `yaml:"name"`
	// NodeID is the node in the OPC UA string form, e.g. ns=2;s=CHP1.Power
	// or ns=3;i=1001.
	NodeID string `yaml:"node_id"`
	// BrowsePath is the node as browse names from the Objects folder,
	// each namespace-qualified, separated by '/': 2:CHP1/2:Power.
	BrowsePath string `yaml:"browse_path"`
	Unit       string `yaml:"unit"`
	// Min and Max bound a plausible value; outside, the reading is
	// out_of_range.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// Type is the point's value type, its InfluxDB field type for its
	// whole life: integer or float. Unset, the node's DataType attribute
	// decides (integer for Boolean, the integer types, DateTime and
	// Enumeration; float for anything else).
	Type string `yaml:"type"`
}

// OPC UA point types (OPCUANode.Type).
const (
	OPCUATypeInteger = "integer"
	OPCUATypeFloat   = "float"
)

// IsOPCUA reports whether the bus is read by the OPC UA driver.
func (b *Bus) IsOPCUA() bool { return b.Protocol == ProtocolOPCUA }

func (b *Bus) opcuaDefaults() {
	setDur(&b.Timeout, DefaultTimeout)
	setDur(&b.BackoffMax, DefaultBackoffMax)
	o := b.OPCUA
	if o == nil {
		return
	}
	if o.SecurityPolicy == "" {
		o.SecurityPolicy = OPCUAPolicyNone
	}
	if o.SecurityMode == "" {
		o.SecurityMode = OPCUAModeNone
		if o.SecurityPolicy != OPCUAPolicyNone {
			o.SecurityMode = OPCUAModeSignAndEncrypt
		}
	}
	if o.ApplicationURI == "" {
		o.ApplicationURI = DefaultOPCUAApplicationURI
	}
	setDur(&o.SessionTimeout, DefaultOPCUASessionTimeout)
}

// WithDefaults is the bus with its unset keys filled in as Load fills
// them (for a bus built from command-line flags).
func (b Bus) WithDefaults() Bus {
	if b.OPCUA != nil {
		o := *b.OPCUA
		b.OPCUA = &o
	}
	b.applyDefaults()
	return b
}

// validateOPCUA checks an OPC UA bus at path p.
func (b *Bus) validateOPCUA(s *Source, p string) Errors {
	var errs Errors
	modbusKey := func(key string, set bool) {
		if set {
			errs = append(errs, s.Errorf(p+"."+key, "is a Modbus key; an opcua bus takes its endpoint in opcua.endpoint"))
		}
	}
	modbusKey("transport", b.Transport != "")
	modbusKey("address", b.Address != "")
	modbusKey("delay", b.Delay != 0)
	modbusKey("pipeline", b.Pipeline != 0)
	modbusKey("device", b.Device != "")
	modbusKey("baud", b.Baud != 0)
	modbusKey("data_bits", b.DataBits != 0)
	modbusKey("parity", b.Parity != "")
	modbusKey("stop_bits", b.StopBits != 0)
	if b.Timeout < time.Millisecond {
		errs = append(errs, s.Errorf(p+".timeout", "timeout %s is below 1ms", b.Timeout))
	}
	o := b.OPCUA
	if o == nil {
		return append(errs, s.Errorf(p+".opcua", "required section is missing (endpoint, security)"))
	}
	q := p + ".opcua"
	switch {
	case o.Endpoint == "":
		errs = append(errs, s.Errorf(q+".endpoint", "required field is missing (opc.tcp://host:port)"))
	case !strings.HasPrefix(o.Endpoint, "opc.tcp://") || len(o.Endpoint) == len("opc.tcp://"):
		errs = append(errs, s.Errorf(q+".endpoint", "%q must be opc.tcp://host:port[/path]", o.Endpoint))
	default:
		if _, _, err := splitURL(o.Endpoint); err != nil {
			errs = append(errs, s.Errorf(q+".endpoint", "%q must be opc.tcp://host:port[/path]: %v", o.Endpoint, err))
		}
	}
	switch o.SecurityPolicy {
	case OPCUAPolicyNone:
		if o.SecurityMode != OPCUAModeNone {
			errs = append(errs, s.Errorf(q+".security_mode", "%s needs a security policy (Basic256Sha256), not None", o.SecurityMode))
		}
	case OPCUAPolicyBasic256Sha256:
		if o.SecurityMode != OPCUAModeSign && o.SecurityMode != OPCUAModeSignAndEncrypt {
			errs = append(errs, s.Errorf(q+".security_mode", "%q: want Sign or SignAndEncrypt with policy %s", o.SecurityMode, o.SecurityPolicy))
		}
		if o.Certificate == "" {
			errs = append(errs, s.Errorf(q+".certificate", "required with security policy %s (the gateway's certificate file)", o.SecurityPolicy))
		}
		if o.PrivateKey == "" {
			errs = append(errs, s.Errorf(q+".private_key", "required with security policy %s (the certificate's RSA key file)", o.SecurityPolicy))
		}
	default:
		errs = append(errs, s.Errorf(q+".security_policy", "unsupported security policy %q (None or Basic256Sha256)", o.SecurityPolicy))
	}
	if o.SecurityMode != OPCUAModeNone && o.SecurityMode != OPCUAModeSign && o.SecurityMode != OPCUAModeSignAndEncrypt {
		errs = append(errs, s.Errorf(q+".security_mode", "unsupported security mode %q (None, Sign or SignAndEncrypt)", o.SecurityMode))
	}
	if (o.Certificate == "") != (o.PrivateKey == "") && o.SecurityPolicy == OPCUAPolicyNone {
		errs = append(errs, s.Errorf(q+".certificate", "certificate and private_key go together"))
	}
	if o.PasswordEnv != "" && o.PasswordFile != "" {
		errs = append(errs, s.Errorf(q+".password_file", "set password_env or password_file, not both"))
	}
	if o.Username == "" && (o.PasswordEnv != "" || o.PasswordFile != "") {
		errs = append(errs, s.Errorf(q+".username", "required when a password is set"))
	}
	if o.SessionTimeout < time.Second {
		errs = append(errs, s.Errorf(q+".session_timeout", "session timeout %s is below 1s", o.SessionTimeout))
	}
	return errs
}

// validateOPCUADevice checks the OPC UA side of device d (path p) on an
// opcua bus.
func validateOPCUADevice(s *Source, p string, d Device) Errors {
	var errs Errors
	if d.Profile != "" {
		errs = append(errs, s.Errorf(p+".profile", "profiles are Modbus register maps; a device on an opcua bus lists its nodes in opcua.nodes"))
	}
	if d.Unit != 0 {
		errs = append(errs, s.Errorf(p+".unit", "is a Modbus unit id; a device on an opcua bus has none"))
	}
	o := d.OPCUA
	if o == nil {
		return append(errs, s.Errorf(p+".opcua", "required section is missing (kind, mode, nodes)"))
	}
	q := p + ".opcua"
	switch {
	case o.Kind == "":
		errs = append(errs, s.Errorf(q+".kind", "required field is missing (the device kind, e.g. chp)"))
	case !ValidName(o.Kind):
		errs = append(errs, s.Errorf(q+".kind", "%q is not a valid name: use letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit", o.Kind))
	case ReservedKind(o.Kind):
		errs = append(errs, s.Errorf(q+".kind", "%q %s", o.Kind, ReservedKindRule))
	}
	switch o.Mode {
	case OPCUAPolling:
		if o.SamplingInterval != 0 {
			errs = append(errs, s.Errorf(q+".sampling_interval", "applies to mode subscription only"))
		}
		if o.QueueSize != 0 {
			errs = append(errs, s.Errorf(q+".queue_size", "applies to mode subscription only"))
		}
	case OPCUASubscription:
		if o.SamplingInterval < 0 {
			errs = append(errs, s.Errorf(q+".sampling_interval", "%s is negative", o.SamplingInterval))
		}
		if o.QueueSize < 0 || o.QueueSize > math.MaxUint16 {
			errs = append(errs, s.Errorf(q+".queue_size", "%d out of range 1-%d", o.QueueSize, math.MaxUint16))
		}
	default:
		errs = append(errs, s.Errorf(q+".mode", "unsupported mode %q (polling or subscription)", o.Mode))
	}
	if len(o.Nodes) == 0 {
		errs = append(errs, s.Errorf(q+".nodes", "no nodes configured"))
	}
	if len(o.Nodes) > MaxOPCUANodes {
		errs = append(errs, s.Errorf(q+".nodes", "%d nodes: at most %d per device", len(o.Nodes), MaxOPCUANodes))
	}
	names := map[string]bool{}
	for i, n := range o.Nodes {
		np := fmt.Sprintf("%s.nodes[%d]", q, i)
		switch {
		case n.Name == "":
			errs = append(errs, s.Errorf(np+".name", "required field is missing"))
		case !validPointName(n.Name):
			errs = append(errs, s.Errorf(np+".name", "%q is not a valid point name: letters, digits and '_', at most 64, starting with a letter", n.Name))
		case ReservedPointName(n.Name) != "":
			errs = append(errs, s.Errorf(np+".name", "%q is reserved: it %s", n.Name, ReservedPointName(n.Name)))
		case names[n.Name]:
			errs = append(errs, s.Errorf(np+".name", "point %q is defined twice", n.Name))
		}
		if n.Unit != "" && !ValidUnit(n.Unit) {
			errs = append(errs, s.Errorf(np+".unit", "%q is not a unit: %s", n.Unit, UnitRule))
		}
		names[n.Name] = true
		switch {
		case n.NodeID == "" && n.BrowsePath == "":
			errs = append(errs, s.Errorf(np+".node_id", "required field is missing (or browse_path)"))
		case n.NodeID != "" && n.BrowsePath != "":
			errs = append(errs, s.Errorf(np+".browse_path", "set node_id or browse_path, not both"))
		case n.NodeID != "":
			if err := CheckNodeID(n.NodeID); err != nil {
				errs = append(errs, s.Errorf(np+".node_id", "%v", err))
			}
		default:
			if _, err := ParseBrowsePath(n.BrowsePath); err != nil {
				errs = append(errs, s.Errorf(np+".browse_path", "%v", err))
			}
		}
		switch n.Type {
		case "":
			if _, written := s.Scalar(np + ".type"); written {
				errs = append(errs, s.Errorf(np+".type", `"" is not a type (integer or float; leave the key out for the node's DataType to decide)`))
			}
		case OPCUATypeInteger, OPCUATypeFloat:
		default:
			errs = append(errs, s.Errorf(np+".type", "unsupported type %q (integer or float; unset: the node's DataType decides)", n.Type))
		}
		if n.Min != nil && n.Max != nil && *n.Min > *n.Max {
			errs = append(errs, s.Errorf(np+".min", "min %g is above max %g", *n.Min, *n.Max))
		}
		for _, v := range []*float64{n.Min, n.Max} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				errs = append(errs, s.Errorf(np+".min", "min and max must be finite numbers"))
			}
		}
	}
	return errs
}

// validPointName is the rule of a point name: it becomes an InfluxDB field
// and a JSON key.
func validPointName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case ('0' <= c && c <= '9' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckNodeID checks the OPC UA string form of a NodeId:
// [ns=<index>;]<i|s|g|b>=<identifier>: i a number 0-4294967295, s a
// non-empty string, g a GUID (8-4-4-4-12 hex digits), b base64. A
// namespace URI (nsu=) is refused: the index is what a server's node ids
// carry on the wire.
func CheckNodeID(id string) error {
	rest := id
	if strings.HasPrefix(rest, "nsu=") {
		return fmt.Errorf("node id %q: namespace URIs (nsu=) are not supported: use ns=<index> (eipgw read -endpoint shows each node's id)", id)
	}
	if strings.HasPrefix(rest, "ns=") {
		i := strings.IndexByte(rest, ';')
		if i < 0 {
			return fmt.Errorf("node id %q: namespace without ';' (ns=2;s=Name)", id)
		}
		n, err := strconv.ParseUint(rest[3:i], 10, 16)
		if err != nil || strconv.FormatUint(n, 10) != rest[3:i] {
			return fmt.Errorf("node id %q: namespace index %q is not 0-65535", id, rest[3:i])
		}
		rest = rest[i+1:]
	} else if strings.Contains(rest, ";") {
		return fmt.Errorf("node id %q: an identifier with ';' needs its namespace first (ns=0;%s)", id, rest)
	}
	if len(rest) < 3 || rest[1] != '=' || !strings.ContainsRune("isgb", rune(rest[0])) {
		return fmt.Errorf("node id %q: want [ns=<index>;]i=<number>, s=<string>, g=<guid> or b=<base64>", id)
	}
	v := rest[2:]
	switch rest[0] {
	case 'i':
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return fmt.Errorf("node id %q: numeric identifier %q is not 0-4294967295", id, v)
		}
	case 'g':
		if !guidForm(v) {
			return fmt.Errorf("node id %q: GUID %q is not 8-4-4-4-12 hex digits", id, v)
		}
	case 'b':
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return fmt.Errorf("node id %q: opaque identifier %q is not base64", id, v)
		}
	}
	return nil
}

// guidForm reports whether s is a GUID: 8-4-4-4-12 hex digits.
func guidForm(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// BrowseName is one step of a browse path: a namespace index and a name.
type BrowseName struct {
	Namespace uint16
	Name      string
}

// ParseBrowsePath splits a browse path "2:CHP1/2:Power" into its steps,
// each "<namespace index>:<browse name>" (namespace 0 may be left out).
func ParseBrowsePath(path string) ([]BrowseName, error) {
	if path == "" {
		return nil, fmt.Errorf("browse path is empty")
	}
	var out []BrowseName
	for i, step := range strings.Split(path, "/") {
		var bn BrowseName
		name := step
		if ns, n, ok := strings.Cut(step, ":"); ok {
			var v int
			if _, err := fmt.Sscanf(ns, "%d", &v); err != nil || fmt.Sprint(v) != ns || v < 0 || v > math.MaxUint16 {
				return nil, fmt.Errorf("browse path %q: step %d %q: namespace index %q is not 0-65535", path, i+1, step, ns)
			}
			bn.Namespace, name = uint16(v), n
		}
		if name == "" {
			return nil, fmt.Errorf("browse path %q: step %d is empty", path, i+1)
		}
		bn.Name = name
		out = append(out, bn)
	}
	return out, nil
}

// resolveOPCUASecrets reads the password of every opcua bus.
func (f *File) resolveOPCUASecrets() Errors {
	var errs Errors
	if f.Edge == nil {
		return nil
	}
	for i := range f.Edge.Buses {
		o := f.Edge.Buses[i].OPCUA
		if o == nil {
			continue
		}
		v, err := secret(o.PasswordEnv, o.PasswordFile)
		if err != nil {
			errs = append(errs, f.Source.Errorf(secretPath(fmt.Sprintf("edge.buses[%d].opcua.password", i), o.PasswordEnv), "%v", err))
		}
		o.Password = v
	}
	return errs
}

// String describes an OPC UA endpoint for logs and errors.
func (o *OPCUABus) String() string {
	return fmt.Sprintf("opcua %s (%s, %s)", o.Endpoint, o.SecurityPolicy, o.SecurityMode)
}

// opcuaDefaults fills an OPC UA device's unset keys; s and path (the
// device's) tell a sampling interval written as 0 from one left out.
func (d *Device) opcuaDefaults(s *Source, path string) {
	o := d.OPCUA
	if o == nil {
		return
	}
	if o.Mode == "" {
		o.Mode = OPCUAPolling
	}
	if o.Mode == OPCUASubscription {
		// 0 asks the server for its fastest practical rate (OPC UA
		// Part 4, 5.12.1.2).
		if o.SamplingInterval == 0 && !s.Written(path+".opcua.sampling_interval") {
			o.SamplingInterval = d.Interval
		}
		if o.QueueSize == 0 {
			o.QueueSize = DefaultOPCUAQueueSize
		}
	}
}

// onOPCUABus reports whether the named bus is an opcua bus.
func onOPCUABus(buses []Bus, name string) bool {
	for i := range buses {
		if buses[i].Name == name {
			return buses[i].IsOPCUA()
		}
	}
	return false
}

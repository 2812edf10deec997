// Package config is eipgw's configuration: the YAML schema of every role
// (edge, ingest, demo), strict loading with errors that carry file:line and
// the field path, defaults, validation and secrets read from the environment
// or from files. It imports nothing else of eipgw.
//
// One file may hold the sections of several roles; each command reads the
// sections it needs and requires them. Commented examples of each role live in
// config/examples and are loaded by this package's tests.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// File is one configuration file.
type File struct {
	// Park is the park identifier used in MQTT topics and the InfluxDB park
	// tag, e.g. "suzhou-eip".
	Park string `yaml:"park"`
	// Site is the site tag written with every reading of this edge.
	Site   string  `yaml:"site"`
	MQTT   *MQTT   `yaml:"mqtt"`
	Edge   *Edge   `yaml:"edge"`
	Ingest *Ingest `yaml:"ingest"`
	// ParkEngine is the park engine's model of the park (config/park.go).
	ParkEngine *ParkEngine `yaml:"park_engine"`

	// Metrics is the role's Prometheus endpoint.
	Metrics *Metrics `yaml:"metrics"`

	// Source names the file; set by Load. Its document, which gives the
	// lines of field paths, is kept only while Load checks the file: a
	// running role does not hold a large park's configuration twice.
	Source *Source `yaml:"-"`
}

// MQTT is the connection to the broker.
type MQTT struct {
	// Broker is the broker URL: tcp://host:port, or with TLS
	// ssl://host:port (also tls://, mqtts://, wss://). Credentials never go
	// in the URL.
	Broker   string `yaml:"broker"`
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// Password is read from an environment variable or a file, never inline.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// KeepAlive is the MQTT keep-alive period (default 30s).
	KeepAlive time.Duration `yaml:"keepalive"`
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// TLS configures a TLS broker URL (config/tls.go).
	TLS *TLS `yaml:"tls"`

	// Password holds the resolved secret after Load.
	Password string `yaml:"-"`
}

// Edge is the polling side: buses, devices and where the edge keeps state.
type Edge struct {
	// Gateway is this edge's identifier, unique in the park (topic level).
	Gateway string `yaml:"gateway"`
	// StateDir holds the sequence counter and the write-ahead log.
	StateDir string `yaml:"state_dir"`
	// ProfileDirs are extra directories of device profile YAML files,
	// relative to the configuration file's directory (ProfileDir).
	ProfileDirs []string `yaml:"profile_dirs"`
	// PublishTimeout bounds the wait at shutdown for the broker to
	// acknowledge what was polled; the rest stays in the write-ahead log
	// for the next start (default 5s).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// MaxInflight bounds the batches published but not yet acknowledged
	// (default 256).
	MaxInflight int `yaml:"max_inflight"`
	// MaxBatchPoints splits a device's poll into batches of at most this
	// many points, each with its own sequence number and the same poll
	// time, so that no single message is too large to publish or store
	// in bounded time (default 2000).
	MaxBatchPoints int `yaml:"max_batch_points"`
	// Procs is how many CPUs the edge runs Go code on at once (Go's
	// GOMAXPROCS; default 1, see DefaultEdgeProcs). The environment
	// variable GOMAXPROCS, when set, wins.
	Procs   int      `yaml:"procs"`
	WAL     *WAL     `yaml:"wal"`
	Buses   []Bus    `yaml:"buses"`
	Devices []Device `yaml:"devices"`
	// Replay bounds the replay requests the edge serves (config/replay.go).
	Replay *Replay `yaml:"replay"`
	// Evidence signs and chains the batches (config/evidence.go).
	Evidence *EdgeEvidence `yaml:"evidence"`
}

// Bus is one physical Modbus bus: a TCP endpoint or a serial line.
type Bus struct {
	Name string `yaml:"name"`
	// Protocol names the driver that reads the bus: "modbus" (the
	// default). The keys below are the Modbus driver's.
	Protocol string `yaml:"protocol"`
	// Transport is "tcp" (Modbus TCP), "rtu" (serial line) or
	// "rtu-over-tcp" (serial device server); see bus.go.
	Transport string `yaml:"transport"`
	// Address is host:port for tcp and rtu-over-tcp.
	Address string `yaml:"address"`
	// Timeout is the per-request response timeout (default 1s).
	Timeout time.Duration `yaml:"timeout"`
	// Delay is the idle time between two requests on the bus (default 0).
	Delay time.Duration `yaml:"delay"`
	// BackoffMax caps the back-off of a device that stopped answering
	// (default 1m).
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Pipeline is how many requests transport tcp sends before their
	// answers: PipelineAuto (the default on tcp without a delay: one at a
	// time until the server has shown that it queues requests), or 1 to
	// MaxPipeline. Modbus TCP pairs answers with requests by transaction
	// id (see drivers/modbus/README.md).
	Pipeline Pipeline `yaml:"pipeline"`
	// Serial line of transport rtu: device path, baud rate (default 19200),
	// data bits (8), parity N, E or O (E) and stop bits (1).
	Device   string `yaml:"device"`
	Baud     int    `yaml:"baud"`
	DataBits int    `yaml:"data_bits"`
	Parity   string `yaml:"parity"`
	StopBits int    `yaml:"stop_bits"`
	// OPCUA is the endpoint of a bus with protocol opcua (config/opcua.go).
	OPCUA *OPCUABus `yaml:"opcua"`
}

// Device is one polled Modbus device.
type Device struct {
	// Name is the device identifier, unique per gateway (topic level and
	// InfluxDB device tag), e.g. "chp-1".
	Name string `yaml:"name"`
	// Profile names the register map (built-in: chp, cems, bds, boiler,
	// steam_meter, power_meter, heat_meter; or one from profile_dirs).
	Profile string `yaml:"profile"`
	Bus     string `yaml:"bus"`
	// Unit is the Modbus unit id (slave address), 0-247.
	Unit int `yaml:"unit"`
	// Interval is the poll period (default 1s).
	Interval time.Duration `yaml:"interval"`
	// Tenant is the park tenant the device belongs to (InfluxDB tenant tag).
	Tenant string `yaml:"tenant"`
	// Timeout overrides the bus's response timeout for this device.
	Timeout time.Duration `yaml:"timeout"`
	// OPCUA is the kind, mode and nodes of a device on an opcua bus
	// (config/opcua.go); such a device has no profile.
	OPCUA *OPCUADevice `yaml:"opcua"`
}

// Ingest is the MQTT-to-InfluxDB writer.
type Ingest struct {
	// Group, when set, makes workers share the park's data through the
	// shared subscription $share/{group}/...; empty (the default) is one
	// worker with a plain subscription, which a persistent Mosquitto keeps
	// across its restarts (it does not restore shared subscriptions).
	Group string `yaml:"group"`
	// BatchSize is the most messages written to InfluxDB in one request
	// (default 500).
	BatchSize int `yaml:"batch_size"`
	// BatchWait is how long a partial batch waits for more messages
	// (default 200ms).
	BatchWait time.Duration `yaml:"batch_wait"`
	// MaxWriteBytes and MaxWriteLines bound one InfluxDB write request
	// (defaults 2 MiB and 5000 lines); a larger batch is written in
	// several requests.
	MaxWriteBytes int `yaml:"max_write_bytes"`
	MaxWriteLines int `yaml:"max_write_lines"`
	// DeadLetterMaxBytes bounds a dead letter (default 8 MiB): keep it
	// below the broker's max_packet_size. A message whose dead letter
	// would be larger goes with the start of its payload, its size and
	// its SHA-256.
	DeadLetterMaxBytes int `yaml:"dead_letter_max_bytes"`
	// MaxAttempts is how many times in a row one message may fail to be
	// written while InfluxDB accepts other messages before it is
	// dead-lettered with the reason (default 10). An outage of InfluxDB
	// dead-letters nothing: it is retried until it ends.
	MaxAttempts int `yaml:"max_attempts"`
	// Procs is how many CPUs one ingest process runs Go code on at once
	// (Go's GOMAXPROCS; default 1, see DefaultIngestProcs). The
	// environment variable GOMAXPROCS, when set, wins.
	Procs    int       `yaml:"procs"`
	InfluxDB *InfluxDB `yaml:"influxdb"`
	// Completeness configures the check for missing sequence numbers.
	Completeness *Completeness `yaml:"completeness"`
	// Evidence lists the gateways' public keys (config/evidence.go).
	Evidence *EvidenceKeys `yaml:"evidence"`
}

// InfluxDB is the storage target, written through the v2 write API (which
// InfluxDB 1.8+, 2.x and 3.x serve).
type InfluxDB struct {
	// URL is the base URL, http:// or https://, without credentials.
	URL string `yaml:"url"`
	// Org is the organisation (ignored by InfluxDB 1.8).
	Org string `yaml:"org"`
	// Bucket is the bucket, or "database/retention-policy" on InfluxDB 1.8.
	Bucket string `yaml:"bucket"`
	// Token is read from an environment variable or a file ("user:password"
	// on InfluxDB 1.8 with auth, may be empty without).
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Timeout bounds one write request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures an https:// URL (config/tls.go).
	TLS *TLS `yaml:"tls"`

	// Token holds the resolved secret after Load.
	Token string `yaml:"-"`
}

// Load reads, decodes, defaults and validates one file. knownProfile reports
// whether a device profile name exists (nil skips that check). The returned
// error, if any, is an Errors listing every problem.
func Load(path string, knownProfile func(string) bool) (*File, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data, knownProfile)
}

// keptLines returns the lines of the paths whose files the edge reads
// only when it starts (its signing key, its OPC UA buses' certificates),
// so that an error found then still names its line.
func keptLines(src *Source, f *File) map[string]int {
	e := f.Edge
	if e == nil || src == nil || src.root == nil {
		return nil
	}
	paths := []string{"edge.evidence.key_file"}
	for i := range e.Buses {
		for _, k := range []string{"", ".certificate", ".private_key", ".server_certificate"} {
			paths = append(paths, fmt.Sprintf("edge.buses[%d].opcua%s", i, k))
		}
	}
	kept := make(map[string]int, len(paths))
	for _, p := range paths {
		if l := src.Line(p); l > 0 {
			kept[p] = l
		}
	}
	return kept
}

// Parse is Load on bytes already read; name is used in errors. Type errors
// do not stop it: the fields that decoded are defaulted and validated, and
// every problem is reported together (checks of a field that failed to
// decode are left out, they would only repeat it).
func Parse(name string, data []byte, knownProfile func(string) bool) (*File, error) {
	var f File
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: sizeMsg(int64(len(data)))}}
	}
	src, errs := Decode(name, data, &f)
	f.Source = src
	defer func() { f.Source = &Source{File: src.File, kept: keptLines(src, &f)} }()
	if !decodedAnything(src) {
		return &f, errs.Err()
	}
	var checks Errors
	f.applyDefaults()
	checks = append(checks, f.validate(knownProfile)...)
	checks = append(checks, f.validateDelivery()...)
	checks = append(checks, f.validateReplay()...)
	checks = append(checks, f.validateEvidence()...)
	checks = append(checks, f.validateParkEngine()...)
	checks = append(checks, f.resolveSecrets()...)
	checks = append(checks, src.DefaultedZeros()...)
	errs = append(errs, withoutDecodeFailures(checks, errs)...)
	return &f, errs.Err()
}

// Defaults.
const (
	DefaultInterval       = time.Second
	DefaultTimeout        = time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	DefaultBatchSize      = 500
	DefaultBatchWait      = 200 * time.Millisecond
	DefaultWriteTimeout   = 10 * time.Second
)

func (f *File) applyDefaults() {
	if m := f.MQTT; m != nil {
		setDur(&m.KeepAlive, DefaultKeepAlive)
		setDur(&m.ConnectTimeout, DefaultConnectTimeout)
	}
	if e := f.Edge; e != nil {
		setDur(&e.PublishTimeout, DefaultPublishTimeout)
		e.walDefaults()
		e.replayDefaults()
		for i := range e.Buses {
			e.Buses[i].applyDefaults()
		}
		for i := range e.Devices {
			setDur(&e.Devices[i].Interval, DefaultInterval)
			e.Devices[i].opcuaDefaults(f.Source, fmt.Sprintf("edge.devices[%d]", i))
		}
	}
	if in := f.Ingest; in != nil {
		if in.BatchSize == 0 {
			in.BatchSize = DefaultBatchSize
		}
		setDur(&in.BatchWait, DefaultBatchWait)
		in.writeDefaults()
		in.completenessDefaults()
		if in.InfluxDB != nil {
			setDur(&in.InfluxDB.Timeout, DefaultWriteTimeout)
		}
	}
}

// ProfileDir is a profile_dirs entry of the configuration file named
// file: relative to the file's directory.
func ProfileDir(file, dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(filepath.Dir(file), dir)
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// checkDuration reports d outside lo..hi (hi 0: no upper bound) at path.
func checkDuration(s *Source, path string, d, lo, hi time.Duration) Errors {
	switch {
	case d < lo:
		return Errors{s.Errorf(path, "%s is below %s", d, lo)}
	case hi > 0 && d > hi:
		return Errors{s.Errorf(path, "%s is above %s", d, hi)}
	}
	return nil
}

// MaxNameLen is the longest park, gateway, site, tenant or device name.
const MaxNameLen = 64

// ValidName reports whether s may name a park, gateway, site, tenant or
// device: 1 to 64 ASCII letters, digits, '-', '_' or '.', starting with a
// letter or digit. Such names become MQTT topic levels and InfluxDB tag
// values; ingest applies the same rule to every name it receives.
func ValidName(s string) bool {
	return validName(s)
}

// NameRule says what ValidName accepts.
const NameRule = "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"

func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (f *File) validate(knownProfile func(string) bool) Errors {
	var errs Errors
	s := f.Source
	ident := func(path, v string, required bool) {
		switch {
		case v == "" && required:
			errs = append(errs, s.Errorf(path, "required field is missing"))
		case v != "" && !ValidName(v):
			errs = append(errs, s.Errorf(path, "%q is not a valid name: use letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit", v))
		}
	}
	ident("park", f.Park, true)
	ident("site", f.Site, false)
	if f.MQTT == nil {
		errs = append(errs, s.Errorf("mqtt", "required section is missing"))
	} else {
		m := f.MQTT
		errs = append(errs, m.validateEndpoint(s)...)
		if m.PasswordEnv != "" && m.PasswordFile != "" {
			errs = append(errs, s.Errorf("mqtt.password_file", "set password_env or password_file, not both"))
		}
		// MQTT counts the keep-alive in whole seconds, 16 bits of them:
		// below a second it would be 0, no keep-alive at all.
		errs = append(errs, checkDuration(s, "mqtt.keepalive", m.KeepAlive, time.Second, 65535*time.Second)...)
		errs = append(errs, checkDuration(s, "mqtt.connect_timeout", m.ConnectTimeout, 100*time.Millisecond, 0)...)
		// Ingest names its replay requests' topic after its client id.
		if strings.ContainsAny(m.ClientID, "/+#") || strings.ContainsFunc(m.ClientID, unicode.IsControl) {
			errs = append(errs, s.Errorf("mqtt.client_id", "%q must not contain '/', '+', '#' or control characters (it is a topic level)", m.ClientID))
		}
	}
	if f.Edge == nil && f.Ingest == nil && f.ParkEngine == nil {
		errs = append(errs, s.Errorf("", "nothing to run: the file has no edge, ingest or park_engine section"))
	}
	if e := f.Edge; e != nil {
		if f.Site == "" {
			errs = append(errs, s.Errorf("site", "required field is missing (an edge needs the site it stands on)"))
		}
		ident("edge.gateway", e.Gateway, true)
		if slices.Contains(ReservedGateways, e.Gateway) {
			// The gateway is a topic level: eip/v1/{park}/metrics/...
			// carries the park's metrics, control/ replay requests.
			errs = append(errs, s.Errorf("edge.gateway", "%q is reserved for eipgw's own topics", e.Gateway))
		}
		if e.StateDir == "" {
			errs = append(errs, s.Errorf("edge.state_dir", "required field is missing"))
		} else if fi, err := os.Stat(e.StateDir); err == nil && !fi.IsDir() {
			// Missing, it is created at start; a file there would stop the
			// edge at start instead.
			errs = append(errs, s.Errorf("edge.state_dir", "%s is a file, not a directory", e.StateDir))
		}
		for i, d := range e.ProfileDirs {
			p := fmt.Sprintf("edge.profile_dirs[%d]", i)
			if d == "" {
				errs = append(errs, s.Errorf(p, "empty path"))
				continue
			}
			if fi, err := os.Stat(ProfileDir(s.File, d)); err != nil {
				errs = append(errs, s.Errorf(p, "profile directory: %v", err))
			} else if !fi.IsDir() {
				errs = append(errs, s.Errorf(p, "profile directory: %s is not a directory", ProfileDir(s.File, d)))
			}
		}
		buses := map[string]bool{}
		// One bus owns a serial line: two buses on one would open it
		// twice and garble each other's frames. A Modbus TCP server
		// takes several connections, so two buses may share its
		// endpoint (a fast and a slow group of its units, say).
		endpoints := map[string]string{}
		for i, b := range e.Buses {
			p := fmt.Sprintf("edge.buses[%d]", i)
			ident(p+".name", b.Name, true)
			if buses[b.Name] && b.Name != "" {
				errs = append(errs, s.Errorf(p+".name", "bus %q is defined twice", b.Name))
			}
			buses[b.Name] = true
			errs = append(errs, b.validate(s, p)...)
			if k, key := b.endpointKey(); key == "device" {
				if other, ok := endpoints[k]; ok {
					line := b.Device
					if real := strings.TrimPrefix(k, "device "); real != filepath.Clean(b.Device) {
						line += " (" + real + ")"
					}
					errs = append(errs, s.Errorf(p+".device", "%s is bus %q's too: one bus owns a serial line; put the devices on that bus", line, other))
				} else {
					endpoints[k] = b.Name
				}
			}
		}
		if len(e.Devices) == 0 {
			errs = append(errs, s.Errorf("edge.devices", "no devices configured"))
		}
		devices := map[string]bool{}
		// A Modbus unit read with one profile by two devices is a unit id
		// copied without being changed: its readings would be stored
		// twice, and the device meant would not be read. (One unit read
		// with two profiles, a meter with two register maps, is allowed.)
		type unitRead struct {
			bus, profile string
			unit         int
		}
		reads := map[unitRead]int{}
		kindTypes := map[[2]string]struct{ typ, device string }{}
		for i, d := range e.Devices {
			p := fmt.Sprintf("edge.devices[%d]", i)
			ident(p+".name", d.Name, true)
			if slices.Contains(ReservedDevices, d.Name) {
				errs = append(errs, s.Errorf(p+".name", "%q is reserved for eipgw's own topics", d.Name))
			}
			if devices[d.Name] && d.Name != "" {
				errs = append(errs, s.Errorf(p+".name", "device %q is defined twice", d.Name))
			}
			devices[d.Name] = true
			switch {
			case d.Bus == "":
				errs = append(errs, s.Errorf(p+".bus", "required field is missing"))
			case !buses[d.Bus]:
				errs = append(errs, s.Errorf(p+".bus", "bus %q is not defined in edge.buses", d.Bus))
			}
			if onOPCUABus(e.Buses, d.Bus) {
				errs = append(errs, validateOPCUADevice(s, p, d)...)
				// A kind's point is one InfluxDB field: its devices'
				// configured types must agree.
				if o := d.OPCUA; o != nil {
					for ni, n := range o.Nodes {
						if n.Type == "" {
							continue
						}
						k := [2]string{o.Kind, n.Name}
						if was, ok := kindTypes[k]; ok && was.typ != n.Type {
							errs = append(errs, s.Errorf(fmt.Sprintf("%s.opcua.nodes[%d].type", p, ni), "%s, where device %q's point %s of kind %s is %s: a kind's point is one InfluxDB field, of one type", n.Type, was.device, n.Name, o.Kind, was.typ))
						} else if !ok {
							kindTypes[k] = struct{ typ, device string }{n.Type, d.Name}
						}
					}
				}
			} else if d.OPCUA != nil {
				errs = append(errs, s.Errorf(p+".opcua", "applies to a device on an opcua bus only"))
			}
			switch {
			case onOPCUABus(e.Buses, d.Bus):
			case d.Profile == "":
				errs = append(errs, s.Errorf(p+".profile", "required field is missing"))
			case knownProfile != nil && !knownProfile(d.Profile):
				errs = append(errs, s.Errorf(p+".profile", "profile %q is not defined (neither built in nor in profile_dirs)", d.Profile))
			}
			if d.Unit < 0 || d.Unit > 247 {
				errs = append(errs, s.Errorf(p+".unit", "unit id %d out of range 0-247", d.Unit))
			}
			if d.Interval < 10*time.Millisecond {
				errs = append(errs, s.Errorf(p+".interval", "interval %s is below the 10ms minimum", d.Interval))
			}
			ident(p+".tenant", d.Tenant, false)
			errs = append(errs, validateDeviceOnBus(s, p, d, e.Buses)...)
			if d.Profile != "" && !onOPCUABus(e.Buses, d.Bus) {
				r := unitRead{d.Bus, d.Profile, d.Unit}
				if j, dup := reads[r]; dup {
					errs = append(errs, s.Errorf(p+".unit", "unit %d on bus %q is already read with profile %q by device %q (edge.devices[%d]): the same readings would be stored under two names", d.Unit, d.Bus, d.Profile, e.Devices[j].Name, j))
				} else {
					reads[r] = i
				}
			}
		}
	}
	if in := f.Ingest; in != nil {
		if strings.ContainsAny(in.Group, "/+#") {
			errs = append(errs, s.Errorf("ingest.group", "%q must not contain '/', '+' or '#'", in.Group))
		}
		errs = append(errs, in.validateWrites(s)...)
		if in.BatchSize < 1 || in.BatchSize > 100000 {
			errs = append(errs, s.Errorf("ingest.batch_size", "%d out of range 1-100000", in.BatchSize))
		}
		// Messages wait unacknowledged for the batch: not for minutes.
		errs = append(errs, checkDuration(s, "ingest.batch_wait", in.BatchWait, 0, time.Minute)...)
		if c := in.Completeness; c != nil && !c.Disabled {
			errs = append(errs, checkDuration(s, "ingest.completeness.interval", c.Interval, 100*time.Millisecond, time.Hour)...)
			// Below a second, batches on their normal way would be
			// declared missing.
			errs = append(errs, checkDuration(s, "ingest.completeness.grace", c.Grace, time.Second, 24*time.Hour)...)
		}
		if db := in.InfluxDB; db == nil {
			errs = append(errs, s.Errorf("ingest.influxdb", "required section is missing"))
		} else {
			errs = append(errs, validateInfluxDB(s, "ingest.influxdb", db)...)
		}
	}
	return errs
}

func (f *File) resolveSecrets() Errors {
	var errs Errors
	if m := f.MQTT; m != nil {
		v, err := secret(m.PasswordEnv, m.PasswordFile)
		if err != nil {
			errs = append(errs, f.Source.Errorf(secretPath("mqtt.password", m.PasswordEnv), "%v", err))
		}
		m.Password = v
	}
	if in := f.Ingest; in != nil && in.InfluxDB != nil {
		db := in.InfluxDB
		v, err := secret(db.TokenEnv, db.TokenFile)
		if err != nil {
			errs = append(errs, f.Source.Errorf(secretPath("ingest.influxdb.token", db.TokenEnv), "%v", err))
		}
		db.Token = v
	}
	if m := f.Metrics; m != nil && (m.PasswordEnv != "" || m.PasswordFile != "") {
		v, err := secret(m.PasswordEnv, m.PasswordFile)
		path := secretPath("metrics.password", m.PasswordEnv)
		switch {
		case err != nil:
			errs = append(errs, f.Source.Errorf(path, "%v", err))
		case v == "":
			// The status page asks for a password only when there is
			// one: an empty one would serve it to anyone.
			what := "environment variable " + m.PasswordEnv
			if m.PasswordEnv == "" {
				what = m.PasswordFile
			}
			errs = append(errs, f.Source.Errorf(path, "%s is empty: the status page would be served without authentication", what))
		}
		m.Password = v
	}
	errs = append(errs, f.resolveOPCUASecrets()...)
	return errs
}

func secretPath(base, env string) string {
	if env != "" {
		return base + "_env"
	}
	return base + "_file"
}

// secret reads a secret from the named environment variable or file. A named
// but unset variable or unreadable file is an error: a gateway that silently
// connects without its credentials is harder to diagnose than one that stops.
func secret(env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := ReadFileMax(file, MaxSecretSize, "a secret file")
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

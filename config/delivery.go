package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// WAL configures the edge's write-ahead log (edge.wal).
type WAL struct {
	// Sync is "interval" (group commit: fsync at most every SyncInterval;
	// a power cut loses at most that much, a crash of the process nothing)
	// or "always" (fsync every batch before it is published).
	Sync         string        `yaml:"sync"`
	SyncInterval time.Duration `yaml:"sync_interval"`
	// MaxMB bounds the log on disk (default 1024 MiB); SegmentMB is the
	// size of one segment file (default 16 MiB).
	MaxMB     int `yaml:"max_mb"`
	SegmentMB int `yaml:"segment_mb"`
	// Full is what happens at MaxMB: "drop_oldest" (default) or
	// "drop_newest". Every dropped batch is counted, logged with its
	// sequence range and exposed as a metric.
	Full string `yaml:"full"`
	// Retain keeps acknowledged batches this long (default 10m) so that
	// the edge can publish them again when ingest asks for a replay after
	// the broker lost them (a restart without persistence). 0s disables.
	Retain *time.Duration `yaml:"retain"`
}

// Metrics configures the Prometheus endpoint of a role (top-level
// metrics).
type Metrics struct {
	// Listen is host:port for GET /metrics, /healthz and /readyz; empty
	// disables.
	Listen string `yaml:"listen"`
	// User, with a password from PasswordEnv or PasswordFile, protects the
	// status page and its JSON API (/status, /api/status) with HTTP basic
	// authentication. /metrics, /healthz and /readyz stay open for
	// Prometheus and the service manager.
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Gzip compresses /metrics for scrapers that accept it (default
	// off: see telemetry.Options).
	Gzip bool `yaml:"gzip"`

	// Password holds the resolved secret after Load.
	Password string `yaml:"-"`
}

// WAL defaults.
const (
	DefaultWALSync         = "interval"
	DefaultWALSyncInterval = 100 * time.Millisecond
	DefaultWALMaxMB        = 1024
	DefaultWALSegmentMB    = 16
	DefaultWALFull         = "drop_oldest"
	DefaultWALRetain       = 10 * time.Minute
	DefaultMaxInflight     = 256
	DefaultMaxBatchPoints  = 2000
	// DefaultEdgeProcs is edge.procs unless set. The edge's buses wait on
	// their devices far more than they compute (a few per cent of one CPU
	// at 200 k values/s); on one CPU the same polls take fewer wake-ups of
	// idle threads (docs/benchmarks.md). A gateway with more work than one
	// CPU does raises it.
	DefaultEdgeProcs = 1
)

func (e *Edge) walDefaults() {
	if e.WAL == nil {
		e.WAL = &WAL{}
	}
	w := e.WAL
	if w.Sync == "" {
		w.Sync = DefaultWALSync
	}
	setDur(&w.SyncInterval, DefaultWALSyncInterval)
	if w.MaxMB == 0 {
		w.MaxMB = DefaultWALMaxMB
	}
	if w.SegmentMB == 0 {
		w.SegmentMB = DefaultWALSegmentMB
	}
	if w.Full == "" {
		w.Full = DefaultWALFull
	}
	if w.Retain == nil {
		d := DefaultWALRetain
		w.Retain = &d
	}
	if e.MaxInflight == 0 {
		e.MaxInflight = DefaultMaxInflight
	}
	if e.MaxBatchPoints == 0 {
		e.MaxBatchPoints = DefaultMaxBatchPoints
	}
	if e.Procs == 0 {
		e.Procs = DefaultEdgeProcs
	}
}

func (f *File) validateDelivery() Errors {
	var errs Errors
	s := f.Source
	if m := f.Metrics; m != nil && m.Listen != "" {
		if _, port, err := net.SplitHostPort(m.Listen); err != nil {
			errs = append(errs, s.Errorf("metrics.listen", "%q must be host:port", m.Listen))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, s.Errorf("metrics.listen", "%q: port %q is not a number 1-65535", m.Listen, port))
		} else if n == 0 {
			errs = append(errs, s.Errorf("metrics.listen", "%q: port 0 would be a port chosen at random at each start, which Prometheus, health checks and the status page's users could not find: give a port", m.Listen))
		}
	}
	if m := f.Metrics; m != nil {
		secretSet := m.PasswordEnv != "" || m.PasswordFile != ""
		switch {
		case m.PasswordEnv != "" && m.PasswordFile != "":
			errs = append(errs, s.Errorf("metrics.password_env", "set password_env or password_file, not both"))
		case m.User != "" && !secretSet:
			errs = append(errs, s.Errorf("metrics.user", "a user needs password_env or password_file (passwords are never inline)"))
		case m.User == "" && secretSet:
			errs = append(errs, s.Errorf("metrics.user", "required with password_env or password_file"))
		case strings.Contains(m.User, ":"):
			errs = append(errs, s.Errorf("metrics.user", "%q must not contain ':' (basic authentication)", m.User))
		}
	}
	e := f.Edge
	if e == nil {
		return errs
	}
	if e.MaxInflight < 1 || e.MaxInflight > 65535 {
		errs = append(errs, s.Errorf("edge.max_inflight", "%d out of range 1-65535", e.MaxInflight))
	}
	if e.MaxBatchPoints < 1 || e.MaxBatchPoints > 100000 {
		errs = append(errs, s.Errorf("edge.max_batch_points", "%d out of range 1-100000", e.MaxBatchPoints))
	}
	if e.Procs < 1 || e.Procs > 1024 {
		errs = append(errs, s.Errorf("edge.procs", "%d out of range 1-1024", e.Procs))
	}
	w := e.WAL
	switch w.Sync {
	case "interval", "always":
	default:
		errs = append(errs, s.Errorf("edge.wal.sync", "%q must be interval or always", w.Sync))
	}
	switch w.Full {
	case "drop_oldest", "drop_newest":
	default:
		errs = append(errs, s.Errorf("edge.wal.full", "%q must be drop_oldest or drop_newest", w.Full))
	}
	if w.SegmentMB < 1 || w.SegmentMB > 1024 {
		errs = append(errs, s.Errorf("edge.wal.segment_mb", "%d out of range 1-1024", w.SegmentMB))
	}
	if w.MaxMB < 2*w.SegmentMB {
		errs = append(errs, s.Errorf("edge.wal.max_mb", "%d must be at least two segments (2 x %d)", w.MaxMB, w.SegmentMB))
	}
	return errs
}

// Completeness configures ingest's check of each gateway's sequence
// numbers against what InfluxDB holds (ingest.completeness).
type Completeness struct {
	// Disabled turns the check off; with several workers one is enough.
	Disabled bool `yaml:"disabled"`
	// Interval is how often the check runs (default 30s).
	Interval time.Duration `yaml:"interval"`
	// Grace is how long a missing number may still arrive before it is
	// declared missing: since a later batch was polled, and since the
	// checker first saw a later number stored (default 60s).
	Grace time.Duration `yaml:"grace"`
	// MaxSeqJump is the largest step above the highest sequence number
	// seen for a gateway that ingest accepts (default 10000000). A batch
	// further ahead is quarantined (dead-lettered, counted), and a gap
	// larger than this is recorded as implausible, never as missing
	// batches. Raise it only for an edge that dropped more batches than
	// this from a full log.
	MaxSeqJump uint64 `yaml:"max_seq_jump"`
}

// Completeness defaults.
const (
	DefaultCompletenessInterval = 30 * time.Second
	DefaultCompletenessGrace    = 60 * time.Second
	DefaultMaxSeqJump           = 10_000_000
)

func (in *Ingest) completenessDefaults() {
	if in.Completeness == nil {
		in.Completeness = &Completeness{}
	}
	setDur(&in.Completeness.Interval, DefaultCompletenessInterval)
	setDur(&in.Completeness.Grace, DefaultCompletenessGrace)
	if in.Completeness.MaxSeqJump == 0 {
		in.Completeness.MaxSeqJump = DefaultMaxSeqJump
	}
}

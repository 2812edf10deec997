package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/opcua"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/status"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// loadConfig loads a role's configuration with the profiles it may name.
// All problems are returned together: configuration errors (a profile
// directory that cannot be read among them, at its line), bad user
// profiles and devices naming profiles that do not exist.
func loadConfig(path string) (*config.File, modbus.Profiles, error) {
	var errs config.Errors
	// A first pass finds profile_dirs; the built-in profiles are parsed
	// once, by Load when there are any. The directories the configuration
	// reports as unreadable are left to its errors.
	var dirs []string
	if f, _ := config.Load(path, nil); f != nil && f.Edge != nil {
		for _, d := range f.Edge.ProfileDirs {
			if fi, err := os.Stat(config.ProfileDir(path, d)); d != "" && err == nil && fi.IsDir() {
				dirs = append(dirs, config.ProfileDir(path, d))
			}
		}
	}
	profiles, err := modbus.Load(dirs)
	if es, ok := config.ErrorsOf(err); ok {
		errs = append(errs, es...)
	} else if err != nil {
		return nil, nil, err
	}
	// A profile file that failed to load is reported with its own errors;
	// the devices naming it are not also told it does not exist.
	broken := map[string]bool{}
	for _, e := range errs {
		if strings.HasSuffix(e.File, ".yaml") {
			broken[strings.TrimSuffix(filepath.Base(e.File), ".yaml")] = true
		}
	}
	f, err := config.Load(path, func(name string) bool { return profiles.Has(name) || broken[name] })
	if es, ok := config.ErrorsOf(err); ok {
		errs = append(errs, es...)
	} else if err != nil {
		return nil, nil, err
	}
	return f, profiles, errs.Err()
}

// toolUnused are the secrets of a role that the tools reading a role's file
// (read, audit, statement) never use: they connect to no broker and serve
// no status page.
var toolUnused = map[string]bool{
	"mqtt.password_env": true, "mqtt.password_file": true,
	"metrics.password_env": true, "metrics.password_file": true,
}

// loadToolConfig is loadConfig for a tool: a secret it never uses (the
// broker's password, the status page's) need not be there, so that an
// auditor with read access to InfluxDB needs no broker credentials. Every
// other error stands.
func loadToolConfig(path string) (*config.File, modbus.Profiles, error) {
	return loadToolConfigFor(path, nil)
}

// loadToolConfigFor is loadToolConfig that also leaves out the errors of
// the paths unused reports (nil: none).
func loadToolConfigFor(path string, unused func(path string, f *config.File) bool) (*config.File, modbus.Profiles, error) {
	f, profiles, err := loadConfig(path)
	es, ok := config.ErrorsOf(err)
	if !ok {
		return f, profiles, err
	}
	var kept config.Errors
	for _, e := range es {
		if !toolUnused[e.Path] && (unused == nil || f == nil || !unused(e.Path, f)) {
			kept = append(kept, e)
		}
	}
	return f, profiles, kept.Err()
}

// withMetrics runs role, serving its metrics, liveness (/healthz) and
// readiness (/readyz, from health) on metrics.listen when set. The
// endpoint stops after the role returned.
func withMetrics(ctx context.Context, f *config.File, reg *prometheus.Registry, log *slog.Logger, role func(context.Context) error, health telemetry.Health, routes ...func(*http.ServeMux)) error {
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			log.Info("stopping: signal received; a second SIGINT or SIGTERM stops the process at once")
		case <-finished:
		}
	}()
	if f.Metrics == nil || f.Metrics.Listen == "" {
		return role(ctx)
	}
	// Bound before the role starts: with the address taken, the process
	// would run without its health endpoints while another answers them.
	ln, err := telemetry.Listen(f.Metrics.Listen, "metrics.listen "+f.Metrics.Listen, log)
	if err != nil {
		return err
	}
	mctx, stop := context.WithCancel(context.Background())
	rctx, stopRole := context.WithCancelCause(ctx)
	done := make(chan error, 1)
	go func() {
		err := telemetry.ServeOn(mctx, ln, reg, telemetry.Options{Gzip: f.Metrics.Gzip}, health, log, routes...)
		if err != nil {
			log.Error("metrics server failed; stopping", "err", err)
			stopRole(err)
		}
		done <- err
	}()
	err = role(rctx)
	stop()
	stopRole(nil)
	return errors.Join(err, <-done)
}

// roleSetupAt parses a role's flags (-config and logging), loads its
// configuration, checks that it has the section the role needs and returns
// it with the configuration's path.
func roleSetupAt(c *command, e *env, args []string, section string, has func(*config.File) bool) (*config.File, modbus.Profiles, *slog.Logger, string, error) {
	fs := c.flags(e)
	path := fs.String("config", "", "configuration file with mqtt and "+section+" sections (required)")
	newLog := logFlags(fs)
	if err := c.parse(e, fs, args); err != nil {
		return nil, nil, nil, "", err
	}
	if *path == "" {
		return nil, nil, nil, "", fmt.Errorf("-config is required: %w", errUsage)
	}
	log, err := newLog(e.stderr)
	if err != nil {
		return nil, nil, nil, "", err
	}
	f, profiles, err := loadConfig(*path)
	if err != nil {
		return nil, nil, nil, "", err
	}
	if !has(f) {
		return nil, nil, nil, "", fmt.Errorf("%s: no %s section", *path, section)
	}
	if section == "edge" {
		if err := edgeFiles(f).Err(); err != nil {
			return nil, nil, nil, "", err
		}
	}
	return f, profiles, log, *path, nil
}

// edgeFiles reads the files the edge section names beyond what config.Load
// reads (its signing key, its OPC UA buses' certificates and keys) as the
// edge would, so that eipgw validate and the edge's start report a wrong
// file at its line, not after the edge started. Other roles loading the
// same file do not read them: they may run as users that cannot.
func edgeFiles(f *config.File) config.Errors {
	var errs config.Errors
	e := f.Edge
	if e == nil {
		return nil
	}
	if ev := e.Evidence; ev != nil && ev.KeyFile != "" {
		if _, err := evidence.LoadPrivateKey(ev.KeyFile); err != nil {
			errs = append(errs, f.Source.Errorf("edge.evidence.key_file", "%v", err))
		}
	}
	for i, b := range e.Buses {
		for _, fe := range opcua.CheckFiles(b) {
			errs = append(errs, f.Source.Errorf(fmt.Sprintf("edge.buses[%d].opcua.%s", i, fe.Key), "%v", fe.Err))
		}
	}
	return errs
}

var cmdValidate = &command{
	name:     "validate",
	summary:  "check configuration files and print every error found with file:line",
	usage:    "FILE...",
	operands: true,
	example: `  eipgw validate config/examples/edge.yaml config/examples/ingest.yaml

  Prints "ok" per valid file; otherwise every error as file:line: field: message,
  and exits with status 1.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("no files given: %w", errUsage)
		}
		failed := false
		for _, path := range fs.Args() {
			f, _, err := loadConfig(path)
			if f != nil {
				// Reported with the file's other errors, every one at once.
				if es := edgeFiles(f); len(es) > 0 {
					if all, ok := config.ErrorsOf(err); ok || err == nil {
						err = append(all, es...).Err()
					}
				}
			}
			if err == nil {
				fmt.Fprintf(e.stdout, "%s: ok\n", path)
				continue
			}
			failed = true
			fmt.Fprintln(e.stdout, err)
		}
		if failed {
			return errReported
		}
		return nil
	},
}

// opcuaTypes gives the OPC UA points of one name of every device of one
// kind one type for the process's life, reloads included.
var opcuaTypes = &opcua.KindTypes{}

// driverRegistry is the southbound drivers this binary carries, by
// protocol: the one place a new driver is added.
func driverRegistry(profiles modbus.Profiles) drivers.Registry {
	return drivers.Registry{
		config.ProtocolModbus: modbus.Driver{Profiles: profiles},
		config.ProtocolOPCUA:  opcua.Driver{Types: opcuaTypes},
	}
}

// statusPage is a role's status page, behind basic authentication when
// metrics.user is configured.
func statusPage(f *config.File, role string, view func() any) status.Page {
	p := status.Page{Role: role, View: view}
	if m := f.Metrics; m != nil && m.Password != "" {
		p.User, p.Password = m.User, m.Password
	}
	return p
}

// Ingest's collector: Go's default (GOGC 100) collects whenever the heap
// doubles, and ingest's live heap is small beside the payload it receives
// (a few MB at 20 k values/s), so it collected often. It collects at five
// times the live heap (GOGC 400) under a soft memory limit that follows
// its bound on payload held unacknowledged (twice max_write_bytes): the
// limit's base covers the binary's heap and the MQTT client's copies.
const (
	ingestGCPercent   = 400
	ingestMemoryBase  = 16 << 20
	ingestMemoryPerMW = 6 // times max_write_bytes
)

// applyIngestGC sets ingest's collector (see ingestGCPercent) unless the
// environment set GOGC or GOMEMLIMIT, which the runtime has read and which
// win; it returns the GC percent and memory limit it set, 0 for those the
// environment set.
func applyIngestGC(maxWriteBytes int) (percent int, limit int64) {
	if maxWriteBytes <= 0 {
		maxWriteBytes = config.DefaultMaxWriteBytes
	}
	if os.Getenv("GOGC") == "" {
		percent = ingestGCPercent
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit = ingestMemoryBase + ingestMemoryPerMW*int64(maxWriteBytes)
		debug.SetMemoryLimit(limit)
	}
	return percent, limit
}

// applyProcs runs Go code on procs CPUs (a role's edge.procs or
// ingest.procs) unless the environment set GOMAXPROCS, which the runtime
// has read and which wins; it returns the count in force.
func applyProcs(procs int) int {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procs)
	}
	return runtime.GOMAXPROCS(0)
}

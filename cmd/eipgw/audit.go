//go:build !eipgw_edge && !eipgw_ingest

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/audit"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

func init() { register(cmdAudit) }

var cmdAudit = &command{
	name:    "audit",
	summary: "verify the signed evidence, stored readings and hourly records of a time range; report on them",
	usage:   "verify|report -config FILE [-config FILE] -from TIME -to TIME [-out DIR]",
	example: `  EIPGW_INFLUX_TOKEN=user:password eipgw audit verify \
    -config ingest.yaml -config park.yaml -from 2026-11-01 -to 2026-12-01

  Reads the evidence records, readings and hourly records of [from, to)
  from InfluxDB; verifies every signed batch with ingest.evidence.keys and
  each gateway's chain; compares the stored readings with the signed ones;
  recomputes the hourly records with park_engine and compares them; checks
  the sealed hourly records (park_engine.audit_log or -audit-log) against
  themselves and park_hourly. Every finding is printed with its gateway,
  sequence number or hour.
  Exit status: 0 pass, 1 mismatch, 2 could not check.

  eipgw audit report -config ingest.yaml -config park.yaml \
    -from 2026-11-01 -to 2026-12-01 -out report/

  Verifies the range as above and writes report/report.html,
  report/report.pdf (verification and chain heads, totals, methodology
  and sources, parameters, completeness, invalid hours) and
  report/hourly.csv (every hourly record). Same exit status.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		switch {
		case len(args) > 0 && args[0] == "verify":
			return auditVerify(ctx, c, e, args[1:])
		case len(args) > 0 && args[0] == "report":
			return auditReport(ctx, c, e, args[1:])
		case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
			c.printUsage(e.stdout, nil)
			return flag.ErrHelp
		}
		return fmt.Errorf("want a subcommand: verify or report: %w", errUsage)
	},
}

// configList is a repeatable -config flag.
type configList []string

func (l *configList) String() string     { return strings.Join(*l, ",") }
func (l *configList) Set(s string) error { *l = append(*l, s); return nil }

// parseAuditTime reads RFC 3339 or a date (midnight UTC).
func parseAuditTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("-%s is required: %w", name, errUsage)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-%s %q: want RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01): %w", name, s, errUsage)
}

// auditSetup loads the configurations of an audit: the park, the InfluxDB
// to read (park_engine.influxdb, else ingest.influxdb), the keys
// (ingest.evidence.keys and park_engine.evidence.keys) and the park
// engine's configuration.
func auditSetup(paths []string) (audit.Options, *audit.Store, error) {
	var o audit.Options
	var db *config.InfluxDB
	o.Keys = evidence.Keys{}
	for _, p := range paths {
		f, _, err := loadToolConfig(p)
		if err != nil {
			return o, nil, err
		}
		if o.Park != "" && f.Park != o.Park {
			return o, nil, fmt.Errorf("%s: park %q, but another file names park %q", p, f.Park, o.Park)
		}
		o.Park = f.Park
		if pe := f.ParkEngine; pe != nil {
			o.Engine = pe
			db = pe.InfluxDB
			o.AuditLog = pe.AuditLog
			if err := addKeys(o.Keys, p, "park_engine.evidence", pe.Evidence); err != nil {
				return o, nil, err
			}
		}
		if in := f.Ingest; in != nil {
			if db == nil {
				db = in.InfluxDB
			}
			if err := addKeys(o.Keys, p, "ingest.evidence", in.Evidence); err != nil {
				return o, nil, err
			}
		}
	}
	if db == nil {
		return o, nil, fmt.Errorf("no park_engine.influxdb or ingest.influxdb in %s", strings.Join(paths, ", "))
	}
	if len(o.Keys) == 0 {
		return o, nil, fmt.Errorf("no ingest.evidence.keys or park_engine.evidence.keys in %s: nothing is under evidence", strings.Join(paths, ", "))
	}
	s, err := audit.NewStore(db)
	return o, s, err
}

// addKeys adds the public keys of the section at path of file p (nil: none).
func addKeys(keys evidence.Keys, p, path string, ev *config.EvidenceKeys) error {
	if ev == nil {
		return nil
	}
	if err := keys.AddConfigured(path, ev.Keys); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func auditVerify(ctx context.Context, c *command, e *env, args []string) error {
	fs := c.flags(e)
	var paths configList
	fs.Var(&paths, "config", "configuration file (repeatable): ingest's for the keys, the park engine's for the recomputation (required)")
	fromS := fs.String("from", "", "start of the range, inclusive (RFC 3339, or a date: its midnight UTC, not in park_engine.timezone; required)")
	toS := fs.String("to", "", "end of the range, exclusive (RFC 3339, or a date: its midnight UTC; required)")
	auditLog := fs.String("audit-log", "", "directory of the sealed hourly records (default park_engine.audit_log)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	allSigs := fs.Bool("all-signatures", false, "verify every batch's signature, not only those the hash chains do not vouch for")
	includeOpen := fs.Bool("include-open", false, "check the readings and evidence of the hours not closed yet too (their grace not over; their hourly records are not compared): only once nothing more arrives, the edges and ingest stopped")
	perQuery := fs.Int("hours-per-query", audit.DefaultHoursPerQuery, "hours of data read by one InfluxDB query: more is faster and holds more memory (a month of the 43-device reference park on 2 cores: 31 s and about 1 GB of heap at 12, 40 s and 750 MB at 4)")
	if err := c.parse(e, fs, args); err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("-config is required: %w", errUsage)
	}
	from, to, err := parseAuditRange(*fromS, *toS)
	if err != nil {
		return err
	}
	o, store, err := auditSetup(paths)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnchecked, err)
	}
	o.From, o.To = from, to
	o.ClosedBefore, o.IncludeOpen = closedBefore(o), *includeOpen
	o.AllSignatures = *allSigs
	if *perQuery < 1 || *perQuery > 24*31 {
		return fmt.Errorf("-hours-per-query %d: want 1 to %d: %w", *perQuery, 24*31, errUsage)
	}
	o.HoursPerQuery = *perQuery
	if *auditLog != "" {
		o.AuditLog = *auditLog
	}
	if !*quiet && isTerminal(e.stderr) {
		o.Progress = func(done, total int) {
			fmt.Fprintf(e.stderr, "\rchecked %d/%d hours", done, total)
			if done == total {
				fmt.Fprintln(e.stderr)
			}
		}
	}
	res, err := audit.Verify(ctx, store, o)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnchecked, err)
	}
	w := e.stdout
	fmt.Fprintf(w, "audit of park %s from %s to %s\n", o.Park, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339))
	fmt.Fprintf(w, "evidence records %d, readings %d (not under evidence %d), hourly records recomputed %d\n",
		res.Batches, res.Readings, res.Unchecked, res.Hours)
	if res.Readings == 0 && res.Batches == 0 && o.Engine != nil && res.Hours > 0 {
		fmt.Fprintf(w, "no readings in the range in %s, bucket %s (park_engine.influxdb, which the audit reads): the hours are recomputed from nothing; ingest must write to the same database\n",
			config.RedactURL(o.Engine.InfluxDB.URL), o.Engine.InfluxDB.Bucket)
	}
	if res.Empty > 0 {
		fmt.Fprintf(w, "hours with no reading and no hourly record (before the engine first ran, or while it and the gateways were down; nothing claimed, nothing to check): %d\n", res.Empty)
	}
	if res.Open > 0 {
		what := "not checked"
		if o.IncludeOpen {
			what = "their readings checked, their hourly records not compared"
		}
		fmt.Fprintf(w, "hours not closed yet, %s (an hour is closed park_engine.grace, %s, after its end): %d\n", what, time.Since(o.ClosedBefore).Round(time.Second), res.Open)
	}
	fmt.Fprintf(w, "signatures verified %d, messages vouched for by the hash chains %d\n", res.Signatures, res.Vouched)
	for _, g := range sortedKeys(res.Heads) {
		h := res.Heads[g]
		fmt.Fprintf(w, "chain head gateway=%s seq=%d hash=%s time=%s\n", g, h.Seq, h.Hash, h.Time.Format(time.RFC3339Nano))
	}
	switch {
	case res.SealHead != nil:
		fmt.Fprintf(w, "audit log %s: %d hours sealed in the range, head seq=%d hour=%s hash=%s\n",
			o.AuditLog, res.SealedHours, res.SealHead.Seq, res.SealHead.Hour.Format(time.RFC3339), res.SealHead.Hash)
	case o.AuditLog != "":
		fmt.Fprintf(w, "audit log %s: no entries\n", o.AuditLog)
	default:
		fmt.Fprintln(w, "no audit log (park_engine.audit_log): the sealed hourly records are not checked")
	}
	for _, h := range res.Resealed {
		fmt.Fprintf(w, "hour %s sealed more than once: its last entry is compared\n", h.Format(time.RFC3339))
	}
	for _, f := range res.Findings {
		fmt.Fprintln(w, f.String())
	}
	if res.Pass() {
		fmt.Fprintln(w, "PASS: 0 mismatches")
		return nil
	}
	fmt.Fprintf(w, "FAIL: %d mismatches\n", len(res.Findings))
	return errReported
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func auditReport(ctx context.Context, c *command, e *env, args []string) error {
	fs := c.flags(e)
	var paths configList
	fs.Var(&paths, "config", "configuration file (repeatable): ingest's for the keys, the park engine's for the recomputation and parameters (required)")
	fromS := fs.String("from", "", "start of the range, inclusive (RFC 3339, or a date: its midnight UTC, not in park_engine.timezone; required)")
	toS := fs.String("to", "", "end of the range, exclusive (RFC 3339, or a date: its midnight UTC; required)")
	out := fs.String("out", "", "directory the report is written to (required; created if missing)")
	auditLog := fs.String("audit-log", "", "directory of the sealed hourly records (default park_engine.audit_log)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	allSigs := fs.Bool("all-signatures", false, "verify every batch's signature, not only those the hash chains do not vouch for")
	includeOpen := fs.Bool("include-open", false, "check the readings and evidence of the hours not closed yet too (their grace not over; their hourly records are not compared): only once nothing more arrives, the edges and ingest stopped")
	perQuery := fs.Int("hours-per-query", audit.DefaultHoursPerQuery, "hours of data read by one InfluxDB query: more is faster and holds more memory (a month of the 43-device reference park on 2 cores: 31 s and about 1 GB of heap at 12, 40 s and 750 MB at 4)")
	if err := c.parse(e, fs, args); err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("-config is required: %w", errUsage)
	}
	if *out == "" {
		return fmt.Errorf("-out is required: %w", errUsage)
	}
	from, to, err := parseAuditRange(*fromS, *toS)
	if err != nil {
		return err
	}
	o, store, err := auditSetup(paths)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnchecked, err)
	}
	if o.Engine == nil {
		return fmt.Errorf("%w: no park_engine section in %s: the report needs the engine's configuration", errUnchecked, strings.Join(paths, ", "))
	}
	o.From, o.To = from, to
	o.ClosedBefore, o.IncludeOpen = closedBefore(o), *includeOpen
	o.AllSignatures = *allSigs
	if *perQuery < 1 || *perQuery > 24*31 {
		return fmt.Errorf("-hours-per-query %d: want 1 to %d: %w", *perQuery, 24*31, errUsage)
	}
	o.HoursPerQuery = *perQuery
	if *auditLog != "" {
		o.AuditLog = *auditLog
	}
	if !*quiet && isTerminal(e.stderr) {
		o.Progress = func(done, total int) {
			fmt.Fprintf(e.stderr, "\rchecked %d/%d hours", done, total)
			if done == total {
				fmt.Fprintln(e.stderr)
			}
		}
	}
	// Before the verification, which may take minutes.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("-out %s: %w: %w", *out, err, errUsage)
	}
	rep, err := audit.BuildReport(ctx, store, o)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnchecked, err)
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{"report.html", rep.WriteHTML}, {"report.pdf", rep.WritePDF}, {"hourly.csv", rep.WriteCSV}} {
		path := filepath.Join(*out, f.name)
		if err := writeFileWith(path, f.write); err != nil {
			return fmt.Errorf("%w: %s: %w", errUnchecked, path, err)
		}
		fmt.Fprintln(e.stdout, "wrote", path)
	}
	for _, t := range rep.Totals {
		fmt.Fprintf(e.stdout, "total %s %s %s (%d of %d hours valid)\n", t.Metric, strconv.FormatFloat(t.Sum, 'g', -1, 64), t.Unit, t.ValidHours, t.Hours)
	}
	if res := rep.Verification; res.Empty > 0 {
		fmt.Fprintf(e.stdout, "hours with no reading and no hourly record (nothing claimed, nothing to check): %d\n", res.Empty)
	}
	if res := rep.Verification; !res.Pass() {
		fmt.Fprintf(e.stdout, "FAIL: %d mismatches (listed in the report)\n", len(res.Findings))
		return errReported
	}
	fmt.Fprintln(e.stdout, "PASS: 0 mismatches")
	return nil
}

// writeFileWith writes path through write, whole or not at all.
func writeFileWith(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// closedBefore is the time by which the hours that ended before it are
// closed: now less the engine's grace (the default grace without a
// park_engine section).
func closedBefore(o audit.Options) time.Time {
	grace := config.DefaultParkGrace
	if o.Engine != nil {
		grace = o.Engine.Grace
	}
	return time.Now().Add(-grace)
}

// maxAuditSpan is the longest range one run checks: a leap year.
const maxAuditSpan = 366 * 24 * time.Hour

// parseAuditRange reads -from and -to: both times, from before to, at
// most maxAuditSpan apart.
func parseAuditRange(fromS, toS string) (from, to time.Time, err error) {
	if from, err = parseAuditTime("from", fromS); err != nil {
		return
	}
	if to, err = parseAuditTime("to", toS); err != nil {
		return
	}
	switch {
	case !from.Before(to):
		err = fmt.Errorf("-from %s is not before -to %s: %w", fromS, toS, errUsage)
	case to.Sub(from) > maxAuditSpan:
		err = fmt.Errorf("-from %s -to %s spans %d days, more than %d in one run (its hours are held in memory): audit a year at a time: %w",
			fromS, toS, int(to.Sub(from).Hours()/24), int(maxAuditSpan.Hours()/24), errUsage)
	}
	return
}

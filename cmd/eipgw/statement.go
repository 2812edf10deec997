//go:build !eipgw_edge && !eipgw_ingest

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/eipgw/eipgw/gateway/statement"
)

func init() { register(cmdStatement) }

var cmdStatement = &command{
	name:    "statement",
	summary: "the utility's monthly statement per tenant from InfluxDB: totalisers, integrated flow, energy, loss shares, balance",
	usage:   "-config FILE -month YYYY-MM [-tenant NAME] [-format csv|json|pdf] [-tolerance F] [-out FILE]",
	example: `  EIPGW_INFLUX_TOKEN=user:password eipgw statement -config config/examples/park.yaml -month 2026-02 -format csv > 2026-02.csv

  Reads park_engine.influxdb with InfluxQL: each meter's totaliser (raw readings) and
  the park engine's hourly records (park_hourly). Per meter: opening and closing
  totaliser readings, the metered quantity, the engine's integrated flow and the
  cross-check of the two, steam energy above the contract reference, share of the
  network loss, uncertainty (k=2), hours without a valid value and how they were
  handled; then the network-loss row (supplier minus tenants). -format pdf writes the
  same for people (with -out FILE). The month is taken in
  park_engine.timezone. Columns and rules: docs/metrics.md, "Monthly statement".
  A month not over yet gives a provisional statement of its closed hours (an hour
  closes park_engine.grace after its end), column provisional; a month with none
  closed is an error.
  Exit status 1 when a meter fails the cross-check (the statement is still written).`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		path := fs.String("config", "", "configuration file with a park_engine section (required)")
		month := fs.String("month", "", "the month, YYYY-MM, in park_engine.timezone (required)")
		tenant := fs.String("tenant", "", "only this tenant's rows (the balance stays the park's)")
		format := fs.String("format", "csv", "csv (for billing systems), json or pdf (for people)")
		tol := fs.Float64("tolerance", statement.DefaultTolerance, "relative tolerance of the totaliser cross-check")
		out := fs.String("out", "", "write to this file instead of standard output")
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		switch {
		case fs.NArg() > 0:
			return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
		case *path == "":
			return fmt.Errorf("-config is required: %w", errUsage)
		case *month == "":
			return fmt.Errorf("-month YYYY-MM is required: %w", errUsage)
		case *format != "csv" && *format != "json" && *format != "pdf":
			return fmt.Errorf("-format %q: want csv, json or pdf: %w", *format, errUsage)
		case !(*tol > 0 && *tol < 1):
			return fmt.Errorf("-tolerance %g: want a fraction between 0 and 1: %w", *tol, errUsage)
		}
		f, _, err := loadToolConfig(*path)
		if err != nil {
			return err
		}
		pe := f.ParkEngine
		if pe == nil {
			return fmt.Errorf("%s: no park_engine section", *path)
		}
		if *tenant != "" {
			var names []string
			for _, t := range pe.Tenants {
				names = append(names, t.Name)
			}
			if !slices.Contains(names, *tenant) {
				return fmt.Errorf("-tenant %q is not in park_engine.tenants (%s): %w", *tenant, strings.Join(names, ", "), errUsage)
			}
		}
		m, err := statement.ParseMonth(*month, pe.Location)
		if err != nil {
			return fmt.Errorf("-month: %v: %w", err, errUsage)
		}
		q, err := statement.NewInfluxQL(pe.InfluxDB)
		if err != nil {
			return fmt.Errorf("%s: park_engine.influxdb: %w", *path, err)
		}
		st, err := statement.Build(ctx, q, f.Park, pe, statement.Options{Month: m, Tenant: *tenant, Tolerance: *tol,
			ClosedBefore: time.Now().Add(-pe.Grace)})
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		switch *format {
		case "json":
			b, err := st.JSON()
			if err != nil {
				return err
			}
			buf.Write(b)
			buf.WriteByte('\n')
		case "pdf":
			if err := st.WritePDF(&buf, statement.PDFOptions{Compress: true}); err != nil {
				return err
			}
		default:
			if err := st.WriteCSV(&buf); err != nil {
				return err
			}
		}
		if *out != "" {
			if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
				return err
			}
		} else if _, err := e.stdout.Write(buf.Bytes()); err != nil {
			return err
		}
		if st.Provisional {
			fmt.Fprintf(e.stderr, "eipgw statement: %s is not over: provisional statement of its closed hours, to %s\n", st.Month, st.End.Format(time.RFC3339))
		}
		var failed, unchecked []string
		for _, r := range st.Rows {
			switch c := r.CrossCheck; {
			case c == nil:
			case c.Hours == 0:
				unchecked = append(unchecked, r.Device)
			case !c.OK:
				failed = append(failed, r.Device)
			}
		}
		if len(unchecked) > 0 {
			fmt.Fprintf(e.stderr, "eipgw statement: no hour could be cross-checked (no valid hour with the totaliser read at its end and the hour before's) for %v\n", unchecked)
		}
		if len(failed) > 0 {
			fmt.Fprintf(e.stderr, "eipgw statement: totaliser cross-check outside %g for %v\n", st.Tolerance, failed)
			return errReported
		}
		return nil
	},
}

// Command eipgw is the eco-industrial park telemetry gateway: one binary
// with a subcommand per role (edge, ingest, sim, demo) and operator tools
// (validate, version). Run `eipgw help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // arguments after the name
	example string
	// operands: the command takes arguments after its flags (validate's
	// files); any other command refuses them.
	operands bool
	// run parses its flags from args and runs until ctx is done.
	run func(ctx context.Context, c *command, e *env, args []string) error
}

// env is what every command gets: streams and the logger factory.
type env struct {
	stdout, stderr io.Writer
}

// commands are the subcommands this binary carries: the operator tools,
// and each role's, which its file adds. A build with the tag eipgw_edge
// carries the edge's alone, one with eipgw_ingest ingest's alone
// (packaging/README.md).
var commands = []*command{cmdRead, cmdValidate, cmdKeygen, cmdVersion}

func register(c *command) { commands = append(commands, c) }

// errUsage marks a command-line error: the message and usage are printed and
// the exit status is 2.
var errUsage = errors.New("usage error")

func main() {
	// The first SIGINT or SIGTERM stops the command cleanly; a second
	// ends a stop that takes too long at once (the edge's log is safe
	// against that, as against kill -9), with the status a shell gives a
	// process the signal killed. Handled here, not left to the signal's
	// default action: a process started with SIGINT ignored (a
	// background job of a script) would get that "ignore" back.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		first := time.Now()
		cancel()
		for s := range sigs {
			// One Ctrl-C can come twice at once: from the terminal to
			// the process group, and from a script that relays it (the
			// demo's does). Only a signal sent later asks again.
			if time.Since(first) < secondSignalAfter {
				continue
			}
			fmt.Fprintf(os.Stderr, "eipgw: second signal (%v): stopping at once\n", s)
			n, _ := s.(syscall.Signal)
			os.Exit(128 + int(n))
		}
	}()
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}

// secondSignalAfter is how long after the first signal another one counts
// as a second request to stop.
const secondSignalAfter = 500 * time.Millisecond

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				c.printUsage(e.stdout, nil)
				return 0
			}
		}
		printHelp(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...) // as most tools take it
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(e.stderr, "eipgw: unknown command %q\n\n", args[0])
		printHelp(e.stderr)
		return 2
	}
	err := c.run(ctx, c, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "eipgw %s: %v\n", c.name, strings.TrimSuffix(err.Error(), ": "+errUsage.Error()))
		return 2
	case errors.Is(err, errReported):
		return 1
	case errors.Is(err, errUnchecked):
		fmt.Fprintf(e.stderr, "eipgw %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "eipgw %s: %v\n", c.name, err)
		return 1
	}
}

// errUnchecked marks an audit that could not be made (exit status 2):
// InfluxDB unreachable, a configuration that does not load.
var errUnchecked = errors.New("could not check")

// errReported is returned when the command already printed its errors.
var errReported = errors.New("errors reported")

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `eipgw - telemetry gateway for eco-industrial parks

Polls boilers, CHP units, biodesulfurization reactors, stack analysers and
steam/power/heat meters over Modbus, carries every reading over MQTT into
InfluxDB without losing one.

Usage: eipgw <command> [flags] [arguments]

Commands:
`)
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.name)
	}
	sort.Strings(names)
	for _, n := range names {
		c := find(n)
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun `eipgw <command> --help` for a command's flags and an example.\n")
}

func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: eipgw %s %s\n\n%s\n", c.name, c.usage, c.summary)
	if fs != nil {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", c.example)
	}
}

// flags returns a flag set that prints the command's usage on -h and
// reports errors as usage errors.
func (c *command) flags(e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args; -h prints usage to stdout.
func (c *command) parse(e *env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(e.stdout, fs)
			return err
		}
		return fmt.Errorf("%v (see eipgw %s --help): %w", err, c.name, errUsage)
	}
	if !c.operands && fs.NArg() > 0 {
		// A stray word is most likely a flag gone wrong ("-config a.yaml
		// b.yaml", "- config"): refused, never ignored.
		return fmt.Errorf("unexpected arguments %q after the flags (see eipgw %s --help): %w", fs.Args(), c.name, errUsage)
	}
	return nil
}

// logFlags adds -log-level and -log-format and returns a constructor.
func logFlags(fs *flag.FlagSet) func(w io.Writer) (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	return func(w io.Writer) (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error: %w", *level, errUsage)
		}
		opts := &slog.HandlerOptions{Level: l}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(w, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return nil, fmt.Errorf("-log-format %q: want text or json: %w", *format, errUsage)
	}
}

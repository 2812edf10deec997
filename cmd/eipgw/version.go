package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// release names the release a binary was cut from when it was built from a
// source tree rather than installed as a module version; set at link time:
// go build -ldflags "-X main.release=v1.4.0" ./cmd/eipgw
var release string

// buildFacts are what `eipgw version` reports, from the build information
// the Go toolchain embeds.
type buildFacts struct {
	Version  string // module version, or the release set at link time, or (devel)
	Module   string
	Commit   string // VCS revision, "+modified" when the tree had changes
	Time     string // commit time
	Go       string
	Platform string // GOOS/GOARCH
	Settings []string
}

func buildInfo(bi *debug.BuildInfo, ok bool) buildFacts {
	f := buildFacts{Version: "unknown", Commit: "unknown", Time: "unknown"}
	if !ok || bi == nil {
		if release != "" {
			f.Version = release
		}
		return f
	}
	f.Module, f.Version, f.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
	if release != "" && (f.Version == "" || f.Version == "(devel)") {
		f.Version = release
	}
	var goos, goarch, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			f.Commit = s.Value
		case "vcs.time":
			f.Time = s.Value
		case "vcs.modified":
			modified = s.Value
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		case "CGO_ENABLED", "-trimpath", "-race", "-tags", "-ldflags", "-buildmode", "GOAMD64", "GOARM", "GOARM64":
			f.Settings = append(f.Settings, s.Key+"="+s.Value)
		}
	}
	if modified == "true" && f.Commit != "unknown" {
		f.Commit += "+modified"
	}
	f.Platform = goos + "/" + goarch
	return f
}

func (f buildFacts) write(w io.Writer) {
	fmt.Fprintf(w, "eipgw %s\n", f.Version)
	fmt.Fprintf(w, "  module   %s\n", f.Module)
	fmt.Fprintf(w, "  commit   %s\n", f.Commit)
	fmt.Fprintf(w, "  time     %s\n", f.Time)
	fmt.Fprintf(w, "  go       %s %s\n", f.Go, f.Platform)
	fmt.Fprintf(w, "  build    %s\n", strings.Join(f.Settings, " "))
}

var cmdVersion = &command{
	name:    "version",
	summary: "print the eipgw version, module, commit, Go version and build settings",
	usage:   "",
	example: `  eipgw version

  eipgw v1.4.0
    module   github.com/eipgw/eipgw
    commit   3f1c2e9a... (with +modified if built from a changed tree)
    time     2026-11-30T10:12:00Z
    go       go1.26.8 linux/amd64
    build    -buildmode=exe CGO_ENABLED=0 -trimpath=true -ldflags="-s -w"`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		bi, ok := debug.ReadBuildInfo()
		buildInfo(bi, ok).write(e.stdout)
		return nil
	},
}

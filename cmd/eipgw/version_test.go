package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/eipgw/eipgw", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3f1c2e9a0b"}, {Key: "vcs.time", Value: "2026-11-30T10:12:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "CGO_ENABLED", Value: "0"}, {Key: "-trimpath", Value: "true"}, {Key: "CGO_CFLAGS", Value: ""},
		},
	}
	var out bytes.Buffer
	buildInfo(bi, true).write(&out)
	for _, want := range []string{"eipgw v1.4.0\n", "module   github.com/eipgw/eipgw", "commit   3f1c2e9a0b+modified",
		"time     2026-11-30T10:12:00Z", "go       go1.26.8 linux/arm64", "build    CGO_ENABLED=0 -trimpath=true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
	release = "v1.4.1"
	defer func() { release = "" }()
	bi.Main.Version = "(devel)"
	if f := buildInfo(bi, true); f.Version != "v1.4.1" {
		t.Errorf("a source build with -X main.release=v1.4.1 reports %q", f.Version)
	}
	if f := buildInfo(nil, false); f.Version != "v1.4.1" || f.Commit != "unknown" {
		t.Errorf("without build info: %+v", f)
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		code, stdout, _ := runCLI(t, arg)
		if code != 0 || !strings.Contains(stdout, "module   github.com/eipgw/eipgw") || !strings.Contains(stdout, "go       go1.") {
			t.Errorf("eipgw %s: %d\n%s", arg, code, stdout)
		}
	}
}

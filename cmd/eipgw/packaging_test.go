package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

var unitHardening = []string{
	"NoNewPrivileges=yes", "CapabilityBoundingSet=", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
	"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes", "RestrictAddressFamilies=",
	"RestrictNamespaces=yes", "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "User=eipgw",
}

// TestSystemdUnits: one unit per role, each starting its role with its
// configuration file, hardened, and accepted by systemd itself (verify
// prints nothing; the offline security analysis rates its exposure at
// most 2.0 of 10). The edge's unit reloads with SIGHUP.
func TestSystemdUnits(t *testing.T) {
	analyze := testenv.Require(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	root := testenv.RepoRoot(t)
	bin := testenv.Eipgw(t)
	for _, role := range []string{"edge", "ingest", "park"} {
		t.Run(role, func(t *testing.T) {
			name := "eipgw-" + role + ".service"
			b, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", name))
			if err != nil {
				t.Fatal(err)
			}
			unit := string(b)
			if want := "ExecStart=/usr/bin/eipgw " + role + " -config /etc/eipgw/" + role + ".yaml"; !strings.Contains(unit, want) {
				t.Errorf("no %q", want)
			}
			for _, h := range unitHardening {
				if !strings.Contains(unit, "\n"+h) {
					t.Errorf("missing %s", h)
				}
			}
			if reload := strings.Contains(unit, "ExecReload=/bin/kill -HUP $MAINPID"); reload != (role == "edge") {
				t.Errorf("ExecReload with SIGHUP present %v; only the edge reloads", reload)
			}
			// systemd checks the unit against the binary the tests built.
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/eipgw", bin)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
			out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", "--no-pager", path).CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
			}
		})
	}
}

// TestStaticBuild builds eipgw as the Dockerfile does and checks that the
// binary is static (no interpreter, no shared libraries: it runs in an
// empty image) and reports the release it was stamped with.
func TestStaticBuild(t *testing.T) {
	root := testenv.RepoRoot(t)
	docker, err := os.ReadFile(filepath.Join(root, "packaging", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const build = `CGO_ENABLED=0 go build -trimpath -tags "${TAGS}" -ldflags "-s -w -X main.release=${RELEASE}"`
	if !strings.Contains(string(docker), build) || !strings.Contains(string(docker), "FROM scratch") {
		t.Fatalf("packaging/Dockerfile no longer builds with %s into an empty image", build)
	}
	bin := filepath.Join(t.TempDir(), "eipgw")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.release=v0.0.0-static-test", "-o", bin, "./cmd/eipgw")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has a %v program header: not static", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs %v", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "eipgw v0.0.0-static-test") || !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Errorf("eipgw version: %v\n%s", err, out)
	}
	t.Logf("static binary, %d bytes:\n%s", fileSize(t, bin), out)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestRoleBuilds: the edge's build (tag eipgw_edge) and ingest's (tag
// eipgw_ingest) carry their role and the operator tools and nothing else,
// are static, and are smaller than the full binary; a role a build does
// not carry is an unknown command.
func TestRoleBuilds(t *testing.T) {
	root := testenv.RepoRoot(t)
	build := func(tags string) string {
		bin := filepath.Join(t.TempDir(), "eipgw")
		cmd := exec.Command("go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w", "-o", bin, "./cmd/eipgw")
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
		}
		return bin
	}
	full := fileSize(t, build(""))
	for _, tc := range []struct{ tag, role string }{{"eipgw_edge", "edge"}, {"eipgw_ingest", "ingest"}} {
		t.Run(tc.role, func(t *testing.T) {
			bin := build(tc.tag)
			out, err := exec.Command(bin, "help").CombinedOutput()
			if err != nil {
				t.Fatalf("eipgw help: %v\n%s", err, out)
			}
			var listed []string
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(l, "  ") {
					listed = append(listed, f[0])
				}
			}
			want := []string{tc.role, "keygen", "read", "validate", "version"}
			sort.Strings(want)
			if strings.Join(listed, " ") != strings.Join(want, " ") {
				t.Errorf("commands %v, want %v", listed, want)
			}
			for _, role := range []string{"edge", "ingest", "park", "audit", "demo", "sim", "statement"} {
				if role == tc.role {
					continue
				}
				c := exec.Command(bin, role)
				out, err := c.CombinedOutput()
				if c.ProcessState == nil || c.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "unknown command") {
					t.Errorf("eipgw %s in %s's build: %v\n%s", role, tc.role, err, out)
				}
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("%s's build needs %v", tc.role, libs)
			}
			if n := fileSize(t, bin); n >= full*3/4 {
				t.Errorf("%s's build is %d bytes, the full one %d: not much smaller", tc.role, n, full)
			} else {
				t.Logf("%s's build: %d bytes; the full binary %d (both static and stripped)", tc.role, n, full)
			}
		})
	}
}

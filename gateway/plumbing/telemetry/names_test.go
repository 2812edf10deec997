package telemetry

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metricName is one Prometheus metric declared in the source.
type metricName struct {
	name, kind, at string
	hasHelp        bool
}

// declaredMetrics finds every prometheus.{Counter,Gauge,Histogram,Summary}Opts
// literal with a constant name in the module's non-test Go files.
func declaredMetrics(t *testing.T, root string) []metricName {
	t.Helper()
	var out []metricName
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
				return true
			}
			kind, ok := strings.CutSuffix(sel.Sel.Name, "Opts")
			if !ok || (kind != "Counter" && kind != "Gauge" && kind != "Histogram" && kind != "Summary") {
				return true
			}
			m := metricName{kind: kind, at: fset.Position(lit.Pos()).String()}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				if key != nil && key.Name == "Help" {
					m.hasHelp = true
				}
				val, ok := kv.Value.(*ast.BasicLit)
				if key == nil || !ok || val.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(val.Value)
				if key.Name == "Name" {
					m.name = s
				}
				if key.Name == "Help" && strings.TrimSpace(s) == "" {
					m.hasHelp = false
				}
			}
			if m.name != "" {
				out = append(out, m)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricNamesFollowPrometheusConventions keeps every metric eipgw
// declares with a constant name to the Prometheus naming conventions:
// the eipgw_ prefix and snake case, counters ending in _total, no other
// kind ending in _total, base units (seconds, bytes, joules, ...) and never
// milli-, kilo- or per-cent units, durations in _seconds, and a help text.
func TestMetricNamesFollowPrometheusConventions(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	metrics := declaredMetrics(t, root)
	if len(metrics) < 40 {
		t.Fatalf("found only %d metric declarations: the scan is broken", len(metrics))
	}
	seen := map[string]string{}
	for _, m := range metrics {
		if prev, dup := seen[m.name]; dup && prev != m.kind {
			t.Errorf("%s: %s %s: declared again as %s", m.at, m.kind, m.name, prev)
		}
		seen[m.name] = m.kind
		for _, p := range nameProblems(m) {
			t.Errorf("%s: %s %s: %s", m.at, m.kind, m.name, p)
		}
	}
	t.Logf("%d metric declarations checked", len(metrics))
}

var (
	snakeName    = regexp.MustCompile(`^eipgw_[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	nonBaseUnit  = regexp.MustCompile(`_(ms|milliseconds|microseconds|us|nanoseconds|ns|minutes|hours|days|kb|kilobytes|mb|megabytes|kib|mib|gib|percent|pct|celsius|kwh|mwh|kw|mw|gj|mj|kj)(_|$)`)
	durationWord = regexp.MustCompile(`_(duration|latency|age|delay|lag|wait|time)(_|$)`)
)

// nameProblems says what breaks the conventions in one declaration.
func nameProblems(m metricName) []string {
	var out []string
	if !snakeName.MatchString(m.name) {
		out = append(out, "want eipgw_ and snake case")
	}
	if m.kind == "Counter" && !strings.HasSuffix(m.name, "_total") {
		out = append(out, "a counter's name ends in _total")
	}
	if m.kind != "Counter" && strings.HasSuffix(m.name, "_total") {
		out = append(out, "only counters end in _total")
	}
	if nonBaseUnit.MatchString(m.name) {
		out = append(out, "use base units (seconds, bytes, joules, watts, ratio)")
	}
	if durationWord.MatchString(m.name) && !strings.Contains(m.name, "_seconds") {
		out = append(out, "a time or duration is in _seconds")
	}
	if !m.hasHelp {
		out = append(out, "no help text")
	}
	return out
}

// The checks catch what they are for.
func TestNameProblems(t *testing.T) {
	for _, c := range []struct {
		m    metricName
		want int
	}{
		{metricName{name: "eipgw_edge_polls_total", kind: "Counter", hasHelp: true}, 0},
		{metricName{name: "eipgw_edge_poll_duration_seconds", kind: "Histogram", hasHelp: true}, 0},
		{metricName{name: "eipgw_edge_polls", kind: "Counter", hasHelp: true}, 1},
		{metricName{name: "eipgw_edge_queue_total", kind: "Gauge", hasHelp: true}, 1},
		{metricName{name: "eipgw_edge_poll_duration_ms", kind: "Histogram", hasHelp: true}, 2},
		{metricName{name: "eipgw_park_steam_gj_total", kind: "Counter", hasHelp: true}, 1},
		{metricName{name: "edge_polls_total", kind: "Counter", hasHelp: true}, 1},
		{metricName{name: "eipgw_edge_wal_oldest_age", kind: "Gauge", hasHelp: true}, 1},
		{metricName{name: "eipgw_edge_up", kind: "Gauge"}, 1},
	} {
		if got := nameProblems(c.m); len(got) != c.want {
			t.Errorf("%s %s: %v, want %d problems", c.m.kind, c.m.name, got, c.want)
		}
	}
}

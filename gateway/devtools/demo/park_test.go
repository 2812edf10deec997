package demo

import (
	"os"
	"strings"
	"testing"
)

// TestDemoBaselineMatchesExample: the demo's park engine credits the same
// 36 replaced boilers as config/examples/park.yaml, line for line.
func TestDemoBaselineMatchesExample(t *testing.T) {
	ex, err := os.ReadFile("../../../config/examples/park.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(replacedBoilers(), "\n"), "\n")
	if len(lines) != 36 {
		t.Fatalf("%d replaced boilers, want 36", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(string(ex), l+"\n") {
			t.Errorf("not in the example configuration: %s", l)
		}
	}
}

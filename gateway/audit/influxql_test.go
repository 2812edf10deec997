package audit

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestRowColumnsAndTags: a row's null columns are absent, its series' tags
// are present, and a column with a value wins over a tag of the same name
// (a query without GROUP BY returns tags as columns).
func TestRowColumnsAndTags(t *testing.T) {
	c := &columns{names: []string{"time", "v", "gone", "device"},
		index: map[string]int{"time": 0, "v": 1, "gone": 2, "device": 3},
		tags:  map[string]string{"gateway": "gw-1", "device": "from-tag"}}
	r := row{s: c, v: []any{json.Number("5"), json.Number("1.5"), nil, "dev-1"}}
	if _, ok := r.get("gone"); ok {
		t.Error("a null column is present")
	}
	if r.str("gateway") != "gw-1" || r.str("device") != "dev-1" || r.str("missing") != "" {
		t.Errorf("gateway %q, device %q, missing %q", r.str("gateway"), r.str("device"), r.str("missing"))
	}
	if ms, err := r.millis(); err != nil || ms != 5 {
		t.Errorf("millis %d, %v", ms, err)
	}
	got := asMap(r)
	if want := map[string]any{"time": json.Number("5"), "v": json.Number("1.5"), "device": "dev-1", "gateway": "gw-1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("all: %v, want %v", got, want)
	}
	if _, err := (row{s: &columns{}, v: nil}).millis(); err == nil {
		t.Error("a row without a time has a time")
	}
}

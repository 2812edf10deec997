package config

import (
	"strings"
	"testing"
	"time"
)

const replayBase = `park: p
site: s
mqtt: {broker: "tcp://h:1"}
edge:
  gateway: gw-1
  state_dir: /tmp/x
  buses: [{name: b, address: "h:502"}]
  devices: [{name: d, profile: chp, bus: b, unit: 1}]
`

func TestReplayDefaults(t *testing.T) {
	f, err := Parse("x.yaml", []byte(replayBase), knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Edge.Replay
	if r.MinInterval != DefaultReplayMinInterval || r.MaxAge != DefaultReplayMaxAge || r.MaxBatches != DefaultReplayMaxBatches {
		t.Errorf("defaults: %+v", r)
	}
	for id, want := range map[string]bool{
		"eipgw-ingest-p-host1": true, "eipgw-ingest-1": true, "eipgw-ingest-": true,
		"stranger": false, "gw-1": false, "": false, "x-eipgw-ingest-1": false,
	} {
		if got := r.Allows(id); got != want {
			t.Errorf("default Allows(%q) = %t, want %t", id, got, want)
		}
	}
}

func TestReplayBlock(t *testing.T) {
	f, err := Parse("x.yaml", []byte(replayBase+`  replay:
    allow: [ingest-a, "ingest-b-*"]
    min_interval: 1m
    max_age: 2m
    max_batches: 100
`), knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Edge.Replay
	if r.MinInterval != time.Minute || r.MaxAge != 2*time.Minute || r.MaxBatches != 100 {
		t.Errorf("%+v", r)
	}
	for id, want := range map[string]bool{"ingest-a": true, "ingest-a2": false, "ingest-b-7": true, "eipgw-ingest-1": false} {
		if got := r.Allows(id); got != want {
			t.Errorf("Allows(%q) = %t, want %t", id, got, want)
		}
	}

	// An explicit empty list refuses everyone.
	f, err = Parse("x.yaml", []byte(replayBase+"  replay: {allow: []}\n"), knownProfile)
	if err != nil {
		t.Fatal(err)
	}
	if f.Edge.Replay.Allows("eipgw-ingest-1") {
		t.Error("allow: [] accepts the default ingest id")
	}
}

func TestReplayErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"replay: {allow: [\"\"]}", `x.yaml:10: edge.replay.allow[0]: empty requester id`},
		{"replay: {allow: [ok, \"a/b\"]}", `x.yaml:10: edge.replay.allow[1]: "a/b" must not contain '/', '+' or '#'`},
		{"replay: {allow: [\"in[\"]}", `x.yaml:10: edge.replay.allow[0]: "in[" is not a valid pattern`},
		{"replay: {max_age: 500ms}", `x.yaml:10: edge.replay.max_age: 500ms is below the 1s minimum`},
		{"replay: {min_interval: 48h}", `x.yaml:10: edge.replay.min_interval: 48h0m0s is above the 24h maximum`},
		{"replay: {max_batches: -1}", `x.yaml:10: edge.replay.max_batches: -1 out of range 1-10000000`},
		{"replay: {max_batch: 5}", `x.yaml:10: edge.replay.max_batch: unknown field "max_batch"`},
		{"replay: {min_interval: often}", `x.yaml:10: edge.replay.min_interval: expected a duration`},
	} {
		_, err := Parse("x.yaml", []byte(replayBase+"\n  "+tc.block+"\n"), knownProfile)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.block, err, tc.want)
		}
	}
}

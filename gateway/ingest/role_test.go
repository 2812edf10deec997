package ingest

import (
	"log/slog"
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// ingestRole is f's ingest role; a missing section fails the test.
func ingestRole(t testing.TB, f *config.File) config.IngestRole {
	t.Helper()
	r, err := f.IngestRole()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loggedIngest parses yaml and builds its ingest worker, logging into the
// buffer returned.
func loggedIngest(t testing.TB, yaml string) (*Ingest, *config.File, *testenv.LogBuffer) {
	t.Helper()
	cfg, err := config.Parse("ingest.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	in, err := New(ingestRole(t, cfg), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return in, cfg, &logs
}

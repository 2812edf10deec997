package ingest

import (
	"testing"

	"github.com/eipgw/eipgw/config"
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

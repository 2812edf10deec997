package edge

import (
	"testing"

	"github.com/eipgw/eipgw/config"
)

// edgeRole is f's edge role; a missing section fails the test.
func edgeRole(t testing.TB, f *config.File) config.EdgeRole {
	t.Helper()
	r, err := f.EdgeRole()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ingestRole is f's ingest role; a missing section fails the test.
func ingestRole(t testing.TB, f *config.File) config.IngestRole {
	t.Helper()
	r, err := f.IngestRole()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

package park

import (
	"testing"

	"github.com/eipgw/eipgw/config"
)

// parkRole is f's park role; a missing section fails the test.
func parkRole(t testing.TB, f *config.File) config.ParkRole {
	t.Helper()
	r, err := f.ParkRole()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

func TestKeygenWritesAPrivateKeyOnlyItsOwnerReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.key")
	var out, errOut bytes.Buffer
	if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, []string{"keygen", "-out", path}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	priv, err := evidence.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if id := evidence.NewSigner(priv).KeyID(); !strings.Contains(out.String(), id) {
		t.Fatalf("output %q does not name key id %s", out.String(), id)
	}
	if code := run(t.Context(), &env{stdout: &out, stderr: &errOut}, []string{"keygen", "-out", path}); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
}

package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Key files. The private key is PKCS #8 in a PEM block "PRIVATE KEY" (as
// openssl genpkey -algorithm ed25519 writes it), mode 0600: LoadPrivateKey
// refuses a file that group or others can read. The public key is one
// line: the standard base64 form of its 32 bytes, which is also how the
// ingest configuration lists it.

// Generate writes a new key pair: the private key to privPath (which must
// not exist) and the public key to privPath + ".pub". It returns the
// public key.
func Generate(privPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating an Ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("private key file: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(privPath)
		return nil, fmt.Errorf("writing private key file %s: %w", privPath, err)
	}
	pubLine := EncodePublicKey(pub) + "\n"
	if err := os.WriteFile(privPath+".pub", []byte(pubLine), 0o644); err != nil {
		return nil, fmt.Errorf("writing public key file: %w", err)
	}
	return pub, nil
}

// EncodePublicKey is the one-line form of a public key.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads the one-line form of a public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("public key %q is not base64: %w", s, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: %d bytes, want %d (Ed25519)", s, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ErrKeyPermissions is returned for a private key file that group or
// others may read.
var ErrKeyPermissions = errors.New("private key file is readable by group or others")

// LoadPrivateKey reads a private key file written by Generate (or by
// openssl genpkey -algorithm ed25519).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %04o; want 0600: chmod 600 %s)", path, ErrKeyPermissions, fi.Mode().Perm(), path)
	}
	b, err := readBounded(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("private key %s: no PEM block \"PRIVATE KEY\"", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key %s: a %T, want Ed25519", path, k)
	}
	return priv, nil
}

// maxKeyFile bounds a private key file: an Ed25519 key in PEM is 119
// bytes.
const maxKeyFile = 64 << 10

// readBounded reads at most limit bytes of path; a larger file (or a
// device that never ends) is an error, not a read of everything.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key file", path, limit)
	}
	return b, nil
}

package evidence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func testBatch(points int) *batch.Batch {
	b := &batch.Batch{Gateway: "gw-1", Seq: 42, Device: "chp-1", Kind: "chp", Site: "plant",
		Time: time.Date(2026, 11, 26, 18, 0, 1, 0, time.UTC)}
	for i := range points {
		b.Points = append(b.Points, batch.Point{Name: "p" + strconv.Itoa(i), Value: float64(i) + 0.5,
			HasValue: true, Float32: true, Unit: "MW", Quality: batch.Good})
	}
	return b
}

func newKey(t testing.TB) (ed25519.PublicKey, *Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, NewSigner(priv)
}

func seal(s *Signer, b *batch.Batch, prev Hash) ([]byte, Hash) {
	b.Prev, b.Key = prev.String(), s.KeyID()
	return s.Seal(b.AppendJSON(nil))
}

func TestSealDecodeVerify(t *testing.T) {
	pub, s := newKey(t)
	keys := Keys{}
	keys.Add("gw-1", pub)
	prev := Sum([]byte("previous"))
	payload, h := seal(s, testBatch(3), prev)
	if !bytes.HasSuffix(payload, []byte(`"}`)) || !bytes.Contains(payload, []byte(`,"prev":"`+prev.String()+`","key":"`+s.KeyID()+`","device"`)) {
		t.Fatalf("payload shape: %s", payload)
	}
	b, err := batch.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if b.Prev != prev.String() || b.Key != s.KeyID() || len(b.Sig) != 88 {
		t.Fatalf("decoded prev %q key %q sig %q", b.Prev, b.Key, b.Sig)
	}
	got, err := keys.Verify(b.Gateway, b.Key, payload)
	if err != nil || got != h {
		t.Fatalf("verify: %v, hash %s want %s", err, got, h)
	}
	// The decoded batch re-encodes to the signed message: the encoding is
	// canonical.
	msg, _, _ := Split(payload)
	b.Sig = ""
	if re := b.AppendJSON(nil); !bytes.Equal(re[:len(re)-1], msg) {
		t.Fatalf("re-encoded\n%s\nsigned\n%s", re, msg)
	}
}

func TestVerifyBreaks(t *testing.T) {
	pub, s := newKey(t)
	otherPub, other := newKey(t)
	keys := Keys{}
	keys.Add("gw-1", pub)
	payload, _ := seal(s, testBatch(2), Hash{})

	altered := bytes.Replace(payload, []byte(`"v":0.5`), []byte(`"v":0.6`), 1)
	if bytes.Equal(altered, payload) {
		t.Fatal("test payload has no value 0.5")
	}
	forged, _ := seal(other, testBatch(2), Hash{})
	// A key swapped: the forger names the gateway's key id but signs with
	// its own key.
	swapped := testBatch(2)
	swapped.Key = s.KeyID()
	swappedPayload, _ := other.Seal(swapped.AppendJSON(nil))
	unsigned := testBatch(2).AppendJSON(nil)

	for _, c := range []struct {
		name, gateway, key string
		payload            []byte
		want               error
	}{
		{"altered value", "gw-1", s.KeyID(), altered, ErrBadSignature},
		{"unknown key", "gw-1", other.KeyID(), forged, ErrUnknownKey},
		{"key of another gateway", "gw-2", s.KeyID(), payload, ErrUnknownKey},
		{"key swapped", "gw-1", s.KeyID(), swappedPayload, ErrBadSignature},
		{"unsigned", "gw-1", "", unsigned, ErrUnsigned},
	} {
		_, err := keys.Verify(c.gateway, c.key, c.payload)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if Reason(err) == "ok" {
			t.Errorf("%s: reason ok", c.name)
		}
	}
	_ = otherPub
}

func TestParseHash(t *testing.T) {
	h := Sum([]byte("x"))
	if got, err := ParseHash(h.String()); err != nil || got != h {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "00", strings.ToUpper(h.String()), h.String()[:63] + "g"} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.key")
	pub, err := Generate(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(path); err == nil {
		t.Fatal("Generate overwrote an existing key")
	}
	priv, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("loaded key does not match")
	}
	line, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := ParsePublicKey(string(line)); err != nil || !p2.Equal(pub) {
		t.Fatalf("public key file: %v", err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(path); !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), path) {
		t.Fatalf("group-readable key: %v", err)
	}
	if _, err := ParsePublicKey("AAAA"); err == nil {
		t.Fatal("short public key accepted")
	}
}

// BenchmarkSeal and BenchmarkVerify measure the signing cost per batch of
// 1000 float32 values (the budget's device size): divide ns/op by 1000 for
// the cost per value.
func BenchmarkSeal(b *testing.B) {
	_, s := newKey(b)
	bt := testBatch(1000)
	bt.Prev, bt.Key = Sum(nil).String(), s.KeyID()
	enc := bt.AppendJSON(nil)
	buf := make([]byte, 0, len(enc)+128)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Seal(append(buf[:0], enc...))
	}
	b.SetBytes(int64(len(enc)))
}

func BenchmarkVerify(b *testing.B) {
	pub, s := newKey(b)
	keys := Keys{}
	keys.Add("gw-1", pub)
	payload, _ := seal(s, testBatch(1000), Hash{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Verify("gw-1", s.KeyID(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(payload)))
}

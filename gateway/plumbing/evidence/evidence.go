// Package evidence signs and chains the batches of a gateway and checks
// them: the contract an auditor relies on to know that the readings are the
// ones the edge produced and that none was altered, removed or inserted on
// the way (docs/contracts.md, "Signed, chained batches").
//
// A signed batch is the canonical batch encoding (package batch) carrying
// two extra members after "seq" — "prev", the hash of the gateway's
// previous batch, and "key", the id of the signing key — and one member
// after "points", "sig":
//
//	{"v":2,"gateway":"gw-1","seq":1042,"prev":"<64 hex>","key":"<16 hex>",...,"points":[...],"sig":"<88 base64>"}
//
// The signed message is the payload's bytes before `,"sig":"`. The batch
// hash is SHA-256 of that message; the signature is Ed25519 (RFC 8032)
// over the 32 bytes of that hash, so the message is read once (a batch of
// 1000 values is about 40 kB; Ed25519 over the message itself would hash
// it twice more with SHA-512). Nothing is re-encoded to check either: the bytes that
// travelled are the bytes checked.
package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Hash is the SHA-256 hash of a batch's signed message.
type Hash [sha256.Size]byte

// String is the lower-case hex form carried in "prev" and stored in
// InfluxDB.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash: the "prev" of a gateway's
// first batch, or of the first batch after a start that could not recover
// the chain head (a declared restart of the chain).
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads the hex form of a hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits, got %d", s, 2*len(h), len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, fmt.Errorf("hash %q: not lower-case hex", s)
		}
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

// Sum returns the hash of a signed message.
func Sum(message []byte) Hash { return sha256.Sum256(message) }

// KeyIDLen is the length of a key id: 16 lower-case hex digits, the first
// 8 bytes of SHA-256 of the 32-byte public key.
const KeyIDLen = 16

// KeyID names a public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:KeyIDLen/2])
}

// sigPrefix starts the signature member; sigLen is the length of the
// standard base64 form of an Ed25519 signature.
const sigPrefix = `,"sig":"`

var sigLen = base64.StdEncoding.EncodedLen(ed25519.SignatureSize)

// sigSuffixLen is the length of `,"sig":"<88>"}`.
var sigSuffixLen = len(sigPrefix) + sigLen + 2

// Signer signs the batches of one gateway.
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// NewSigner returns a signer for priv.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
}

// KeyID is the id of the signer's key, carried in "key".
func (s *Signer) KeyID() string { return s.id }

// Seal turns an encoded batch (buf, ending with '}', already carrying
// "prev" and "key") into a signed payload in place and returns it with the
// batch's hash.
func (s *Signer) Seal(buf []byte) ([]byte, Hash) {
	msg := buf[:len(buf)-1]
	h := Sum(msg)
	sig := ed25519.Sign(s.priv, h[:])
	buf = append(msg, sigPrefix...)
	n := len(buf)
	buf = append(buf, make([]byte, sigLen)...)
	base64.StdEncoding.Encode(buf[n:], sig)
	return append(buf, '"', '}'), h
}

// Split separates a signed payload into its signed message and signature.
// ok is false when the payload carries no "sig" member at its end (an
// unsigned batch, or a signature in another place, which the canonical
// encoding never produces).
func Split(payload []byte) (message, sig []byte, ok bool) {
	n := len(payload) - sigSuffixLen
	if n < 1 || string(payload[n:n+len(sigPrefix)]) != sigPrefix || string(payload[len(payload)-2:]) != `"}` {
		return nil, nil, false
	}
	sig = make([]byte, ed25519.SignatureSize)
	if m, err := base64.StdEncoding.Decode(sig, payload[n+len(sigPrefix):len(payload)-2]); err != nil || m != len(sig) {
		return nil, nil, false
	}
	return payload[:n], sig, true
}

// Errors of Verify, one per kind of break the audit reports.
var (
	// ErrUnsigned: the batch carries no signature.
	ErrUnsigned = errors.New("unsigned batch")
	// ErrUnknownKey: the batch names a key not configured for its gateway.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadSignature: the signature does not verify with the named key.
	ErrBadSignature = errors.New("bad signature")
	// ErrInvalid: the signature verifies, but the batch's prev or key is
	// not of the form a gateway signs (see CheckBatch).
	ErrInvalid = errors.New("invalid prev or key")
)

// Keys are the public keys of each gateway, by gateway and key id. Old keys
// stay configured after a rotation so that older batches still verify.
type Keys map[string]map[string]ed25519.PublicKey

// Add registers pub for gateway.
func (k Keys) Add(gateway string, pub ed25519.PublicKey) {
	if k[gateway] == nil {
		k[gateway] = map[string]ed25519.PublicKey{}
	}
	k[gateway][KeyID(pub)] = pub
}

// Opened is a signed payload split into its message and signature, hashed,
// and its key looked up; its signature is not verified yet.
type Opened struct {
	Message []byte
	Hash    Hash
	sig     []byte
	pub     ed25519.PublicKey
	gateway string
	keyID   string
}

// Open splits payload, a batch of gateway naming key id keyID, hashes its
// message and finds its key, without the cost of verifying the signature:
// the audit verifies only the signatures its hash chains do not vouch for.
// The hash is returned whenever the payload carries a signature member, so
// that a flagged batch is stored with its hash; the errors are
// ErrUnsigned and ErrUnknownKey.
func (k Keys) Open(gateway, keyID string, payload []byte) (Opened, error) {
	msg, sig, ok := Split(payload)
	if !ok {
		return Opened{Message: payload, Hash: Sum(payload)}, ErrUnsigned
	}
	o := Opened{Message: msg, Hash: Sum(msg), sig: sig, gateway: gateway, keyID: keyID}
	pub, ok := k[gateway][keyID]
	if !ok {
		return o, fmt.Errorf("%w %q for gateway %q", ErrUnknownKey, keyID, gateway)
	}
	o.pub = pub
	return o, nil
}

// Verify checks the signature of an opened payload (ErrBadSignature).
func (o Opened) Verify() error {
	if o.pub == nil {
		return fmt.Errorf("%w: gateway %q key %q is not known", ErrUnknownKey, o.gateway, o.keyID)
	}
	if !ed25519.Verify(o.pub, o.Hash[:], o.sig) {
		return fmt.Errorf("%w: gateway %q key %s", ErrBadSignature, o.gateway, o.keyID)
	}
	return nil
}

// Verify checks the signature of payload, a batch of gateway naming key
// id keyID, and returns its hash: Open, then the opened payload's Verify.
func (k Keys) Verify(gateway, keyID string, payload []byte) (Hash, error) {
	o, err := k.Open(gateway, keyID, payload)
	if err == nil {
		err = o.Verify()
	}
	return o.Hash, err
}

// AddConfigured registers the keys of a configuration section: each
// gateway's public keys in their one-line form. path names the section in
// errors ("ingest.evidence").
func (k Keys) AddConfigured(path string, lists map[string][]string) error {
	for g, list := range lists {
		for i, s := range list {
			pub, err := ParsePublicKey(s)
			if err != nil {
				return fmt.Errorf("%s.keys.%s[%d]: %w", path, g, i, err)
			}
			k.Add(g, pub)
		}
	}
	return nil
}

// CheckBatch verifies payload, a batch of gateway naming key id keyID and
// the previous batch's hash prev (hex): its signature (Verify), then that
// prev and the key id have the form a gateway signs (ErrInvalid). It
// returns the batch's hash and, when it parses, prev's.
func (k Keys) CheckBatch(gateway, keyID, prev string, payload []byte) (h, prevHash Hash, err error) {
	h, err = k.Verify(gateway, keyID, payload)
	prevHash, perr := ParseHash(prev)
	if err == nil && (perr != nil || len(keyID) != KeyIDLen) {
		err = fmt.Errorf("%w: prev %q, key %q", ErrInvalid, prev, keyID)
	}
	return h, prevHash, err
}

// Reason is the short name of a verification error, as stored in InfluxDB
// and used as a metric label: ok, unsigned, unknown_key, bad_signature.
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	}
	return "invalid"
}

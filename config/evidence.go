package config

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// EdgeEvidence makes the edge sign and chain its batches
// (edge.evidence; docs/contracts.md, "Signed, chained batches").
type EdgeEvidence struct {
	// KeyFile is the gateway's Ed25519 private key (eipgw keygen), readable
	// by the service's user only (mode 0600).
	KeyFile string `yaml:"key_file"`
}

// EvidenceKeys lists the public keys batches are verified with: by ingest
// (ingest.evidence), which stores a batch that fails flagged, and by the
// park engine (park_engine.evidence, else the file's ingest.evidence),
// which leaves it out of its metrics.
type EvidenceKeys struct {
	// Keys maps each gateway to its public keys (the one line of the .pub
	// file eipgw keygen writes). After a rotation the old key stays listed
	// until no batch it signed is still to be verified.
	Keys map[string][]string `yaml:"keys"`
	// Require puts every gateway under evidence, those without keys too:
	// their unsigned batches are flagged by ingest and refused by the park
	// engine (default false: gateways without keys are not under evidence,
	// and their unsigned batches are stored unflagged and counted).
	Require bool `yaml:"require"`
}

// ed25519PublicKeySize is the size of an Ed25519 public key in bytes.
const ed25519PublicKeySize = 32

func (f *File) validateEvidence() Errors {
	var errs Errors
	s := f.Source
	if e := f.Edge; e != nil && e.Evidence != nil && strings.TrimSpace(e.Evidence.KeyFile) == "" {
		errs = append(errs, s.Errorf("edge.evidence.key_file", "required field is missing (eipgw keygen writes one)"))
	}
	if in := f.Ingest; in != nil {
		errs = append(errs, in.Evidence.validate(s, "ingest.evidence")...)
	}
	if pe := f.ParkEngine; pe != nil {
		errs = append(errs, pe.Evidence.validate(s, "park_engine.evidence")...)
	}
	return errs
}

// validate checks the keys of the section at path (nil: not configured).
func (e *EvidenceKeys) validate(s *Source, path string) Errors {
	if e == nil {
		return nil
	}
	var errs Errors
	gateways := make([]string, 0, len(e.Keys))
	for g := range e.Keys {
		gateways = append(gateways, g)
	}
	sort.Strings(gateways)
	for _, g := range gateways {
		at := path + ".keys." + g
		if !ValidName(g) {
			errs = append(errs, s.Errorf(at, "%q is not a valid gateway name", g))
		}
		if len(e.Keys[g]) == 0 {
			errs = append(errs, s.Errorf(at, "no public key listed"))
		}
		for i, k := range e.Keys[g] {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
			switch {
			case err != nil:
				errs = append(errs, s.Errorf(fmt.Sprintf("%s[%d]", at, i), "%q is not base64: %v", k, err))
			case len(b) != ed25519PublicKeySize:
				errs = append(errs, s.Errorf(fmt.Sprintf("%s[%d]", at, i), "%d bytes, want %d (an Ed25519 public key, the .pub file of eipgw keygen)", len(b), ed25519PublicKeySize))
			}
		}
	}
	return errs
}

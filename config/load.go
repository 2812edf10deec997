package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxFileSize is the largest configuration file read, in bytes (4 MiB).
// The largest real configuration — a park engine with hundreds of tenants
// and meters, or an edge with hundreds of devices — is well under 1 MiB;
// the decoded YAML tree takes tens of times its text in memory, so a bound
// keeps a wrong path (a log, a data dump) or a hostile file from
// exhausting the memory of a small gateway before the first error shows.
const MaxFileSize = 4 << 20

func sizeMsg(n int64) string {
	return fmt.Sprintf("file is %d bytes, above the %d-byte (%d MiB) limit of a configuration file: is this the right file?", n, MaxFileSize, MaxFileSize>>20)
}

// readLimited reads path, refusing before reading it a file larger than
// MaxFileSize.
func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a configuration file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s", sizeMsg(st.Size()))
	}
	// The size may change while reading (or lie, for a pipe): read at most
	// one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s", sizeMsg(int64(len(data))))
	}
	return data, nil
}

// decodedAnything reports whether Decode walked the document (rather than
// stopping at malformed YAML or an empty file), so that validation can run
// on what it decoded.
func decodedAnything(src *Source) bool { return src != nil && src.root != nil }

// Decoded reports whether the document was walked, so that a loader can
// validate what decoded even when some fields did not: false for malformed
// YAML or an empty file, after which nothing can be trusted.
func (s *Source) Decoded() bool { return decodedAnything(s) }

// AfterDecode is what a loader that goes on after wrong types reports:
// the decoding errors, then the checks of the decoded value that were not
// made on a field that failed to decode (or inside one).
func AfterDecode(decodeErrs, checks Errors) Errors {
	return append(decodeErrs, withoutDecodeFailures(checks, decodeErrs)...)
}

// withoutDecodeFailures drops the checks made on a field that failed to
// decode, or on anything inside it: the decoding error already says what
// is wrong there, and a check of the zero value left behind ("required
// field is missing") would only mislead.
func withoutDecodeFailures(checks, decodeErrs Errors) Errors {
	if len(decodeErrs) == 0 {
		return checks
	}
	var kept Errors
	for _, c := range checks {
		if !underAny(c.Path, decodeErrs) {
			kept = append(kept, c)
		}
	}
	return kept
}

func underAny(path string, errs Errors) bool {
	for _, e := range errs {
		if strings.HasPrefix(e.Msg, "unknown field ") || strings.HasPrefix(e.Msg, "duplicate key ") {
			continue // the field itself decoded (or was ignored); its checks stand
		}
		p := e.Path
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

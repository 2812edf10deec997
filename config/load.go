package config

import (
	"errors"
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

// Limits of the other files a configuration names, in bytes. A password
// or a token is a line; a bundle of every public CA is well under 1 MiB.
// Like MaxFileSize they keep a wrong path (a log, a device such as
// /dev/zero that never ends) from exhausting a gateway's memory.
const (
	// MaxSecretSize bounds a password or token file (1 MiB).
	MaxSecretSize = 1 << 20
	// MaxPEMSize bounds a CA, certificate or key file (4 MiB).
	MaxPEMSize = 4 << 20
)

// readLimited reads path, refusing before reading it a file larger than
// MaxFileSize.
func readLimited(path string) ([]byte, error) {
	data, err := readAtMost(path, MaxFileSize, "a configuration file")
	var big *tooLargeError
	if errors.As(err, &big) {
		if big.size == 0 { // a device or a pipe, or a file that grew
			return nil, fmt.Errorf("file is larger than the %d-byte (%d MiB) limit of a configuration file: is this the right file?", MaxFileSize, MaxFileSize>>20)
		}
		return nil, fmt.Errorf("%s", sizeMsg(big.size))
	}
	return data, err
}

// ReadFileMax reads the file at path, at most limit bytes. A larger file
// is an error ("PATH is N bytes, larger than LIMIT bytes ..."), found
// before reading it; so is a device or pipe that gives more than limit
// bytes (/dev/zero), of which one byte past the limit is read. what names
// the kind of file in the error, e.g. "a secret file".
func ReadFileMax(path string, limit int64, what string) ([]byte, error) {
	return readAtMost(path, limit, what)
}

// tooLargeError is a file above the limit of its kind: size is its size,
// or 0 when the file does not tell it (a device, a pipe).
type tooLargeError struct {
	path        string
	size, limit int64
	what        string
}

func (e *tooLargeError) Error() string {
	size := ""
	if e.size > 0 {
		size = fmt.Sprintf(" %d bytes,", e.size)
	}
	return fmt.Sprintf("%s is%s larger than %d bytes (%s), the limit of %s: is this the right file?", e.path, size, e.limit, humanBytes(e.limit), e.what)
}

// humanBytes writes a limit in MiB or KiB when it is a whole number of
// them.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readAtMost reads path, at most limit bytes: a regular file larger than
// limit is refused before it is read, and of anything else (a device, a
// pipe, a file that grows meanwhile) at most limit+1 bytes are read.
func readAtMost(path string, limit int64, what string) ([]byte, error) {
	// A named pipe would block the open until a writer came, and a signal
	// could not stop the process meanwhile.
	if st, err := os.Stat(path); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		return nil, fmt.Errorf("%s is a named pipe or a socket, not %s", path, what)
	}
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
		return nil, fmt.Errorf("%s is a directory, not %s", path, what)
	}
	if st.Mode().IsRegular() && st.Size() > limit {
		return nil, &tooLargeError{path: path, size: st.Size(), limit: limit, what: what}
	}
	// The size may change while reading, and a device or a pipe has
	// none: read at most one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{path: path, limit: limit, what: what}
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

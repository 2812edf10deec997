//go:build !unix

package edge

// lockStateDir does not lock where flock is missing: two edges on one
// state_dir are not refused there (see lock_unix.go).
func lockStateDir(dir, instance string) (release func(), err error) { return func() {}, nil }

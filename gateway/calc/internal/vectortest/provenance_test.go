package vectortest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
)

// forbiddenCitations are the markers of the private working notes the
// project's documents once cited instead of primary sources: the notes'
// file names, their folder, and their confidence tags (alone or followed by
// a qualifier, as in a tag with a colon or a slash). Code and docs cite the
// keys of docs/references.md instead. The strings are assembled here so
// that this file does not contain them itself.
func forbiddenCitations() []string {
	md := ".md"
	out := []string{"formulas" + md, "vectors" + md, "docs/" + "domain/"}
	for _, tag := range []string{"READ", "MEM", "CALC", "SEC", "DESIGN"} {
		for _, end := range []string{"]", ":", "/", " "} {
			out = append(out, "["+tag+end)
		}
	}
	return out
}

// trackedFiles lists the files git tracks under root, relative to root. When
// the tree is not a git checkout (a source archive) or git is missing, it
// walks the tree instead, skipping .git and the locally built .tools.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, filepath.FromSlash(f))
			}
		}
		return files
	}
	var ee *exec.ExitError
	if !errors.Is(err, exec.ErrNotFound) && !errors.As(err, &ee) {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".tools") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}

// citationHits returns "line N: marker" for every forbidden marker in a text
// file; binary content (a NUL byte, as git judges it) is not searched.
func citationHits(data []byte) []string {
	head := data
	if len(head) > 8000 {
		head = head[:8000]
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil
	}
	var hits []string
	for i, line := range strings.Split(string(data), "\n") {
		for _, m := range forbiddenCitations() {
			if strings.Contains(line, m) {
				hits = append(hits, fmt.Sprintf("line %d: %q", i+1, m))
			}
		}
	}
	return hits
}

// TestNoWorkingNoteCitations fails if any tracked file cites the working
// notes or their confidence tags instead of docs/references.md.
func TestNoWorkingNoteCitations(t *testing.T) {
	root := testenv.RepoRoot(t)
	files := trackedFiles(t, root)
	if len(files) == 0 {
		t.Fatalf("no files found under %s", root)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // tracked but deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range citationHits(data) {
			t.Errorf("%s %s: cite docs/references.md instead", f, h)
		}
	}
}

// TestCitationHitsCanFail checks that the scanner finds every marker, in any
// position, and ignores binary files and harmless brackets.
func TestCitationHitsCanFail(t *testing.T) {
	for _, m := range forbiddenCitations() {
		if got := citationHits([]byte("ok\n// see " + m + "x\n")); len(got) != 1 || !strings.HasPrefix(got[0], "line 2:") {
			t.Errorf("marker %q: hits = %v, want one on line 2", m, got)
		}
	}
	clean := "a[i] = b[READY]; see docs/references.md, IAPWS R7-97(2012) table 5\n"
	if got := citationHits([]byte(clean)); len(got) != 0 {
		t.Errorf("clean text: hits = %v, want none", got)
	}
	bin := append([]byte{0x1f, 0x8b, 0}, []byte("["+"CALC]")...)
	if got := citationHits(bin); len(got) != 0 {
		t.Errorf("binary data: hits = %v, want none", got)
	}
	if !strings.Contains(strings.Join(forbiddenCitations(), " "), "vectors"+".md") {
		t.Error("the notes' file names are not among the markers")
	}
}

package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
)

var hour0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func records(h int) []string {
	var l influxwrite.Line
	l.Start("park_hourly")
	l.Tag("metric", "co2_reduction_t")
	l.Tag("park", "demo park")
	l.Float("value", 1.25+float64(h))
	l.String("flag", `va"l\id`)
	l.Bool("valid", true)
	l.Int("samples", int64(60+h))
	b, err := l.End(hour0.Add(time.Duration(h) * time.Hour))
	if err != nil {
		panic(err)
	}
	return []string{string(b)}
}

// fill writes n hours into a new log in dir.
func fill(t *testing.T, dir string, n int) []Entry {
	t.Helper()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []Entry
	for h := 0; h < n; h++ {
		e, err := l.Append(hour0.Add(time.Duration(h)*time.Hour), records(h))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestAppendReopenAndRead(t *testing.T) {
	dir := t.TempDir()
	written := fill(t, dir, 3)
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if seq, h := l.Head(); seq != 3 || h != written[2].Hash {
		t.Fatalf("head after reopen: %d %s, want 3 %s", seq, h, written[2].Hash)
	}
	if _, err := l.Append(hour0.Add(3*time.Hour), records(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, probs, err := Read(dir)
	if err != nil || len(probs) != 0 || len(got) != 4 {
		t.Fatalf("read: %v, problems %v, %d entries", err, probs, len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || !e.Hour.Equal(hour0.Add(time.Duration(i)*time.Hour)) || !reflect.DeepEqual(e.Records, records(i)) {
			t.Errorf("entry %d: %+v", i, e)
		}
		if i > 0 && e.Prev != got[i-1].Hash {
			t.Errorf("entry %d: prev %s, want %s", i, e.Prev, got[i-1].Hash)
		}
	}
	c, ok, err := ReadCheckpoint(dir)
	if err != nil || !ok || c.Seq != 4 || c.Hash != got[3].Hash.String() {
		t.Fatalf("checkpoint %+v %v %v", c, ok, err)
	}
}

// rewrite applies edit to the log's lines.
func rewrite(t *testing.T, dir string, edit func(lines [][]byte) [][]byte) {
	t.Helper()
	path := filepath.Join(dir, LogFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines = lines[:len(lines)-1]
	if err := os.WriteFile(path, bytes.Join(edit(lines), nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingWithTheLogIsPinpointed(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(lines [][]byte) [][]byte
		want string // the first problem, as text
	}{
		{"record changed", func(ls [][]byte) [][]byte {
			ls[1] = bytes.Replace(ls[1], []byte("value=2.25"), []byte("value=9.25"), 1)
			return ls
		}, "line 2 seq=2 hour=2026-11-26T01:00:00Z: hash "},
		{"record removed", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"records":["`), []byte(`"records":[],"x":["`), 1)
			return ls
		}, "line 3: entry body: "},
		{"entry removed", func(ls [][]byte) [][]byte {
			return append(ls[:1:1], ls[2:]...)
		}, "line 2 seq=3 hour=2026-11-26T02:00:00Z: seq 3 follows seq 1"},
		{"entry rewritten with its hash", func(ls [][]byte) [][]byte {
			ln, _, _ := Encode(2, hour0.Add(time.Hour), mustHash(t, ls[0]), []string{"park_hourly,metric=x,park=p value=1 0"})
			ls[1] = ln
			return ls
		}, "line 3 seq=3 hour=2026-11-26T02:00:00Z: prev "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 4)
			rewrite(t, dir, tc.edit)
			_, probs, err := Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) == 0 || !strings.HasPrefix(probs[0].String(), tc.want) {
				t.Fatalf("problems %v, want the first to start %q", probs, tc.want)
			}
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func mustHash(t *testing.T, line []byte) Hash {
	e, err := decode(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	return e.Hash
}

func TestTruncatedLogDoesNotReachItsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 3)
	rewrite(t, dir, func(ls [][]byte) [][]byte { return ls[:2] })
	_, probs, _ := Read(dir)
	if len(probs) != 0 {
		t.Fatalf("a cut chain is still a chain: %v", probs)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "the checkpoint names seq 3") || !strings.Contains(err.Error(), "ends at seq 2") {
		t.Fatalf("open: %v", err)
	}
}

func TestTornLastLineIsCutOff(t *testing.T) {
	dir := t.TempDir()
	written := fill(t, dir, 2)
	f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"seq":3,"hour":"2026-11-26T02:00`)
	f.Close()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if seq, h := l.Head(); seq != 2 || h != written[1].Hash {
		t.Fatalf("head %d %s", seq, h)
	}
	if _, err := l.Append(hour0.Add(2*time.Hour), records(2)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, probs, err := Read(dir)
	if err != nil || len(probs) != 0 || len(got) != 3 {
		t.Fatalf("%v %v %d", err, probs, len(got))
	}
}

func TestParseRecordReadsWhatLineWrites(t *testing.T) {
	r, err := ParseRecord(records(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Measurement: "park_hourly", Tags: map[string]string{"metric": "co2_reduction_t", "park": "demo park"},
		Fields: map[string]any{"value": 2.25, "flag": `va"l\id`, "valid": true, "samples": int64(61)}, Millis: hour0.Add(time.Hour).UnixMilli()}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	for _, bad := range []string{"m", "m,t=1", "m f=\"x 1", "m f=1 x", "m f=zz 1"} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

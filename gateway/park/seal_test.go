package park

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
)

// TestSinkSealsEveryHour: with park_engine.audit_log, each hour's records
// are appended to the audit log, as the lines written, before they are
// written, and the entry's seq and hash are stored beside them in
// park_hourly_seal; a second run continues the chain.
func TestSinkSealsEveryHour(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	out := threeHours(t)
	name := loadExample(t).Park
	dir := t.TempDir()

	rig := newSinkRig(t, mq, ifx.URL, 0)
	for run := 0; run < 2; run++ {
		rig.svc.seal = newSealer(dir, prometheus.NewRegistry())
		if err := rig.svc.seal.open(); err != nil {
			t.Fatal(err)
		}
		o := out
		if run == 1 {
			o = Output{Hours: out.Hours[2:]} // the last hour again, as after a replay
		}
		rig.run(t, o, 60*time.Second)
		rig.svc.seal.close()
	}

	entries, probs, err := seal.Read(dir)
	if err != nil || len(probs) != 0 {
		t.Fatalf("read: %v %v", err, probs)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 4", len(entries))
	}
	for i, e := range entries {
		h := out.Hours[min(i, 2)]
		if !e.Hour.Equal(h.Start) || !reflect.DeepEqual(e.Records, SealLines(HourRecords(name, h))) {
			t.Errorf("entry %d: hour %s, %d records; want %s, %d", e.Seq, e.Hour, len(e.Records), h.Start.UTC(), len(h.Metrics))
		}
	}
	rows, err := ifx.Query("eipgw", fmt.Sprintf(`SELECT "seq", "hash", "records" FROM %s WHERE "park" = '%s'`, MeasurementSeal, name))
	if err != nil || len(rows) != 1 {
		t.Fatalf("query: %v %v", rows, err)
	}
	vals := rows[0].Values
	if len(vals) != 3 {
		t.Fatalf("%d park_hourly_seal points, want 3 (the hour sealed twice is one point)", len(vals))
	}
	if last := vals[2]; fmt.Sprint(last[1]) != "4" || last[2] != entries[3].Hash.String() {
		t.Errorf("last seal point %v, want seq 4 hash %s", last, entries[3].Hash)
	}
}

// TestServiceRefusesABrokenAuditLog: the engine does not start on an
// audit log whose chain is broken; the error names the file and entry.
func TestServiceRefusesABrokenAuditLog(t *testing.T) {
	dir := t.TempDir()
	l, err := seal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := l.Append(day0.Add(time.Duration(i)*time.Hour), []string{fmt.Sprintf("park_hourly,metric=x,park=p value=%d 0", i)}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	path := filepath.Join(dir, seal.LogFile)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "value=1", "value=7", 1)), 0o640); err != nil {
		t.Fatal(err)
	}
	role := parkRole(t, loadExample(t))
	role.Engine.AuditLog = dir
	svc, err := NewService(role, slog.New(slog.DiscardHandler), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2 seq=2") {
		t.Fatalf("run: %v, want the broken entry named", err)
	}
}

package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/testenv"
)

// TestCompletenessAgainstInfluxDB writes batches with holes into a real
// InfluxDB and checks that exactly the holes become completeness records,
// once, and only after the grace period.
func TestCompletenessAgainstInfluxDB(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	writeLines := func(lines ...string) {
		t.Helper()
		resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=ms", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write: %s", resp.Status)
		}
	}
	batchLine := func(kind, gw string, seq int, at time.Time) string {
		return fmt.Sprintf("%s,device=d,gateway=%s,park=p x=1,batch_seq=%di %d", kind, gw, seq, at.UnixMilli())
	}
	var lines []string
	for _, s := range []int{1, 2, 3, 4, 5, 8, 9, 10} { // 6 and 7 never arrived
		lines = append(lines, batchLine([]string{"chp", "cems"}[s%2], "gw-1", s, t0.Add(time.Duration(s)*time.Second)))
	}
	lines = append(lines, batchLine("chp", "gw-2", 1, t0), batchLine("chp", "gw-2", 2, t0.Add(time.Second)))
	writeLines(lines...)

	clock := t0.Add(time.Minute)
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	q := newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second)
	c := &completeness{
		park: "p", q: q, grace: 30 * time.Second, log: slog.New(slog.DiscardHandler),
		gaps: m.gaps, missing: m.missing, gateways: map[string]*gatewayState{},
		now: func() time.Time { return clock },
		write: func(ctx context.Context, line string) error {
			writeLines(line)
			return nil
		},
	}
	c.seen("gw-1")
	c.seen("gw-2")
	ctx := context.Background()
	gaps, err := c.check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].Gateway != "gw-1" || gaps[0].First != 6 || gaps[0].Last != 7 || !gaps[0].Time.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("gaps %+v, want gw-1 6..7 at the poll time of seq 8", gaps)
	}
	// A second pass finds nothing new.
	if gaps, err := c.check(ctx); err != nil || len(gaps) != 0 {
		t.Fatalf("second pass: %+v, %v", gaps, err)
	}
	// 12 is missing but 13 is recent: not declared until the grace passed.
	writeLines(batchLine("chp", "gw-1", 11, clock.Add(-10*time.Second)), batchLine("chp", "gw-1", 13, clock.Add(-5*time.Second)))
	if gaps, err := c.check(ctx); err != nil || len(gaps) != 0 {
		t.Fatalf("within grace: %+v, %v", gaps, err)
	}
	clock = clock.Add(time.Minute)
	gaps, err = c.check(ctx)
	if err != nil || len(gaps) != 1 || gaps[0].First != 12 || gaps[0].Last != 12 {
		t.Fatalf("after grace: %+v, %v", gaps, err)
	}
	series, err := ifx.Query("eipgw", `SELECT missing_first, missing_last, missing_count FROM completeness WHERE gateway='gw-1'`)
	if err != nil || len(series) != 1 || len(series[0].Values) != 2 {
		t.Fatalf("completeness records: %+v, %v", series, err)
	}
	if got := fmt.Sprint(series[0].Values); got != fmt.Sprintf("[[%d 6 7 2] [%d 12 12 1]]", t0.Add(8*time.Second).UnixMilli(), clock.Add(-time.Minute-5*time.Second).UnixMilli()) {
		t.Errorf("records %s", got)
	}
}

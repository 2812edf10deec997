package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
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
	// gw-3: 2 and 4 lost, and the batches after them (two devices on two
	// buses) share a poll time: two records, not one replacing the other.
	lines = append(lines, batchLine("chp", "gw-3", 1, t0),
		strings.Replace(batchLine("chp", "gw-3", 3, t0.Add(time.Second)), "device=d", "device=a", 1),
		strings.Replace(batchLine("chp", "gw-3", 5, t0.Add(time.Second)), "device=d", "device=b", 1))
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
	c.seen("gw-3")
	ctx := context.Background()
	// Polled long ago, but first in sight now: nothing is declared until
	// a number after each gap has been in sight for the grace.
	if gaps, err := c.check(ctx); err != nil || len(gaps) != 0 {
		t.Fatalf("first in sight: %+v, %v; want nothing declared yet", gaps, err)
	}
	clock = clock.Add(c.grace)
	gaps, err := c.check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 3 || gaps[1].Gateway != "gw-3" || gaps[2].Gateway != "gw-3" || !gaps[2].Time.Equal(gaps[1].Time.Add(time.Millisecond)) {
		t.Fatalf("gaps %+v, want gw-1's and two of gw-3 a millisecond apart", gaps)
	}
	if s, err := ifx.Query("eipgw", `SELECT missing_first FROM completeness WHERE gateway='gw-3'`); err != nil || len(s) != 1 || len(s[0].Values) != 2 {
		t.Fatalf("gw-3's records: %+v, %v; want 2", s, err)
	}
	gaps = gaps[:1]
	if len(gaps) != 1 || gaps[0].Gateway != "gw-1" || gaps[0].First != 6 || gaps[0].Last != 7 || !gaps[0].Time.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("gaps %+v, want gw-1 6..7 at the poll time of seq 8", gaps)
	}
	// A second pass finds nothing new.
	if gaps, err := c.check(ctx); err != nil || len(gaps) != 0 {
		t.Fatalf("second pass: %+v, %v", gaps, err)
	}
	// 12 is missing but 13 is recent: not declared until the grace passed.
	writeLines(batchLine("chp", "gw-1", 11, clock.Add(-10*time.Second)), batchLine("chp", "gw-1", 13, clock.Add(-5*time.Second)))
	c.seen("gw-1")
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

// TestCompletenessImplausibleGap: a number far beyond the bound that
// reached InfluxDB is recorded once as implausible, never as missing
// batches, and the real gap after it is still declared; at start a stray
// low number does not decide where the checker starts.
func TestCompletenessImplausibleGap(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	var lines []string
	at := func(gw string, seq, sec int) {
		lines = append(lines, fmt.Sprintf("chp,device=d,gateway=%s,park=p x=1,batch_seq=%di %d", gw, seq, t0.Add(time.Duration(sec)*time.Second).UnixMilli()))
	}
	for _, s := range []int{1, 2, 3, 4, 5, 8, 9, 10} {
		at("gw-1", s, s)
	}
	at("gw-1", 1_000_000_000, 6) // forged, within the last hour
	at("gw-3", 1, 1)             // forged low number
	for s := 5000; s <= 5004; s++ {
		at("gw-3", s, s-4990)
	}
	at("gw-3", 5006, 20)
	resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=ms", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", err, resp)
	}
	written := checkInSight(t, ifx.URL, t0, "gw-1", "gw-3")
	want := []string{
		fmt.Sprintf("completeness,gateway=gw-1,park=p missing_first=6i,missing_last=7i,missing_count=2i %d", t0.Add(8*time.Second).UnixMilli()),
		fmt.Sprintf("completeness,gateway=gw-1,park=p implausible_first=11i,implausible_last=999999999i,implausible_count=999999989i %d", t0.Add(6*time.Second).UnixMilli()),
		fmt.Sprintf("completeness,gateway=gw-3,park=p missing_first=5005i,missing_last=5005i,missing_count=1i %d", t0.Add(20*time.Second).UnixMilli()),
	}
	if got := strings.Join(written, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("records\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestCompletenessIgnoresUnverified: a reading stored flagged as not
// signed by its gateway (anyone could have sent it) does not stand for the
// gateway's batch of its number: the gateway's batch 3, lost, is declared
// though a forged batch 3 is stored; a fork and a chain restart, signed by
// the gateway, count.
func TestCompletenessIgnoresUnverified(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	line := func(seq, sec int, check string) string {
		return fmt.Sprintf("meter,device=d,gateway=gw-1,park=p x=1,batch_seq=%di,batch_check=%q %d", seq, check, t0.Add(time.Duration(sec)*time.Second).UnixMilli())
	}
	postLines(t, ifx.URL, line(1, 1, "ok"), line(2, 2, "ok"), line(3, 40, "unsigned"), line(4, 4, "fork"),
		line(5, 5, "chain_restart"), line(6, 41, "bad_signature"), line(7, 42, "unknown_key"), line(6, 6, "ok"),
		line(8, 43, "invalid"), line(9, 9, "ok"),
		// A gateway without keys: no batch_check at all.
		fmt.Sprintf("meter,device=d,gateway=gw-2,park=p x=1,batch_seq=1i %d", t0.Add(time.Second).UnixMilli()),
		fmt.Sprintf("meter,device=d,gateway=gw-2,park=p x=1,batch_seq=3i %d", t0.Add(3*time.Second).UnixMilli()))
	written := checkInSight(t, ifx.URL, t0, "gw-1", "gw-2")
	want := []string{
		fmt.Sprintf("completeness,gateway=gw-1,park=p missing_first=3i,missing_last=3i,missing_count=1i %d", t0.Add(4*time.Second).UnixMilli()),
		fmt.Sprintf("completeness,gateway=gw-1,park=p missing_first=7i,missing_last=8i,missing_count=2i %d", t0.Add(9*time.Second).UnixMilli()),
		fmt.Sprintf("completeness,gateway=gw-2,park=p missing_first=2i,missing_last=2i,missing_count=1i %d", t0.Add(3*time.Second).UnixMilli()),
	}
	if got := strings.Join(written, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("records\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// checkInSight runs checks of park p's gateways in the InfluxDB at url
// (grace 30 s, max_seq_jump 1000, the clock half an hour after t0): one
// that first sees the gaps, which declares none of them, and two the
// grace later; it returns the records they would write.
func checkInSight(t *testing.T, url string, t0 time.Time, gateways ...string) []string {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	var written []string
	clock := t0.Add(time.Hour / 2)
	c := &completeness{
		park: "p", q: newInfluxQL(url, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second,
		log: slog.New(slog.DiscardHandler), gaps: m.gaps, missing: m.missing, implausibleGaps: m.implausible,
		maxGap: 1000, gateways: map[string]*gatewayState{}, now: func() time.Time { return clock },
		write: func(ctx context.Context, line string) error { written = append(written, line); return nil },
	}
	for _, g := range gateways {
		c.seen(g)
	}
	for pass := range 3 {
		gaps, err := c.check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pass == 0 {
			for _, g := range gaps {
				if !g.Implausible {
					t.Fatalf("gap %+v declared in the pass that first saw it", g)
				}
			}
			clock = clock.Add(c.grace)
		}
	}
	return written
}

// postLines writes line protocol to the eipgw database at ms precision.
func postLines(t *testing.T, url string, lines ...string) {
	t.Helper()
	resp, err := http.Post(url+"/write?db=eipgw&precision=ms", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

// The checker declares lost only what is lost: not the later parts of a
// split poll whose first part was lost (their point has no batch_seq),
// not a gap a restarted checker meets again, not a batch this worker still
// holds, nothing while writes fail or just after an outage longer than
// the grace.
func TestCompletenessLateNotLost(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	sec := func(s int) int64 { return t0.Add(time.Duration(s) * time.Second).UnixMilli() }
	line := func(gw string, fields string, s int) string {
		return fmt.Sprintf("chp,device=d,gateway=%s,park=p x=1,%s %d", gw, fields, sec(s))
	}
	postLines(t, ifx.URL, line("gw-1", "batch_seq=1i", 1), line("gw-1", "batch_seq=2i", 2))
	clock := t0.Add(time.Minute)
	var held holdings
	var out outages
	newChecker := func() *completeness {
		m := newMetrics(prometheus.NewRegistry())
		c := &completeness{
			park: "p", q: newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second,
			log: slog.New(slog.DiscardHandler), gaps: m.gaps, missing: m.missing, implausibleGaps: m.implausible,
			gateways: map[string]*gatewayState{}, now: func() time.Time { return clock },
			write: func(ctx context.Context, l string) error { postLines(t, ifx.URL, l); return nil },
			held:  &held, outage: &out,
		}
		c.seen("gw-1")
		return c
	}
	check := func(c *completeness, what string, want ...seqRange) {
		t.Helper()
		c.seen("gw-1") // the batches posted were this worker's
		gaps, err := c.check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []seqRange
		for _, g := range gaps {
			got = append(got, seqRange{g.First, g.Last})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: gaps %v, want %v", what, got, want)
		}
	}
	// A gap is declared once a number after it has been in sight for the
	// grace: a first pass sees it, a pass the grace later declares it.
	sightThenCheck := func(c *completeness, what string, want ...seqRange) {
		t.Helper()
		check(c, what+", first in sight")
		clock = clock.Add(c.grace)
		check(c, what, want...)
	}
	c := newChecker()
	check(c, "start")
	// A poll split in three: its first part (3) lost, parts 1 and 2 (4, 5)
	// stored in a point without batch_seq; then 6 and 7.
	postLines(t, ifx.URL, line("gw-1", "batch_seq_1=4i,batch_seq_2=5i", 3), line("gw-1", "batch_seq=6i", 4), line("gw-1", "batch_seq=7i", 5))
	sightThenCheck(c, "split poll, first part lost", seqRange{3, 3})

	// 8 is held by this worker (a retry, the side lane): late, not lost.
	postLines(t, ifx.URL, line("gw-1", "batch_seq=9i", 7))
	held.add("gw-1", 8)
	check(c, "8 held")
	held.done("gw-1", 8)
	sightThenCheck(c, "8 no longer held", seqRange{8, 8})

	// Writes failing: nothing declared; an outage of the grace or longer
	// that ended less than the grace ago: nothing either.
	postLines(t, ifx.URL, line("gw-1", "batch_seq=11i", 8))
	out.failure(clock.Add(-40 * time.Second))
	check(c, "writes failing")
	out.success(clock)
	check(c, "just after a 40 s outage")
	clock = clock.Add(31 * time.Second)
	check(c, "the grace after the outage", seqRange{10, 10})

	// A restarted checker walks the last hour again: a gap recorded
	// before (at the next millisecond, as when two records share a poll
	// time) is not declared a second time, and new ones still are.
	postLines(t, ifx.URL, fmt.Sprintf("completeness,gateway=gw-1,park=p missing_first=12i,missing_last=12i,missing_count=1i %d", sec(9)+1),
		line("gw-1", "batch_seq=13i", 9), line("gw-1", "batch_seq=15i", 10))
	c = newChecker()
	sightThenCheck(c, "after a restart", seqRange{14, 14})
	s, err := ifx.Query("eipgw", `SELECT sum(missing_count) FROM completeness WHERE gateway='gw-1'`)
	if err != nil || len(s) != 1 || fmt.Sprint(s[0].Values[0][1]) != "5" {
		t.Fatalf("sum(missing_count) %+v, %v; want 5 (3, 8, 10, 12, 14)", s, err)
	}
}

func TestUncovered(t *testing.T) {
	for _, tt := range []struct {
		g        seqRange
		declared []seqRange
		want     string
	}{
		{seqRange{5, 9}, nil, "[{5 9}]"},
		{seqRange{5, 9}, []seqRange{{5, 9}}, "[]"},
		{seqRange{5, 9}, []seqRange{{1, 20}}, "[]"},
		{seqRange{5, 9}, []seqRange{{1, 4}, {10, 12}}, "[{5 9}]"},
		{seqRange{5, 9}, []seqRange{{6, 7}}, "[{5 5} {8 9}]"},
		{seqRange{5, 9}, []seqRange{{3, 5}, {9, 11}}, "[{6 8}]"},
		{seqRange{5, 9}, []seqRange{{5, 5}, {6, 6}, {8, 8}}, "[{7 7} {9 9}]"},
	} {
		if got := fmt.Sprint(uncovered(tt.g, tt.declared)); got != tt.want && !(got == "[]" && tt.want == "[]") {
			t.Errorf("uncovered(%v, %v) = %s, want %s", tt.g, tt.declared, got, tt.want)
		}
	}
}

// The query after the frontier names every part field seen, up to a bound:
// a publisher inventing part numbers cannot make it unbounded, only make
// it read the window without a number condition.
func TestAboveFrontier(t *testing.T) {
	var c completeness
	if got, want := c.aboveFrontier(41), ` AND ("batch_seq" > 41)`; got != want {
		t.Errorf("no parts seen: %q, want %q", got, want)
	}
	for _, f := range []string{"batch_seq_2", "batch_seq_1", "batch_seq_2"} {
		c.knownSeqField(f)
	}
	if got, want := c.aboveFrontier(41), ` AND ("batch_seq" > 41 OR "batch_seq_1" > 41 OR "batch_seq_2" > 41)`; got != want {
		t.Errorf("two parts seen: %q, want %q", got, want)
	}
	for k := 3; k <= maxSeqFieldTerms+1; k++ {
		c.knownSeqField(config.SeqFieldOf(k))
	}
	if got := c.aboveFrontier(41); got != "" {
		t.Errorf("%d part fields: %q, want no condition", len(c.seqFields), got)
	}
}

// TestDeadLetteredBatchIsDeclaredMissing: end to end, a gateway's batch
// that InfluxDB refuses (another writer stored its measurement's
// batch_seq as a float in the shard: the number is written as an integer,
// and never converted) is dead-lettered with InfluxDB's reason and, once
// the grace has passed, declared missing: the records say the readings
// are not in the database, the dead letter holds them.
func TestDeadLetteredBatchIsDeclaredMissing(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	resp, err := http.Post(ifx.URL+"/write?db=eipgw&precision=s", "text/plain", strings.NewReader(fmt.Sprintf("other,park=p batch_seq=0.5 %d", t0.Add(-time.Hour).Unix())))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("seeding the conflict: %v %v", err, resp)
	}
	resp.Body.Close()
	_, stop := startIngest(t, fmt.Sprintf(`park: p
mqtt: {broker: "%s", client_id: refused-ingest}
ingest:
  batch_size: 10
  batch_wait: 20ms
  influxdb: {url: "%s", bucket: eipgw/autogen}
  completeness: {interval: 1s, grace: 2s}
`, mq.URL, ifx.URL), slog.New(slog.DiscardHandler))
	defer stop()
	pub := newPublisher(t, mq.URL, "refused-test")
	pub.waitIngest()
	for seq, kind := range []string{"meter", "other", "meter"} { // seq 2: refused
		pub.publishRaw("gw", "m", fmt.Appendf(nil, `{"v":2,"gateway":"gw","seq":%d,"device":"m","kind":%q,"ts":%q,"points":[{"n":"x","v":5.5,"u":"m3","q":"good"}]}`,
			seq+1, kind, t0.Add(time.Duration(seq)*time.Second).UTC().Format(batch.TimeLayout)))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, err := ifx.Query("eipgw", `SELECT missing_first, missing_last FROM completeness WHERE gateway = 'gw'`)
		dead := pub.deadLetters()
		if err == nil && len(s) == 1 && fmt.Sprint(s[0].Values[0][1:]) == "[2 2]" && strings.HasPrefix(dead[2], ReasonRejected+": ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("completeness records %+v (%v), dead letters %v; want seq 2 dead-lettered %s and declared missing", s, err, dead, ReasonRejected)
		}
	}
}

// TestCompletenessFollowsWhatMoves: 300 gateway ids that each stored one
// batch (anyone who can publish can invent them) and one real gateway
// with gaps. Each pass checks every gateway, those that stored something
// new through this worker first, so the real gap is declared at the head
// of the pass however many ids were invented; a gateway whose batches
// another worker stored is still checked, and so is one silent for hours;
// a gateway whose query fails does not keep the others from being
// checked.
func TestCompletenessFollowsWhatMoves(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	var failing atomic.Int64
	var mu sync.Mutex
	var order []string // the gateways queried, in order
	// In front of InfluxDB: counts the queries, and fails those of
	// fake-000 while failing is set.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/query" {
			q := r.URL.Query().Get("q")
			if form, err := url.ParseQuery(string(body)); err == nil && form.Get("q") != "" {
				q = form.Get("q")
			}
			if m := regexp.MustCompile(`"gateway" = '([^']+)'`).FindStringSubmatch(q); m != nil {
				mu.Lock()
				if len(order) == 0 || order[len(order)-1] != m[1] {
					order = append(order, m[1])
				}
				mu.Unlock()
			}
			if failing.Load() > 0 && strings.Contains(q, "'fake-000'") {
				http.Error(w, `{"error":"timeout"}`, http.StatusInternalServerError)
				return
			}
		}
		req, _ := http.NewRequest(r.Method, ifx.URL+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	defer front.Close()

	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	writeLines := func(lines ...string) { t.Helper(); postLines(t, ifx.URL, lines...) }
	line := func(gw string, seq int, at time.Time) string {
		return fmt.Sprintf("chp,device=d,gateway=%s,park=p x=1,batch_seq=%di %d", gw, seq, at.UnixMilli())
	}
	clock := t0.Add(time.Minute)
	m := newMetrics(prometheus.NewRegistry())
	c := &completeness{
		park: "p", q: newInfluxQL(front.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second, log: slog.New(slog.DiscardHandler),
		gaps: m.gaps, missing: m.missing, gateways: map[string]*gatewayState{},
		now:   func() time.Time { return clock },
		write: func(ctx context.Context, l string) error { writeLines(l); return nil },
	}
	var lines []string
	for i := range 300 {
		lines = append(lines, line(fmt.Sprintf("fake-%03d", i), 1, t0.Add(time.Duration(i)*time.Millisecond)))
	}
	lines = append(lines, line("gw-real", 1, t0), line("gw-real", 2, t0.Add(time.Second)))
	writeLines(lines...)
	for i := range 300 {
		c.seen(fmt.Sprintf("fake-%03d", i))
	}
	c.seen("gw-real")
	ctx := context.Background()
	pass := func() ([]Gap, []string, error) {
		mu.Lock()
		order = nil
		mu.Unlock()
		gaps, err := c.check(ctx)
		mu.Lock()
		defer mu.Unlock()
		return gaps, slices.Clone(order), err
	}
	if _, q, err := pass(); err != nil || len(q) != 301 {
		t.Fatalf("first pass: %v, %d gateways queried, want 301", err, len(q))
	}
	// sightThenPass runs a pass that first sees new gaps (it declares
	// none: a gap is declared once a number after it has been in sight
	// for the grace), and another the grace later; it returns the first
	// pass's order and the second's results.
	sightThenPass := func(what string) (first []string, gaps []Gap, q []string, err error) {
		t.Helper()
		sighted, first, _ := pass()
		if len(sighted) != 0 {
			t.Fatalf("%s: %+v declared in the pass that first saw them", what, sighted)
		}
		clock = clock.Add(c.grace)
		gaps, q, err = pass()
		return first, gaps, q, err
	}

	// gw-real loses 3 and stores 4: the next pass checks it first and
	// sees the gap, and the pass the grace later checks it first again
	// (its number is waiting) and declares 3.
	writeLines(line("gw-real", 4, t0.Add(3*time.Second)))
	c.seen("gw-real")
	clock = clock.Add(time.Minute)
	first, gaps, q, err := sightThenPass("second pass")
	if err != nil || len(gaps) != 1 || gaps[0].Gateway != "gw-real" || gaps[0].First != 3 || gaps[0].Last != 3 {
		t.Fatalf("second pass: %+v, %v", gaps, err)
	}
	for _, q := range [][]string{first, q} {
		if len(q) == 0 || q[0] != "gw-real" {
			t.Errorf("a pass checked %v first, want gw-real, the one that stored something", q[:min(len(q), 3)])
		}
	}

	// A failing query of one gateway: the others are still checked. And
	// fake-150's next batches were stored by another worker of the group:
	// its gap is declared all the same.
	failing.Store(1)
	writeLines(line("fake-000", 2, t0.Add(4*time.Second)), line("gw-real", 5, t0.Add(5*time.Second)), line("gw-real", 7, t0.Add(7*time.Second)),
		line("fake-150", 2, t0.Add(8*time.Second)), line("fake-150", 4, t0.Add(9*time.Second)))
	c.seen("fake-000")
	c.seen("gw-real")
	clock = clock.Add(time.Minute)
	_, gaps, _, err = sightThenPass("one gateway failing")
	if err == nil || !strings.Contains(err.Error(), "fake-000") {
		t.Errorf("failing gateway: err %v", err)
	}
	got := map[string]uint64{}
	for _, g := range gaps {
		got[g.Gateway] = g.First
	}
	if len(gaps) != 2 || got["gw-real"] != 6 || got["fake-150"] != 3 {
		t.Errorf("gaps with one gateway failing and one stored by another worker: %+v", gaps)
	}

	// Silent for hours, gw-real comes back having lost 8 and 9.
	failing.Store(0)
	writeLines(line("gw-real", 10, t0.Add(3*time.Hour)))
	c.seen("gw-real")
	clock = t0.Add(4 * time.Hour)
	_, gaps, _, err = sightThenPass("after hours of silence")
	if err != nil || len(gaps) != 1 || gaps[0].Gateway != "gw-real" || gaps[0].First != 8 || gaps[0].Last != 9 {
		t.Errorf("after hours of silence: %+v, %v", gaps, err)
	}
}

// TestCompletenessFollowsOtherWorkersGateways: in a group whose broker hands
// all of a gateway's batches to another worker (EMQX's sticky or
// client-hash strategies), the one checking worker stores none of them. It
// finds the gateway in InfluxDB all the same and declares its gap; a
// gateway stored only long ago is not looked up again and again.
func TestCompletenessFollowsOtherWorkersGateways(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	now := time.Now().Truncate(time.Millisecond)
	line := func(gw string, seq int, at time.Time) string {
		return fmt.Sprintf("chp,device=d,gateway=%s,park=p x=1,batch_seq=%di %d", gw, seq, at.UnixMilli())
	}
	// Stored by the other worker: 3 and 4 lost.
	var lines []string
	for _, s := range []int{1, 2, 5, 6} {
		lines = append(lines, line("gw-other", s, now.Add(time.Duration(s-7)*time.Second)))
	}
	lines = append(lines, line("gw-gone", 1, now.Add(-3*time.Hour)), line("gw-gone", 3, now.Add(-3*time.Hour+time.Second)),
		// another park's gateway, and a park metric's series (reserved)
		"chp,device=d,gateway=gw-q,park=q x=1,batch_seq=1i "+fmt.Sprint(now.Add(-time.Second).UnixMilli()),
		"park_hourly,gateway=gw-park,park=p batch_seq=1i "+fmt.Sprint(now.Add(-time.Second).UnixMilli()))
	postLines(t, ifx.URL, lines...)
	clock := now.Add(time.Minute)
	m := newMetrics(prometheus.NewRegistry())
	c := &completeness{
		park: "p", q: newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second, log: slog.New(slog.DiscardHandler),
		gaps: m.gaps, missing: m.missing, gateways: map[string]*gatewayState{},
		now:    func() time.Time { return clock },
		write:  func(ctx context.Context, l string) error { postLines(t, ifx.URL, l); return nil },
		window: 2*30*time.Second + time.Minute,
	}
	// The first pass finds the gateway and sees its gap; the pass the
	// grace later declares it.
	if gaps, err := c.check(context.Background()); err != nil || len(gaps) != 0 {
		t.Fatalf("first pass: %+v, %v; want nothing declared yet", gaps, err)
	}
	clock = clock.Add(c.grace)
	gaps, err := c.check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].Gateway != "gw-other" || gaps[0].First != 3 || gaps[0].Last != 4 {
		t.Fatalf("gaps %+v, want gw-other's 3..4", gaps)
	}
	c.mu.Lock()
	followed := slices.Sorted(maps.Keys(c.gateways))
	c.mu.Unlock()
	if !slices.Equal(followed, []string{"gw-other"}) {
		t.Errorf("followed %v, want only gw-other (not another park's, a reserved series', or one stored hours ago)", followed)
	}
}

// TestCompletenessClockSteppedBack: a gateway's clock steps back by half
// an hour (a time zone corrected, say): its next numbers are stored at
// poll times before the read-back's window, 10 minutes before the
// frontier's. They are found before a gap is declared, and only the
// number really lost is.
func TestCompletenessClockSteppedBack(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	line := func(seq int, at time.Time) string {
		return fmt.Sprintf("chp,device=d,gateway=gw-s,park=p x=1,batch_seq=%di %d", seq, at.UnixMilli())
	}
	postLines(t, ifx.URL, line(1, t0), line(2, t0.Add(time.Second)), line(3, t0.Add(2*time.Second)))
	clock := t0.Add(time.Minute)
	m := newMetrics(prometheus.NewRegistry())
	c := &completeness{
		park: "p", q: newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second, log: slog.New(slog.DiscardHandler),
		gaps: m.gaps, missing: m.missing, gateways: map[string]*gatewayState{},
		now:   func() time.Time { return clock },
		write: func(ctx context.Context, l string) error { postLines(t, ifx.URL, l); return nil },
	}
	c.seen("gw-s")
	if gaps, err := c.check(context.Background()); err != nil || len(gaps) != 0 {
		t.Fatalf("first pass: %+v, %v", gaps, err)
	}
	// The clock steps back 30 minutes at seq 4; 6 is lost; it is set
	// right again at 8.
	back := t0.Add(-30 * time.Minute)
	postLines(t, ifx.URL, line(4, back.Add(3*time.Second)), line(5, back.Add(4*time.Second)), line(7, back.Add(6*time.Second)), line(8, t0.Add(10*time.Second)))
	c.seen("gw-s")
	clock = clock.Add(time.Minute)
	if gaps, err := c.check(context.Background()); err != nil || len(gaps) != 0 {
		t.Fatalf("the pass that first sees the gap: %+v, %v; want nothing declared yet", gaps, err)
	}
	clock = clock.Add(c.grace)
	gaps, err := c.check(context.Background())
	if err != nil || len(gaps) != 1 || gaps[0].First != 6 || gaps[0].Last != 6 {
		t.Fatalf("after the step back: %+v, %v; want only 6 missing", gaps, err)
	}
}

// TestCompletenessGapDeclaredOnceInAGroup: two workers of a group follow
// one gateway; both find its gap, one after the other. It is recorded,
// counted and logged once: the second finds the first's record before it
// declares. A flood of gaps (invented gateways) logs one line per
// interval, with the count of those not logged.
func TestCompletenessGapDeclaredOnceInAGroup(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	now := time.Now().Truncate(time.Millisecond)
	var lines []string
	for _, s := range []int{1, 2, 5, 6} {
		lines = append(lines, fmt.Sprintf("chp,device=d,gateway=gw-g,park=p x=1,batch_seq=%di %d", s, now.Add(time.Duration(s-7)*time.Second).UnixMilli()))
	}
	for g := range 5 {
		for _, s := range []int{1, 9} {
			lines = append(lines, fmt.Sprintf("chp,device=d,gateway=gw-x%d,park=p x=1,batch_seq=%di %d", g, s, now.Add(time.Duration(s-10)*time.Second).UnixMilli()))
		}
	}
	postLines(t, ifx.URL, lines...)
	later := now.Add(time.Minute)
	worker := func(clock *time.Time) (*completeness, *metrics, *strings.Builder) {
		m := newMetrics(prometheus.NewRegistry())
		var logs strings.Builder
		return &completeness{
			park: "p", q: newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second, log: slog.New(slog.NewTextHandler(&logs, nil)),
			gaps: m.gaps, missing: m.missing, gateways: map[string]*gatewayState{},
			now:     func() time.Time { return *clock },
			write:   func(ctx context.Context, l string) error { postLines(t, ifx.URL, l); return nil },
			gapLogs: telemetry.Repeats{Interval: gapLogInterval},
		}, m, &logs
	}
	clock1, clock2 := later, now
	c1, m1, logs1 := worker(&clock1)
	c2, m2, logs2 := worker(&clock2)
	// The second worker follows gw-g first, while its gap may still fill
	// (within the grace): it reads the gateway's records, none declared.
	c2.seen("gw-g")
	if gaps, err := c2.check(context.Background()); err != nil || len(gaps) != 0 {
		t.Fatalf("second worker's first pass: %v %v, want no gap yet", gaps, err)
	}
	// The first sees it, and five invented gateways' gaps, and declares
	// them the grace later.
	c1.seen("gw-g")
	for g := range 5 {
		c1.seen(fmt.Sprintf("gw-x%d", g))
	}
	if gaps, err := c1.check(context.Background()); err != nil || len(gaps) != 0 {
		t.Fatalf("first worker's first pass: %v %v, want no gap yet", gaps, err)
	}
	clock1 = clock1.Add(c1.grace)
	if _, err := c1.check(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The second, the grace after it saw the gap, finds the record.
	clock2 = later
	if _, err := c2.check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var d1, d2 dto.Metric
	m1.gaps.Write(&d1)
	m2.gaps.Write(&d2)
	if d1.GetCounter().GetValue() != 6 || d2.GetCounter().GetValue() != 0 {
		t.Errorf("gaps counted: first worker %g, second %g; want 6 (gw-g and five invented) and 0", d1.GetCounter().GetValue(), d2.GetCounter().GetValue())
	}
	if n := strings.Count(logs1.String(), "batches missing"); n != 1 || !strings.Contains(logs1.String(), "gaps_since_last_log=0") {
		t.Errorf("first worker logged %d gap lines, want 1:\n%s", n, logs1.String())
	}
	if strings.Contains(logs2.String(), "batches missing") {
		t.Errorf("second worker logged a gap:\n%s", logs2.String())
	}
}

// TestCompletenessBacklogOutOfOrder: batches polled long ago (a backlog
// after an outage of the edge's link) come with a few out of order, as a
// reconnection can bring them: 6 and 7 stored before 4 and 5, which
// follow within the grace. Nothing is declared, though every poll time is
// far older than the grace, and though a forged far-off number was seen
// long before. A gap still open the grace after it came in sight is
// declared.
func TestCompletenessBacklogOutOfOrder(t *testing.T) {
	ifx := testenv.StartInflux(t, "eipgw")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	line := func(seq int, at time.Time) string {
		return fmt.Sprintf("chp,device=d,gateway=gw-b,park=p x=1,batch_seq=%di %d", seq, at.UnixMilli())
	}
	at := func(seq int) time.Time { return t0.Add(time.Duration(seq) * time.Second) }
	postLines(t, ifx.URL, line(1, at(1)), line(2, at(2)), line(3, at(3)), line(1_000_000_000, at(3).Add(500*time.Millisecond)))
	clock := t0.Add(time.Minute)
	m := newMetrics(prometheus.NewRegistry())
	c := &completeness{
		park: "p", q: newInfluxQL(ifx.URL, "eipgw/autogen", "", 10*time.Second), grace: 30 * time.Second, log: slog.New(slog.DiscardHandler),
		gaps: m.gaps, missing: m.missing, implausibleGaps: m.implausible, maxGap: 1000, gateways: map[string]*gatewayState{},
		now:   func() time.Time { return clock },
		write: func(ctx context.Context, l string) error { postLines(t, ifx.URL, l); return nil },
	}
	check := func(what string, want ...seqRange) {
		t.Helper()
		c.seen("gw-b")
		gaps, err := c.check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []seqRange
		for _, g := range gaps {
			if !g.Implausible {
				got = append(got, seqRange{g.First, g.Last})
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: gaps %v, want %v", what, got, want)
		}
	}
	check("start")
	clock = clock.Add(10 * time.Minute) // the forged number long in sight

	// The backlog: 6 and 7 first, 4 and 5 ten seconds later.
	postLines(t, ifx.URL, line(6, at(6)), line(7, at(7)))
	check("6 and 7 before 4 and 5")
	clock = clock.Add(10 * time.Second)
	postLines(t, ifx.URL, line(4, at(4)), line(5, at(5)))
	check("4 and 5 came")
	clock = clock.Add(time.Minute)
	check("a minute later")

	// 9 comes and 8 never does: declared once 9 has been in sight for the
	// grace, not before.
	postLines(t, ifx.URL, line(9, at(9)))
	check("9 in sight")
	clock = clock.Add(29 * time.Second)
	check("9 in sight for 29 s")
	clock = clock.Add(time.Second)
	check("9 in sight for the grace", seqRange{8, 8})
}

// TestSightingsBounded: while a gap stays open, a publisher that sends a
// higher number every 100 ms for an hour (anyone who can publish can)
// neither grows what the checker keeps nor keeps the gap from being
// declared once a number after it has been in sight for the grace; and
// a number is never read as seen more than grace/sightSlices before it
// was.
func TestSightingsBounded(t *testing.T) {
	var st gatewayState
	grace := time.Minute
	t0 := time.Unix(1_000_000_000, 0)
	st.sight(101, t0, grace)
	for i := 1; i <= 36000; i++ {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		top := uint64(101 + i)
		st.sight(top, now, grace)
		if n := len(st.sightings); n > sightSlices+2 {
			t.Fatalf("at %v: %d sightings kept", now.Sub(t0), n)
		}
		if now.Sub(t0) >= grace && now.Sub(st.sightedSince(101)) < grace {
			t.Fatalf("at %v: 101, seen at the start, reads as seen at %v", now.Sub(t0), st.sightedSince(101).Sub(t0))
		}
		if early := now.Sub(st.sightedSince(top)); early > grace/sightSlices {
			t.Fatalf("at %v: %d, seen now, reads as seen %v before", now.Sub(t0), top, early)
		}
	}
	// Numbers already passed are not asked for; a lower one than any
	// sighting reads as seen with the first.
	if got := st.sightedSince(1); !got.Equal(st.sightings[0].at) {
		t.Errorf("sightedSince(1) = %v, want the first sighting's %v", got, st.sightings[0].at)
	}
}

package dashboards

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/gateway/devtools/demo"
	"github.com/eipgw/eipgw/gateway/devtools/sim"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	parkengine "github.com/eipgw/eipgw/gateway/park"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

var demoFor = flag.Duration("demo", time.Minute, "how long the live demo runs before the panel queries")

// The committed dashboards, as Grafana reads them.
const jsonDir = "provisioning/dashboards/eipgw"

type dashJSON struct {
	file  string
	UID   string `json:"uid"`
	Title string `json:"title"`
	Time  struct {
		From string `json:"from"`
	} `json:"time"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Query      string `json:"query"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		TimeFrom   string `json:"timeFrom"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Query string `json:"query"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboards(t *testing.T) []dashJSON {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(jsonDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v)", jsonDir, err)
	}
	var out []dashJSON
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashJSON{file: filepath.Base(f)}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

const (
	park    = "dash"
	histGW  = "gw-hist"
	db      = "eipgw"
	minute  = time.Minute
	grace   = 10 * time.Minute // past the engine's hourly grace (2 min)
	simSeed = 7
)

// TestPanelQueriesOnDemoData fills a real InfluxDB 1.8.10 the way a park
// does and runs every InfluxQL panel and variable query of the committed
// dashboards against it, with Grafana's macros and variables substituted
// as Grafana would (every variable at "All"). Each query must return at
// least one series, every column it selects must hold a value, and every
// park metric a panel names must be among the series.
//
// The data: the demo (simulator, edge, ingest, park engine) runs live
// against Mosquitto for -demo (default 1 minute); meanwhile the four
// hours before the current one are replayed from the same simulator as a
// second gateway through the broker and ingest, and through a park engine
// whose records are written to InfluxDB, with the CHP tripped for an hour
// (the standby boilers fire) and the stack analyser timing out for 20
// minutes (invalid hours, readings not good). The two hours around the
// last month boundary are replayed through an engine only, so that a
// daily and a monthly statement close.
func TestPanelQueriesOnDemoData(t *testing.T) {
	dashes := loadDashboards(t)
	mq := testenv.StartMosquitto(t)
	ifx := testenv.StartInflux(t, db)
	state := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	var logs testenv.LogBuffer
	go func() {
		done <- demo.Run(ctx, demo.Options{Park: park, Seed: simSeed, ModbusListen: "127.0.0.1:0", Broker: mq.URL,
			InfluxURL: ifx.URL, Bucket: db + "/autogen", StateDir: state, Interval: time.Second, Step: time.Second, Report: -1,
			Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})), Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo stopped at start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("demo not ready after 60s")
	}
	started := time.Now()

	// The park engine's configuration the demo generated.
	cfg, err := config.Load(filepath.Join(state, "demo-park.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	role, err := cfg.ParkRole()
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(role.Engine.Timezone)
	if err != nil {
		t.Fatal(err)
	}

	client := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("dashboards-history").SetCleanSession(true))
	if tok := client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting to the broker: %v", tok.Error())
	}
	defer client.Disconnect(250)

	now := time.Now()
	h0 := now.Truncate(time.Hour)
	from := h0.Add(-4 * time.Hour)
	var tokens []mqtt.Token
	published := 0
	lines := replay(t, role.Engine, from, h0, func(ts time.Time, p *sim.Park, b *batch.Batch) {
		p.SetCHPTrip(ts.Sub(from) >= time.Hour && ts.Sub(from) < 2*time.Hour)
		if b == nil {
			return
		}
		if b.Device == "cems-1" && ts.Sub(from) >= 2*time.Hour+10*minute && ts.Sub(from) < 2*time.Hour+30*minute {
			for i := range b.Points {
				b.Points[i] = batch.Point{Name: b.Points[i].Name, Unit: b.Points[i].Unit, Quality: batch.Timeout}
			}
		}
		tokens = append(tokens, client.Publish(topic.Data(park, histGW, b.Device), 1, false, b.AppendJSON(nil)))
		published++
		if len(tokens) >= 500 {
			waitTokens(t, tokens)
			tokens = tokens[:0]
		}
	})
	waitTokens(t, tokens)
	writeLines(t, ifx.URL, lines)

	// The last month boundary in the park's time zone, or the one before
	// when it lies in the recent window.
	l := now.In(loc)
	month := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	if month.After(from.Add(-3 * time.Hour)) {
		month = month.AddDate(0, -1, 0)
	}
	writeLines(t, ifx.URL, replay(t, role.Engine, month.Add(-2*time.Hour), month.Add(time.Hour), nil))
	t.Logf("history: %d batches published, replayed %s to %s and around %s", published, from.Format(time.RFC3339), h0.Format(time.RFC3339), month.Format(time.RFC3339))

	// Every published batch stored by ingest.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n := countStored(t, ifx)
		if n == published {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest stored %d of %d history batches; the demo's warnings:\n%s", n, published, logs.String())
		}
		time.Sleep(time.Second)
	}
	if rest := *demoFor - time.Since(started); rest > 0 {
		time.Sleep(rest)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	// The demo's gateway signs its batches: ingest stored their evidence
	// records beside the readings, whose fields include one named device,
	// and a panel reading every measurement must still find the readings
	// by their device tag.
	if ev, err := ifx.Query(db, `SELECT count("seq") FROM "eipgw_batch_evidence"`); err != nil || len(ev) == 0 {
		t.Fatalf("no evidence records of the demo's signed batches: %v", err)
	}

	checked := 0
	for _, d := range dashes {
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			if v.Datasource.UID != "eipgw-influxdb" {
				continue
			}
			q := substitute(v.Query, vars, d.Time.From)
			series, err := ifx.Query(db, q)
			if err != nil {
				t.Errorf("%s: variable %s: %v\n%s", d.file, v.Name, err, q)
				continue
			}
			var vals []string
			for _, s := range series {
				for _, row := range s.Values {
					if len(row) == 2 {
						vals = append(vals, regexp.QuoteMeta(fmt.Sprint(row[1])))
					}
				}
			}
			slices.Sort(vals)
			vals = slices.Compact(vals)
			if len(vals) == 0 {
				t.Errorf("%s: variable %s has no value\n%s", d.file, v.Name, q)
				vals = []string{"none"}
			}
			vars[v.Name] = "(" + strings.Join(vals, "|") + ")"
			checked++
		}
		for _, p := range d.Panels {
			if p.Type == "row" || p.Datasource.UID != "eipgw-influxdb" {
				continue
			}
			from := d.Time.From
			if p.TimeFrom != "" {
				from = "now-" + p.TimeFrom
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("%s: panel %q target %s", d.file, p.Title, tg.RefID)
				q := substitute(tg.Query, vars, from)
				series, err := ifx.Query(db, q)
				if err != nil {
					t.Errorf("%s: %v\n%s", where, err, q)
					continue
				}
				if msg := checkSeries(series, tg.Query); msg != "" {
					t.Errorf("%s: %s\n%s", where, msg, q)
				}
				checked++
			}
		}
	}
	t.Logf("ran %d InfluxQL variable and panel queries", checked)
	if checked < 40 {
		t.Errorf("only %d queries checked", checked)
	}
}

// replay drives a park engine with batches of a simulated park from from
// to to, one poll of every device a minute, and returns the engine's
// records as line protocol. each, when set, sees every step (b nil, before
// the park steps) and every batch before the engine takes it.
func replay(t *testing.T, pe *config.ParkEngine, from, to time.Time, each func(ts time.Time, p *sim.Park, b *batch.Batch)) []byte {
	t.Helper()
	p, err := sim.NewPark(sim.Config{Seed: simSeed}, from)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	clock := from
	eng, err := parkengine.New(pe, parkengine.Options{Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	var out parkengine.Output
	collect := func() {
		o := eng.Advance()
		out.Live = append(out.Live, o.Live...)
		out.Hours = append(out.Hours, o.Hours...)
		out.Statements = append(out.Statements, o.Statements...)
	}
	vals := map[string]float64{}
	var seq uint64
	for ts := from; ts.Before(to); ts = ts.Add(minute) {
		if each != nil {
			each(ts, p, nil)
		}
		p.Step(ts)
		clock = ts
		for _, d := range p.Devices() {
			if err := p.Values(d.Name, vals); err != nil {
				t.Fatal(err)
			}
			prof := profiles[d.Kind]
			seq++
			b := &batch.Batch{Gateway: histGW, Seq: seq, Device: d.Name, Kind: d.Kind, Site: "plant", Tenant: d.Tenant, Time: ts}
			for i := range prof.Points {
				pt := &prof.Points[i]
				v := vals[pt.Name]
				bp := batch.Point{Name: pt.Name, Unit: pt.Unit, Value: v, HasValue: true, Quality: batch.Good, Float32: pt.Float32()}
				switch pt.ValueKind() {
				case modbus.IntValue:
					bp.Kind, bp.Int = batch.IntValue, int64(v)
				case modbus.UintValue:
					bp.Kind, bp.Uint = batch.UintValue, uint64(v)
				}
				b.Points = append(b.Points, bp)
			}
			if each != nil {
				each(ts, p, b)
			}
			if res := eng.Add(histGW, b); res != parkengine.Accepted {
				t.Fatalf("replay: %s at %s: %s", d.Name, ts, res)
			}
		}
		collect()
	}
	clock = to.Add(grace)
	collect()
	if len(out.Hours) == 0 {
		t.Fatalf("replay %s to %s closed no hour", from, to)
	}
	return parkengine.Lines(park, out)
}

func waitTokens(t *testing.T, toks []mqtt.Token) {
	t.Helper()
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publishing history: %v", tok.Error())
		}
	}
}

// writeLines writes line protocol with InfluxDB 1.x's /write.
func writeLines(t *testing.T, base string, lines []byte) {
	t.Helper()
	resp, err := http.Post(base+"/write?db="+db+"&precision=ms", "text/plain", strings.NewReader(string(lines)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("writing park records: %s %s", resp.Status, body)
	}
}

// countStored counts the history batches ingest stored.
func countStored(t *testing.T, ifx *testenv.Influx) int {
	t.Helper()
	series, err := ifx.Query(db, fmt.Sprintf(`SELECT count("batch_seq") FROM /.*/ WHERE "gateway" = '%s'`, histGW))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range series {
		for _, row := range s.Values {
			var c int
			fmt.Sscan(fmt.Sprint(row[1]), &c)
			n += c
		}
	}
	return n
}

var intervalRe = regexp.MustCompile(`^now-(\d+)([smhdwMy])$`)

// substitute replaces Grafana's macros and the variables in q: the time
// filter of the range now-N to now, $__interval as Grafana would choose it
// for about 1000 points (at least 1 s), and each variable by its value.
func substitute(q string, vars map[string]string, from string) string {
	m := intervalRe.FindStringSubmatch(from)
	rng := 6 * time.Hour
	if m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "M": 31 * 24 * time.Hour, "y": 366 * 24 * time.Hour}[m[2]]
		rng = time.Duration(n) * unit
	}
	iv := max(rng/1000, time.Second).Truncate(time.Second)
	q = strings.ReplaceAll(q, "$timeFilter", fmt.Sprintf("time >= now() - %ds", int64(rng/time.Second)))
	q = strings.ReplaceAll(q, "$__interval", fmt.Sprintf("%ds", int64(iv/time.Second)))
	for k, v := range vars {
		q = strings.ReplaceAll(q, "$"+k, v)
	}
	return q
}

var (
	metricEq = regexp.MustCompile(`"metric" = '([a-z0-9_]+)'`)
	metricRe = regexp.MustCompile(`"metric" =~ /\^\(([a-z0-9_|]+)\)\$/`)
)

// checkSeries says what is missing from a query's result: any series, a
// value in a selected column, or a series of a metric the query names.
func checkSeries(series []testenv.Series, query string) string {
	if len(series) == 0 {
		return "no series"
	}
	cols := map[string]bool{}
	for _, s := range series {
		for i, c := range s.Columns {
			if c == "time" {
				continue
			}
			if _, ok := cols[c]; !ok {
				cols[c] = false
			}
			for _, row := range s.Values {
				if i < len(row) && row[i] != nil {
					cols[c] = true
				}
			}
		}
	}
	var empty []string
	for c, ok := range cols {
		if !ok {
			empty = append(empty, c)
		}
	}
	if len(empty) > 0 {
		slices.Sort(empty)
		return fmt.Sprintf("columns without a value: %v", empty)
	}
	var names []string
	if m := metricEq.FindStringSubmatch(query); m != nil {
		names = []string{m[1]}
	} else if m := metricRe.FindStringSubmatch(query); m != nil {
		names = strings.Split(m[1], "|")
	}
	_, group, _ := strings.Cut(query, "GROUP BY")
	if len(names) > 0 && strings.Contains(group, `"metric"`) {
		seen := map[string]bool{}
		for _, s := range series {
			seen[s.Tags["metric"]] = true
		}
		var missing []string
		for _, n := range names {
			if !seen[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("no series of metric %v", missing)
		}
	}
	return ""
}

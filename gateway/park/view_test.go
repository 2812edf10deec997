package park

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/gateway/plumbing/batch"
)

func liveViewOf(iv Interval) *LiveView {
	lv := &LiveView{Start: iv.Start, End: iv.End}
	for _, m := range iv.Metrics {
		lv.Metrics = append(lv.Metrics, metricView(m))
	}
	return lv
}

func linkOf(t *testing.T, f FlowsView, from, to string) FlowLink {
	t.Helper()
	for _, l := range f.Links {
		if l.From == from && l.To == to {
			return l
		}
	}
	t.Fatalf("no flow %s -> %s in %+v", from, to, f.Links)
	return FlowLink{}
}

// The view of the example park half an hour into an hour: the flows of
// the latest live interval from fuel through the CHP to the tenants and
// the cascade, consistent with its metrics; every input pending (30 valid
// minutes of the 45 the rule needs), except the one whose meter stopped
// after 10 minutes, which can no longer make the hour valid; the tenant
// table.
func TestViewOfExamplePark(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 7)
	stopped := "heat-1"
	r.mutate = func(dev string, b *batch.Batch) {
		if dev == stopped && !b.Time.Before(day0.Add(10*time.Minute)) {
			for i := range b.Points {
				setBad(b, b.Points[i].Name, "comm_error")
			}
		}
	}
	r.run(day0, day0.Add(30*time.Minute), time.Minute)
	r.clock.now = day0.Add(30 * time.Minute)
	if len(r.out.Live) == 0 {
		t.Fatal("no live interval")
	}
	v := r.eng.view("demo", liveViewOf(r.out.Live[len(r.out.Live)-1]))
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}

	ids := map[string]FlowNode{}
	for _, n := range v.Flows.Nodes {
		ids[n.ID] = n
	}
	for _, id := range []string{"fuel", "chp", "steam", "power", "chp_loss", "network_loss", "grid", "tenant:t03", "tenant:t14", "cascade:t03-t14"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("no node %s in %+v", id, v.Flows.Nodes)
		}
	}
	for _, l := range v.Flows.Links {
		if _, ok := ids[l.From]; !ok {
			t.Errorf("link from unknown node %s", l.From)
		}
		if _, ok := ids[l.To]; !ok {
			t.Errorf("link to unknown node %s", l.To)
		}
	}
	fuel, elec, heat := linkOf(t, v.Flows, "fuel", "chp"), linkOf(t, v.Flows, "chp", "power"), linkOf(t, v.Flows, "chp", "steam")
	loss := linkOf(t, v.Flows, "chp", "chp_loss")
	if !fuel.Valid || fuel.MW <= 0 || !elec.Valid || elec.MW <= 0 || !heat.Valid || heat.MW <= 0 {
		t.Fatalf("CHP flows %+v %+v %+v", fuel, elec, heat)
	}
	if !loss.Valid || math.Abs(loss.MW-(fuel.MW-elec.MW-heat.MW)) > 1e-9 || loss.MW <= 0 {
		t.Errorf("CHP loss %+v, fuel %g electric %g heat %g", loss, fuel.MW, elec.MW, heat.MW)
	}
	if want := mustMetric(t, r.out.Live[len(r.out.Live)-1].Metrics, "chp_fuel_power_mw", "").Value; fuel.MW != want {
		t.Errorf("fuel flow %g, metric %g", fuel.MW, want)
	}
	st := linkOf(t, v.Flows, "steam", "tenant:t03")
	if !st.Valid || st.MW <= 0 {
		t.Errorf("steam to t03 %+v", st)
	}
	casc := linkOf(t, v.Flows, "tenant:t03", "cascade:t03-t14")
	if casc.Valid || !strings.Contains(casc.Reason, "heat-1") {
		t.Errorf("cascade with its meter failing: %+v", casc)
	}
	if !v.Balance.Valid || v.Balance.SupplierTH <= 0 || v.Balance.TenantsTH <= 0 {
		t.Errorf("balance %+v", v.Balance)
	}

	h := v.Hour
	if h.ElapsedMinutes != 30 || h.Rule != "fraction" || h.MinMinutes != 45 || !h.Start.Equal(day0) {
		t.Errorf("hour %+v", h)
	}
	if h.Counts.Lost == 0 || h.Counts.Pending == 0 || h.Counts.Valid != 0 {
		t.Errorf("hour counts %+v", h.Counts)
	}
	for _, c := range h.Channels {
		lost := strings.HasPrefix(c.Name, stopped+".")
		switch {
		case lost && (c.Status != "lost" || c.ValidMinutes != 10 || c.Invalid != 20):
			t.Errorf("stopped channel %+v", c)
		case !lost && (c.Status != "pending" || c.ValidMinutes != 30):
			t.Errorf("channel %+v", c)
		}
	}
	if h.Channels[0].Status != "lost" {
		t.Errorf("lost channels are not listed first: %+v", h.Channels[0])
	}

	if len(v.Tenants) != len(r.eng.p.tenants) {
		t.Fatalf("%d tenant rows", len(v.Tenants))
	}
	for _, tv := range v.Tenants {
		if tv.SteamMW == nil || tv.SteamTH == nil || *tv.SteamTH <= 0 {
			t.Errorf("tenant %+v", tv)
		}
		if tv.HasPower != (tv.ElectricMW != nil) {
			t.Errorf("tenant %s: power meter %v, electric %v", tv.Name, tv.HasPower, tv.ElectricMW)
		}
		if tv.Today != nil {
			t.Errorf("tenant %s has a day statement before any hour closed", tv.Name)
		}
	}
}

// Before the first live interval the flows are there, every one invalid.
func TestViewBeforeTheFirstInterval(t *testing.T) {
	r := newReplay(t, loadExample(t), day0, 7)
	v := r.eng.view("demo", nil)
	if len(v.Flows.Nodes) == 0 || v.Live != nil {
		t.Fatalf("flows %+v live %+v", v.Flows, v.Live)
	}
	for _, l := range v.Flows.Links {
		if l.Valid || l.Reason == "" {
			t.Errorf("link before any interval: %+v", l)
		}
	}
}

func TestHourOutlook(t *testing.T) {
	frac := rule{minMinutes: 45}
	quad := rule{quadrants: true}
	first := func(n int) uint64 { return 1<<uint(n) - 1 }
	for _, c := range []struct {
		r       rule
		minutes uint64
		elapsed int
		want    string
	}{
		{frac, 0, 0, "pending"},
		{frac, 0, 15, "pending"}, // 45 minutes left
		{frac, 0, 16, "lost"},    // 44 left
		{frac, first(45), 45, "valid"},
		{frac, first(30), 30, "pending"},
		{frac, first(29), 45, "lost"}, // 29 + 15 < 45
		{quad, 1, 10, "pending"},
		{quad, 1, 15, "pending"}, // the second quadrant has just begun
		{quad, 1, 30, "lost"},    // the second quadrant ended without a sample
		{quad, 1 | 1<<15 | 1<<30 | 1<<45, 59, "valid"},
		{quad, 1 << 15, 15, "lost"}, // no sample in the first quadrant, which is over
	} {
		if got := c.r.outlook(c.minutes, c.elapsed); got != c.want {
			t.Errorf("%+v outlook(%b, %d) = %s, want %s", c.r, c.minutes, c.elapsed, got, c.want)
		}
	}
}

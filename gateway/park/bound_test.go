package park

import (
	"fmt"
	"testing"
	"time"
)

// TestHourlyBoundPerDevice: a device counts at most
// max_batches_per_device_hour batches in an hour, whichever gateways
// publish it; a redelivery of one counted is still a duplicate; the next
// hour counts afresh; and what the engine remembers of an hour stays
// within the bound however many distinct poll times a publisher floods.
func TestHourlyBoundPerDevice(t *testing.T) {
	const max = 100
	cfg := loadExample(t)
	cfg.ParkEngine.MaxBatchesPerDeviceHour = max
	r := newReplay(t, cfg, day0, 1)
	r.clock.now = day0.Add(50 * time.Minute)
	at := func(i int) time.Time { return day0.Add(time.Duration(i) * 10 * time.Millisecond) }

	// steam-supply is named without a gateway in the example park: any
	// gateway's batches of it count, and all of them against one bound.
	for i := 0; i < max; i++ {
		gw := fmt.Sprintf("gw-%d", 1+i%3)
		if got := r.eng.Add(gw, sim0(r, "steam-supply", at(i))); got != Accepted {
			t.Fatalf("batch %d of %s: %s", i, gw, got)
		}
	}
	if got := r.eng.Add("gw-2", sim0(r, "steam-supply", at(1))); got != Duplicate {
		t.Errorf("redelivery of a counted batch: %s, want duplicate", got)
	}
	for i := max; i < max+20_000; i++ {
		if got := r.eng.Add(fmt.Sprintf("flood-%d", i), sim0(r, "steam-supply", at(i))); got != Excess {
			t.Fatalf("batch %d over the bound: %s, want excess", i, got)
		}
	}
	// Another device of the model has its own bound.
	if got := r.eng.Add("gw-1", sim0(r, "steam-t01", at(0))); got != Accepted {
		t.Errorf("another device: %s", got)
	}
	hw := r.eng.hours[day0.UnixNano()]
	remembered := 0
	for _, times := range hw.seen {
		remembered += len(times)
	}
	if remembered != max+1 || len(hw.seen) != 4 {
		t.Errorf("the hour remembers %d poll times of %d gateway-device pairs, want %d of 4", remembered, len(hw.seen), max+1)
	}
	st := r.eng.Stats()
	if st.Batches[Accepted] != max+1 || st.Batches[Excess] != 20_000 || st.Batches[Duplicate] != 1 {
		t.Errorf("counted %v", st.Batches)
	}

	// The next hour counts afresh.
	r.clock.now = day0.Add(time.Hour + 30*time.Minute)
	if got := r.eng.Add("gw-1", sim0(r, "steam-supply", day0.Add(time.Hour+time.Second))); got != Accepted {
		t.Errorf("next hour: %s", got)
	}
	r.collect()
	m := mustMetric(t, r.out.Hours[0].Metrics, "supplier_steam_mass_t", "")
	if m.Samples != max {
		t.Errorf("the hour's supplier mass rests on %d samples, want the %d counted", m.Samples, max)
	}
}

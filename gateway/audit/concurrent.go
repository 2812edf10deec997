package audit

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/eipgw/eipgw/gateway/park"
)

// hourRead is what is read and checked of one hour on its own: the
// evidence records (signatures verified), the readings compared with the
// signed batches, and the hour's park_hourly and park_hourly_seal rows.
// Its findings and counts are merged into the result in hour order, so a
// range gives the same result however its hours were scheduled.
type hourRead struct {
	h       time.Time
	res     Result // Findings, Batches, Readings, Unchecked
	batches []signed
	links   []gwLink
	hourly  []row
	seals   []row
	err     error
	done    chan struct{}
}

// readHours reads and checks the total hours from from, up to
// GOMAXPROCS of them at once (each checks its signatures while the
// others wait on InfluxDB), and calls merge with each in order. At most
// twice GOMAXPROCS hours are held at a time. It returns only after every
// hour it started has ended; the first error stops it.
func readHours(ctx context.Context, s *Store, o Options, measurements []string, from time.Time, total int, merge func(i int, hr *hourRead) error) error {
	workers := max(runtime.GOMAXPROCS(0), 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sem := make(chan struct{}, workers)
	reads := make([]*hourRead, total)
	started := 0
	start := func() {
		hr := &hourRead{h: from.Add(time.Duration(started) * time.Hour), done: make(chan struct{})}
		reads[started] = hr
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(hr.done)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				hr.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			hr.err = hr.read(ctx, s, o, measurements)
		}()
	}
	for i := range total {
		for started < total && started < i+2*workers {
			start()
		}
		hr := reads[i]
		<-hr.done
		reads[i] = nil
		if hr.err != nil {
			return hr.err
		}
		if err := merge(i, hr); err != nil {
			return err
		}
	}
	return nil
}

func (hr *hourRead) read(ctx context.Context, s *Store, o Options, measurements []string) error {
	var err error
	if hr.batches, err = checkEvidence(ctx, s, o, hr.h, &hr.res, &hr.links); err != nil {
		return err
	}
	if err := checkReadings(ctx, s, o, hr.h, measurements, hr.batches, &hr.res); err != nil {
		return err
	}
	w := window(o.Park, hr.h, hr.h.Add(time.Hour))
	if o.Engine != nil || o.AuditLog != "" {
		if hr.hourly, err = s.rows(ctx, "SELECT * FROM "+quoteIdent(park.MeasurementHourly)+" WHERE "+w); err != nil {
			return err
		}
	}
	if o.AuditLog != "" {
		if hr.seals, err = s.rows(ctx, "SELECT * FROM "+quoteIdent(park.MeasurementSeal)+" WHERE "+w); err != nil {
			return err
		}
	}
	return nil
}

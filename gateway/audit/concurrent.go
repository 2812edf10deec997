package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/eipgw/eipgw/gateway/park"
)

// DefaultHoursPerQuery is how many hours one InfluxDB query reads unless
// Options.HoursPerQuery says otherwise. Each query costs InfluxDB a fixed
// share (planning, opening every series' cursors) and decodes whole blocks
// of up to 1000 values of a series, which for a device polled every 10 s
// span about three hours: the fewer the queries, the less of both. A month
// of the reference park (BenchmarkVerifyHour, 720 h) took 40 s at 4 hours
// a query (influxd 0.049 CPU-s an hour, peak heap 748 MB) and 31 s at 12
// (0.029 CPU-s, 1016 MB): each chunk's rows and batches are held until its
// hours are merged.
const DefaultHoursPerQuery = 12

// hourRead is what is read and checked of one hour on its own: the
// evidence records (signatures verified), the readings compared with the
// signed batches, and the hour's park_hourly and park_hourly_seal rows.
// Its findings and counts are merged into the result in hour order, so a
// range gives the same result however its hours were scheduled.
type hourRead struct {
	h       time.Time
	res     Result // Findings, Batches, Readings, Unchecked, Signatures, Vouched
	batches []signed
	links   []gwLink
	hourly  []row
	seals   []row
}

// chunkRead is a run of consecutive hours read with one query per
// measurement.
type chunkRead struct {
	hours []*hourRead
	err   error
	done  chan struct{}
}

// readHours reads and checks the total hours from from, o.HoursPerQuery at a
// time and up to GOMAXPROCS chunks at once (each checks its records while
// the others wait on InfluxDB), and calls merge with each hour in order.
// At most GOMAXPROCS chunks are held at a time. It returns only
// after every chunk it started has ended; the first error stops it.
func readHours(ctx context.Context, s *Store, o Options, measurements []string, from time.Time, total int, merge func(i int, hr *hourRead) error) error {
	workers := max(runtime.GOMAXPROCS(0), 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sem := make(chan struct{}, workers)
	per := o.HoursPerQuery
	if per <= 0 {
		per = DefaultHoursPerQuery
	}
	chunks := (total + per - 1) / per
	reads := make([]*chunkRead, chunks)
	started := 0
	start := func() {
		first := started * per
		n := min(per, total-first)
		cr := &chunkRead{done: make(chan struct{})}
		reads[started] = cr
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(cr.done)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				cr.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			cr.hours, cr.err = readChunk(ctx, s, o, measurements, from.Add(time.Duration(first)*time.Hour), n)
		}()
	}
	for c := range chunks {
		for started < chunks && started < c+workers {
			start()
		}
		cr := reads[c]
		<-cr.done
		reads[c] = nil
		if cr.err != nil {
			return cr.err
		}
		for j, hr := range cr.hours {
			cr.hours[j] = nil
			if err := merge(c*per+j, hr); err != nil {
				return err
			}
		}
	}
	return nil
}

// readChunk reads the n hours from from and checks each.
func readChunk(ctx context.Context, s *Store, o Options, measurements []string, from time.Time, n int) ([]*hourRead, error) {
	to := from.Add(time.Duration(n) * time.Hour)
	w := window(o.Park, from, to)
	byHour := func(rows []row, what string) ([][]row, error) {
		out := make([][]row, n)
		for _, r := range rows {
			ms, err := r.millis()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			i := int((ms - from.UnixMilli()) / int64(time.Hour/time.Millisecond))
			if ms < from.UnixMilli() || i >= n {
				return nil, fmt.Errorf("%s: a row at %d ms outside [%s, %s)", what, ms, from.Format(time.RFC3339), to.Format(time.RFC3339))
			}
			out[i] = append(out[i], r)
		}
		return out, nil
	}
	read := func(m string) ([][]row, error) {
		rows, err := s.rows(ctx, "SELECT * FROM "+quoteIdent(m)+" WHERE "+w+" GROUP BY *")
		if err != nil {
			return nil, err
		}
		return byHour(rows, "measurement "+m)
	}
	evidence, err := read(EvidenceMeasurement)
	if err != nil {
		return nil, err
	}
	readings := make([]map[string][]row, n)
	for i := range readings {
		readings[i] = map[string][]row{}
	}
	for _, m := range measurements {
		hs, err := read(m)
		if err != nil {
			return nil, err
		}
		for i, rs := range hs {
			if len(rs) > 0 {
				readings[i][m] = rs
			}
		}
	}
	hourly, seals := make([][]row, n), make([][]row, n)
	if o.Engine != nil || o.AuditLog != "" {
		if hourly, err = read(park.MeasurementHourly); err != nil {
			return nil, err
		}
	}
	if o.AuditLog != "" {
		if seals, err = read(park.MeasurementSeal); err != nil {
			return nil, err
		}
	}
	out := make([]*hourRead, n)
	for i := range out {
		hr := &hourRead{h: from.Add(time.Duration(i) * time.Hour), hourly: hourly[i], seals: seals[i]}
		hr.batches = checkEvidence(evidence[i], o, &hr.res, &hr.links)
		evidence[i] = nil
		checkReadings(o, measurements, readings[i], hr.batches, &hr.res)
		readings[i] = nil
		out[i] = hr
	}
	return out, nil
}

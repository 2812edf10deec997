package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkVerifyHour verifies a clean signed run of the reference park
// (EIPGW_AUDIT_BENCH_HOURS simulated hours, 24 by default, read
// EIPGW_AUDIT_BENCH_HOURS_PER_QUERY hours a query) stored in a
// real InfluxDB 1.8.10, with the recomputation of the hourly records and
// the audit log. It reports the seconds per simulated hour (s/hour), a
// month of 720 hours projected from it (s/month), and the peak of the Go
// heap in use while verifying (peak-heap-MB). InfluxDB's own CPU is not
// in s/hour's wall time alone (it shares the machine): cpu-s/hour is
// this process's CPU time and influxd-cpu-s/hour the server's, both per
// simulated hour.
func BenchmarkVerifyHour(b *testing.B) {
	hours := 24
	if s := os.Getenv("EIPGW_AUDIT_BENCH_HOURS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("EIPGW_AUDIT_BENCH_HOURS=%q: want a number of hours", s)
		}
		hours = n
	}
	// Ingest refuses poll times ahead of its clock: a run longer than the
	// time since day0 starts as many whole days earlier as it needs.
	if end := day0.Add(time.Duration(hours) * time.Hour); end.After(time.Now()) {
		saved := day0
		days := time.Until(end)/(24*time.Hour) + 1
		day0 = day0.Add(-days * 24 * time.Hour)
		b.Cleanup(func() { day0 = saved })
	}
	f := newFixture(b, hours)
	if s := os.Getenv("EIPGW_AUDIT_BENCH_HOURS_PER_QUERY"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("EIPGW_AUDIT_BENCH_HOURS_PER_QUERY=%q: want a number of hours", s)
		}
		f.opts.HoursPerQuery = n
	}
	ctx := context.Background()
	// InfluxDB compacts what was just written for a while (minutes after a
	// month): an audit reads data long since compacted, so the timing
	// starts once influxd is idle (under 5 % of a core over 2 s, or after
	// 10 minutes).
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); {
		c0 := procCPU(b, f.ifx.Pid())
		time.Sleep(2 * time.Second)
		if procCPU(b, f.ifx.Pid())-c0 < 100*time.Millisecond {
			break
		}
	}
	// The fixture's copy of what it sent is not the audit's memory.
	sent := len(f.sent)
	f.sent = nil
	peak := newHeapPeak()
	cpu0, icpu0 := selfCPU(b), procCPU(b, f.ifx.Pid())
	b.ResetTimer()
	sigs := 0
	for range b.N {
		res, err := Verify(ctx, f.store, f.opts)
		if err != nil {
			b.Fatal(err)
		}
		sigs = res.Signatures
		if !res.Pass() || res.Hours != hours || res.Batches != sent {
			b.Fatalf("clean run: %d findings (first %v), %d hours, %d batches of %d", len(res.Findings), res.Findings[:min(1, len(res.Findings))], res.Hours, res.Batches, sent)
		}
	}
	b.StopTimer()
	n := float64(b.N) * float64(hours)
	b.ReportMetric((selfCPU(b)-cpu0).Seconds()/n, "cpu-s/hour")
	b.ReportMetric((procCPU(b, f.ifx.Pid())-icpu0).Seconds()/n, "influxd-cpu-s/hour")
	perHour := b.Elapsed().Seconds() / n
	b.ReportMetric(perHour, "s/hour")
	b.ReportMetric(perHour*720, "s/month")
	b.ReportMetric(float64(peak.stop())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(sigs)/float64(sent), "signatures/batch")
}

// heapPeak samples the heap in use every 10 ms until stopped.
type heapPeak struct {
	done chan struct{}
	wg   sync.WaitGroup
	max  uint64
}

func newHeapPeak() *heapPeak {
	p := &heapPeak{done: make(chan struct{})}
	runtime.GC()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			p.max = max(p.max, ms.HeapInuse)
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *heapPeak) stop() uint64 {
	close(p.done)
	p.wg.Wait()
	return p.max
}

// selfCPU is the CPU time (user and system) of this process.
func selfCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time (user and system) of process pid, from
// /proc/PID/stat in clock ticks of 10 ms.
func procCPU(t testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's closing parenthesis: utime is the
	// 14th of the line, stime the 15th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

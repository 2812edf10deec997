package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Usage is what a process used so far, from /proc.
type Usage struct {
	CPU     time.Duration // user + system time
	PeakRSS int64         // bytes, VmHWM
}

// ReadUsage reads the CPU time and peak resident set size of a running
// process.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing parenthesis.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return Usage{}, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return Usage{}, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(f))
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after
	// the name (the state is field 3).
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	u := Usage{CPU: time.Duration(ticks) * time.Second / clockTicks}
	// The ticks are 10 ms: a short run's CPU, or a quiet process's, rounds
	// to a few of them or none. Each thread's time on the CPU to the
	// nanosecond is in its schedstat; their sum is the process's, but
	// for the threads that exited, which the ticks still count: taken
	// unless it falls short of the ticks by more than a tick.
	if ns, err := threadsCPU(pid); err == nil && ns+time.Second/clockTicks >= u.CPU {
		u.CPU = ns
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return Usage{}, fmt.Errorf("/proc/%d/status: VmHWM %q: %w", pid, v, err)
			}
			u.PeakRSS = kb * 1024
			return u, nil
		}
	}
	return Usage{}, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// Samples are the series of a Prometheus text exposition: the series
// (name with its labels, as printed) to its value.
type Samples map[string]float64

// Scrape reads a /metrics endpoint.
func Scrape(url string) (Samples, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseSamples(resp.Body)
}

func parseSamples(r io.Reader) (Samples, error) {
	s := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// Sum adds the values of every series of metric name (any labels).
func (s Samples) Sum(name string) float64 {
	var t float64
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// SumWhere adds the values of the series of metric name whose labels
// contain labels (e.g. `device="line-`).
func (s Samples) SumWhere(name, labels string) float64 {
	var t float64
	for k, v := range s {
		if rest, ok := strings.CutPrefix(k, name+"{"); ok && strings.Contains(rest, labels) {
			t += v
		}
	}
	return t
}

// Latency is what a Prometheus histogram tells of a distribution.
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
}

// HistogramLatency estimates the median and 99th percentile of histogram
// name by linear interpolation within buckets (as PromQL's
// histogram_quantile does); Max is the upper bound of the highest bucket
// holding an observation.
func (s Samples) HistogramLatency(name string) (Latency, error) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range s {
		rest, ok := strings.CutPrefix(k, name+`_bucket{`)
		if !ok {
			continue
		}
		i := strings.Index(rest, `le="`)
		if i < 0 {
			continue
		}
		le := rest[i+4:]
		le = le[:strings.IndexByte(le, '"')]
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return Latency{}, fmt.Errorf("%s: bucket %q: %w", name, le, err)
		}
		bs = append(bs, bucket{b, v})
	}
	if len(bs) == 0 {
		return Latency{}, fmt.Errorf("%s: no buckets in the metrics", name)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	total := bs[len(bs)-1].n
	l := Latency{Count: int(total)}
	if total == 0 {
		return l, nil
	}
	q := func(p float64) time.Duration {
		rank := p * total
		lo, prev := 0.0, 0.0
		for _, b := range bs {
			if b.n >= rank {
				if math.IsInf(b.le, 1) {
					return secs(lo)
				}
				return secs(lo + (b.le-lo)*(rank-prev)/(b.n-prev))
			}
			lo, prev = b.le, b.n
		}
		return secs(lo)
	}
	l.P50, l.P99 = q(0.5), q(0.99)
	prev := 0.0
	for _, b := range bs {
		if b.n > prev {
			l.Max = secs(b.le)
			if math.IsInf(b.le, 1) {
				l.Max = -1 // beyond the last finite bound
			}
		}
		prev = b.n
	}
	return l, nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// threadsCPU sums the time on the CPU of pid's threads, from the first
// field of each /proc/PID/task/TID/schedstat (nanoseconds).
func threadsCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(dir + "/" + task.Name() + "/schedstat")
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread exited meanwhile
			}
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/%s/schedstat: empty", dir, task.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, task.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

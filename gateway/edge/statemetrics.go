package edge

import (
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/drivers"
)

// stateCollector exports, at each scrape, what the drivers report of their
// devices and buses (drivers.Source.States): whether a device is left alone
// after failures and for how long yet, its consecutive failures, and the
// polls of each bus. It reads the sources in force (a reload replaces
// them), so a removed device's series go with it.
type stateCollector struct {
	e                          *Edge
	backoff, failures, busPoll *prometheus.Desc
	busDevices, busUp          *prometheus.Desc
	lineFrames, lineBusy       *prometheus.Desc
	lineExchanges, lineTimeout *prometheus.Desc
	lineBaud, inFlight         *prometheus.Desc
}

// pipelineReporter is a source that can say how many requests its bus
// sends before their answers, and where that comes from: the
// configuration or what pipeline auto found (modbus.Source on Modbus
// TCP).
type pipelineReporter interface {
	Pipeline() (inFlight int, mode string, ok bool)
}

func newStateCollector(e *Edge) *stateCollector {
	return &stateCollector{
		e: e,
		backoff: prometheus.NewDesc("eipgw_edge_device_backoff_remaining_seconds",
			"Seconds until a device that stopped answering is polled again; 0 while it is polled on schedule.",
			[]string{"bus", "device"}, nil),
		failures: prometheus.NewDesc("eipgw_edge_device_consecutive_failures",
			"Consecutive polls a device did not answer.", []string{"bus", "device"}, nil),
		busPoll: prometheus.NewDesc("eipgw_edge_bus_polls_total",
			"Polls of the devices of a bus, by outcome: answered, unanswered, skipped (backed off), missed (the slot passed while an earlier poll ran).",
			[]string{"bus", "outcome"}, nil),
		busDevices: prometheus.NewDesc("eipgw_edge_bus_devices",
			"Devices configured on a bus.", []string{"bus"}, nil),
		busUp: prometheus.NewDesc("eipgw_edge_bus_devices_up",
			"Devices of a bus that answered their last poll.", []string{"bus"}, nil),
		lineFrames: prometheus.NewDesc("eipgw_edge_bus_line_seconds_total",
			"Serial buses: time the frames of the bus's exchanges take on the line at its baud rate and character framing, each with the 3.5 characters of silence that end it. Its rate is the line's utilisation (1: the line never rests).",
			[]string{"bus"}, nil),
		lineBusy: prometheus.NewDesc("eipgw_edge_bus_busy_seconds_total",
			"Serial buses: wall time of the bus's exchanges, from the silence before each request to its answer or timeout. line / busy is how near the exchanges come to the line's limit.",
			[]string{"bus"}, nil),
		lineExchanges: prometheus.NewDesc("eipgw_edge_bus_requests_total",
			"Serial buses: requests sent on the line.", []string{"bus"}, nil),
		lineTimeout: prometheus.NewDesc("eipgw_edge_bus_timeouts_total",
			"Serial buses: requests left unanswered within the bus's timeout.", []string{"bus"}, nil),
		lineBaud: prometheus.NewDesc("eipgw_edge_bus_baud",
			"Serial buses: the line's speed in bits per second.", []string{"bus"}, nil),
		inFlight: prometheus.NewDesc("eipgw_edge_bus_pipeline",
			"Modbus TCP buses: reads of a device sent before their answers (1: one at a time). With pipeline auto, 1 until the server has answered reads sent together, and 1 for good if it did not.",
			[]string{"bus"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backoff, c.failures, c.busPoll, c.busDevices, c.busUp,
		c.lineFrames, c.lineBusy, c.lineExchanges, c.lineTimeout, c.lineBaud, c.inFlight} {
		ch <- d
	}
}

// busCounts are the counters of a bus's source: its devices' polls by
// outcome and, for a serial line, its line's figures.
type busCounts struct {
	answered, unanswered, skipped, missed uint64
	line                                  drivers.LineStats
	hasLine                               bool
}

func (a *busCounts) add(b busCounts) {
	a.answered += b.answered
	a.unanswered += b.unanswered
	a.skipped += b.skipped
	a.missed += b.missed
	a.line.Frames += b.line.Frames
	a.line.Busy += b.line.Busy
	a.line.Exchanges += b.line.Exchanges
	a.line.Timeouts += b.line.Timeouts
	a.hasLine = a.hasLine || b.hasLine
}

// countsOf reads a source's counters.
func countsOf(src drivers.Source) (busCounts, []drivers.DeviceState) {
	var c busCounts
	var polls uint64
	states := src.States()
	for _, st := range states {
		c.answered += st.Answered
		polls += st.Polls
		c.skipped += st.Skipped
		c.missed += st.Missed
	}
	if c.answered+c.skipped <= polls {
		c.unanswered = polls - c.answered - c.skipped
	}
	if lr, ok := src.(drivers.LineReporter); ok {
		c.line, c.hasLine = lr.Line()
	}
	return c, states
}

// retireLocked keeps the counters of sources a reload replaced, so that
// their buses' counters do not go back; e.srcMu is held.
func (e *Edge) retireLocked(srcs []drivers.Source) {
	if e.retired == nil {
		e.retired = map[string]busCounts{}
	}
	for _, src := range srcs {
		c, _ := countsOf(src)
		r := e.retired[src.Name()]
		r.add(c)
		e.retired[src.Name()] = r
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.e.srcMu.RLock()
	sources := c.e.sources
	retired := maps.Clone(c.e.retired)
	c.e.srcMu.RUnlock()
	now := time.Now()
	for _, src := range sources {
		bus := src.Name()
		n, states := countsOf(src)
		up := 0
		for _, st := range states {
			remaining := 0.0
			if st.BackoffUntil.After(now) {
				remaining = st.BackoffUntil.Sub(now).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(c.backoff, prometheus.GaugeValue, remaining, bus, st.Device)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(st.Failures), bus, st.Device)
			if st.Up {
				up++
			}
		}
		baud := n.line.Baud
		n.add(retired[bus])
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(n.answered), bus, "answered")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(n.unanswered), bus, "unanswered")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(n.skipped), bus, "skipped")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(n.missed), bus, "missed")
		ch <- prometheus.MustNewConstMetric(c.busDevices, prometheus.GaugeValue, float64(len(states)), bus)
		ch <- prometheus.MustNewConstMetric(c.busUp, prometheus.GaugeValue, float64(up), bus)
		if r, ok := src.(pipelineReporter); ok {
			if n, _, ok := r.Pipeline(); ok {
				ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(n), bus)
			}
		}
		if lr, ok := src.(drivers.LineReporter); ok {
			if _, ok := lr.Line(); ok {
				ls := n.line
				ch <- prometheus.MustNewConstMetric(c.lineFrames, prometheus.CounterValue, ls.Frames.Seconds(), bus)
				ch <- prometheus.MustNewConstMetric(c.lineBusy, prometheus.CounterValue, ls.Busy.Seconds(), bus)
				ch <- prometheus.MustNewConstMetric(c.lineExchanges, prometheus.CounterValue, float64(ls.Exchanges), bus)
				ch <- prometheus.MustNewConstMetric(c.lineTimeout, prometheus.CounterValue, float64(ls.Timeouts), bus)
				ch <- prometheus.MustNewConstMetric(c.lineBaud, prometheus.GaugeValue, float64(baud), bus)
			}
		}
	}
}

package edge

import (
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
	lineBaud                   *prometheus.Desc
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
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backoff, c.failures, c.busPoll, c.busDevices, c.busUp,
		c.lineFrames, c.lineBusy, c.lineExchanges, c.lineTimeout, c.lineBaud} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.e.srcMu.RLock()
	sources := c.e.sources
	c.e.srcMu.RUnlock()
	now := time.Now()
	for _, src := range sources {
		bus := src.Name()
		var answered, polls, skipped, missed uint64
		up := 0
		states := src.States()
		for _, st := range states {
			remaining := 0.0
			if st.BackoffUntil.After(now) {
				remaining = st.BackoffUntil.Sub(now).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(c.backoff, prometheus.GaugeValue, remaining, bus, st.Device)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(st.Failures), bus, st.Device)
			answered += st.Answered
			polls += st.Polls
			skipped += st.Skipped
			missed += st.Missed
			if st.Up {
				up++
			}
		}
		unanswered := polls - answered - skipped
		if answered+skipped > polls {
			unanswered = 0
		}
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(answered), bus, "answered")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(unanswered), bus, "unanswered")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(skipped), bus, "skipped")
		ch <- prometheus.MustNewConstMetric(c.busPoll, prometheus.CounterValue, float64(missed), bus, "missed")
		ch <- prometheus.MustNewConstMetric(c.busDevices, prometheus.GaugeValue, float64(len(states)), bus)
		ch <- prometheus.MustNewConstMetric(c.busUp, prometheus.GaugeValue, float64(up), bus)
		if lr, ok := src.(drivers.LineReporter); ok {
			if ls, ok := lr.Line(); ok {
				ch <- prometheus.MustNewConstMetric(c.lineFrames, prometheus.CounterValue, ls.Frames.Seconds(), bus)
				ch <- prometheus.MustNewConstMetric(c.lineBusy, prometheus.CounterValue, ls.Busy.Seconds(), bus)
				ch <- prometheus.MustNewConstMetric(c.lineExchanges, prometheus.CounterValue, float64(ls.Exchanges), bus)
				ch <- prometheus.MustNewConstMetric(c.lineTimeout, prometheus.CounterValue, float64(ls.Timeouts), bus)
				ch <- prometheus.MustNewConstMetric(c.lineBaud, prometheus.GaugeValue, float64(ls.Baud), bus)
			}
		}
	}
}

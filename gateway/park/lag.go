package park

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// closed notes the newest live interval the engine computed.
func (s *Service) closed(o Output) {
	if n := len(o.Live); n > 0 {
		s.lastLive.Store(o.Live[n-1].End.UnixNano())
	}
}

// registerLag exports how far behind the clock the engine's live metrics
// are: the time since the end of the newest interval it computed (the
// interval, live_delay and the readings' arrival add up in it). It is 0
// until the first interval closed.
func (s *Service) registerLag(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eipgw_park_lag_seconds",
		Help: "Time since the end of the newest live interval the park engine computed (0 before the first).",
	}, func() float64 {
		ns := s.lastLive.Load()
		if ns == 0 {
			return 0
		}
		return s.clock().Sub(time.Unix(0, ns)).Seconds()
	}))
}

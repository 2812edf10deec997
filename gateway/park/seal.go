package park

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/seal"
)

// MeasurementSeal holds, per sealed hour, the entry of the audit log that
// seals the hour's park_hourly records (docs/contracts.md, "Sealed hourly
// records"):
//
//	park_hourly_seal  tags   park
//	                  fields seq, hash, prev, records (how many)
//	                  time   hour start
const MeasurementSeal = "park_hourly_seal"

// SealRecord is the park_hourly_seal record of an audit log entry.
func SealRecord(park string, e seal.Entry) Record {
	var l influxwrite.Line
	l.Start(MeasurementSeal)
	l.Tag("park", park)
	l.Int("seq", int64(e.Seq))
	l.String("hash", e.Hash.String())
	l.String("prev", e.Prev.String())
	l.Int("records", int64(len(e.Records)))
	return record(MeasurementSeal, &l, e.Hour)
}

// SealLines are the canonical form of an hour's records that the audit log
// seals: the lines written to InfluxDB, in order (a record that cannot be
// written is not sealed either).
func SealLines(recs []Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		if r.Err == nil {
			out = append(out, string(r.Line))
		}
	}
	return out
}

// sealer appends each hour's records to the audit log
// (park_engine.audit_log) before they are queued for InfluxDB, and adds the
// entry's park_hourly_seal record to them. Without a directory it does
// nothing.
type sealer struct {
	dir    string
	log    *seal.Log
	errors prometheus.Counter
	head   prometheus.Gauge
}

func newSealer(dir string, reg prometheus.Registerer) *sealer {
	s := &sealer{
		dir: dir,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_park_seal_errors_total",
			Help: "Hours whose records could not be appended to the audit log (park_engine.audit_log): written to InfluxDB unsealed, and reported by eipgw audit verify.",
		}),
		head: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eipgw_park_seal_head_seq",
			Help: "Sequence number of the audit log's last entry (0 without an audit log).",
		}),
	}
	reg.MustRegister(s.errors, s.head)
	return s
}

// open opens the log; a log that does not verify is an error.
func (s *sealer) open() error {
	if s.dir == "" {
		return nil
	}
	l, err := seal.Open(s.dir)
	if err != nil {
		return err
	}
	s.log = l
	seq, _ := l.Head()
	s.head.Set(float64(seq))
	return nil
}

func (s *sealer) close() {
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

// hour seals recs, an hour's records, and returns them with the seal's
// record. An append that fails is logged and counted: the records are
// written all the same (they are the data; the audit reports the hour as
// unsealed).
func (s *sealer) hour(log *slog.Logger, park string, start time.Time, recs []Record) []Record {
	if s.log == nil {
		return recs
	}
	e, err := s.log.Append(start, SealLines(recs))
	if err != nil && e.Seq == 0 {
		s.errors.Inc()
		log.Error("hour not sealed in the audit log", "hour", start.UTC().Format(time.RFC3339), "dir", s.dir, "err", err)
		return recs
	}
	if err != nil { // sealed, the checkpoint not replaced
		s.errors.Inc()
		log.Error("audit log checkpoint not written", "hour", start.UTC().Format(time.RFC3339), "dir", s.dir, "err", err)
	}
	s.head.Set(float64(e.Seq))
	return append(recs, SealRecord(park, e))
}

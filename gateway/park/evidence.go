package park

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// Evidence at the park engine (docs/contracts.md, "Signed, chained
// batches"). Anyone who can publish on the park's data topics can send the
// engine a batch in a gateway's name; the hourly records, the tenants'
// statements and the emission reductions must not move with it. With keys
// configured (park_engine.evidence, else the file's ingest.evidence), a
// batch of a gateway under evidence reaches the engine only when its
// signature verifies with a key of that gateway: the batches eipgw audit
// verify recomputes the hours from, so the stored hours and the audit's
// agree. A batch refused here is acknowledged and counted
// (eipgw_park_batches_total{result="unverified"} and
// eipgw_park_evidence_refused_total{check}); ingest stores it flagged,
// where the audit finds it.
//
// Unlike ingest, the engine does not refuse a signed batch for a break of
// its chain (a fork or a restart): the gateway's key signed it, so it is
// the gateway's reading, and the audit reports the break.

// verifier checks the batches of gateways under evidence.
type verifier struct {
	keys    evidence.Keys
	require bool
	log     *slog.Logger
	refused *prometheus.CounterVec
	// logs bounds the log lines of refusals: a publisher sending forged
	// batches must not fill the disk with one line each.
	logs telemetry.Repeats
}

// refusalLogEvery is how often at most a refused batch is logged.
const refusalLogEvery = 10 * time.Second

// newVerifier returns nil when no keys are configured.
func newVerifier(cfg *config.EvidenceKeys, log *slog.Logger, reg prometheus.Registerer) (*verifier, error) {
	if cfg == nil {
		return nil, nil
	}
	v := &verifier{keys: evidence.Keys{}, require: cfg.Require, log: log,
		logs: telemetry.Repeats{Interval: refusalLogEvery},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_park_evidence_refused_total",
			Help: "Batches of gateways under evidence left out of the metrics, by check (unsigned, unknown_key, bad_signature, invalid).",
		}, []string{"check"}),
	}
	if err := v.keys.AddConfigured("evidence", cfg.Keys); err != nil {
		return nil, err
	}
	for _, c := range []string{"unsigned", "unknown_key", "bad_signature", "invalid"} {
		v.refused.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(v.refused)
	}
	return v, nil
}

// check verifies b, received as payload, and returns "" when the engine
// may count it: a batch not under evidence (unsigned, of a gateway without
// keys, unless require), or one whose signature verifies. Otherwise it
// returns the check that failed, counted and logged.
func (v *verifier) check(b *batch.Batch, payload []byte, now time.Time) string {
	if b.Sig == "" && v.keys[b.Gateway] == nil && !v.require {
		return ""
	}
	_, _, err := v.keys.CheckBatch(b.Gateway, b.Key, b.Prev, payload)
	if err == nil {
		return ""
	}
	check := evidence.Reason(err)
	v.refused.WithLabelValues(check).Inc()
	if ok, unlogged := v.logs.Failure(now); ok {
		v.log.Warn("batch left out of the park's metrics: its evidence does not verify",
			"gateway", b.Gateway, "seq", b.Seq, "device", b.Device, "ts", b.Time, "check", check, "err", err,
			"refused_since_last_log", unlogged)
	}
	return check
}

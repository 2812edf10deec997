package ingest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
	"github.com/eipgw/eipgw/gateway/plumbing/influxwrite"
	"github.com/eipgw/eipgw/gateway/plumbing/telemetry"
)

// Evidence at ingest (docs/contracts.md, "Signed, chained batches"). Each
// batch of a gateway with configured keys (or every batch, with
// ingest.evidence.require) is checked before it is written: its signature
// with the key it names, and — when this worker saw the batch before it —
// that it names that batch's hash. A batch that fails is stored all the
// same, flagged, never dropped: its readings carry
//
//	fields  batch_hash   string, the batch hash (hex)
//	        batch_check  string: ok, unsigned, unknown_key, bad_signature,
//	                     invalid (a malformed prev or key), fork (prev is
//	                     not the hash of the batch seq-1), chain_restart
//	                     (prev is zero after seq 1: the edge lost its head)
//
// and each batch leaves one evidence record, from which eipgw audit verify
// re-checks signatures, the whole chain (gaps, reorders, forks, which one
// worker of several cannot see) and the stored readings:
//
//	measurement  eipgw_batch_evidence
//	tags         park, gateway, lane (the device, '/', and the name of
//	             the batch's first point: the batches of one poll share
//	             its time, so each part of a poll needs its own series,
//	             and one series per part keeps each series dense)
//	fields       seq (a float field: exact below 2^53, and kept so, for a
//	             field cannot change type in a database that has it; the
//	             signed message holds the exact number), device, hash,
//	             prev, key, sig, check,
//	             msg_0, msg_1, ... (the signed message, in parts of at
//	             most 60000 bytes: InfluxDB's string limit is 64 KiB)
//	time         poll time
//
// Every break is counted in eipgw_ingest_evidence_breaks_total{check}.

// EvidenceMeasurement is the measurement of evidence records.
const EvidenceMeasurement = "eipgw_batch_evidence"

// Reading fields of the evidence.
const (
	HashField  = config.HashField
	CheckField = config.CheckField
)

// msgPart is the largest part of a stored message.
const msgPart = 60000

type verifier struct {
	keys    evidence.Keys
	require bool
	log     *slog.Logger
	breaks  *prometheus.CounterVec
	checked prometheus.Counter

	// logs bounds the log lines of broken evidence to one every
	// deadLetterLogInterval: anyone who can publish can send forged
	// batches, and each is stored flagged and counted, not logged.
	logs telemetry.Repeats

	mu    sync.Mutex
	heads map[string]head
	// stored holds, per gateway and device, the poll time (Unix ns) of
	// the newest batch its gateway signed that this process stored: a
	// poll after it may still come (mayStillCome). Only batches that
	// verify add to it, so it stays as small as the gateways' devices.
	stored map[deviceKey]int64
}

type deviceKey struct{ gateway, device string }

type head struct {
	seq  uint64
	hash evidence.Hash
}

// newVerifier returns nil when ingest.evidence is not configured.
func newVerifier(cfg *config.EvidenceKeys, log *slog.Logger, reg prometheus.Registerer) (*verifier, error) {
	if cfg == nil {
		return nil, nil
	}
	v := &verifier{keys: evidence.Keys{}, require: cfg.Require, log: log, heads: map[string]head{}, stored: map[deviceKey]int64{},
		logs: telemetry.Repeats{Interval: deadLetterLogInterval},
		breaks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eipgw_ingest_evidence_breaks_total",
			Help: "Batches stored flagged because their evidence failed, by check (unsigned, unknown_key, bad_signature, invalid, fork, chain_restart).",
		}, []string{"check"}),
		checked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eipgw_ingest_evidence_checked_total",
			Help: "Batches whose signature and chain were checked.",
		}),
	}
	if err := v.keys.AddConfigured("ingest.evidence", cfg.Keys); err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(v.breaks, v.checked)
	}
	return v, nil
}

// verdict is the evidence of one batch.
type verdict struct {
	hash  evidence.Hash
	check string
}

// signedOnly narrows an InfluxQL WHERE to readings their gateway signed
// (see unverifiedCheck); a reading without batch_check never matches.
var signedOnly = fmt.Sprintf(` AND ("%[1]s" = 'ok' OR "%[1]s" = 'fork' OR "%[1]s" = 'chain_restart')`, CheckField)

// covers reports whether gateway is under evidence: it has keys, or every
// gateway is (require). Every reading of such a gateway carries
// batch_check.
func (v *verifier) covers(gateway string) bool {
	return v != nil && (v.require || v.keys[gateway] != nil)
}

// unverified reports whether the batch fails its gateway's evidence: not
// signed by a key of its gateway (unsigned, unknown_key, bad_signature,
// invalid). A fork or a chain restart was signed by the gateway.
func (vd *verdict) unverified() bool { return vd != nil && unverifiedCheck(vd.check) }

// unverifiedCheck reports whether a batch_check value marks a batch its
// gateway did not sign (see verdict.unverified).
func unverifiedCheck(check string) bool {
	return check != "ok" && check != "fork" && check != "chain_restart"
}

// check verifies b, received as payload. It returns nil for a batch not
// under evidence (an unsigned batch of a gateway without keys, unless
// require).
func (v *verifier) check(b *batch.Batch, payload []byte) *verdict {
	if v == nil || (b.Sig == "" && v.keys[b.Gateway] == nil && !v.require) {
		return nil
	}
	v.checked.Inc()
	h, prev, err := v.keys.CheckBatch(b.Gateway, b.Key, b.Prev, payload)
	vd := &verdict{hash: h, check: evidence.Reason(err)}
	if vd.check == "ok" {
		v.mu.Lock()
		last, seen := v.heads[b.Gateway]
		switch {
		case seen && b.Seq == last.seq+1 && prev != last.hash:
			vd.check = "fork"
		case prev.IsZero() && b.Seq > 1:
			vd.check = "chain_restart"
		}
		v.mu.Unlock()
	}
	if vd.check != "ok" {
		v.breaks.WithLabelValues(vd.check).Inc()
		if ok, unlogged := v.logs.Failure(time.Now()); ok {
			args := []any{"gateway", b.Gateway, "seq", b.Seq, "device", b.Device, "check", vd.check, "broken_since_last_log", unlogged}
			if err != nil {
				args = append(args, "err", err)
			}
			v.log.Warn("batch evidence broken", args...)
		}
	}
	return vd
}

// admitted records b, checked with verdict vd and admitted for writing,
// as its gateway's newest signed batch when it is: the batch the next
// one's prev must name. A batch refused (a number quarantined, a conflict)
// or not signed by the gateway leaves the head where it was.
func (v *verifier) admitted(b *batch.Batch, vd *verdict) {
	if v == nil || vd == nil || vd.unverified() {
		return
	}
	v.mu.Lock()
	if last, seen := v.heads[b.Gateway]; !seen || b.Seq > last.seq {
		v.heads[b.Gateway] = head{seq: b.Seq, hash: vd.hash}
	}
	v.mu.Unlock()
}

// keyless reports whether gateway has no key while every gateway must
// sign (require): none of its batches can verify, so none is the park's.
// Written flagged, they would let anyone who can publish add readings,
// and fields, at will.
func (v *verifier) keyless(gateway string) bool {
	return v != nil && v.require && v.keys[gateway] == nil
}

// storedSigned records that a batch its gateway signed, of device polled
// at polled, is stored.
func (v *verifier) storedSigned(gateway, device string, polled time.Time) {
	if v == nil {
		return
	}
	k, ns := deviceKey{gateway, device}, polled.UnixNano()
	v.mu.Lock()
	if last, ok := v.stored[k]; !ok || ns > last {
		v.stored[k] = ns
	}
	v.mu.Unlock()
}

// mayStillCome reports whether b, a batch that fails its gateway's
// evidence, is stamped after the newest batch of its device that the
// gateway signed and this process stored, while the gateway signs:
// the gateway's own batch of that poll may not be stored yet. Were b
// written first, the gateway's batch would overwrite only the fields it
// carries and leave b's others beside them; were b written after, it
// would overwrite the gateway's reading. A gateway none of whose batches
// verified since the start (its key listed before its edge signs) is
// judged by the stored readings alone.
func (v *verifier) mayStillCome(b *batch.Batch) bool {
	if v == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, signing := v.heads[b.Gateway]; !signing {
		return false
	}
	last, ok := v.stored[deviceKey{b.Gateway, b.Device}]
	return !ok || b.Time.UnixNano() > last
}

// withFields adds the evidence fields to reading lines (each ending in
// " <time>").
func (vd *verdict) withFields(lines [][]byte) [][]byte {
	for i, l := range lines {
		sp := bytes.LastIndexByte(l, ' ')
		var out []byte
		out = append(out, l[:sp]...)
		out = append(out, ","+HashField+`="`...)
		out = append(out, vd.hash.String()...)
		out = append(out, `",`+CheckField+`="`...)
		out = influxwrite.AppendString(out, vd.check)
		out = append(out, '"')
		lines[i] = append(out, l[sp:]...)
	}
	return lines
}

// line is the evidence record of b, received as payload.
func (vd *verdict) line(park string, b *batch.Batch, payload []byte) []byte {
	msg, _, ok := evidence.Split(payload)
	if !ok {
		msg = payload
	}
	dst := influxwrite.AppendMeasurement(nil, EvidenceMeasurement)
	dst = append(dst, ",gateway="...)
	dst = influxwrite.AppendKey(dst, b.Gateway)
	dst = append(dst, ",lane="...)
	dst = appendLane(dst, b)
	dst = append(dst, ",park="...)
	dst = influxwrite.AppendKey(dst, park)
	dst = append(dst, " seq="...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	str := func(k, v string) {
		dst = append(dst, ',')
		dst = append(dst, k...)
		dst = append(dst, `="`...)
		dst = influxwrite.AppendString(dst, v)
		dst = append(dst, '"')
	}
	str("device", b.Device)
	str("hash", vd.hash.String())
	str("prev", b.Prev)
	str("key", b.Key)
	str("sig", b.Sig)
	str("check", vd.check)
	for i := 0; len(msg) > 0 || i == 0; i++ {
		part := msg[:min(len(msg), msgPart)]
		msg = msg[len(part):]
		str("msg_"+strconv.Itoa(i), string(part))
	}
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, b.Time.UnixMilli(), 10)
}

// appendLane appends the lane of b: its device, '/', and its first point's
// name (none for a poll without points). Names cannot hold '/'
// (config.ValidName), so distinct parts never share a lane, and a poll's
// parts have distinct first points. A device's lane holds one record a
// poll, so InfluxDB's blocks (up to 1000 values) cover hours, not days of
// sparse lanes that every query of an hour would decode again.
func appendLane(dst []byte, b *batch.Batch) []byte {
	dst = influxwrite.AppendKey(dst, b.Device)
	dst = append(dst, '/')
	if len(b.Points) > 0 {
		dst = influxwrite.AppendKey(dst, b.Points[0].Name)
	}
	return dst
}

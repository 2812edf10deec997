package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

// SignedBatches returns the batches of park polled in [from, to) whose
// evidence records InfluxDB holds and whose messages are trusted as
// Verify trusts them (a signature that verifies with keys, or a chain
// vouching for it), each once, in poll time order: the batches Verify
// recomputes the park engine's hours from. The park engine reads them to
// fill an hour it did not see from its start (a restart), so that the
// hour it writes is the hour the audit recomputes.
func SignedBatches(ctx context.Context, s *Store, park string, keys evidence.Keys, from, to time.Time) ([]*batch.Batch, error) {
	if park == "" {
		return nil, errors.New("audit: no park given")
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("audit: empty range %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	rows, err := s.rows(ctx, "SELECT * FROM "+quoteIdent(EvidenceMeasurement)+" WHERE "+window(park, from, to)+" GROUP BY *")
	if err != nil {
		return nil, err
	}
	var (
		res   Result
		links []gwLink
	)
	signed := checkEvidence(rows, Options{Park: park, Keys: keys}, &res, &links)
	out := make([]*batch.Batch, len(signed))
	for i, sb := range signed {
		out[i] = sb.b
	}
	return out, nil
}

// EngineBackfill returns the park engine's Options.Backfill for role: the
// signed batches of an hour read from park_engine.influxdb with
// SignedBatches and the role's evidence keys. Without keys it returns nil:
// no batch is under evidence, and the audit recomputes no hour.
func EngineBackfill(role config.ParkRole) (func(ctx context.Context, from, to time.Time) ([]*batch.Batch, error), error) {
	if role.Evidence == nil || len(role.Evidence.Keys) == 0 || role.Engine == nil || role.Engine.InfluxDB == nil {
		return nil, nil
	}
	keys := evidence.Keys{}
	if err := keys.AddConfigured("evidence", role.Evidence.Keys); err != nil {
		return nil, err
	}
	s, err := NewStore(role.Engine.InfluxDB)
	if err != nil {
		return nil, err
	}
	park := role.Park
	return func(ctx context.Context, from, to time.Time) ([]*batch.Batch, error) {
		return SignedBatches(ctx, s, park, keys, from, to)
	}, nil
}

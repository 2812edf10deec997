package opcua

import (
	"context"
	"errors"
	"fmt"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// opLimits are the most operations a server takes in one call of a
// service (0: no limit known). A server refuses a larger call as a whole
// with BadTooManyOperations; embedded servers (PLCs) often take a few
// hundred or a thousand nodes a Read, fewer than a device may list.
type opLimits struct {
	read, translate, monitor int
}

// operationLimits reads the limits the server publishes under
// Server/ServerCapabilities/OperationLimits. One it does not publish
// (unknown node, bad status, 0) is no limit as far as the client can
// know: a call the server refuses as too large is then split further
// (see refused).
func operationLimits(ctx context.Context, c *opcua.Client) (opLimits, error) {
	ids := []uint32{
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIDs,
		id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
	}
	req := &ua.ReadRequest{}
	for _, n := range ids {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, n), AttributeID: ua.AttributeIDValue})
	}
	res, err := c.Read(ctx, req)
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	if err != nil {
		if sessionLevel(err) {
			return opLimits{}, fmt.Errorf("read operation limits: %w", named{err})
		}
		return opLimits{}, nil // refused: none published
	}
	var v [3]int
	for i := range min(len(res.Results), len(v)) {
		r := res.Results[i]
		if r == nil || r.Status != ua.StatusOK || r.Value == nil {
			continue
		}
		if n, ok := r.Value.Value().(uint32); ok {
			v[i] = int(min(n, 1<<20))
		}
	}
	return opLimits{read: v[0], translate: v[1], monitor: v[2]}, nil
}

// within returns the limits l lowered to those learned from refusals
// (0 in either: the other).
func (l opLimits) within(learned opLimits) opLimits {
	low := func(a, b int) int {
		if a == 0 || b > 0 && b < a {
			return b
		}
		return a
	}
	return opLimits{read: low(l.read, learned.read), translate: low(l.translate, learned.translate), monitor: low(l.monitor, learned.monitor)}
}

// errLimitLearned ends a session after the server refused a call as too
// many operations: the client library (gopcua v0.8.0) takes any service
// fault for a lost channel and closes the client, so the next call on
// the session would fail. The next session splits its calls further.
var errLimitLearned = errors.New("the server refused a call as too many operations")

// refused handles a call of n operations that failed with err: when the
// server refused it as too many operations, it lowers *learned to half of
// n (at least 1) and returns the error that ends the session; otherwise
// nil.
func (s *Source) refused(err error, n int, learned *int, what string) error {
	if !errors.Is(err, ua.StatusBadTooManyOperations) || n <= 1 {
		return nil
	}
	l := (n + 1) / 2
	*learned = l
	s.log.Warn("opcua server refuses "+what+" this many at once; the next session asks for fewer", "operations", n, "next", l)
	return fmt.Errorf("%w: %s %d at once (%s); the next session asks for at most %d", errLimitLearned, what, n, StatusName(ua.StatusBadTooManyOperations), l)
}

// spans splits n operations into consecutive [lo, hi) spans of at most
// limit (0: one span), appending them to dst.
func spans(dst [][2]int, n, limit int) [][2]int {
	if limit <= 0 || limit >= n {
		return append(dst, [2]int{0, n})
	}
	for lo := 0; lo < n; lo += limit {
		dst = append(dst, [2]int{lo, min(lo+limit, n)})
	}
	return dst
}

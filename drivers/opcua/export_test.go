package opcua

import "time"

// SetKeepAliveSpan sets how long a subscription stays silent before the
// server's keep-alive, for the rest of the test.
func SetKeepAliveSpan(t interface{ Cleanup(func()) }, d time.Duration) {
	old := keepAliveSpan
	keepAliveSpan = d
	t.Cleanup(func() { keepAliveSpan = old })
}

package opcua

import (
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/gopcua/opcua/ua"
)

// A node id the configuration accepts is one the driver can parse: Sources
// never fails on a validated file.
func FuzzNodeIDAcceptedIsParsed(f *testing.F) {
	for _, s := range []string{"i=85", "ns=2;s=CHP1.Power", "ns=1;i=1000", "ns=3;g=5ce9dbce-5d79-434c-9ac3-1cfba9a6e92c", "ns=4;b=YWJj", "nsu=urn:x;s=A", "ns=2;s=", "s=a;b", "ns=65535;i=4294967295"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if config.CheckNodeID(s) != nil {
			return
		}
		if _, err := ua.ParseNodeID(s); err != nil {
			t.Errorf("config accepts %q, the driver cannot parse it: %v", s, err)
		}
	})
}

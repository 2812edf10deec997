package opcua_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/opcua/opcuatest"
)

// goodValues are the good readings of a device's point, in order.
func (c *collector) goodValues(device, name string) []drivers.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []drivers.Reading
	for _, b := range c.batches {
		if b.device != device {
			continue
		}
		for _, r := range b.rs {
			if r.Name == name && r.Quality == drivers.Good {
				out = append(out, r)
			}
		}
	}
	return out
}

// hasValue reports whether a good reading of the point has value v.
func (c *collector) hasValue(device, name string, v float64) bool {
	for _, r := range c.goodValues(device, name) {
		if r.Float == v {
			return true
		}
	}
	return false
}

// checkOneKind fails the test unless every good reading of the point is
// of kind want (drivers.Float, or an integer kind: Int or Uint): a point
// whose field type changes makes InfluxDB refuse the whole batch.
func (c *collector) checkOneKind(t *testing.T, device, name string, want drivers.ValueKind) {
	t.Helper()
	isInt := func(k drivers.ValueKind) bool { return k == drivers.Int || k == drivers.Uint }
	for _, r := range c.goodValues(device, name) {
		if r.Kind != want && !(isInt(r.Kind) && isInt(want)) {
			t.Errorf("%s: %s read %+v: kind %d, want %d for its whole life", device, name, r, r.Kind, want)
		}
	}
}

const typeDevices = `    - name: polled
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        nodes:
          - {name: numeric, node_id: "ns=1;s=Numeric"}
          - {name: any, node_id: "ns=1;s=Any"}
          - {name: counter, node_id: "ns=1;s=Counter"}
    - name: pushed
      bus: ua
      interval: 200ms
      opcua:
        kind: test
        mode: subscription
        sampling_interval: 50ms
        nodes:
          - {name: numeric, node_id: "ns=1;s=Numeric"}
          - {name: any, node_id: "ns=1;s=Any"}
          - {name: counter, node_id: "ns=1;s=Counter"}
`

// TestInteropTypeFromDataType: a point's type follows its node's declared
// DataType, not each value's variant type. A String node holding "100"
// then "100.5" and a BaseDataType node holding Int32 7 then Double 7.5 read
// floats throughout (an integer, then a float, was an InfluxDB field type
// conflict that dead-lettered the device's whole batch); a UInt32 node
// stays an exact integer.
func TestInteropTypeFromDataType(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	c, _ := run(t, busYAML(srv.Endpoint(), "", typeDevices))
	for _, d := range []string{"polled", "pushed"} {
		waitFor(t, d+": first values", 30*time.Second, func() bool {
			return c.hasValue(d, "numeric", 100) && c.hasValue(d, "any", 7) && len(c.goodValues(d, "counter")) > 0
		})
	}
	srv.Command("set Numeric 100.5 String")
	srv.Command("set Any 7.5 Double")
	for _, d := range []string{"polled", "pushed"} {
		waitFor(t, d+": the changed values", 30*time.Second, func() bool {
			return c.hasValue(d, "numeric", 100.5) && c.hasValue(d, "any", 7.5)
		})
		c.checkOneKind(t, d, "numeric", drivers.Float)
		c.checkOneKind(t, d, "any", drivers.Float)
		c.checkOneKind(t, d, "counter", drivers.Uint)
	}
}

// TestInteropTypeConfigured: a point's configured type wins over its
// node's DataType: a BaseDataType node read as integer keeps a whole
// Double exactly and refuses 7.5 as out_of_range, naming the node and the
// type, rather than storing a float; a String node read as integer takes
// "100" and refuses "100.5".
func TestInteropTypeConfigured(t *testing.T) {
	p := opcuatest.NewPKI(t)
	srv := opcuatest.StartServer(t, p, "", "")
	devs := strings.NewReplacer(
		`{name: numeric, node_id: "ns=1;s=Numeric"}`, `{name: numeric, node_id: "ns=1;s=Numeric", type: integer}`,
		`{name: any, node_id: "ns=1;s=Any"}`, `{name: any, node_id: "ns=1;s=Any", type: integer}`,
		`{name: counter, node_id: "ns=1;s=Counter"}`, `{name: counter, node_id: "ns=1;s=Counter", type: float}`,
	).Replace(typeDevices)
	c, src := run(t, busYAML(srv.Endpoint(), "", devs))
	for _, d := range []string{"polled", "pushed"} {
		waitFor(t, d+": first values", 30*time.Second, func() bool {
			return c.hasValue(d, "numeric", 100) && c.hasValue(d, "any", 7) && len(c.goodValues(d, "counter")) > 0
		})
	}
	srv.Command("set Any 7.5 Double")
	srv.Command("set Numeric 100.5 String")
	for _, d := range []string{"polled", "pushed"} {
		waitFor(t, d+": the fractions refused", 30*time.Second, func() bool {
			st := state(src, d)
			return c.count(d, "any", drivers.OutOfRange, 0) > 0 && c.count(d, "numeric", drivers.OutOfRange, 0) > 0 &&
				strings.Contains(st.LastError, "node ns=1;s=Any (any): value 7.5 is not a whole number: the point is integer (configured)") &&
				strings.Contains(st.LastError, "node ns=1;s=Numeric (numeric): value 100.5 is not a whole number")
		})
	}
	srv.Command("set Any 8 Double")
	for _, d := range []string{"polled", "pushed"} {
		waitFor(t, d+": a whole Double kept", 30*time.Second, func() bool { return c.hasValue(d, "any", 8) })
		c.checkOneKind(t, d, "numeric", drivers.Int)
		c.checkOneKind(t, d, "any", drivers.Int)
		c.checkOneKind(t, d, "counter", drivers.Float)
	}
}

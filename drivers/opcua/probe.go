package opcua

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Probe is a one-off connection to a server for operator tools (eipgw
// read): browse its address space, read a configured device once.
type Probe struct {
	bus config.Bus
	c   *opcua.Client
}

// Dial connects to the endpoint of bus b (an opcua bus with defaults
// applied) with its security and login.
func Dial(ctx context.Context, b config.Bus) (*Probe, error) {
	if b.OPCUA == nil {
		return nil, fmt.Errorf("bus %s: not an opcua bus", b.Name)
	}
	ep := b.OPCUA.Endpoint
	cctx, cancel := context.WithTimeout(ctx, max(10*time.Second, 5*b.Timeout))
	defer cancel()
	opts, err := clientOptions(cctx, &b)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %s", ep, errorText(err))
	}
	c, err := opcua.NewClient(ep, opts...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", ep, err)
	}
	if err := c.Connect(cctx); err != nil {
		closeClient(c)
		return nil, fmt.Errorf("endpoint %s: connect: %s", ep, errorText(err))
	}
	return &Probe{bus: b, c: c}, nil
}

// Close ends the session.
func (p *Probe) Close() { closeClient(p.c) }

// Found is one node found by Browse.
type Found struct {
	Depth int
	// NodeID in the string form node_id takes; BrowsePath from the
	// starting node in the form browse_path takes.
	NodeID, BrowsePath string
	Class              string // Object or Variable
	// Reading is a variable's value read as the driver would read it
	// (name and unit empty); Why says why it is not good.
	Reading *drivers.Reading
	Why     string
}

// Browse walks the hierarchy below the node start (empty: the Objects
// folder) down to depth levels, calling visit for each object and
// variable in depth-first order, each variable with its value.
func (p *Probe) Browse(ctx context.Context, start string, depth int, visit func(Found)) error {
	root := ua.NewNumericNodeID(0, id.ObjectsFolder)
	if start != "" {
		n, err := ua.ParseNodeID(start)
		if err != nil {
			return fmt.Errorf("node id %q: %w", start, err)
		}
		root = n
		// Browsing a node the server does not have answers no
		// references, as an empty folder would: ask for its class first.
		if err := p.exists(ctx, root); err != nil {
			return err
		}
	}
	return p.browse(ctx, root, "", 1, depth, visit)
}

// exists reads n's node class: an error naming the node and the status
// when the server does not have it.
func (p *Probe) exists(ctx context.Context, n *ua.NodeID) error {
	rctx, cancel := context.WithTimeout(ctx, p.bus.Timeout)
	defer cancel()
	res, err := p.c.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: n, AttributeID: ua.AttributeIDNodeClass}}})
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	if err == nil && len(res.Results) != 1 {
		err = fmt.Errorf("%d results for 1 node", len(res.Results))
	}
	if err == nil && res.Results[0].Status != ua.StatusOK {
		err = res.Results[0].Status
	}
	if err != nil {
		return fmt.Errorf("node %s: %s", n, errorText(err))
	}
	return nil
}

func (p *Probe) browse(ctx context.Context, n *ua.NodeID, path string, level, depth int, visit func(Found)) error {
	if level > depth {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, p.bus.Timeout)
	refs, err := p.c.Node(n).References(rctx, id.HierarchicalReferences, ua.BrowseDirectionForward, ua.NodeClassObject|ua.NodeClassVariable, true)
	cancel()
	if err != nil {
		return fmt.Errorf("browse %s: %s", n, errorText(err))
	}
	for _, r := range refs {
		if r.NodeID == nil || r.NodeID.NodeID == nil || r.BrowseName == nil {
			continue
		}
		child := r.NodeID.NodeID
		step := fmt.Sprintf("%d:%s", r.BrowseName.NamespaceIndex, r.BrowseName.Name)
		if path != "" {
			step = path + "/" + step
		}
		f := Found{Depth: level, NodeID: child.String(), BrowsePath: step, Class: r.NodeClass.String()}
		if r.NodeClass == ua.NodeClassVariable {
			f.Class = "Variable"
			rd, why, err := p.readValue(ctx, child)
			if err != nil {
				return err
			}
			f.Reading, f.Why = rd, why
		} else {
			f.Class = "Object"
		}
		visit(f)
		if err := p.browse(ctx, child, step, level+1, depth, visit); err != nil {
			return err
		}
	}
	return nil
}

func (p *Probe) readValue(ctx context.Context, n *ua.NodeID) (*drivers.Reading, string, error) {
	rctx, cancel := context.WithTimeout(ctx, p.bus.Timeout)
	defer cancel()
	res, err := p.c.Read(rctx, &ua.ReadRequest{
		NodesToRead: []*ua.ReadValueID{
			{NodeID: n, AttributeID: ua.AttributeIDValue},
			{NodeID: n, AttributeID: ua.AttributeIDDataType},
		},
		TimestampsToReturn: ua.TimestampsToReturnBoth,
	})
	if err == nil && res.ResponseHeader.ServiceResult != ua.StatusOK {
		err = res.ResponseHeader.ServiceResult
	}
	if err == nil && len(res.Results) != 2 {
		err = fmt.Errorf("%d results for 2 attributes", len(res.Results))
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %s", n, errorText(err))
	}
	// The value as the driver reads it for a point without a configured
	// type: of the type the node's DataType gives.
	var pt point
	pt.setType(res.Results[1])
	var r drivers.Reading
	why := fill(&r, &pt, res.Results[0])
	return &r, why, nil
}

// ReadDevice reads every node of device d (on the probe's bus) once, as
// the driver polls it (in as many Read requests as the server's published
// operation limits ask), whatever the device's mode.
// The error is the device's: its nodes' failures, named.
func (p *Probe) ReadDevice(ctx context.Context, d config.Device) ([]drivers.Reading, string, error) {
	poll := d
	if poll.OPCUA != nil {
		o := *poll.OPCUA
		o.Mode = config.OPCUAPolling
		poll.OPCUA = &o
	}
	s, err := NewSource(p.bus, []config.Device{poll}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, "", err
	}
	lim, err := operationLimits(ctx, p.c)
	if err != nil {
		return nil, "", fmt.Errorf("endpoint %s: %w", p.bus.OPCUA.Endpoint, err)
	}
	s.lim = lim
	if err := s.resolve(ctx, p.c); err != nil {
		return nil, "", fmt.Errorf("endpoint %s: %w", p.bus.OPCUA.Endpoint, err)
	}
	if err := s.readTypes(ctx, p.c); err != nil {
		return nil, "", fmt.Errorf("endpoint %s: %w", p.bus.OPCUA.Endpoint, err)
	}
	dev := s.devs[0]
	s.prepareRead(dev)
	var out []drivers.Reading
	err = s.poll(ctx, p.c, dev, func(_ *drivers.Device, _ time.Time, rs []drivers.Reading) {
		out = append(out, rs...)
	})
	if err != nil {
		return out, "", err
	}
	return out, dev.errors(), nil
}

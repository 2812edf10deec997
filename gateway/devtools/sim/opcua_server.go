package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"
)

// OPCUANamespace is the name of the namespace (index 1) the simulator
// serves its devices in; its objects folder is reached from the server's
// Objects folder by this browse name.
const OPCUANamespace = "Park"

// OPCUAServer serves devices of a Park over OPC UA (gopcua's server,
// security None, anonymous): each device an object of namespace 1 with
// one variable per point of its kind's profile, node id
// ns=1;s=<device>.<point>, typed as the profile reads it (Int64 or UInt64
// for an exact integer point, Float for a float32 register, else Double).
// Values are the park's at the last Update; subscribers are notified of
// each Update.
type OPCUAServer struct {
	park    *Park
	log     *slog.Logger
	addr    string
	srv     *server.Server
	ns      *server.NodeNameSpace
	devices []opcuaDevice

	mu   sync.Mutex
	vals map[string]float64 // by node id string
	at   time.Time
	tmp  map[string]float64
	// running is set while the server serves (its subscription service
	// exists only then).
	running bool
}

type opcuaDevice struct {
	name   string
	points []*modbus.Point
	ids    []*ua.NodeID
}

// NewOPCUAServer prepares the address space of the named devices of park,
// to be served on addr (host:port); no I/O.
func NewOPCUAServer(park *Park, profiles modbus.Profiles, devices []string, addr string, log *slog.Logger) (*OPCUAServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sim: opcua address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("sim: opcua address %q: port %q is not 1-65535", addr, portText)
	}
	s := &OPCUAServer{park: park, log: log, addr: addr, vals: map[string]float64{}, tmp: map[string]float64{}}
	s.srv = server.New(
		server.EndPoint(host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("eipgw simulator"),
		server.ManufacturerName("eipgw"),
		server.ProductName("eipgw simulated park"),
	)
	root, err := s.srv.Namespace(0)
	if err != nil {
		return nil, err
	}
	s.ns = server.NewNodeNameSpace(s.srv, OPCUANamespace)
	objects := s.ns.Objects()
	root.Objects().AddRef(objects, id.HasComponent, true)
	kinds := map[string]string{}
	for _, d := range park.Devices() {
		kinds[d.Name] = d.Kind
	}
	for _, name := range devices {
		kind, ok := kinds[name]
		if !ok {
			return nil, fmt.Errorf("sim: opcua: device %q: %w", name, ErrUnknownDevice)
		}
		p, ok := profiles[kind]
		if !ok {
			return nil, fmt.Errorf("sim: no profile for kind %q of device %s", kind, name)
		}
		dev := opcuaDevice{name: name}
		obj := s.ns.AddNode(objectNode(ua.NewStringNodeID(s.ns.ID(), name), name))
		objects.AddRef(obj, id.HasComponent, true)
		for i := range p.Points {
			pt := &p.Points[i]
			if pt.Text() {
				continue // the model has numbers only
			}
			nid := ua.NewStringNodeID(s.ns.ID(), name+"."+pt.Name)
			key := nid.String()
			v := s.ns.AddNode(server.NewVariableNode(nid, pt.Name, func() *ua.DataValue { return s.value(key, pt) }))
			// The variable's DataType, as value gives its values
			// (gopcua's server would name VariableNode).
			v.SetAttribute(ua.AttributeIDDataType, server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, dataType(pt)))) //nolint:errcheck // gopcua returns an error for every attribute but the value
			obj.AddRef(v, id.HasComponent, true)
			dev.points = append(dev.points, pt)
			dev.ids = append(dev.ids, nid)
		}
		s.devices = append(s.devices, dev)
	}
	return s, nil
}

// objectNode is an object named name. (server.NewFolderNode of gopcua
// v0.8.0 panics on its description attribute.)
func objectNode(nid *ua.NodeID, name string) *server.Node {
	return server.NewNode(nid, map[ua.AttributeID]*ua.DataValue{
		ua.AttributeIDNodeClass:     server.DataValueFromValue(uint32(ua.NodeClassObject)),
		ua.AttributeIDBrowseName:    server.DataValueFromValue(attrs.BrowseName(name)),
		ua.AttributeIDDisplayName:   server.DataValueFromValue(attrs.DisplayName(name, name)),
		ua.AttributeIDEventNotifier: server.DataValueFromValue(int16(0)),
	}, nil, nil)
}

// value is a variable's current data value, typed as its point.
func (s *OPCUAServer) value(key string, pt *modbus.Point) *ua.DataValue {
	s.mu.Lock()
	v, ok := s.vals[key]
	at := s.at
	s.mu.Unlock()
	dv := &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp, SourceTimestamp: at, ServerTimestamp: time.Now()}
	if !ok {
		dv.EncodingMask |= ua.DataValueStatusCode
		dv.Status = ua.StatusBadWaitingForInitialData
		return dv
	}
	switch {
	case pt.ValueKind() == modbus.IntValue:
		dv.Value = ua.MustVariant(int64(math.Round(v)))
	case pt.ValueKind() == modbus.UintValue:
		dv.Value = ua.MustVariant(uint64(math.Round(max(v, 0))))
	case pt.Float32():
		dv.Value = ua.MustVariant(float32(v))
	default:
		dv.Value = ua.MustVariant(v)
	}
	return dv
}

// dataType is the OPC UA DataType of a point's variable.
func dataType(pt *modbus.Point) uint32 {
	switch {
	case pt.ValueKind() == modbus.IntValue:
		return id.Int64
	case pt.ValueKind() == modbus.UintValue:
		return id.UInt64
	case pt.Float32():
		return id.Float
	}
	return id.Double
}

// Update takes the park's current values and, once the server runs,
// notifies subscribers.
func (s *OPCUAServer) Update(t time.Time) error {
	if err := s.take(t); err != nil {
		return err
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return nil
	}
	for _, d := range s.devices {
		for _, nid := range d.ids {
			s.ns.ChangeNotification(nid)
		}
	}
	return nil
}

// take copies the park's current values.
func (s *OPCUAServer) take(t time.Time) error {
	s.mu.Lock()
	for _, d := range s.devices {
		clear(s.tmp)
		if err := s.park.Values(d.name, s.tmp); err != nil {
			s.mu.Unlock()
			return err
		}
		for i, pt := range d.points {
			v, ok := s.tmp[pt.Name]
			if !ok {
				s.mu.Unlock()
				return fmt.Errorf("sim: device %s has no value for point %s", d.name, pt.Name)
			}
			s.vals[d.ids[i].String()] = v
		}
	}
	s.at = t
	s.mu.Unlock()
	return nil
}

// Endpoint is the server's URL.
func (s *OPCUAServer) Endpoint() string { return "opc.tcp://" + s.addr }

// Run serves until ctx is done, taking the park's values every step (the
// model itself is stepped by the Modbus server's Run).
func (s *OPCUAServer) Run(ctx context.Context, step time.Duration) error {
	if err := s.Update(time.Now()); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.srv.Start(sctx); err != nil {
		return fmt.Errorf("sim: opcua: %w", err)
	}
	defer s.srv.Close()
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	s.log.Info("serving OPC UA", "endpoint", s.Endpoint(), "devices", len(s.devices))
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := s.Update(now); err != nil {
				return err
			}
		}
	}
}

// OPCUAEdgeDevice is the edge configuration of a device served over OPC UA
// on bus: its kind, the mode, and one node per point with the profile's
// unit and range.
func OPCUAEdgeDevice(park *Park, profiles modbus.Profiles, device, bus, mode string, interval time.Duration) (config.Device, error) {
	for _, d := range park.Devices() {
		if d.Name != device {
			continue
		}
		p, ok := profiles[d.Kind]
		if !ok {
			return config.Device{}, fmt.Errorf("sim: no profile for kind %q of device %s", d.Kind, d.Name)
		}
		o := &config.OPCUADevice{Kind: d.Kind, Mode: mode}
		for i := range p.Points {
			pt := &p.Points[i]
			if pt.Text() {
				continue
			}
			typ := config.OPCUATypeFloat
			if k := pt.ValueKind(); k == modbus.IntValue || k == modbus.UintValue {
				typ = config.OPCUATypeInteger
			}
			o.Nodes = append(o.Nodes, config.OPCUANode{
				Name: pt.Name, NodeID: "ns=1;s=" + d.Name + "." + pt.Name, Unit: pt.Unit, Min: pt.Min, Max: pt.Max, Type: typ,
			})
		}
		return config.Device{Name: d.Name, Bus: bus, Interval: interval, Tenant: d.Tenant, OPCUA: o}, nil
	}
	return config.Device{}, fmt.Errorf("sim: opcua: device %q: %w", device, ErrUnknownDevice)
}

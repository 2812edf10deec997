package config

import "fmt"

// FlowLink is a metered flow of water or material from one company to
// another in the park (reclaimed water, condensate, fly ash, gypsum, ...):
// park_engine.flow_links. The park engine reports the quantity reused per
// link, per material and per park (docs/metrics.md, "Flow links").
type FlowLink struct {
	// Name identifies the link (the link tag of its records).
	Name string `yaml:"name"`
	// Material names what flows, e.g. reclaimed_water, condensate,
	// fly_ash, gypsum (the material tag of the per-material sums).
	Material string `yaml:"material"`
	// Source and Sink are the companies the flow leaves and reaches; they
	// need not be steam tenants.
	Source string `yaml:"source"`
	Sink   string `yaml:"sink"`
	// Meter is the device and point that measure the flow.
	Meter FlowMeter `yaml:"meter"`
}

// FlowMeter is the metered quantity of a flow link: a rate point of a
// device. A device may also serve another role (a cascade's heat meter
// measures the water volume that flows to the sink).
type FlowMeter struct {
	Device  string `yaml:"device"`
	Gateway string `yaml:"gateway"`
	// Point is the device's rate point, e.g. volume_flow.
	Point string `yaml:"point"`
	// Unit is the point's unit, one of FlowLinkUnits (a rate per hour).
	Unit string `yaml:"unit"`
	// Uncertainty is the meter's expanded (k = 2) relative uncertainty,
	// for information in the records' documentation; 0 when unknown.
	Uncertainty float64 `yaml:"uncertainty"`
}

// FlowLinkUnits maps the rate units a flow link may be metered in to the
// unit of the quantity per hour.
var FlowLinkUnits = map[string]string{"m3/h": "m3", "t/h": "t", "kg/h": "kg"}

// flowLinks checks park_engine.flow_links.
func (v *parkValidator) flowLinks(ls []FlowLink) {
	names := map[string]bool{}
	for i, l := range ls {
		path := fmt.Sprintf("%s.flow_links[%d]", parkRoot, i)
		v.ident(path+".name", l.Name, true)
		if l.Name != "" && names[l.Name] {
			v.add(path+".name", "flow link %q is defined twice", l.Name)
		}
		names[l.Name] = true
		v.ident(path+".material", l.Material, true)
		v.ident(path+".source", l.Source, true)
		v.ident(path+".sink", l.Sink, true)
		if l.Source != "" && l.Source == l.Sink {
			v.add(path+".sink", "a flow link joins two different companies")
		}
		v.ident(path+".meter.device", l.Meter.Device, true)
		v.ident(path+".meter.gateway", l.Meter.Gateway, false)
		v.ident(path+".meter.point", l.Meter.Point, true)
		if _, ok := FlowLinkUnits[l.Meter.Unit]; !ok {
			v.add(path+".meter.unit", "%q is not a flow link unit: use m3/h, t/h or kg/h", l.Meter.Unit)
		}
		v.rng(path+".meter.uncertainty", l.Meter.Uncertainty, 0, 0.5, false, "(fraction of reading, k = 2)")
	}
}

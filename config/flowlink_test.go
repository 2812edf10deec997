package config

import (
	"strings"
	"testing"
)

// flowLinksYAML adds two links to minimalPark: condensate metered by a
// heat meter's volume flow (a device that may serve a cascade too) and
// gypsum by a weigh feeder.
const flowLinksYAML = `  flow_links:
    - {name: cond-t01-t02, material: condensate, source: t01, sink: t02, meter: {device: h1, point: volume_flow, unit: m3/h, uncertainty: 0.02}}
    - {name: gypsum-fgd, material: gypsum, source: power-plant, sink: board-works, meter: {device: wf1, gateway: gw-2, point: mass_flow, unit: t/h}}
`

func TestFlowLinks(t *testing.T) {
	data := strings.Replace(minimalPark, "  fuels:\n", flowLinksYAML+"  fuels:\n", 1)
	f, err := Parse("park.yaml", []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	ls := f.ParkEngine.FlowLinks
	if len(ls) != 2 || ls[0].Material != "condensate" || ls[0].Meter.Unit != "m3/h" || ls[1].Source != "power-plant" || ls[1].Meter.Gateway != "gw-2" {
		t.Fatalf("flow links %+v", ls)
	}
}

// TestFlowLinkErrors: each mistake is reported at its line with its field
// path.
func TestFlowLinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unit", "unit: m3/h,", "unit: m3,", `park.yaml:12: park_engine.flow_links[0].meter.unit: "m3" is not a flow link unit: use m3/h, t/h or kg/h`},
		{"same company", "sink: t02,", "sink: t01,", "park.yaml:12: park_engine.flow_links[0].sink: a flow link joins two different companies"},
		{"twice", "{name: gypsum-fgd,", "{name: cond-t01-t02,", `park.yaml:13: park_engine.flow_links[1].name: flow link "cond-t01-t02" is defined twice`},
		{"no point", "point: mass_flow, ", "", "park.yaml:13: park_engine.flow_links[1].meter.point: required field is missing"},
		{"no material", "material: gypsum, ", "", "park.yaml:13: park_engine.flow_links[1].material: required field is missing"},
		{"unknown key", "uncertainty: 0.02}", "uncertainty: 0.02, scale: 2}", `park.yaml:12: park_engine.flow_links[0].meter.scale: unknown field "scale"`},
		{"uncertainty", "uncertainty: 0.02}", "uncertainty: 2}", "park.yaml:12: park_engine.flow_links[0].meter.uncertainty: 2 out of range [0, 0.5]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(flowLinksYAML, tc.old) {
				t.Fatalf("case does not apply: %q", tc.old)
			}
			links := strings.Replace(flowLinksYAML, tc.old, tc.new, 1)
			data := strings.Replace(minimalPark, "  fuels:\n", links+"  fuels:\n", 1)
			_, err := Parse("park.yaml", []byte(data), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

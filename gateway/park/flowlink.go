package park

import (
	"sort"

	"github.com/eipgw/eipgw/config"
)

// flowLinkPlan is one configured flow link (config.FlowLink): the channel
// of its metered rate, in the quantity's unit per hour.
type flowLinkPlan struct {
	name, material string
	qty            string // quantity unit: m3, t, kg
	rate           chanID
}

// flowLinkPlans adds a channel per flow link. A link's meter may be a
// device that serves another role too; its point is read as a rate in the
// configured unit, and a negative rate is refused.
func (p *plan) flowLinkPlans(ls []config.FlowLink) []flowLinkPlan {
	out := make([]flowLinkPlan, 0, len(ls))
	for _, l := range ls {
		m := l.Meter
		ch := p.channel("flow_link." + l.Name + "." + m.Point)
		unit := m.Unit
		point := m.Point
		p.roles[m.Device] = append(p.roles[m.Device], &role{gateway: m.Gateway, device: m.Device, extra: true,
			fn: func(pts points, out []sample) []sample {
				v, why := pts.get(point, unit)
				if why == "" && v < 0 {
					why = point + ": negative flow"
				}
				return append(out, sample{ch: ch, v: v, bad: why})
			}})
		out = append(out, flowLinkPlan{name: l.Name, material: l.Material, qty: config.FlowLinkUnits[m.Unit], rate: ch})
	}
	return out
}

// flowLinks reports the reuse of water and materials: per link the
// metered rate (live) and quantity (hourly); per material and per park
// the sums over the links of one unit, valid when every link summed is.
func (c *calc) flowLinks(links []flowLinkPlan) {
	type group struct {
		chs []chanID
		sum float64
	}
	byMaterial := map[[2]string]*group{} // material, unit
	byPark := map[string]*group{}        // unit
	for _, l := range links {
		u := l.qty // m3, t or kg: the name suffix
		c.rate("flow_rate_"+u+"_h", l.qty+"/h", "flow_reused_"+u, l.qty, "link", l.name, l.rate, 1)
		for _, g := range []*group{at(byMaterial, [2]string{l.material, l.qty}), at(byPark, l.qty)} {
			g.chs = append(g.chs, l.rate)
			g.sum += c.mean(l.rate)
		}
	}
	put := func(name, unit, ek, e string, g *group) {
		c.put(name, unit, ek, e, c.need(g.chs...), c.scale(g.sum, 1))
	}
	mk := make([][2]string, 0, len(byMaterial))
	for k := range byMaterial {
		mk = append(mk, k)
	}
	sort.Slice(mk, func(i, j int) bool { return mk[i][0]+"/"+mk[i][1] < mk[j][0]+"/"+mk[j][1] })
	for _, k := range mk {
		u := k[1]
		if c.live {
			put("flow_material_rate_"+u+"_h", k[1]+"/h", "material", k[0], byMaterial[k])
		} else {
			put("flow_material_reused_"+u, k[1], "material", k[0], byMaterial[k])
		}
	}
	uk := make([]string, 0, len(byPark))
	for k := range byPark {
		uk = append(uk, k)
	}
	sort.Strings(uk)
	for _, q := range uk {
		u := q
		if c.live {
			put("flow_park_rate_"+u+"_h", q+"/h", "", "", byPark[q])
		} else {
			put("flow_park_reused_"+u, q, "", "", byPark[q])
		}
	}
}

// at returns m[k], adding a zero value first when absent.
func at[K comparable, V any](m map[K]*V, k K) *V {
	v, ok := m[k]
	if !ok {
		v = new(V)
		m[k] = v
	}
	return v
}

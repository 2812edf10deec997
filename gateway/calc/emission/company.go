package emission

import (
	"fmt"
	"sort"
)

// LoadEfficiency is one point of a boiler's part-load efficiency curve.
type LoadEfficiency struct {
	Load       float64 // heat output as a fraction of the boiler's capacity, 0..1
	Efficiency float64 // efficiency at that load (fraction, NCV basis)
}

// CompanyBoiler is one boiler a company ran before the shared plant, with
// the data the baseline needs (project design, docs/metrics.md#reductions).
type CompanyBoiler struct {
	Capacity float64 // rated heat output, MW
	// Efficiency is the efficiency at every load (fraction, NCV basis),
	// used when Curve is empty.
	Efficiency float64
	// Curve is the part-load efficiency, interpolated linearly in load and
	// held constant beyond its first and last points; optional.
	Curve       []LoadEfficiency
	NCV         float64 // net calorific value of its fuel, GJ/t
	EFCO2       float64 // CO₂ emission factor of its fuel, kg/GJ
	Sulfur      float64 // sulphur mass fraction of its fuel
	SulfurToSO2 float64 // fraction of the sulphur emitted as SO₂
}

// EfficiencyAt returns the boiler's efficiency (fraction) at load (fraction
// of capacity): Efficiency without a curve, else the curve interpolated
// linearly between its points and held at its end values outside them.
func (b CompanyBoiler) EfficiencyAt(load float64) (float64, error) {
	if len(b.Curve) == 0 {
		if err := chk.Efficiency("Efficiency", b.Efficiency); err != nil {
			return 0, err
		}
		return b.Efficiency, nil
	}
	pts := append([]LoadEfficiency(nil), b.Curve...)
	sort.Slice(pts, func(i, j int) bool { return pts[i].Load < pts[j].Load })
	for i, p := range pts {
		if err := chk.Fraction(fmt.Sprintf("Curve[%d].Load", i), p.Load); err != nil {
			return 0, err
		}
		if err := chk.Efficiency(fmt.Sprintf("Curve[%d].Efficiency", i), p.Efficiency); err != nil {
			return 0, err
		}
	}
	if load <= pts[0].Load {
		return pts[0].Efficiency, nil
	}
	for i := 1; i < len(pts); i++ {
		if load <= pts[i].Load {
			a, b := pts[i-1], pts[i]
			return a.Efficiency + (b.Efficiency-a.Efficiency)*(load-a.Load)/(b.Load-a.Load), nil
		}
	}
	return pts[len(pts)-1].Efficiency, nil
}

// CompanyRate is the baseline of one company at one instant.
type CompanyRate struct {
	Credited float64 // heat its replaced boilers could have made, MW (≤ their capacity)
	Excess   float64 // metered heat above that capacity, MW: not credited
	Load     float64 // load of every boiler, fraction of its capacity
	CO2      float64 // baseline CO₂, t/h
	SO2      float64 // baseline SO₂, t/h
}

// CompanyBaseline returns the baseline of a company taking heat (MW) from
// the shared plant, had its replaced boilers made that heat: the boilers
// share the load in proportion to their capacity (every boiler at load
// L = min(heat/ΣC, 1)), heat above their total capacity is not credited
// (the company could not have raised it), and each boiler burns
// C·L/η(L) of fuel energy (project design following the structure of CDM
// AM0014, JCM TH_AM009; docs/metrics.md#reductions):
//
//	CO2 = Σ_j (C_j·L·3.6/η_j(L))·EF_j/1000              t/h
//	SO2 = Σ_j 2·S_j·(C_j·L·3.6/η_j(L)/NCV_j)·k_j           t/h
//
// Example: two boilers of 1 MW and 2 MW at η 0.80, heavy oil (NCV 40.4
// GJ/t, 77.4 kg/GJ, 2 % S), taking 4 MW: credited 3 MW, excess 1 MW, load
// 1, fuel 3·3.6/0.8 = 13.5 GJ/h, CO₂ 1.0449 t/h, SO₂ 2·0.02·13.5/40.4 =
// 0.013366 t/h. Heat must be finite and >= 0, every capacity > 0.
func CompanyBaseline(heat float64, boilers []CompanyBoiler) (CompanyRate, error) {
	if err := chk.NonNegative("heat", heat, "MW"); err != nil {
		return CompanyRate{}, err
	}
	if len(boilers) == 0 {
		return CompanyRate{}, fmt.Errorf("emission: %w: a company baseline needs at least one replaced boiler", ErrInvalidInput)
	}
	capacity := 0.0
	for i, b := range boilers {
		if err := chk.Positive(fmt.Sprintf("boilers[%d].Capacity", i), b.Capacity, "MW"); err != nil {
			return CompanyRate{}, err
		}
		capacity += b.Capacity
	}
	r := CompanyRate{Credited: min(heat, capacity), Load: min(heat/capacity, 1)}
	r.Excess = heat - r.Credited
	bl := Baseline{Boilers: make([]ReplacedBoiler, len(boilers))}
	for i, b := range boilers {
		eta, err := b.EfficiencyAt(r.Load)
		if err != nil {
			return CompanyRate{}, fmt.Errorf("boilers[%d]: %w", i, err)
		}
		bl.Boilers[i] = ReplacedBoiler{
			UsefulHeat: b.Capacity * r.Load * 3.6, // MW × 1 h = MWh; × 3.6 = GJ in one hour
			Efficiency: eta, NCV: b.NCV, EFCO2: b.EFCO2, Sulfur: b.Sulfur, SulfurToSO2: b.SulfurToSO2,
		}
	}
	e, err := BaselineEmissions(bl)
	if err != nil {
		return CompanyRate{}, err
	}
	r.CO2, r.SO2 = e.CO2, e.SO2
	return r, nil
}

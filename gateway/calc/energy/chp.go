package energy

import "fmt"

// The CHP functions take the period totals of one unit: fuel energy input F,
// net electricity W_E and useful heat Q_TH, all in the same energy unit (GJ
// or MWh) over the same period, with F on one stated heating-value basis
// (net calorific value for EU and IPCC methods, gross for US EPA ones).
// Efficiencies and ratios are returned as fractions, not percentages.

// ElectricalEfficiency returns η_e = W_E/F (fraction) from the net
// electricity and the fuel energy input, both in the same energy unit (EPA
// CHP Partnership).
func ElectricalEfficiency(fuel, electricity float64) (float64, error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("electricity", electricity, ""); err != nil {
		return 0, err
	}
	return atMostOne("electrical efficiency", electricity/fuel, fuel, electricity)
}

// atMostOne refuses an efficiency above 1: more output than fuel input on
// the stated heating-value basis is a metering or configuration fault, not
// a result (Directive 2012/27/EU Annex II(b) defines the efficiencies as
// output over fuel input).
func atMostOne(what string, eta, fuel, out float64) (float64, error) {
	if eta > 1 {
		return 0, fmt.Errorf("energy: fuel = %g, output = %g: %w: %s %g exceeds 1 (output above the fuel input: check the meters and the heat basis)", fuel, out, ErrInvalidInput, what, eta)
	}
	return eta, nil
}

// ThermalEfficiency returns η_th = Q_TH/F (fraction) from the useful heat
// and the fuel energy input, both in the same energy unit (EPA CHP
// Partnership).
func ThermalEfficiency(fuel, heat float64) (float64, error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return 0, err
	}
	return atMostOne("thermal efficiency", heat/fuel, fuel, heat)
}

// TotalEfficiency returns the total system efficiency (fuel utilisation)
// η_o = (W_E + Q_TH)/F (fraction), all in the same energy unit (EPA CHP
// Partnership, methods for calculating CHP efficiency).
func TotalEfficiency(fuel, electricity, heat float64) (float64, error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("electricity", electricity, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return 0, err
	}
	return atMostOne("total efficiency", (electricity+heat)/fuel, fuel, electricity+heat)
}

// HeatToPowerRatio returns HPR = Q_TH/W_E (dimensionless) from useful heat
// and net electricity in the same energy unit; its inverse is the EU
// power-to-heat ratio C of Directive 2012/27/EU Annex I. Zero electricity
// returns ErrInvalidInput.
func HeatToPowerRatio(heat, electricity float64) (float64, error) {
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return 0, err
	}
	if err := chk.Positive("electricity", electricity, ""); err != nil {
		return 0, err
	}
	return heat / electricity, nil
}

// EffectiveElectricEfficiency returns ε_EE = W_E/(F − Q_TH/α) (fraction),
// where α is the efficiency (fraction) of the boiler the CHP heat displaces;
// the method is the EPA CHP Partnership's, which suggests about 0.80 for
// natural gas, 0.75 for biomass and 0.83 for coal boilers (to confirm
// against EPA's text; none is built in). All energies in the same unit. A
// heat credit Q_TH/α >= F returns ErrInvalidInput.
func EffectiveElectricEfficiency(fuel, electricity, heat, alpha float64) (float64, error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("electricity", electricity, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("alpha", alpha); err != nil {
		return 0, err
	}
	d := fuel - heat/alpha
	if d <= 0 {
		return 0, fmt.Errorf("energy: fuel = %g, heat = %g, alpha = %g: %w: displaced boiler fuel heat/alpha = %g exceeds the CHP fuel", fuel, heat, alpha, ErrInvalidInput, heat/alpha)
	}
	return electricity / d, nil
}

// FERC is the result of the US FERC/PURPA efficiency standard for a new
// topping-cycle qualifying facility on oil or gas (18 CFR 292.205).
type FERC struct {
	// Value is (W_E + Q_TH/2)/F, fraction, on an LHV basis.
	Value float64
	// ThermalShare is Q_TH/(W_E + Q_TH), fraction.
	ThermalShare float64
	// Threshold is 0.425, or 0.45 when ThermalShare < 0.15.
	Threshold float64
	// Pass is Value >= Threshold and ThermalShare >= 0.05.
	Pass bool
}

// FERCEfficiency evaluates the FERC/PURPA efficiency standard from fuel
// (LHV), net electricity and useful heat in the same energy unit, as 18 CFR
// 292.205(a) sets it for a topping-cycle facility on oil or gas:
// (W_E + ½Q_TH)/F >= 42.5 %, or >= 45 % if Q_TH is below 15 % of the total
// output, and Q_TH >= 5 % of the total output. The thresholds are to be
// confirmed against the eCFR text (docs/references.md).
func FERCEfficiency(fuel, electricity, heat float64) (FERC, error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return FERC{}, err
	}
	if err := chk.NonNegative("electricity", electricity, ""); err != nil {
		return FERC{}, err
	}
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return FERC{}, err
	}
	if electricity+heat == 0 {
		return FERC{}, fmt.Errorf("energy: electricity = 0, heat = 0: %w: no output", ErrInvalidInput)
	}
	f := FERC{
		Value:        (electricity + heat/2) / fuel,
		ThermalShare: heat / (electricity + heat),
		Threshold:    0.425,
	}
	if f.ThermalShare < 0.15 {
		f.Threshold = 0.45
	}
	f.Pass = f.Value >= f.Threshold && f.ThermalShare >= 0.05
	return f, nil
}

// PrimaryEnergySavings returns the EU primary energy savings
// PES = 1 − 1/(CHP Hη/Ref Hη + CHP Eη/Ref Eη) as a fraction (multiply by 100
// for the percentage the Directive prints), from the CHP heat efficiency
// etaHeat and electrical efficiency etaElec (both referred to the same fuel,
// fractions) and the harmonised reference efficiencies refHeat and refElec
// for separate production (fractions) (Directive 2012/27/EU Annex II(b)).
//
// The reference values come from Regulation (EU) 2015/2402 as amended. None
// is built in: pass the ones of the consolidated OJ text, corrected for
// climate and grid losses as its Annexes III and IV require. A negative
// result means the unit used more primary energy than separate production.
func PrimaryEnergySavings(etaHeat, etaElec, refHeat, refElec float64) (float64, error) {
	if err := chk.Fraction("etaHeat", etaHeat); err != nil {
		return 0, err
	}
	if err := chk.Fraction("etaElec", etaElec); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("refHeat", refHeat); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("refElec", refElec); err != nil {
		return 0, err
	}
	d := etaHeat/refHeat + etaElec/refElec
	if d == 0 {
		return 0, fmt.Errorf("energy: etaHeat = 0, etaElec = 0: %w: no useful output", ErrInvalidInput)
	}
	return 1 - 1/d, nil
}

// FuelReference is one fuel's energy input to a cogeneration unit with the
// harmonised reference efficiencies of separate production for that fuel.
type FuelReference struct {
	Energy  float64 // fuel energy input (NCV), any energy unit, the same for every fuel
	RefElec float64 // Ref Eη of the fuel, fraction
	RefHeat float64 // Ref Hη of the fuel, fraction
}

// WeightedReferences returns the reference efficiencies of a unit burning
// several fuels, each fuel's Ref Eη and Ref Hη weighted by its share of the
// fuel energy input: Ref η = Σ F_k·Ref η_k / Σ F_k (Regulation (EU)
// 2015/2402 applies the harmonised values proportionally to the weighted
// mean of the energy input of the fuels; clause to confirm against the
// consolidated text). No fuel energy returns ErrInvalidInput.
func WeightedReferences(fuels []FuelReference) (refElec, refHeat float64, err error) {
	total := 0.0
	for i, f := range fuels {
		if err := chk.NonNegative(fmt.Sprintf("fuels[%d].Energy", i), f.Energy, ""); err != nil {
			return 0, 0, err
		}
		if err := chk.Efficiency(fmt.Sprintf("fuels[%d].RefElec", i), f.RefElec); err != nil {
			return 0, 0, err
		}
		if err := chk.Efficiency(fmt.Sprintf("fuels[%d].RefHeat", i), f.RefHeat); err != nil {
			return 0, 0, err
		}
		total += f.Energy
		refElec += f.Energy * f.RefElec
		refHeat += f.Energy * f.RefHeat
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("energy: %w: no fuel energy to weight the reference efficiencies by", ErrInvalidInput)
	}
	return refElec / total, refHeat / total, nil
}

// HighEfficiencyCogeneration reports whether a unit with primary energy
// savings pes (fraction) and electrical capacity capacityMWe in MW qualifies
// as high-efficiency cogeneration: PES >= 10 %, or PES > 0 for small and
// micro units below 1 MWe (Directive 2012/27/EU Annex II(a)).
func HighEfficiencyCogeneration(pes, capacityMWe float64) (bool, error) {
	if err := chk.Finite("pes", pes, ""); err != nil {
		return false, err
	}
	if err := chk.NonNegative("capacityMWe", capacityMWe, "MW"); err != nil {
		return false, err
	}
	if capacityMWe < 1 {
		return pes > 0, nil
	}
	return pes >= 0.10, nil
}

// SeparateProductionFuel returns the fuel energy separate heat and power
// would need for the same outputs, F_SHP = W_E/η_E,ref + Q_TH/η_H,ref, in the
// energy unit of electricity and heat, with the reference efficiencies as
// fractions. With the EPA CHP Partnership's illustration (30 units of power
// and 45 of heat, 98 units of fuel for the power and a boiler of 80 %) it is
// 98 + 56.25 = 154.25 units.
func SeparateProductionFuel(electricity, heat, refElec, refHeat float64) (float64, error) {
	if err := chk.NonNegative("electricity", electricity, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("heat", heat, ""); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("refElec", refElec); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("refHeat", refHeat); err != nil {
		return 0, err
	}
	return electricity/refElec + heat/refHeat, nil
}

// FuelSaving returns the fuel the CHP saved against separate production,
// saved = F_SHP − F in the energy unit of the inputs, and the saving as a
// fraction of F_SHP, 1 − F/F_SHP (project definition, docs/metrics.md#chp:
// the fuel the displaced boilers and power plant would have burned, less the
// CHP's fuel, the structure of the baselines of CDM AM0014 and JCM
// TH_AM009). refElec is the efficiency of the displaced grid or reference
// power plant, refHeat that of the displaced boilers (fractions). A negative
// saving means the CHP used more fuel.
func FuelSaving(fuel, electricity, heat, refElec, refHeat float64) (saved, fraction float64, err error) {
	if err := chk.Positive("fuel", fuel, ""); err != nil {
		return 0, 0, err
	}
	shp, err := SeparateProductionFuel(electricity, heat, refElec, refHeat)
	if err != nil {
		return 0, 0, err
	}
	if shp == 0 {
		return 0, 0, fmt.Errorf("energy: electricity = 0, heat = 0: %w: no output to compare", ErrInvalidInput)
	}
	return shp - fuel, 1 - fuel/shp, nil
}

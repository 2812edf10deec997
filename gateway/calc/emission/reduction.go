package emission

import "fmt"

// Emissions is a CO₂ and SO₂ total over one period.
type Emissions struct {
	CO2 float64 // t CO₂
	SO2 float64 // t SO₂
}

// ReplacedBoiler is one boiler the shared CHP replaced, with the heat it
// would have produced in the period (the heat its former users now take
// from the park network) and its baseline fuel data
// (docs/metrics.md#reductions).
type ReplacedBoiler struct {
	UsefulHeat  float64 // HG_i, useful heat supplied in its place, GJ
	Efficiency  float64 // η_BL,i, baseline boiler efficiency (fraction, NCV basis)
	NCV         float64 // net calorific value of its fuel, GJ/t
	EFCO2       float64 // CO₂ emission factor of its fuel, kg/GJ
	Sulfur      float64 // sulphur mass fraction of its fuel
	SulfurToSO2 float64 // k_i, fraction of the sulphur emitted as SO₂
}

// Baseline is what the park would have emitted without the shared CHP: the
// replaced boilers, plus the grid electricity the CHP's power displaces.
type Baseline struct {
	Boilers         []ReplacedBoiler
	GridElectricity float64 // EG, CHP electricity supplied to users instead of the grid, MWh
	GridEF          float64 // grid CO₂ emission factor, t CO₂/MWh
}

// BaselineEmissions returns the baseline emissions (project design
// following the structure of CDM AM0014 and JCM TH_AM009,
// docs/metrics.md#reductions):
//
//	BE_CO2 = Σ (HG_i/η_i)·EF_i/1000 + EG·EF_grid       t
//	BE_SO2 = Σ 2·S_i·(HG_i/η_i/NCV_i)·k_i             t
//
// For example 1 000 000 GJ of oil-boiler heat at η = 0.80, NCV 40.4 GJ/t,
// S = 2 %, 77.4 kg/GJ gives 96 750 t CO₂ and 1 237.624 t SO₂. A higher
// baseline efficiency gives a smaller, more conservative baseline; the
// methodology that applies (e.g. the CDM tool TOOL09) says how to choose it.
func BaselineEmissions(b Baseline) (Emissions, error) {
	var e Emissions
	for i, bl := range b.Boilers {
		if err := bl.validate(fmt.Sprintf("Boilers[%d]", i)); err != nil {
			return Emissions{}, err
		}
		fuelEnergy := bl.UsefulHeat / bl.Efficiency // GJ
		e.CO2 += fuelEnergy * bl.EFCO2 / 1000
		e.SO2 += SO2PerSulfur * bl.Sulfur * (fuelEnergy / bl.NCV) * bl.SulfurToSO2
	}
	grid, err := gridCO2(b.GridElectricity, b.GridEF)
	if err != nil {
		return Emissions{}, err
	}
	e.CO2 += grid
	return e, nil
}

// validate checks a replaced boiler's fields, naming them with prefix.
func (bl ReplacedBoiler) validate(prefix string) error {
	if err := chk.NonNegative(prefix+".UsefulHeat", bl.UsefulHeat, "GJ"); err != nil {
		return err
	}
	if err := chk.Efficiency(prefix+".Efficiency", bl.Efficiency); err != nil {
		return err
	}
	if err := chk.Positive(prefix+".NCV", bl.NCV, "GJ/t"); err != nil {
		return err
	}
	if err := chk.NonNegative(prefix+".EFCO2", bl.EFCO2, "kg/GJ"); err != nil {
		return err
	}
	if err := chk.Fraction(prefix+".Sulfur", bl.Sulfur); err != nil {
		return err
	}
	return chk.Fraction(prefix+".SulfurToSO2", bl.SulfurToSO2)
}

// gridCO2 returns electricity in MWh times the grid factor in t CO₂/MWh.
func gridCO2(mwh, ef float64) (float64, error) {
	if err := chk.NonNegative("GridElectricity", mwh, "MWh"); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("GridEF", ef, "t/MWh"); err != nil {
		return 0, err
	}
	return mwh * ef, nil
}

// ProjectFuel is one fuel the CHP burned in the period.
type ProjectFuel struct {
	Quantity float64 // FC, fuel burned, t (or Nm³ for gas)
	NCV      float64 // net calorific value, GJ per unit of Quantity
	EFCO2    float64 // CO₂ emission factor, kg/GJ (0 for biogenic fuel such as biogas, if the methodology says so)
}

// Project is what the park emitted with the shared CHP.
type Project struct {
	Fuels          []ProjectFuel
	AuxElectricity float64 // auxiliary electricity drawn from the grid, MWh
	GridEF         float64 // grid CO₂ emission factor, t CO₂/MWh
	SO2Measured    float64 // PE_SO2, SO₂ from the CHP stack CEMS (Σ hourly MassRate), t
}

// ProjectEmissions returns the project emissions (project design,
// docs/metrics.md#reductions; the fuel term is fuel consumed × NCV × EF, as
// in JCM TH_AM009):
//
//	PE_CO2 = Σ FC·NCV·EF/1000 + aux·EF_grid     t
//	PE_SO2 = SO2Measured (CEMS mass, MassRate)  t
func ProjectEmissions(p Project) (Emissions, error) {
	var e Emissions
	for i, f := range p.Fuels {
		prefix := fmt.Sprintf("Fuels[%d]", i)
		if err := chk.NonNegative(prefix+".Quantity", f.Quantity, ""); err != nil {
			return Emissions{}, err
		}
		if err := chk.Positive(prefix+".NCV", f.NCV, "GJ/unit"); err != nil {
			return Emissions{}, err
		}
		if err := chk.NonNegative(prefix+".EFCO2", f.EFCO2, "kg/GJ"); err != nil {
			return Emissions{}, err
		}
		e.CO2 += f.Quantity * f.NCV * f.EFCO2 / 1000
	}
	aux, err := gridCO2(p.AuxElectricity, p.GridEF)
	if err != nil {
		return Emissions{}, err
	}
	e.CO2 += aux
	if err := chk.NonNegative("SO2Measured", p.SO2Measured, "t"); err != nil {
		return Emissions{}, err
	}
	e.SO2 = p.SO2Measured
	return e, nil
}

// Reduction returns the emission reductions ER = BE − PE − LE for CO₂ and
// SO₂ in t, from baseline, project and leakage emissions (Decision 3/CMP.1,
// annex, paragraph 59). A negative value is an increase.
func Reduction(baseline, project, leakage Emissions) (Emissions, error) {
	for _, a := range []struct {
		name string
		v    float64
	}{
		{"baseline.CO2", baseline.CO2}, {"baseline.SO2", baseline.SO2},
		{"project.CO2", project.CO2}, {"project.SO2", project.SO2},
		{"leakage.CO2", leakage.CO2}, {"leakage.SO2", leakage.SO2},
	} {
		if err := chk.NonNegative(a.name, a.v, "t"); err != nil {
			return Emissions{}, err
		}
	}
	return Emissions{
		CO2: baseline.CO2 - project.CO2 - leakage.CO2,
		SO2: baseline.SO2 - project.SO2 - leakage.SO2,
	}, nil
}

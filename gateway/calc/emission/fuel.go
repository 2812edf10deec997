package emission

// SO2PerSulfur is the mass of SO₂ formed per mass of sulphur burned, from
// the molecular weights 64 and 32 (40 CFR 72 App. B).
const SO2PerSulfur = 2.0

// SO2FromFuelSulfur returns the SO₂ in t emitted by burning fuel t of fuel
// with sulphur mass fraction sulfur, of which the fraction k leaves the
// stack as SO₂ (not retained in ash, not captured): m_SO₂ = 2·B·S·k
// (40 CFR 72 App. B). k = 1 is pure stoichiometry; an accounting rule that
// assumes part of the sulphur stays in the ash passes its own k (some
// Chinese rules use 0.85 or 0.8).
func SO2FromFuelSulfur(fuel, sulfur, k float64) (float64, error) {
	if err := chk.NonNegative("fuel", fuel, "t"); err != nil {
		return 0, err
	}
	if err := chk.Fraction("sulfur", sulfur); err != nil {
		return 0, err
	}
	if err := chk.Fraction("k", k); err != nil {
		return 0, err
	}
	return SO2PerSulfur * fuel * sulfur * k, nil
}

// FuelForSO2 returns the fuel in t whose sulphur (mass fraction sulfur,
// emitted fraction k) yields so2 t of SO₂: B = m_SO₂/(2·S·k), the inverse
// of SO2FromFuelSulfur (22 000 t of SO₂ needs 550 000 t of 2 % S oil).
func FuelForSO2(so2, sulfur, k float64) (float64, error) {
	if err := chk.NonNegative("so2", so2, "t"); err != nil {
		return 0, err
	}
	if err := chk.Fraction("sulfur", sulfur); err != nil {
		return 0, err
	}
	if sulfur == 0 {
		return 0, chk.Invalid("sulfur", sulfur, "", "must be > 0")
	}
	if err := chk.Fraction("k", k); err != nil {
		return 0, err
	}
	if k == 0 {
		return 0, chk.Invalid("k", k, "", "must be > 0")
	}
	return so2 / (SO2PerSulfur * sulfur * k), nil
}

// FuelForHeat returns the fuel in t a boiler of efficiency eta (fraction)
// burns to deliver the useful heat heat in GJ from fuel of net calorific
// value ncv in GJ/t: B = Q/(η·NCV), the fuel of a baseline boiler
// (docs/metrics.md#reductions; 1 000 000 GJ at 0.80 and 40.4 GJ/t is
// 30 940.594 t).
func FuelForHeat(heat, eta, ncv float64) (float64, error) {
	if err := chk.NonNegative("heat", heat, "GJ"); err != nil {
		return 0, err
	}
	if err := chk.Efficiency("eta", eta); err != nil {
		return 0, err
	}
	if err := chk.Positive("ncv", ncv, "GJ/t"); err != nil {
		return 0, err
	}
	return heat / (eta * ncv), nil
}

// CO2FromFuel returns the CO₂ in t from burning fuel units of fuel (t, or
// Nm³ for gas) with net calorific value ncv in GJ per unit and emission
// factor ef in kg CO₂/GJ: CO₂ = B·NCV·EF/1000 (IPCC 2006 Vol. 2 Tier 1,
// oxidation factor 1; 1 t of residual oil at 40.4 GJ/t and 77.4 kg/GJ is
// 3.12696 t CO₂).
func CO2FromFuel(fuel, ncv, ef float64) (float64, error) {
	if err := chk.NonNegative("fuel", fuel, "t"); err != nil {
		return 0, err
	}
	if err := chk.Positive("ncv", ncv, "GJ/t"); err != nil {
		return 0, err
	}
	return CO2FromEnergy(fuel*ncv, ef)
}

// CO2FromEnergy returns the CO₂ in t from fuel energy in GJ (NCV basis)
// with emission factor ef in kg CO₂/GJ: CO₂ = E·EF/1000 (IPCC 2006 Vol. 2
// Tier 1). IPCC factors are printed in kg/TJ: 77 400 kg/TJ is 77.4 kg/GJ.
func CO2FromEnergy(energy, ef float64) (float64, error) {
	if err := chk.NonNegative("energy", energy, "GJ"); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("ef", ef, "kg/GJ"); err != nil {
		return 0, err
	}
	return energy * ef / 1000, nil
}

// FuelFactor is a default net calorific value and CO₂ emission factor of
// one fuel.
type FuelFactor struct {
	Fuel  string  // fuel name as in the source table
	NCV   float64 // net calorific value, GJ/t (= TJ/Gg)
	EFCO2 float64 // CO₂ emission factor, kg/GJ (= t/TJ) on an NCV basis
}

// IPCC2006Defaults returns the IPCC 2006 Guidelines Vol. 2 Table 1.4
// default CO₂ emission factors and Table 1.2 default net calorific values
// for eight fuels (IPCC 2006 Vol. 2, chapter 1). The values were taken from
// a public transcription that cites the tables and are to be confirmed
// against the published tables (docs/references.md): an auditor will want
// the source and version of every factor used, so record the one applied. A
// new slice is returned on every call.
func IPCC2006Defaults() []FuelFactor {
	return []FuelFactor{
		{Fuel: "natural gas", NCV: 48.0, EFCO2: 56.1},
		{Fuel: "residual fuel oil", NCV: 40.4, EFCO2: 77.4},
		{Fuel: "gas/diesel oil", NCV: 43.0, EFCO2: 74.1},
		{Fuel: "liquefied petroleum gases", NCV: 47.3, EFCO2: 63.1},
		{Fuel: "other bituminous coal", NCV: 25.8, EFCO2: 94.6},
		{Fuel: "sub-bituminous coal", NCV: 18.9, EFCO2: 96.1},
		{Fuel: "lignite", NCV: 11.9, EFCO2: 101.0},
		{Fuel: "petroleum coke", NCV: 32.5, EFCO2: 97.5},
	}
}

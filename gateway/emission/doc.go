// Package emission computes the SO₂ and CO₂ a park emits, the H₂S its
// biodesulfurisation (BDS) reactors remove, and the emission reductions of
// the shared CHP against the boilers and grid power it replaced. It is pure
// calculation: no I/O, no state, standard library only.
//
// Units: concentrations in mg/Nm³ (dry, 273.15 K, 101.325 kPa) or ppm
// (µmol/mol); flows in Nm³/h or m³/h; O₂ in % (dry); fuel in t (or Nm³ for
// gas) with NCV in GJ per unit; emission factors in kg/GJ; emissions in t
// or kg/h; fractions (sulphur content, moisture, efficiencies) as fractions,
// not percentages. Sources are docs/domain/formulas.md sections and their
// tags: [READ] primary text, [SEC] secondary source, [MEM] unverified,
// [CALC/design] derived for this project.
//
// Stack CEMS (formulas.md §4.2; vectors.md V12):
//
//   - PPMToMgPerNm3: C = ppm·M/22.414 [CALC; HJ 75 uses 22.4, SEC].
//   - DryConcentration: C_dry = C_wet/(1 − X_sw) [SEC: HJ 75/1045 A2].
//   - StandardDryFlow: Q·273.15/(273.15 + t)·(B_a + P_s)/101325·(1 − X_sw)
//     [SEC: HJ 75/1045 A1, A2; 273.15 where the quoted text has 273].
//   - O2Normalised: C·(21 − O₂,ref)/(21 − O₂,meas) [SEC: HJ 75/1045 A9],
//     for comparison with limits only.
//   - MassRate: E = C_meas·Q_dry/10⁶ kg/h [CALC/design].
//
// Fuel mass balance and factors (formulas.md §4.1, §4.3; vectors.md V11,
// V12, V13):
//
//   - SO2FromFuelSulfur: m_SO₂ = 2·B·S·k [READ: 40 CFR 72 App. B, 64/32].
//   - FuelForSO2: B = m_SO₂/(2·S·k).
//   - FuelForHeat: B = Q/(η·NCV).
//   - CO2FromFuel: CO₂ = B·NCV·EF/1000; CO2FromEnergy: E·EF/1000 [SEC:
//     IPCC 2006 Tier 1, oxidation factor 1].
//   - IPCC2006Defaults: Table 1.4 EF and Table 1.2 NCV [SEC].
//
// Biodesulfurisation (formulas.md §5; vectors.md V16):
//
//   - EvaluateBDS: RE = (C_in − C_out)/C_in·100, LR = Q·C_in/V,
//     EC = Q·(C_in − C_out)/V, EBRT = V/Q [READ definitions]; H₂S and
//     elemental S removed, stoichiometric air ½·n_H₂S/0.2095, SO₂ avoided
//     n_H₂S·64.066 [CALC]; clogging risk when EC > 90 g/(m³·h) [READ:
//     Dumont 2015].
//
// Reductions (formulas.md §7) [CALC/design, consistent with CDM AM0014 and
// JCM TH_AM009]:
//
//   - BaselineEmissions: BE_CO2 = Σ(HG_i/η_i)·EF_i + EG·EF_grid,
//     BE_SO2 = Σ 2·S_i·(HG_i/η_i/NCV_i)·k_i.
//   - ProjectEmissions: PE_CO2 = Σ FC·NCV·EF + aux·EF_grid, PE_SO2 = CEMS.
//   - Reduction: ER = BE − PE − LE [READ: 3/CMP.1 Annex para 59].
//
// Errors are values wrapping ErrInvalidInput; each message names the
// argument (or struct field), its value and unit.
package emission

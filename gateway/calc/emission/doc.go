// Package emission computes the SO₂ and CO₂ a park emits, the H₂S its
// biodesulfurisation (BDS) reactors remove, and the emission reductions of
// the shared CHP against the boilers and grid power it replaced. It is pure
// calculation: no I/O, no state, standard library only.
//
// Units: concentrations in mg/Nm³ (dry, 273.15 K, 101.325 kPa) or ppm
// (µmol/mol); flows in Nm³/h or m³/h; O₂ in % (dry); fuel in t (or Nm³ for
// gas) with NCV in GJ per unit; emission factors in kg/GJ; emissions in t
// or kg/h; fractions (sulphur content, moisture, efficiencies) as fractions,
// not percentages. Sources are cited by the keys of docs/references.md;
// definitions that are the project's own say so and are explained in
// docs/metrics.md.
//
// Stack CEMS:
//
//   - PPMToMgPerNm3: C = ppm·M/22.414, 22.414 L/mol being the ideal-gas
//     molar volume at 273.15 K, 101.325 kPa (CODATA 2018; HJ 75-2017 annex A
//     rounds it to 22.4).
//   - DryConcentration: C_dry = C_wet/(1 − X_sw) (HJ 75-2017 annex A).
//   - StandardDryFlow: Q·273.15/(273.15 + t)·(B_a + P_s)/101325·(1 − X_sw)
//     (HJ 75-2017 annex A, with 273.15 K where the standard prints 273).
//   - O2Normalised: C·(21 − O₂,ref)/(21 − O₂,meas) (HJ 75-2017 annex A),
//     for comparison with limits only.
//   - MassRate: E = C_meas·Q_dry/10⁶ kg/h (project definition,
//     docs/metrics.md#emissions).
//
// Fuel mass balance and factors:
//
//   - SO2FromFuelSulfur: m_SO₂ = 2·B·S·k (40 CFR 72 App. B: 64/32).
//   - FuelForSO2: B = m_SO₂/(2·S·k).
//   - FuelForHeat: B = Q/(η·NCV).
//   - CO2FromFuel: CO₂ = B·NCV·EF/1000; CO2FromEnergy: E·EF/1000 (IPCC 2006
//     Vol. 2, Tier 1, oxidation factor 1).
//   - IPCC2006Defaults: table 1.4 emission factors and table 1.2 NCVs of
//     IPCC 2006 Vol. 2, chapter 1 (values to confirm, docs/references.md).
//
// Biodesulfurisation:
//
//   - EvaluateBDS: RE = (C_in − C_out)/C_in·100, LR = Q·C_in/V,
//     EC = Q·(C_in − C_out)/V, EBRT = V/Q (the usual bioreactor measures);
//     H₂S and elemental S removed, stoichiometric air ½·n_H₂S/0.2095, SO₂
//     avoided n_H₂S·64.066 (stoichiometry); clogging risk when
//     EC > 90 g/(m³·h) (Dumont 2015).
//
// Reductions (project design following the structure of CDM AM0014 and
// JCM TH_AM009, docs/metrics.md#reductions):
//
//   - BaselineEmissions: BE_CO2 = Σ(HG_i/η_i)·EF_i + EG·EF_grid,
//     BE_SO2 = Σ 2·S_i·(HG_i/η_i/NCV_i)·k_i.
//   - ProjectEmissions: PE_CO2 = Σ FC·NCV·EF + aux·EF_grid, PE_SO2 = CEMS.
//   - Reduction: ER = BE − PE − LE (Decision 3/CMP.1, annex, paragraph 59).
//
// Errors are values wrapping ErrInvalidInput; each message names the
// argument (or struct field), its value and unit.
package emission

// Package energy computes the energy metrics of a park's CHP plant, boilers,
// shared steam network and cascade chains. It is pure calculation: no I/O,
// no state, standard library only. Steam enthalpies come from package steam.
//
// Conventions: efficiencies and ratios are fractions, not percentages
// (except where a function name or doc says %); energies passed together
// share one unit (GJ or MWh) and period, and fuel energy states its heating
// value basis (net calorific value for EU and IPCC methods, gross for US
// EPA). Sources are cited by the keys of docs/references.md; definitions
// that are the project's own say so and are explained in docs/metrics.md.
//
// CHP:
//
//   - ElectricalEfficiency: η_e = W_E/F (EPA CHP Partnership).
//   - ThermalEfficiency: η_th = Q_TH/F (EPA CHP Partnership).
//   - TotalEfficiency: η_o = (W_E + Q_TH)/F (EPA CHP Partnership).
//   - HeatToPowerRatio: HPR = Q_TH/W_E, the inverse of the power-to-heat
//     ratio of Directive 2012/27/EU Annex I.
//   - EffectiveElectricEfficiency: ε_EE = W_E/(F − Q_TH/α) (EPA CHP
//     Partnership); α is an argument.
//   - FERCEfficiency: (W_E + Q_TH/2)/F >= 42.5 % (45 % if Q_TH < 15 % of
//     output), Q_TH >= 5 % of output (18 CFR 292.205(a)).
//   - PrimaryEnergySavings: PES = 1 − 1/(Hη/RefHη + Eη/RefEη)
//     (Directive 2012/27/EU Annex II(b)); the reference efficiencies are
//     arguments, to be taken from Regulation (EU) 2015/2402.
//   - HighEfficiencyCogeneration: PES >= 10 %, or > 0 below 1 MWe
//     (Directive 2012/27/EU Annex II(a)).
//   - SeparateProductionFuel: F_SHP = W_E/η_E,ref + Q_TH/η_H,ref.
//   - FuelSaving: F_SHP − F and 1 − F/F_SHP (project definition,
//     docs/metrics.md#chp).
//
// Boilers:
//
//   - SteamOutput.Heat: ṁ_s(h_s − h_fw) + ṁ_bd(h_bd − h_fw), kJ/h.
//   - DirectEfficiency: η = Heat/(ṁ_f·NCV), the direct (input-output)
//     method (project definition, docs/metrics.md#boilers).
//   - FuelForOutput: ṁ_f = Heat/(η·NCV).
//   - DryFlueGasLoss: 20.9·K1·(T_f − T_i)/[K2·(20.9 − O₂)] % (BS 845-1, as
//     printed in the Kane KM940 analyser manual); K1 and K2 are arguments.
//   - ExcessAir: [20.9/(20.9 − O₂) − 1]·100 % (BS 845-1, same manual).
//   - FlueCO2: (20.9 − O₂)·K2/20.9 % (BS 845-1, same manual).
//
// Shared infrastructure (project definitions,
// docs/metrics.md#supplier-versus-tenants-balance and
// docs/metrics.md#shared-infrastructure):
//
//   - MeterBalance: I = M_s − Σ M_i − L_expected, U = √(U_s² + Σ U_i²)
//     (k = 2, JCGM 100:2008), alarm when |I| > U.
//   - AllocateLoss: loss_i = loss·M_i/Σ M_j.
//   - Coverage: φ = Q_shared/(Q_shared + Q_own).
//   - LoadFactor: LF = E/(P_rated·t).
//
// Cascading energy (project definitions, docs/metrics.md#cascading-energy):
//
//   - ReuseRatio: CRR = Q_reused/Q_supplied for one link or chain.
//   - CascadeUtilisation: Σ Q_reused/Σ Q_supplied over the park's chains.
//
// Errors are values wrapping ErrInvalidInput; each message names the
// argument, its value and unit.
package energy

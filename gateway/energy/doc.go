// Package energy computes the energy metrics of a park's CHP plant, boilers,
// shared steam network and cascade chains. It is pure calculation: no I/O,
// no state, standard library only. Steam enthalpies come from package steam.
//
// Conventions: efficiencies and ratios are fractions, not percentages
// (except where a function name or doc says %); energies passed together
// share one unit (GJ or MWh) and period, and fuel energy states its heating
// value basis (NCV/LHV for the EU and IPCC, GCV/HHV for US EPA). Sources are
// docs/domain/formulas.md sections and their tags: [READ] read in the
// primary text, [SEC] secondary source, [CALC/design] a definition derived
// for this project.
//
// CHP (formulas.md §2; vectors.md V9):
//
//   - ElectricalEfficiency: η_e = W_E/F [READ: EPA].
//   - ThermalEfficiency: η_th = Q_TH/F [READ: EPA].
//   - TotalEfficiency: η_o = (W_E + Q_TH)/F [READ: EPA].
//   - HeatToPowerRatio: HPR = Q_TH/W_E [READ: 2012/27/EU Annex I].
//   - EffectiveElectricEfficiency: ε_EE = W_E/(F − Q_TH/α) [READ: EPA].
//   - FERCEfficiency: (W_E + Q_TH/2)/F >= 42.5 % (45 % if Q_TH < 15 % of
//     output), Q_TH >= 5 % of output [SEC: 18 CFR 292.205].
//   - PrimaryEnergySavings: PES = 1 − 1/(Hη/RefHη + Eη/RefEη)
//     [READ: 2012/27/EU Annex II(b)]; reference values are inputs, since the
//     (EU) 2015/2402 values in formulas.md are [MEM].
//   - HighEfficiencyCogeneration: PES >= 10 %, or > 0 below 1 MWe
//     [READ: Annex II(a)].
//   - SeparateProductionFuel: F_SHP = W_E/η_E,ref + Q_TH/η_H,ref.
//   - FuelSaving: F_SHP − F and 1 − F/F_SHP [CALC/design].
//
// Boilers (formulas.md §3; vectors.md V10):
//
//   - SteamOutput.Heat: ṁ_s(h_s − h_fw) + ṁ_bd(h_bd − h_fw), kJ/h.
//   - DirectEfficiency: η = Heat/(ṁ_f·NCV) [SEC: Forbes Marshall].
//   - FuelForOutput: ṁ_f = Heat/(η·NCV).
//   - DryFlueGasLoss: 20.9·K1·(T_f − T_i)/[K2·(20.9 − O₂)] % [READ: Kane
//     KM940, BS 845]; K1, K2 are inputs ([MEM] in formulas.md).
//   - ExcessAir: [20.9/(20.9 − O₂) − 1]·100 % [READ: Kane].
//   - FlueCO2: (20.9 − O₂)·K2/20.9 % [READ: Kane].
//
// Shared infrastructure (formulas.md §6; vectors.md V17) [CALC/design]:
//
//   - MeterBalance: I = M_s − Σ M_i − L_expected, U = √(U_s² + Σ U_i²)
//     (k = 2), alarm when |I| > U.
//   - AllocateLoss: loss_i = loss·M_i/Σ M_j.
//   - Coverage: φ = Q_shared/(Q_shared + Q_own).
//   - LoadFactor: LF = E/(P_rated·t).
//
// Cascading energy (formulas.md §6 item 4; vectors.md V17) [CALC/design]:
//
//   - ReuseRatio: CRR = Q_reused/Q_supplied for one link or chain.
//   - CascadeUtilisation: Σ Q_reused/Σ Q_supplied over the park's chains.
//
// Errors are values wrapping ErrInvalidInput; each message names the
// argument, its value and unit.
package energy

// Package steam computes water and steam properties by IAPWS-IF97 regions 1,
// 2 and 4, and the steam-metering quantities a park bills on. It is pure
// calculation: no I/O, no state, standard library only.
//
// Units throughout: pressure p in MPa absolute (convert gauge readings with
// AbsolutePressure), temperature T in K (Kelvin converts from °C), specific
// volume in m³/kg, specific enthalpy and internal energy in kJ/kg, specific
// entropy and heat capacity in kJ/(kg·K), speed of sound in m/s, mass flow
// in t/h, mass in t, heat flow in MW, energy in GJ.
//
// Sources are cited by the keys of docs/references.md. The property
// equations are those of IAPWS R7-97(2012) (IAPWS-IF97) for regions 1, 2
// and 4, with the coefficients of its tables 2, 10, 11 and 34. The tests
// reproduce the release's verification tables 5, 15, 35 and 36 to all 9
// printed digits and its B23 check value, compare the saturated states with
// table 8 of IAPWS R6-95(2018), and check a table of park operating points
// computed independently by the project.
//
// Properties:
//
//   - Properties(p, T): v, h, u, s, cp, w from the region 1 Gibbs equation
//     γ = Σ nᵢ(7.1 − π)^Iᵢ(τ − 1.222)^Jᵢ, π = p/16.53 MPa, τ = 1386 K/T,
//     or the region 2 equation γ = ln π + Σ n⁰ᵢτ^J⁰ᵢ + Σ nᵢπ^Iᵢ(τ − 0.5)^Jᵢ,
//     π = p/1 MPa, τ = 540 K/T; h = RTτγ_τ, v = πγ_π RT/(1000 p),
//     s = R(τγ_τ − γ), u = h − 1000 p v, cp = −Rτ²γ_ττ (IAPWS R7-97(2012)
//     tables 3 and 12).
//   - Enthalpy, SpecificVolume, Density, Entropy: single properties of the
//     above. Density is the IF97 value, never the ideal-gas p/(RT).
//   - RegionOf(p, T): region 1 if p > p_s(T), region 2 if p < p_s(T),
//     region 4 if equal (T <= 623.15 K); above 623.15 K region 2 up to the
//     B23 line p = n₁ + n₂T + n₃T²; regions 3 and 5 are named but refused
//     with ErrOutOfRange (region boundaries of IAPWS R7-97(2012)).
//   - SaturationPressure(T): p_s = [2C/(−B + √(B² − 4AC))]⁴ (IAPWS R7-97(2012)
//     eq. 30),
//     273.15 K <= T <= 647.096 K.
//   - SaturationTemperature(p): T_s = [n₁₀ + D − √((n₁₀ + D)² − 4(n₉ +
//     n₁₀D))]/2 (IAPWS R7-97(2012) eq. 31), 611.213 Pa <= p <= 22.064 MPa.
//   - Superheat(p, T): T − T_s(p), K.
//   - Saturation(p): saturated liquid = region 1 at (T_s(p), p), saturated
//     vapour = region 2 at (T_s(p), p), up to 16.5292 MPa.
//   - WetSteam(p, x): h = h′ + x(h″ − h′), likewise v, u, s (region 4).
//   - Quality(p, h): x = (h − h′)/(h″ − h′).
//   - FlashFraction(pHigh, pLow): x = (h′(pHigh) − h′(pLow))/(h″(pLow) −
//     h′(pLow)), the energy balance of an isenthalpic let-down of saturated
//     condensate (project method, docs/references.md#iapws-r7-972012).
//
// Metering and billing (project conventions, docs/metrics.md#steam-billing-convention):
//
//   - ThermalPower(m, h, hRef): P = m(h − hRef)/3600, MW from t/h.
//   - Energy(m, h, hRef): E = m(h − hRef)/1000, GJ from t (heat above a
//     fixed contract reference state).
//   - EnergyWithReturn(mSteam, hSteam, mCond, hCond, hRef):
//     E = [mSteam(hSteam − hRef) − mCond(hCond − hRef)]/1000, GJ
//     (heat above the reference, less the heat of the returned condensate).
//   - MassFlowFromVolume(qv, p, T): ṁ = qv ρ(p, T)/1000, t/h from m³/h.
//   - Exergy(state, dead): e = (h − h₀) − T₀(s − s₀), kJ/kg (specific
//     physical exergy, Bejan et al. 1996).
//   - AbsolutePressure, Kelvin, Celsius: unit conversions.
//
// Errors are values: NaN, infinite or impossible inputs return
// ErrInvalidInput, states outside regions 1, 2 and 4 return ErrOutOfRange,
// and a (p, T) exactly on the saturation line returns ErrTwoPhase. Every
// message names the argument, its value and unit.
package steam

package sim

// Physical constants and design values of the reference park. Each comment
// says where a value comes from: "computed" values were computed with
// IAPWS-IF97 (IAPWS R7-97(2012)) or from stoichiometry; "design" values are
// choices of this model; "assumed" values are plausible figures that have
// not been checked against a source and must not be quoted as sourced.
// Sources are cited by the keys of docs/references.md. README.md lists the
// values with the reasoning.

// Steam and water properties (kJ/kg). The model uses constant enthalpies at
// the nominal header state; the small p/T noise of the transmitters is not
// fed back into the balances.
const (
	// hSteam is the specific enthalpy of live steam at 1.6 MPa abs, 250 C,
	// kJ/kg: computed with IAPWS R7-97(2012) region 2 (package steam gives
	// the same value; at 1.0 MPa / 250 C it gives 2943.222 kJ/kg).
	hSteam = 2919.935
	// hFeedwater is the specific enthalpy of feedwater at 105 C, 1.6 MPa,
	// kJ/kg: computed with IAPWS R7-97(2012) region 1 (441.307176).
	hFeedwater = 441.307
	// dhSteam is the useful heat per kg of steam raised, kJ/kg.
	dhSteam = hSteam - hFeedwater
)

// Header and network states.
const (
	hpPressure    = 1.6   // MPa abs, HP header at the plant
	hpTemperature = 250.0 // degC, HP header at the plant
	lpPressure    = 0.6   // MPa abs, LP header after the pressure-reducing station
	// lpTemperature is the LP header temperature, degC: isenthalpic throttling
	// of 2919.935 kJ/kg to 0.6 MPa gives 232.1 C (computed, IF97 region 2),
	// less about 2 K of pipe loss upstream of the station (design); no
	// desuperheater, so no water is added and the mass balance holds.
	lpTemperature        = 230.0
	feedwaterTemperature = 105.0 // degC, deaerator outlet
)

// CHP unit (chp-1).
const (
	chpRatedSteam = 60.0 // t/h of live steam at full load
	chpRatedPower = 30.0 // MW electric at full load; heat-led: P = chpRatedPower * m/chpRatedSteam
	// chpElectricEfficiency is electric power over fuel heat input (LHV),
	// the same at every load (design). With the rated power and steam it
	// fixes the losses (neither electricity nor useful steam heat) at
	// 1 - 0.38 - 0.38*41.31/30 = 9.67 % of the fuel input at every load,
	// since power, heat and fuel are all proportional to the steam flow.
	chpElectricEfficiency = 0.38
)

// Fuels.
const (
	// ngLHV is the lower heating value of natural gas, MJ/Nm3 (0 C,
	// 101.325 kPa): the IPCC 2006 Vol. 2 default NCV of 48.0 TJ/Gg times an
	// assumed pipeline-gas density of 0.748 kg/Nm3. Pure methane, with an
	// assumed LHV of 802.3 kJ/mol, gives 35.8 MJ/Nm3 (802.3/22.414).
	ngLHV = 35.9
	// biogasCH4 is the methane volume fraction of the biogas (rest CO2).
	biogasCH4 = 0.60
	// biogasLHV is the biogas LHV, MJ/Nm3: 0.60 x 35.8 MJ/Nm3 of methane.
	biogasLHV = 21.5
	// oilLHV is the LHV of the standby boilers' light fuel oil, MJ/kg: an
	// assumed value, between the IPCC 2006 Vol. 2 defaults of 43.0 (gas/diesel
	// oil) and 40.4 (residual fuel oil) MJ/kg.
	oilLHV = 42.6
	// ngSulfur is the total sulfur of the natural gas, mg S per Nm3: an
	// assumed value, mostly odorant, taken as half of what the project
	// recalls as the class-one limit of GB 17820-2018 (20 mg/m3, unchecked).
	ngSulfur = 10.0
)

// Molar data: the CODATA 2018 molar volume rounded, and the molar masses of
// package emission.
const (
	molarVolume = 22.414 // Nm3/kmol, ideal gas at 0 C, 101.325 kPa
	mS          = 32.06  // kg/kmol
	mH2S        = 34.081 // kg/kmol
	mSO2        = 64.066 // kg/kmol
)

// Combustion stoichiometry used for the CEMS flue-gas volume, computed from
// CH4 + 2 O2 -> CO2 + 2 H2O in air with 20.9 % O2. Natural gas is treated as
// methane by volume of products per MJ.
const (
	airO2 = 0.209 // O2 volume fraction of dry air
	// ch4DryProducts is the stoichiometric dry flue gas per Nm3 of methane,
	// Nm3: 1 CO2 + 2*(1-0.209)/0.209 N2 and Ar = 8.569.
	ch4DryProducts = 1 + 2*(1-airO2)/airO2
	// ngDryPerMJ is the stoichiometric dry flue gas of natural gas,
	// Nm3/MJ (0.2387). As a plausibility check only: the EPA Method 19 dry
	// F factor for natural gas, recalled as 8710 dscf/MMBtu HHV (unchecked),
	// converts to about 0.241 Nm3/MJ LHV, within 1 %.
	ngDryPerMJ = ch4DryProducts / ngLHV
	// ngWaterPerMJ is the combustion water of natural gas, Nm3/MJ.
	ngWaterPerMJ = 2 / ngLHV
	// bgDryPerMJ is the stoichiometric dry flue gas of biogas, Nm3/MJ:
	// (0.6*8.569 + 0.4 CO2)/21.5 = 0.2577.
	bgDryPerMJ = (biogasCH4*ch4DryProducts + (1 - biogasCH4)) / biogasLHV
	// bgWaterPerMJ is the combustion water of biogas, Nm3/MJ.
	bgWaterPerMJ = 2 * biogasCH4 / biogasLHV
	// airHumidity is the water vapour volume fraction of the combustion air
	// (design); the air volume is taken equal to the dry flue-gas volume.
	airHumidity = 0.01
	// chpO2 is the dry flue-gas O2 of the CHP at full load, %; it rises by
	// chpO2PartLoad at zero load (gas turbine, lean combustion; design).
	chpO2         = 15.0
	chpO2PartLoad = 1.0
)

// Standby boilers (boiler-1, boiler-2).
const (
	boilerCapacity   = 40.0 // t/h each
	boilerEfficiency = 0.88 // direct method, LHV (design)
	boilerPressure   = 1.62 // MPa abs when firing (slightly above the header)
	boilerO2         = 3.0  // % dry flue O2 when firing
	// Hot standby, kept warm from the HP header: saturated at 1.5 MPa
	// (T_s = 198.3 C, computed with IF97 region 4).
	standbyPressure    = 1.5
	standbyTemperature = 198.3
)

// Steam network.
const (
	defaultLossFraction = 0.03 // steam lost between supplier and tenant meters
	// tenantPeakSum is the sum of the tenants' peak steam demands at scale 1,
	// t/h. Peaks are staggered, so the coincident supplier peak stays below
	// the CHP's 60 t/h (design).
	tenantPeakSum = 53.0
)

// BDS reactor (bds-1).
const (
	bdsBaseFlow = 1500.0 // Nm3/h daily mean biogas flow
	// bdsAirExcess is the air dosed over the stoichiometric need of
	// H2S + 1/2 O2 -> S + H2O (design).
	bdsAirExcess = 2.0
)

// Cascade link (heat-1): t03's process condensate heats t14's hot-water loop.
const (
	// condensateTemperature is t03's condensate, degC: saturated at 0.2 MPa
	// abs (T_s = 120.2 C, computed with IF97).
	condensateTemperature = 120.0
	condensateReturn      = 0.85 // share of t03's steam that comes back as condensate
	// cpCondensate is the mean cp of the condensate between 60 and 120 C,
	// kJ/(kg K): (h(120 C) - h(60 C))/60 at 0.2 MPa, computed with IF97
	// region 1.
	cpCondensate = 4.208
	hxApproach   = 5.0 // K, condensate leaves the exchanger at return + approach
	// heatRho and heatCp are the water density (kg/m3) and specific heat
	// (kJ/(kg K)) the heat meter is programmed with, at the loop's mean
	// 70 C: rho(0.3 MPa, 70 C) = 977.87, mean cp 55-85 C = 4.188 (computed
	// with IF97 region 1). thermal_power = heatRho*heatCp*V*(Ts-Tr)/3600 kW.
	heatRho = 977.9
	heatCp  = 4.19
)

// Electricity.
const (
	hvVoltage     = 10000.0 // V line-to-line, tenants t01..t12 (10 kV feeders)
	lvVoltage     = 400.0   // V line-to-line, tenants t13..t18 (LV supply)
	gridFrequency = 50.0    // Hz
	sqrt3         = 1.7320508075688772
)

// A plant item that is not firing.
const (
	ambientO2     = 100 * airO2 // % O2, air in a cold stack or flue
	ambientStackT = 60.0        // degC, stack or boiler flue without firing
	// A tripped CHP's HRSG is isolated and vented: its live-steam
	// transmitters read atmospheric pressure (MPa abs) and 100 C.
	ventedPressure = 0.101325
	ventedTemp     = 100.0
)

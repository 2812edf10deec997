package sim

import (
	"math"
	"time"
)

// tenant holds one tenant's seeded parameters.
type tenant struct {
	lp bool // on the LP header (t13..t18)

	steamPeak  float64 // t/h at full day load, before Config.SteamDemandScale
	steamNight float64 // night demand as a fraction of the peak
	steamPhase float64 // h, shift of the day pattern
	dp         float64 // MPa, pressure drop from the header at peak flow
	dT         float64 // K, temperature drop from the header at peak flow

	powerPeak  float64 // kW
	powerNight float64 // fraction of the peak
	powerPhase float64 // h
	pf         float64 // power factor at full load
	voltage    float64 // V, nominal line-to-line
}

// Seeded parameter fields, one hash stream each.
const (
	paramSteamPeak = iota
	paramSteamNight
	paramSteamPhase
	paramDp
	paramDT
	paramPowerPeak
	paramPowerNight
	paramPowerPhase
	paramPF
	paramServiceHours
)

// param returns the seeded uniform [0, 1) value of a parameter of object.
func (p *Park) param(object int, field uint64) float64 {
	return hash01(p.seed, channel(groupParam, uint64(object), field), 0)
}

// n returns the noise in [-1, 1] of field of object at t.
func (p *Park) n(object int, field uint64, t time.Time) float64 {
	return noise(p.seed, channel(groupNoise, uint64(object), field), t)
}

func (p *Park) initTenants() {
	sum := 0.0
	for i := range p.tenants {
		tn := &p.tenants[i]
		u := func(field uint64) float64 { return p.param(i, field) }
		tn.lp = i >= numHPTenants
		if tn.lp {
			tn.steamPeak = 0.5 * (0.5 + u(paramSteamPeak))
			tn.dp = 0.01 + 0.02*u(paramDp)
			tn.powerPeak = 300 + 1200*u(paramPowerPeak)
			tn.voltage = lvVoltage
		} else {
			tn.steamPeak = 0.5 + u(paramSteamPeak)
			tn.dp = 0.03 + 0.07*u(paramDp)
			tn.powerPeak = 1500 + 4500*u(paramPowerPeak)
			tn.voltage = hvVoltage
		}
		sum += tn.steamPeak
		tn.steamNight = 0.45 + 0.40*u(paramSteamNight)
		tn.steamPhase = -1.5 + 3*u(paramSteamPhase)
		tn.dT = 2 + 4*u(paramDT)
		tn.powerNight = 0.35 + 0.35*u(paramPowerNight)
		tn.powerPhase = -1.5 + 3*u(paramPowerPhase)
		tn.pf = 0.86 + 0.10*u(paramPF)
	}
	for i := range p.tenants {
		p.tenants[i].steamPeak *= tenantPeakSum / sum
	}
}

// initTotals sets the totalisers to seeded start values, as if the meters
// had been in service for 2 000 to 22 000 hours. The supplier starts at the
// tenants' sum / (1 - loss), so the totals balance as well as the rates.
func (p *Park) initTotals() {
	hours := func(dev int) float64 { return 2000 + 20000*p.param(100+dev, paramServiceHours) }
	sum := 0.0
	for i := range p.tenants {
		tn := &p.tenants[i]
		st := &p.devs[devSteam0+i]
		st.cur[steamMassTotal] = 0.75 * tn.steamPeak * hours(devSteam0+i)
		sum += st.cur[steamMassTotal]
		p.devs[devPower0+i].cur[powerEnergy] = 0.6 * tn.powerPeak * hours(devPower0+i)
	}
	p.devs[devSupply].cur[steamMassTotal] = sum / (1 - p.loss)
	p.devs[devCHP].cur[chpElectricEnergy] = 0.8 * chpRatedPower * hours(devCHP)
	p.devs[devHeat].cur[heatEnergy] = 250 * hours(devHeat)
}

// Noise objects that are not devices.
const noiseGrid = 1000

// update evaluates every instantaneous reading at t, leaving the totalisers.
func (p *Park) update(t time.Time) {
	h := localHour(t, p.loc)
	n := func(object int, field uint64) float64 { return p.n(object, field, t) }

	// Tenant steam demand (t/h) and the supplier flow that feeds it.
	var flow, load [numTenants]float64
	sum := 0.0
	for i := range p.tenants {
		tn := &p.tenants[i]
		f := tn.steamNight + (1-tn.steamNight)*shiftShape(h-tn.steamPhase)
		flow[i] = tn.steamPeak * p.scale * f * (1 + 0.03*n(devSteam0+i, 0))
		sum += flow[i]
	}
	supply := sum / (1 - p.loss)
	capacity := 2 * boilerCapacity
	if !p.tripped {
		capacity += chpRatedSteam
	}
	if supply > capacity { // not enough steam: every tenant is curtailed alike
		k := capacity / supply
		sum = 0
		for i := range flow {
			flow[i] *= k
			sum += flow[i]
		}
		supply = sum / (1 - p.loss)
	}
	for i := range flow {
		load[i] = flow[i] / p.tenants[i].steamPeak
	}

	// Production: CHP first (heat-led), boiler-1 then boiler-2 for the rest.
	chpSteam := 0.0
	if !p.tripped {
		chpSteam = math.Min(supply, chpRatedSteam)
	}
	rest := supply - chpSteam
	boiler := [2]float64{math.Min(rest, boilerCapacity)}
	boiler[1] = math.Min(rest-boiler[0], boilerCapacity)

	// BDS: biogas from the digester, H2S removal.
	bq := bdsBaseFlow * (1 + 0.15*dayWave(h, 18)) * (1 + 0.03*n(devBDS, 0)) // Nm3/h
	inH2S := 2750 + 450*dayWave(h, 15) + 150*n(devBDS, 1)                   // ppm
	bdsLoad := (bq/bdsBaseFlow - 0.85) / 0.3                                // about 0 at low, 1 at high flow
	outH2S := inH2S * clamp(0.012+0.014*bdsLoad+0.003*n(devBDS, 2), 0.01, 0.03)
	removedNm3 := bq * (inH2S - outH2S) * 1e-6   // Nm3/h of H2S
	removedKg := removedNm3 / molarVolume * mH2S // kg/h of H2S
	b := p.devs[devBDS].cur
	b[bdsGasFlow] = bq
	b[bdsInletH2S] = inH2S
	b[bdsOutletH2S] = outH2S
	b[bdsPH] = 7.2 - 0.3*bdsLoad + 0.05*n(devBDS, 3)
	b[bdsORP] = -330 + 20*bdsLoad + 10*n(devBDS, 4)
	b[bdsDO] = 0.12 + 0.03*bdsLoad + 0.03*n(devBDS, 5)
	b[bdsAirFlow] = bdsAirExcess * 0.5 * removedNm3 / airO2
	b[bdsTemperature] = 35 + dayWave(h, 16) + 0.3*n(devBDS, 6)
	b[bdsSulfur] = removedKg * mS / mH2S

	// CHP: heat-led, fuel from the energy balance, biogas first.
	chpLoad := chpSteam / chpRatedSteam
	power := chpRatedPower * chpLoad               // MW
	fuelMJ := power / chpElectricEfficiency * 3600 // MJ/h, LHV
	bio, ng := 0.0, 0.0
	if !p.tripped {
		bio = math.Min(bq, fuelMJ/biogasLHV) // any surplus biogas is flared
		ng = math.Max(0, (fuelMJ-bio*biogasLHV)/ngLHV)
	}
	c := p.devs[devCHP].cur
	c[chpElectricPower] = power
	c[chpNGFlow] = ng
	c[chpBiogasFlow] = bio
	c[chpSteamFlow] = chpSteam
	c[chpFeedwaterTemperature] = feedwaterTemperature + 0.2*n(devCHP, 2)
	if p.tripped {
		c[chpRunning] = 0
		c[chpSteamPressure] = ventedPressure
		c[chpSteamTemperature] = ventedTemp
	} else {
		c[chpRunning] = 1
		c[chpSteamPressure] = hpPressure + 0.004*n(devCHP, 0)
		c[chpSteamTemperature] = hpTemperature + 0.5*n(devCHP, 1)
	}

	// CEMS on the CHP stack.
	e := p.devs[devCEMS].cur
	if p.tripped {
		e[cemsSO2], e[cemsNOx], e[cemsDust], e[cemsFlowDry] = 0, 0, 0, 0
		e[cemsO2] = ambientO2
		e[cemsTemperature] = ambientStackT
		e[cemsMoisture] = 100 * airHumidity
	} else {
		ngMJ, bgMJ := ng*ngLHV, bio*biogasLHV
		o2 := chpO2 + chpO2PartLoad*(1-chpLoad) + 0.1*n(devCEMS, 0)
		dry := (ngMJ*ngDryPerMJ + bgMJ*bgDryPerMJ) * ambientO2 / (ambientO2 - o2)
		water := ngMJ*ngWaterPerMJ + bgMJ*bgWaterPerMJ + dry*airHumidity/(1-airHumidity)
		h2sKg := bio * outH2S * 1e-6 / molarVolume * mH2S   // kg/h H2S burnt
		so2Kg := h2sKg*mSO2/mH2S + ng*ngSulfur*1e-6*mSO2/mS // kg/h SO2
		e[cemsSO2] = so2Kg * 1e6 / dry
		e[cemsNOx] = 48 + 10*chpLoad + 3*n(devCEMS, 1)
		e[cemsDust] = 1 + 0.8*chpLoad + 0.2*n(devCEMS, 2)
		e[cemsO2] = o2
		e[cemsFlowDry] = dry
		e[cemsTemperature] = 95 + 20*chpLoad + n(devCEMS, 3)
		e[cemsMoisture] = 100 * water / (dry + water)
	}

	// Standby boilers.
	for j, m := range boiler {
		dev := devBoiler1 + j
		o := p.devs[dev].cur
		o[boilerSteamFlow] = m
		o[boilerFeedwaterTemperature] = feedwaterTemperature + 0.2*n(dev, 0)
		if m > 0 {
			o[boilerRunning] = 1
			o[boilerSteamPressure] = boilerPressure + 0.005*n(dev, 1)
			o[boilerSteamTemperature] = hpTemperature + 0.8*n(dev, 2)
			o[boilerFuelFlow] = m * dhSteam / (boilerEfficiency * oilLHV) // t/h * kJ/kg / (MJ/kg) = kg/h
			o[boilerFlueO2] = boilerO2 + 0.2*n(dev, 3)
			o[boilerFlueTemperature] = 170 + 30*m/boilerCapacity + n(dev, 4)
		} else {
			o[boilerRunning] = 0
			o[boilerSteamPressure] = standbyPressure
			o[boilerSteamTemperature] = standbyTemperature
			o[boilerFuelFlow] = 0
			o[boilerFlueO2] = ambientO2
			o[boilerFlueTemperature] = ambientStackT
		}
	}

	// Steam meters.
	s := &p.devs[devSupply]
	s.cur[steamMassFlow] = supply * s.drift
	s.cur[steamPressure] = hpPressure - 0.01 + 0.003*n(devSupply, 1)
	s.cur[steamTemperature] = hpTemperature - 0.5 + 0.3*n(devSupply, 2)
	for i := range p.tenants {
		tn := &p.tenants[i]
		d := &p.devs[devSteam0+i]
		header, headerT := hpPressure, hpTemperature
		if tn.lp {
			header, headerT = lpPressure, lpTemperature
		}
		d.cur[steamMassFlow] = flow[i] * d.drift
		d.cur[steamPressure] = header - tn.dp*load[i]*load[i] + 0.003*n(devSteam0+i, 1)
		// Pipe heat loss is roughly constant, so the drop grows as flow falls.
		d.cur[steamTemperature] = headerT - tn.dT/math.Max(load[i], 0.3) + 0.3*n(devSteam0+i, 2)
	}

	// Power meters: P = sqrt(3) U I pf.
	freq := gridFrequency + 0.04*n(noiseGrid, 0)
	for i := range p.tenants {
		tn := &p.tenants[i]
		dev := devPower0 + i
		d := &p.devs[dev]
		f := tn.powerNight + (1-tn.powerNight)*shiftShape(h-tn.powerPhase)
		kw := tn.powerPeak * f * (1 + 0.03*n(dev, 0))
		var u float64
		if tn.lp {
			u = tn.voltage * (1.04 - 0.04*f + 0.003*n(dev, 1))
		} else {
			u = tn.voltage * (1.03 - 0.02*f + 0.002*n(dev, 1))
		}
		pf := clamp(tn.pf-0.04*(1-f)+0.005*n(dev, 2), 0.5, 0.99)
		current := kw * 1000 / (sqrt3 * u * pf) * d.drift
		d.cur[powerActive] = sqrt3 * u * current * pf / 1000
		d.cur[powerVoltage] = u
		d.cur[powerCurrent] = current
		d.cur[powerPF] = pf
		d.cur[powerFrequency] = freq
	}

	// Heat meter on the cascade: t03's condensate heats t14's loop.
	hm := &p.devs[devHeat]
	ret := 52 + 8*(1-math.Min(load[cascadeSink]/p.scale, 1)) + 0.3*n(devHeat, 0) // degC
	dT := 26 + 1.5*n(devHeat, 1)                                                 // K
	condensate := condensateReturn * flow[cascadeSource] / 3.6                   // kg/s
	kw := condensate * cpCondensate * (condensateTemperature - ret - hxApproach)
	vol := kw * 3600 / (heatRho * heatCp * dT) * hm.drift // m3/h
	hm.cur[heatVolumeFlow] = vol
	hm.cur[heatSupplyT] = ret + dT
	hm.cur[heatReturnT] = ret
	hm.cur[heatPower] = heatRho * heatCp * vol * dT / 3600
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

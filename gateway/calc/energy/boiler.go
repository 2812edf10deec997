package energy

import "fmt"

// SteamOutput is what a boiler delivers over a test period, as flows in one
// mass unit per hour (kg/h or t/h, the same for every flow) and specific
// enthalpies in kJ/kg from IF97 (package steam): h_s from region 2 (or h″
// for saturated steam), h_fw from region 1 at the feedwater (p, T), h_bd =
// h′(p_drum) (IAPWS R7-97(2012) regions 1, 2 and 4).
type SteamOutput struct {
	SteamFlow         float64 // ṁ_s, steam mass flow, kg/h
	SteamEnthalpy     float64 // h_s, kJ/kg
	FeedwaterEnthalpy float64 // h_fw, kJ/kg
	BlowdownFlow      float64 // ṁ_bd, blow-down mass flow, kg/h; 0 if not measured
	BlowdownEnthalpy  float64 // h_bd, kJ/kg; ignored when BlowdownFlow is 0
}

// Heat returns the useful heat flow ṁ_s(h_s − h_fw) + ṁ_bd(h_bd − h_fw) in
// kJ/h (for flows in kg/h; MJ/h for t/h): the heat given to the steam and
// to the blow-down water, both raised from feedwater enthalpy (project
// definition, docs/metrics.md#boilers).
func (o SteamOutput) Heat() (float64, error) {
	if err := chk.NonNegative("SteamFlow", o.SteamFlow, "kg/h"); err != nil {
		return 0, err
	}
	if err := chk.Finite("SteamEnthalpy", o.SteamEnthalpy, "kJ/kg"); err != nil {
		return 0, err
	}
	if err := chk.Finite("FeedwaterEnthalpy", o.FeedwaterEnthalpy, "kJ/kg"); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("BlowdownFlow", o.BlowdownFlow, "kg/h"); err != nil {
		return 0, err
	}
	q := o.SteamFlow * (o.SteamEnthalpy - o.FeedwaterEnthalpy)
	if o.BlowdownFlow > 0 {
		if err := chk.Finite("BlowdownEnthalpy", o.BlowdownEnthalpy, "kJ/kg"); err != nil {
			return 0, err
		}
		q += o.BlowdownFlow * (o.BlowdownEnthalpy - o.FeedwaterEnthalpy)
	}
	return q, nil
}

// DirectEfficiency returns the boiler efficiency by the direct
// (input-output) method, η = [ṁ_s(h_s − h_fw) + ṁ_bd(h_bd − h_fw)]/(ṁ_f·NCV)
// (fraction), from the steam output, the fuel mass flow fuelFlow in the
// output's mass unit per hour (kg/h) and the fuel's net calorific value ncv
// in kJ/kg (project definition, docs/metrics.md#boilers). Use the gross
// calorific value instead for an HHV-basis efficiency. The direct method
// needs accurate fuel and steam metering; boiler acceptance-test standards
// (e.g. EN 12953-11) prefer the indirect (losses) method for its smaller
// measurement uncertainty.
func DirectEfficiency(out SteamOutput, fuelFlow, ncv float64) (float64, error) {
	q, err := out.Heat()
	if err != nil {
		return 0, err
	}
	if err := chk.Positive("fuelFlow", fuelFlow, "kg/h"); err != nil {
		return 0, err
	}
	if err := chk.Positive("ncv", ncv, "kJ/kg"); err != nil {
		return 0, err
	}
	return atMostOne("boiler efficiency", q/(fuelFlow*ncv), fuelFlow*ncv, q)
}

// FuelForOutput returns the fuel mass flow in kg/h (the output's mass unit
// per hour) that a boiler of efficiency eta (fraction) needs for the steam
// output, ṁ_f = Q/(η·NCV), with ncv in kJ/kg: DirectEfficiency solved for
// the fuel flow.
func FuelForOutput(out SteamOutput, eta, ncv float64) (float64, error) {
	q, err := out.Heat()
	if err != nil {
		return 0, err
	}
	if err := chk.Efficiency("eta", eta); err != nil {
		return 0, err
	}
	if err := chk.Positive("ncv", ncv, "kJ/kg"); err != nil {
		return 0, err
	}
	return q / (eta * ncv), nil
}

// o2Air is the O₂ content of dry air, %, used by the Kane/BS 845 flue-gas
// formulas (BS 845-1 as printed in the Kane KM940 manual).
const o2Air = 20.9

// checkO2 validates a measured dry flue-gas O₂ in % (0 <= O₂ < 20.9).
func checkO2(o2 float64) error {
	if err := chk.Finite("o2", o2, "%"); err != nil {
		return err
	}
	if o2 < 0 || o2 >= o2Air {
		return chk.Invalid("o2", o2, "%", fmt.Sprintf("dry flue-gas O2 must be in [0, %g) %%", o2Air))
	}
	return nil
}

// DryFlueGasLoss returns the dry flue-gas loss in % of the fuel input by
// the simplified BS 845-1 formula printed in the Kane KM940 manual:
// loss = 20.9·K1·(T_f − T_i)/[K2·(20.9 − O₂)], with k1 the fuel's K1 (K1n =
// 255·%C/Q_net for a net-basis loss, K1g for gross), k2 the fuel's maximum
// theoretical dry CO₂ in %, flue and inlet air temperatures tFlue and tInlet
// in °C, and the measured dry flue-gas O₂ in %. No K1 or K2 is built in:
// take them from the analyser manual or the fuel analysis. Net efficiency =
// 100 − dry loss.
func DryFlueGasLoss(k1, k2, tFlue, tInlet, o2 float64) (float64, error) {
	if err := chk.Positive("k1", k1, ""); err != nil {
		return 0, err
	}
	if err := chk.Positive("k2", k2, "%"); err != nil {
		return 0, err
	}
	if err := chk.Finite("tFlue", tFlue, "°C"); err != nil {
		return 0, err
	}
	if err := chk.Finite("tInlet", tInlet, "°C"); err != nil {
		return 0, err
	}
	if err := checkO2(o2); err != nil {
		return 0, err
	}
	return o2Air * k1 * (tFlue - tInlet) / (k2 * (o2Air - o2)), nil
}

// ExcessAir returns the excess air in % from the measured dry flue-gas O₂ in
// %: [20.9/(20.9 − O₂) − 1]·100 (BS 845-1 as printed in the Kane KM940
// manual).
func ExcessAir(o2 float64) (float64, error) {
	if err := checkO2(o2); err != nil {
		return 0, err
	}
	return (o2Air/(o2Air-o2) - 1) * 100, nil
}

// FlueCO2 returns the dry flue-gas CO₂ in % from the measured dry O₂ in %
// and the fuel's maximum theoretical dry CO₂ k2 in %: (20.9 − O₂)·K2/20.9
// (BS 845-1 as printed in the Kane KM940 manual).
func FlueCO2(o2, k2 float64) (float64, error) {
	if err := checkO2(o2); err != nil {
		return 0, err
	}
	if err := chk.Positive("k2", k2, "%"); err != nil {
		return 0, err
	}
	return (o2Air - o2) * k2 / o2Air, nil
}

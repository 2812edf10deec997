package emission

import "fmt"

// BDSECIndustrialLimit is the elimination capacity above which an
// industrial-scale biological H₂S filter risks clogging, g/(m³·h): the
// review Dumont 2015 recommends keeping industrial bioreactors at or below
// it.
const BDSECIndustrialLimit = 90.0

// O2InAir is the O₂ volume fraction of air used for the stoichiometric air
// demand of H₂S + ½O₂ → S + H₂O.
const O2InAir = 0.2095

// BDS is one interval's readings of a biodesulfurisation (BDS) reactor.
type BDS struct {
	GasFlow   float64 // biogas flow Q, Nm³/h
	H2SIn     float64 // inlet H₂S, ppm (µmol/mol)
	H2SOut    float64 // outlet H₂S, ppm
	BedVolume float64 // packed bed (or reactor) volume V, m³
	// SulfateFraction is the fraction (0..1) of the H₂S removed that is
	// oxidised to sulphate instead of elemental sulphur; the zero value
	// counts all removed sulphur as elemental (selectivity 1).
	SulfateFraction float64
}

// BDSPerformance holds the BDS metrics of one interval
// (docs/metrics.md#emissions).
type BDSPerformance struct {
	CIn                 float64 // inlet H₂S, g/Nm³
	COut                float64 // outlet H₂S, g/Nm³
	RemovalEfficiency   float64 // RE = (C_in − C_out)/C_in·100, %
	LoadingRate         float64 // LR = Q·C_in/V, g/(m³·h)
	EliminationCapacity float64 // EC = Q·(C_in − C_out)/V, g/(m³·h)
	EBRT                float64 // empty-bed residence time V/Q, s
	H2SRemoved          float64 // Q·(C_in − C_out), kg/h
	SulfurRemoved       float64 // elemental sulphur produced, kg/h
	StoichiometricAir   float64 // air for H₂S + ½O₂ → S + H₂O, Nm³/h
	AirFraction         float64 // StoichiometricAir/Q·100, % of the biogas flow
	SO2Avoided          float64 // SO₂ the removed H₂S would have formed when burned, kg/h
	ClogRisk            bool    // EC > BDSECIndustrialLimit
}

// EvaluateBDS computes a BDS reactor's performance, with the removal
// efficiency, loading rate, elimination capacity and empty-bed residence
// time of the bioreactor literature (e.g. Dumont 2015) and the
// stoichiometry of the reactions:
//
//   - C = ppm·34.081/22.414/1000 g/Nm³;
//   - RE = (C_in − C_out)/C_in·100 %; LR = Q·C_in/V; EC = Q·(C_in − C_out)/V;
//     EBRT = 3600·V/Q s;
//   - removed H₂S n = Q·(ppm_in − ppm_out)·10⁻⁶/22.414 kmol/h;
//   - sulphur = n·32.06·(1 − SulfateFraction) kg/h, i.e. the H₂S removed
//     times 32.06/34.081 times the elemental-sulphur selectivity;
//   - stoichiometric air = ½·n·22.414/0.2095 Nm³/h (H₂S + ½O₂ → S + H₂O);
//   - SO₂ avoided = n·64.066 kg/h: each mole of H₂S burned in the CHP would
//     form one mole of SO₂ (project definition, docs/metrics.md#emissions).
//
// An outlet reading above the inlet (negative removal) returns
// ErrInvalidInput: a reactor does not add H₂S, so one of the analysers is
// wrong, and a negative removal must not offset positive ones.
func EvaluateBDS(r BDS) (BDSPerformance, error) {
	if err := chk.Positive("GasFlow", r.GasFlow, "Nm³/h"); err != nil {
		return BDSPerformance{}, err
	}
	if err := chk.Positive("H2SIn", r.H2SIn, "ppm"); err != nil {
		return BDSPerformance{}, err
	}
	if err := chk.NonNegative("H2SOut", r.H2SOut, "ppm"); err != nil {
		return BDSPerformance{}, err
	}
	if err := chk.Positive("BedVolume", r.BedVolume, "m³"); err != nil {
		return BDSPerformance{}, err
	}
	if err := chk.Fraction("SulfateFraction", r.SulfateFraction); err != nil {
		return BDSPerformance{}, err
	}
	if r.H2SIn > 1e6 || r.H2SOut > 1e6 {
		return BDSPerformance{}, fmt.Errorf("emission: H2SIn = %g ppm, H2SOut = %g ppm: %w: a volume fraction cannot exceed 1e6 ppm", r.H2SIn, r.H2SOut, ErrInvalidInput)
	}
	if r.H2SOut > r.H2SIn {
		return BDSPerformance{}, fmt.Errorf("emission: H2SIn = %g ppm, H2SOut = %g ppm: %w: negative removal (outlet above inlet): an analyser is wrong", r.H2SIn, r.H2SOut, ErrInvalidInput)
	}
	cIn := r.H2SIn * MolarMassH2S / MolarVolumeNormal / 1000
	cOut := r.H2SOut * MolarMassH2S / MolarVolumeNormal / 1000
	kmol := r.GasFlow * (r.H2SIn - r.H2SOut) * 1e-6 / MolarVolumeNormal
	p := BDSPerformance{
		CIn:                 cIn,
		COut:                cOut,
		RemovalEfficiency:   (cIn - cOut) / cIn * 100,
		LoadingRate:         r.GasFlow * cIn / r.BedVolume,
		EliminationCapacity: r.GasFlow * (cIn - cOut) / r.BedVolume,
		EBRT:                3600 * r.BedVolume / r.GasFlow,
		H2SRemoved:          r.GasFlow * (cIn - cOut) / 1000,
		SulfurRemoved:       kmol * MolarMassS * (1 - r.SulfateFraction),
		StoichiometricAir:   0.5 * kmol * MolarVolumeNormal / O2InAir,
		SO2Avoided:          kmol * MolarMassSO2,
	}
	p.AirFraction = p.StoichiometricAir / r.GasFlow * 100
	p.ClogRisk = p.EliminationCapacity > BDSECIndustrialLimit
	return p, nil
}

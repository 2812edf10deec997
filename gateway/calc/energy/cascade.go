package energy

import "fmt"

// Chain is one cascade chain of the park: the energy supplied to its first
// user and the energy each downstream link reuses (a tenant's condensate
// heating another's water, flash steam raised from condensate), all in one
// unit (MW for rates, GJ or MWh for totals) over the same interval, against
// one stated reference state (project definition,
// docs/metrics.md#cascading-energy). A link's reuse comes from its heat
// meter, or from steam.ThermalPower for a flash-steam link.
type Chain struct {
	Supplied float64   // Q_supplied to the chain, ≥ 0
	Reused   []float64 // Q_reused by each downstream link, ≥ 0
}

// ReuseRatio returns the cascade reuse ratio CRR = Q_reused/Q_supplied
// (fraction) of one link or chain, both in the same unit (project
// definition, docs/metrics.md#cascading-energy). Example: flash steam worth
// 0.438776 MW reused from a chain supplied with 7.942248 MW gives 0.055246.
func ReuseRatio(reused, supplied float64) (float64, error) {
	if err := chk.NonNegative("reused", reused, ""); err != nil {
		return 0, err
	}
	if err := chk.Positive("supplied", supplied, ""); err != nil {
		return 0, err
	}
	return reused / supplied, nil
}

// CascadeUtilisation returns the park's cascade utilisation ratio
// Σ Q_reused/Σ Q_supplied over all chains (fraction), every link's reuse
// summed over every chain (project definition,
// docs/metrics.md#cascading-energy).
func CascadeUtilisation(chains []Chain) (float64, error) {
	var supplied, reused float64
	for i, c := range chains {
		if err := chk.NonNegative(fmt.Sprintf("chains[%d].Supplied", i), c.Supplied, ""); err != nil {
			return 0, err
		}
		supplied += c.Supplied
		for j, r := range c.Reused {
			if err := chk.NonNegative(fmt.Sprintf("chains[%d].Reused[%d]", i, j), r, ""); err != nil {
				return 0, err
			}
			reused += r
		}
	}
	if supplied == 0 {
		return 0, fmt.Errorf("energy: chains: %w: nothing supplied to any of %d chains", ErrInvalidInput, len(chains))
	}
	return reused / supplied, nil
}

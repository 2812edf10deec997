package energy

import (
	"fmt"
	"math"
)

// Reading is one meter's total over a balance interval, with its expanded
// measurement uncertainty (coverage factor k = 2) in the same unit: t/h or
// t for steam mass, MW or GJ for heat. A meter of ±1.5 % of reading has
// U = 0.015·Value.
type Reading struct {
	Value float64 // measured quantity, ≥ 0
	U     float64 // expanded uncertainty (k = 2), ≥ 0, same unit as Value
}

// Balance is the supplier-versus-tenants reconciliation of one interval
// (project definition, docs/metrics.md#supplier-versus-tenants-balance).
// All quantities are in the unit of the readings.
type Balance struct {
	Supplier      float64 // supplier meter, M_s
	Tenants       float64 // Σ tenant meters, Σ M_i
	Imbalance     float64 // M_s − Σ M_i: the network loss as metered
	ImbalanceFrac float64 // Imbalance/M_s, fraction (0 when M_s = 0)
	ExpectedLoss  float64 // L_expected = expectedLossFrac·M_s (modelled losses)
	Unexplained   float64 // I = M_s − Σ M_i − L_expected
	USupplier     float64 // U_s
	UTenants      float64 // √(Σ U_i²)
	U             float64 // combined expanded uncertainty √(U_s² + Σ U_i²)
	Alarm         bool    // |I| > U: the meters do not balance within their uncertainty
}

// MeterBalance reconciles a supplier meter against its tenants' meters:
// I = M_s − Σ M_i − L_expected, U = √(U_s² + Σ U_i²) with each meter's
// expanded uncertainty (k = 2), and raises Alarm when |I| > U (project
// definition, docs/metrics.md#supplier-versus-tenants-balance; U combines
// independent meters by JCGM 100:2008 clause 5.1.2; a full least-squares
// reconciliation as in VDI 2048 Part 1 is not attempted). expectedLossFrac
// is the modelled network loss (pipe heat loss, condensation) as a fraction
// of the supplier reading, e.g. 0.03. The readings share one unit and
// interval. At least one tenant is required.
func MeterBalance(supplier Reading, tenants []Reading, expectedLossFrac float64) (Balance, error) {
	if err := checkReading("supplier", supplier); err != nil {
		return Balance{}, err
	}
	if len(tenants) == 0 {
		return Balance{}, fmt.Errorf("energy: tenants: %w: no tenant readings", ErrInvalidInput)
	}
	if err := chk.Fraction("expectedLossFrac", expectedLossFrac); err != nil {
		return Balance{}, err
	}
	b := Balance{Supplier: supplier.Value, USupplier: supplier.U}
	var u2 float64
	for i, r := range tenants {
		if err := checkReading(fmt.Sprintf("tenants[%d]", i), r); err != nil {
			return Balance{}, err
		}
		b.Tenants += r.Value
		u2 += r.U * r.U
	}
	b.UTenants = math.Sqrt(u2)
	b.U = math.Sqrt(supplier.U*supplier.U + u2)
	b.Imbalance = b.Supplier - b.Tenants
	if b.Supplier > 0 {
		b.ImbalanceFrac = b.Imbalance / b.Supplier
	}
	b.ExpectedLoss = expectedLossFrac * b.Supplier
	b.Unexplained = b.Imbalance - b.ExpectedLoss
	b.Alarm = math.Abs(b.Unexplained) > b.U
	return b, nil
}

// checkReading validates a meter reading.
func checkReading(name string, r Reading) error {
	if err := chk.NonNegative(name+".Value", r.Value, ""); err != nil {
		return err
	}
	return chk.NonNegative(name+".U", r.U, "")
}

// AllocateLoss shares a network loss among tenants pro rata to their
// metered quantities: loss_i = loss·M_i/Σ M_j (project definition,
// docs/metrics.md#steam-metering-and-tenants; e.g. 5.5·5.25/94.5 =
// 0.305556 t/h). loss and the tenant quantities share one unit; a loss may
// be negative (the tenants metered more than the supplier). It returns one
// share per tenant, in order.
func AllocateLoss(loss float64, tenants []float64) ([]float64, error) {
	if err := chk.Finite("loss", loss, ""); err != nil {
		return nil, err
	}
	var sum float64
	for i, m := range tenants {
		if err := chk.NonNegative(fmt.Sprintf("tenants[%d]", i), m, ""); err != nil {
			return nil, err
		}
		sum += m
	}
	if sum == 0 {
		return nil, fmt.Errorf("energy: tenants: %w: total tenant quantity is 0, nothing to allocate against", ErrInvalidInput)
	}
	out := make([]float64, len(tenants))
	for i, m := range tenants {
		out[i] = loss * m / sum
	}
	return out, nil
}

// Coverage returns the fraction of tenant heat demand met by the shared
// plant, φ = Q_shared/(Q_shared + Q_own), where Q_shared is the energy the
// tenants took from the shared network and Q_own what their own boilers
// still produced, in the same energy unit over the same period (project
// definition, docs/metrics.md#shared-infrastructure).
func Coverage(shared, own float64) (float64, error) {
	if err := chk.NonNegative("shared", shared, ""); err != nil {
		return 0, err
	}
	if err := chk.NonNegative("own", own, ""); err != nil {
		return 0, err
	}
	if shared+own == 0 {
		return 0, fmt.Errorf("energy: shared = 0, own = 0: %w: no demand in the period", ErrInvalidInput)
	}
	return shared / (shared + own), nil
}

// LoadFactor returns LF = E/(P_rated·t) (fraction) for energy delivered E in
// MWh, rated capacity P_rated in MW and period length t in h (project
// definition, docs/metrics.md#shared-infrastructure).
func LoadFactor(deliveredMWh, ratedMW, hours float64) (float64, error) {
	if err := chk.NonNegative("deliveredMWh", deliveredMWh, "MWh"); err != nil {
		return 0, err
	}
	if err := chk.Positive("ratedMW", ratedMW, "MW"); err != nil {
		return 0, err
	}
	if err := chk.Positive("hours", hours, "h"); err != nil {
		return 0, err
	}
	return deliveredMWh / (ratedMW * hours), nil
}

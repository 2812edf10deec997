package energy

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
	"github.com/eipgw/eipgw/gateway/calc/steam"
)

// TestMeterBalance reproduces the project's balance example (expected
// values computed independently of this package): supplier 100 t/h ± 1.5 %,
// 18 tenants of 5.25 t/h ± 2.5 %, expected loss 3 %.
func TestMeterBalance(t *testing.T) {
	tenants := make([]Reading, 18)
	for i := range tenants {
		tenants[i] = Reading{Value: 5.25, U: 0.025 * 5.25}
	}
	b, err := MeterBalance(Reading{Value: 100, U: 0.015 * 100}, tenants, 0.03)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "sum tenants", b.Tenants, 94.5)
	vectortest.CheckExact(t, "imbalance t/h", b.Imbalance, 5.5)
	vectortest.CheckExact(t, "imbalance %", b.ImbalanceFrac*100, 5.5)
	vectortest.CheckExact(t, "expected loss t/h", b.ExpectedLoss, 3.0)
	vectortest.CheckExact(t, "unexplained t/h", b.Unexplained, 2.5)
	vectortest.CheckExact(t, "U supplier t/h", b.USupplier, 1.5)
	vectortest.CheckPrinted(t, "U tenants t/h", b.UTenants, "0.556847")
	vectortest.CheckPrinted(t, "U k=2 t/h", b.U, "1.600024")
	if !b.Alarm {
		t.Errorf("Alarm = false, want true (|2.5| > 1.600024)")
	}

	// With the expected loss at 4.5 %, 1.0 t/h is unexplained: within U.
	b, err = MeterBalance(Reading{Value: 100, U: 1.5}, tenants, 0.045)
	if err != nil {
		t.Fatal(err)
	}
	if b.Alarm || math.Abs(b.Unexplained-1.0) > 1e-12 {
		t.Errorf("balance with 4.5 %% expected loss = %+v, want 1.0 unexplained, no alarm", b)
	}

	values := make([]float64, len(tenants))
	for i, r := range tenants {
		values[i] = r.Value
	}
	shares, err := AllocateLoss(5.5, values)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shares {
		vectortest.CheckPrinted(t, "prorata loss per tenant t/h", s, "0.305556")
		if t.Failed() {
			t.Fatalf("tenant %d", i)
		}
	}
}

// TestBalanceInputErrors checks that bad inputs are refused and named.
func TestBalanceInputErrors(t *testing.T) {
	_, err := MeterBalance(Reading{Value: 100, U: 1.5}, []Reading{{Value: 5, U: 0.1}, {Value: -5, U: 0.1}}, 0.03)
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "energy: tenants[1].Value = -5: invalid input: must be >= 0" {
		t.Errorf("negative tenant reading: error = %v", err)
	}
	if _, err := MeterBalance(Reading{Value: 100}, nil, 0.03); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("no tenants: error = %v, want ErrInvalidInput", err)
	}
	if _, err := MeterBalance(Reading{Value: 100}, []Reading{{Value: 90}}, 3); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("expected loss given in percent: error = %v, want ErrInvalidInput", err)
	}
	if _, err := AllocateLoss(1, []float64{0, 0}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("allocation against zero: error = %v, want ErrInvalidInput", err)
	}
}

// TestCoverageAndLoadFactor checks the shared-infrastructure ratios
// (docs/metrics.md#shared-infrastructure) on hand-computed values.
func TestCoverageAndLoadFactor(t *testing.T) {
	// Tenants took 900 GJ from the network and made 100 GJ in their own
	// boilers: 90 % coverage.
	phi, err := Coverage(900, 100)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "coverage", phi, 0.9)
	// 30 MW rated, 24 h, 540 MWh delivered: 0.75.
	lf, err := LoadFactor(540, 30, 24)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckExact(t, "load factor", lf, 0.75)
	if _, err := Coverage(0, 0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Coverage(0, 0): error = %v, want ErrInvalidInput", err)
	}
	if _, err := LoadFactor(1, 0, 24); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("LoadFactor with 0 MW rated: error = %v, want ErrInvalidInput", err)
	}
}

// TestCascadeChain reproduces the project's cascade example end to end,
// with every enthalpy from IF97: tenant A condenses 10 t/h of
// 1.0 MPa, 250 °C steam to saturated liquid; the condensate flashes to
// 0.4 MPa and tenant B condenses the flash steam.
func TestCascadeChain(t *testing.T) {
	const mA = 10.0 // t/h
	hIn, err := steam.Enthalpy(1.0, steam.Kelvin(250))
	if err != nil {
		t.Fatal(err)
	}
	liq1, _, err := steam.Saturation(1.0)
	if err != nil {
		t.Fatal(err)
	}
	liq04, vap04, err := steam.Saturation(0.4)
	if err != nil {
		t.Fatal(err)
	}
	hRef, err := steam.Enthalpy(steam.StandardAtmosphere, steam.Kelvin(20))
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "h_in", hIn, "2943.222165")
	vectortest.CheckPrinted(t, "h_out sat liq 1 MPa", liq1.H, "762.682844")

	qA, err := steam.ThermalPower(mA, hIn, liq1.H)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "Q_A MW", qA, "6.057054")
	x, err := steam.FlashFraction(1.0, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "flash fraction", x, "0.074043")
	mFlash := x * mA
	vectortest.CheckPrinted(t, "m_flash t/h", mFlash, "0.740435")
	qB, err := steam.ThermalPower(mFlash, vap04.H, liq04.H)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "Q_B MW", qB, "0.438776")
	supplied, err := steam.ThermalPower(mA, hIn, hRef)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "Q supplied above 20 C MW", supplied, "7.942248")

	crr, err := ReuseRatio(qB, supplied)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "cascade reuse ratio", crr, "0.055246")

	// A park with this chain and a second, heat-meter chain of 2 MW
	// supplied and 0.3 + 0.2 MW reused: 0.938776/9.942248 = 0.094423.
	u, err := CascadeUtilisation([]Chain{
		{Supplied: supplied, Reused: []float64{qB}},
		{Supplied: 2, Reused: []float64{0.3, 0.2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "park cascade utilisation", u, "0.094423")
	// One chain alone gives its own reuse ratio.
	u, err = CascadeUtilisation([]Chain{{Supplied: supplied, Reused: []float64{qB}}})
	if err != nil || u != crr {
		t.Errorf("CascadeUtilisation(one chain) = %v, %v; want %v", u, err, crr)
	}
}

// TestCascadeInputErrors checks that bad inputs are refused and named.
func TestCascadeInputErrors(t *testing.T) {
	_, err := CascadeUtilisation([]Chain{{Supplied: 1, Reused: []float64{0.1, math.NaN()}}})
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "energy: chains[0].Reused[1] = NaN: invalid input: not a finite number" {
		t.Errorf("NaN reuse: error = %v", err)
	}
	if _, err := CascadeUtilisation(nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("no chains: error = %v, want ErrInvalidInput", err)
	}
	if _, err := ReuseRatio(1, 0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("ReuseRatio against zero supply: error = %v, want ErrInvalidInput", err)
	}
}

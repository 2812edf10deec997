package steam

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/calc/internal/vectortest"
)

// The park tables below are the project's own worked values, not an
// official table: states a park meets (header steam, feedwater, condensate,
// saturation from 0.1 to 2.5 MPa) computed with an IF97 implementation
// independent of this package, one that reproduces IAPWS R7-97(2012) tables
// 5, 15, 35 and 36 to every printed digit.
//
// checkPark checks such a value, printed with 6 (or 9) decimals. Rounding to
// every printed decimal is stricter than a relative tolerance of 1e-6
// everywhere except for values below 0.5 (s of cold water), where the
// printed resolution itself exceeds 1e-6 relative. Rounding is what is
// checked.
func checkPark(t *testing.T, name string, got float64, s string) {
	t.Helper()
	vectortest.CheckPrinted(t, name, got, s)
}

// TestParkSaturation reproduces the project's saturation table: saturated
// liquid and vapour at park pressures.
func TestParkSaturation(t *testing.T) {
	rows := []struct{ p, tsK, tsC, hf, hg, hfg, vg, rhog, sf, sg string }{
		{"0.1", "372.755919", "99.605919", "417.436486", "2674.949641", "2257.513155", "1.694022523", "0.590311", "1.302560", "7.358807"},
		{"0.101325", "373.124300", "99.974300", "418.990718", "2675.531466", "2256.540748", "1.673295383", "0.597623", "1.306724", "7.354385"},
		{"0.4", "416.762533", "143.612533", "604.723474", "2738.056623", "2133.333149", "0.462391783", "2.162668", "1.776598", "6.895418"},
		{"0.6", "431.982424", "158.832424", "670.501208", "2756.138890", "2085.637682", "0.315575247", "3.168816", "1.931096", "6.759166"},
		{"0.8", "443.563511", "170.413511", "721.017848", "2768.302465", "2047.284616", "0.240327525", "4.160988", "2.045989", "6.661542"},
		{"1.0", "453.035632", "179.885632", "762.682844", "2777.119538", "2014.436693", "0.194348884", "5.145386", "2.138431", "6.584979"},
		{"1.3", "464.762759", "191.612759", "814.763690", "2786.493361", "1971.729671", "0.151174867", "6.614856", "2.251183", "6.493645"},
		{"1.6", "474.528308", "201.378308", "858.610073", "2792.880364", "1934.270291", "0.123732083", "8.081978", "2.343810", "6.420023"},
		{"2.5", "497.106487", "223.956487", "961.983167", "2802.042704", "1840.059537", "0.079947373", "12.508228", "2.554426", "6.255973"},
	}
	for _, r := range rows {
		t.Run("p="+r.p+"MPa", func(t *testing.T) {
			p := vectortest.MustFloat(t, r.p)
			ts, err := SaturationTemperature(p)
			if err != nil {
				t.Fatal(err)
			}
			checkPark(t, "Tsat K", ts, r.tsK)
			checkPark(t, "Tsat C", Celsius(ts), r.tsC)
			l, v, err := Saturation(p)
			if err != nil {
				t.Fatal(err)
			}
			checkPark(t, "hf", l.H, r.hf)
			checkPark(t, "hg", v.H, r.hg)
			checkPark(t, "hfg", v.H-l.H, r.hfg)
			checkPark(t, "vg", v.V, r.vg)
			checkPark(t, "rhog", v.Density(), r.rhog)
			checkPark(t, "sf", l.S, r.sf)
			checkPark(t, "sg", v.S, r.sg)
		})
	}
}

// TestParkOperatingPoints reproduces the project's table of (p, t) states.
func TestParkOperatingPoints(t *testing.T) {
	rows := []struct {
		p, tC  string
		region Region
		h, v   string
		rho, s string
	}{
		{"1.0", "250.0", Region2, "2943.222165", "0.232738933", "4.296660", "6.926623"},
		{"0.8", "200.0", Region2, "2839.770391", "0.260867569", "3.833363", "6.817616"},
		{"1.3", "300.0", Region2, "3043.708244", "0.196872703", "5.079424", "6.993117"},
		{"3.9", "450.0", Region2, "3332.370824", "0.082184593", "12.167731", "6.951448"},
		{"1.0", "180.0", Region2, "2777.429869", "0.194418119", "5.143554", "6.585664"},
		{"0.3", "80.0", Region1, "335.149713", "0.001028921", "971.891710", "1.075225"},
		{"0.101325", "20.0", Region1, "84.013058", "0.001001797", "998.206092", "0.296483"},
		{"1.6", "105.0", Region1, "441.307176", "0.001046671", "955.409879", "1.361965"},
		{"0.101325", "25.0", Region1, "104.929295", "0.001002961", "997.048032", "0.367231"},
		{"0.5", "60.0", Region1, "251.557536", "0.001016896", "983.384344", "0.830961"},
	}
	for _, r := range rows {
		t.Run(r.p+"MPa,"+r.tC+"C", func(t *testing.T) {
			p, T := vectortest.MustFloat(t, r.p), Kelvin(vectortest.MustFloat(t, r.tC))
			st, err := Properties(p, T)
			if err != nil {
				t.Fatal(err)
			}
			if st.Region != r.region {
				t.Errorf("region = %v, want %v", st.Region, r.region)
			}
			checkPark(t, "h", st.H, r.h)
			checkPark(t, "v", st.V, r.v)
			checkPark(t, "rho", st.Density(), r.rho)
			checkPark(t, "s", st.S, r.s)
			// The single-quantity wrappers agree with Properties.
			h, _ := Enthalpy(p, T)
			v, _ := SpecificVolume(p, T)
			rho, _ := Density(p, T)
			s, _ := Entropy(p, T)
			if h != st.H || v != st.V || rho != st.Density() || s != st.S {
				t.Errorf("wrappers (%v, %v, %v, %v) differ from Properties %+v", h, v, rho, s, st)
			}
		})
	}
}

// TestNotIdealGas guards against the ideal-gas law: at 1.0 MPa, 250 °C the
// ideal-gas density p/(RT) = 4.141690 kg/m³ is 3.607 % below IF97's
// 4.296660 kg/m³; the gateway must return the IF97 value.
func TestNotIdealGas(t *testing.T) {
	p, T := 1.0, Kelvin(250)
	ideal := p * 1000 / (R * T)
	vectortest.CheckPrinted(t, "ideal-gas density", ideal, "4.141690")
	rho, err := Density(p, T)
	if err != nil {
		t.Fatal(err)
	}
	checkPark(t, "IF97 density", rho, "4.296660")
	vectortest.CheckPrinted(t, "ideal-gas error %", (ideal/rho-1)*100, "-3.607")
}

// TestSuperheat checks T − Ts(p) at the park state 1.0 MPa, 180 °C, which lies
// only 0.114368 K above saturation (453.035632 K).
func TestSuperheat(t *testing.T) {
	dt, err := Superheat(1.0, Kelvin(180))
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "superheat", dt, "0.114368")
	if _, err := Superheat(30, 700); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Superheat above the critical pressure: error = %v, want ErrOutOfRange", err)
	}
}

// TestBilling reproduces the project's billing example (20 t/h at 1.0 MPa,
// 250 °C against water at 20 °C; with 60 % of the condensate returned at
// 80 °C; and against the condensate itself), with enthalpies computed by
// IF97 rather than copied, so that the whole chain is tested. The billing
// conventions are described in docs/metrics.md#steam-billing-convention.
func TestBilling(t *testing.T) {
	hs, err := Enthalpy(1.0, Kelvin(250))
	if err != nil {
		t.Fatal(err)
	}
	hRef20, err := Enthalpy(StandardAtmosphere, Kelvin(20))
	if err != nil {
		t.Fatal(err)
	}
	hCond, err := Enthalpy(0.3, Kelvin(80))
	if err != nil {
		t.Fatal(err)
	}
	const m = 20.0 // t/h, one hour → t

	e, err := Energy(m, hs, hRef20)
	if err != nil {
		t.Fatal(err)
	}
	checkPark(t, "fixed_ref_20C GJ/h", e, "57.184182")

	e, err = EnergyWithReturn(m, hs, 0.6*m, hCond, hRef20)
	if err != nil {
		t.Fatal(err)
	}
	checkPark(t, "condensate_credit_60pct_80C GJ/h", e, "54.170542")

	e, err = Energy(m, hs, hCond)
	if err != nil {
		t.Fatal(err)
	}
	checkPark(t, "ref_condensate_80C_full_return GJ/h", e, "52.161449")

	// The same flow as a heat rate is 15.884 MW.
	pw, err := ThermalPower(m, hs, hRef20)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "thermal power MW", pw, "15.884")
	vectortest.CheckRel(t, "MW vs GJ/h", pw*3.6, 57.184182, 1e-6)
}

// TestDensityCompensation reproduces the project's compensation example: a
// meter configured for 1.0 MPa / 250 °C running at 0.9 MPa /
// 240 °C overstates mass by 9.103149 % with a fixed density, and a DP meter
// (q ∝ √ρ) by 4.452453 %.
func TestDensityCompensation(t *testing.T) {
	const qv = 3000.0
	mDesign, err := MassFlowFromVolume(qv, 1.0, Kelvin(250))
	if err != nil {
		t.Fatal(err)
	}
	mActual, err := MassFlowFromVolume(qv, 0.9, Kelvin(240))
	if err != nil {
		t.Fatal(err)
	}
	checkPark(t, "m with design rho t/h", mDesign, "12.889979")
	checkPark(t, "m with actual rho t/h", mActual, "11.814489")
	checkPark(t, "volumetric error %", (mDesign/mActual-1)*100, "9.103149")
	checkPark(t, "DP error %", (math.Sqrt(mDesign/mActual)-1)*100, "4.452453")
	rho, _ := Density(0.9, Kelvin(240))
	checkPark(t, "rho actual", rho, "3.938163")
}

// TestCascadeFlash reproduces the flash fraction of the project's cascade
// example: saturated liquid at 1.0 MPa flashing to 0.4 MPa.
func TestCascadeFlash(t *testing.T) {
	x, err := FlashFraction(1.0, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "flash fraction", x, "0.074043")
	vectortest.CheckPrinted(t, "flash steam t/h", 10*x, "0.740435")
	if x, err := FlashFraction(0.4, 0.4); err != nil || x != 0 {
		t.Errorf("FlashFraction(p, p) = %v, %v; want 0", x, err)
	}
	if _, err := FlashFraction(0.4, 1.0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("FlashFraction(0.4, 1.0) error = %v, want ErrInvalidInput", err)
	}
}

// TestWetSteam checks the wet-steam mixing rule against the saturated values
// of the park table at 1.0 MPa and Quality as its inverse.
func TestWetSteam(t *testing.T) {
	// Park saturation table at 1.0 MPa, printed to 1e-6 kJ/kg.
	const hf, hg = 762.682844, 2777.119538
	for _, x := range []float64{0, 0.5, 0.95, 1} {
		m, err := WetSteam(1.0, x)
		if err != nil {
			t.Fatal(err)
		}
		if want := hf + x*(hg-hf); math.Abs(m.H-want) > 1e-6 {
			t.Errorf("h(x = %v) = %.9f, want %.9f ± 1e-6 kJ/kg", x, m.H, want)
		}
		if math.Abs(m.T-453.035632) > 5e-7 {
			t.Errorf("T = %v, want 453.035632 K", m.T)
		}
		q, err := Quality(1.0, m.H)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(q-x) > 1e-12 {
			t.Errorf("Quality(1.0, %v) = %v, want %v", m.H, q, x)
		}
	}
	if _, err := WetSteam(1.0, 1.2); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("WetSteam x = 1.2: error = %v, want ErrOutOfRange", err)
	}
	if _, err := Quality(1.0, 2943.222165); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Quality of superheated steam: error = %v, want ErrOutOfRange", err)
	}
}

// TestExergy reproduces the project's exergy example (superheated steam,
// saturated vapour, hot water), dead state 25 °C, 0.101325 MPa.
func TestExergy(t *testing.T) {
	dead, err := Properties(StandardAtmosphere, Kelvin(25))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := Properties(1.0, Kelvin(250))
	if err != nil {
		t.Fatal(err)
	}
	_, sat, err := Saturation(0.4)
	if err != nil {
		t.Fatal(err)
	}
	hot, err := Properties(0.3, Kelvin(80))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		st       Props
		e, ratio string
	}{
		{"superheated", sup, "882.610228", "0.310965"},
		{"saturated vapour", sat, "686.748461", "0.260811"},
		{"hot water", hot, "19.132113", "0.083103"},
	} {
		e, err := Exergy(c.st, dead)
		if err != nil {
			t.Fatal(err)
		}
		checkPark(t, c.name+" exergy", e, c.e)
		vectortest.CheckPrinted(t, c.name+" exergy/(h-h0)", e/(c.st.H-dead.H), c.ratio)
	}
	if _, err := Exergy(sup, Props{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Exergy with zero dead-state T: error = %v, want ErrInvalidInput", err)
	}
}

// TestMeteringInputErrors checks that bad meter inputs are refused with the
// argument named.
func TestMeteringInputErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"negative mass", func() error { _, err := ThermalPower(-1, 2900, 84); return err }()},
		{"NaN enthalpy", func() error { _, err := Energy(1, math.NaN(), 84); return err }()},
		{"Inf reference", func() error { _, err := Energy(1, 2900, math.Inf(-1)); return err }()},
		{"negative condensate", func() error { _, err := EnergyWithReturn(1, 2900, -1, 300, 84); return err }()},
		{"negative volume", func() error { _, err := MassFlowFromVolume(-3, 1, 500); return err }()},
		{"vacuum below zero", func() error { _, err := AbsolutePressure(-0.2, StandardAtmosphere); return err }()},
	} {
		if !errors.Is(c.err, ErrInvalidInput) {
			t.Errorf("%s: error = %v, want ErrInvalidInput", c.name, c.err)
		}
	}
	p, err := AbsolutePressure(0.9, StandardAtmosphere)
	if err != nil || math.Abs(p-1.001325) > 1e-12 {
		t.Errorf("AbsolutePressure(0.9 MPa g) = %v, %v; want 1.001325 MPa", p, err)
	}
}

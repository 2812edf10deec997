package steam

import (
	"errors"
	"math"
	"testing"

	"github.com/eipgw/eipgw/gateway/internal/vectortest"
)

// checkV6 checks a [CALC] value of vectors.md, printed with 6 (or 9)
// decimals. vectors.md asks for a relative tolerance of 1e-6; rounding to
// every printed decimal is stricter everywhere except for values below 0.5
// (s of cold water), where the printed resolution itself exceeds 1e-6
// relative. Rounding is what is checked.
func checkV6(t *testing.T, name string, got float64, s string) {
	t.Helper()
	vectortest.CheckPrinted(t, name, got, s)
}

// TestParkSaturation reproduces the saturation table of vectors.md V6.
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
			checkV6(t, "Tsat K", ts, r.tsK)
			checkV6(t, "Tsat C", Celsius(ts), r.tsC)
			l, v, err := Saturation(p)
			if err != nil {
				t.Fatal(err)
			}
			checkV6(t, "hf", l.H, r.hf)
			checkV6(t, "hg", v.H, r.hg)
			checkV6(t, "hfg", v.H-l.H, r.hfg)
			checkV6(t, "vg", v.V, r.vg)
			checkV6(t, "rhog", v.Density(), r.rhog)
			checkV6(t, "sf", l.S, r.sf)
			checkV6(t, "sg", v.S, r.sg)
		})
	}
}

// TestParkOperatingPoints reproduces the (p, t) table of vectors.md V6.
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
			checkV6(t, "h", st.H, r.h)
			checkV6(t, "v", st.V, r.v)
			checkV6(t, "rho", st.Density(), r.rho)
			checkV6(t, "s", st.S, r.s)
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

// TestNotIdealGas is the V6 sanity vector: at 1.0 MPa, 250 °C the ideal-gas
// density p/(RT) = 4.141690 kg/m³ is 3.607 % below IF97's 4.296660 kg/m³;
// the gateway must return the IF97 value.
func TestNotIdealGas(t *testing.T) {
	p, T := 1.0, Kelvin(250)
	ideal := p * 1000 / (R * T)
	vectortest.CheckPrinted(t, "ideal-gas density", ideal, "4.141690")
	rho, err := Density(p, T)
	if err != nil {
		t.Fatal(err)
	}
	checkV6(t, "IF97 density", rho, "4.296660")
	vectortest.CheckPrinted(t, "ideal-gas error %", (ideal/rho-1)*100, "-3.607")
}

// TestSuperheat checks T − Ts(p) at the V6 point 1.0 MPa, 180 °C, which lies
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

// TestBilling reproduces the steam energy billing cases of vectors.md V7
// [CALC] (formulas.md §1.4), with enthalpies computed by IF97 rather than
// copied, so that the whole chain is tested.
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
	checkV6(t, "fixed_ref_20C GJ/h", e, "57.184182")

	e, err = EnergyWithReturn(m, hs, 0.6*m, hCond, hRef20)
	if err != nil {
		t.Fatal(err)
	}
	checkV6(t, "condensate_credit_60pct_80C GJ/h", e, "54.170542")

	e, err = Energy(m, hs, hCond)
	if err != nil {
		t.Fatal(err)
	}
	checkV6(t, "ref_condensate_80C_full_return GJ/h", e, "52.161449")

	// formulas.md §1.4: the same flow is 15.884 MW.
	pw, err := ThermalPower(m, hs, hRef20)
	if err != nil {
		t.Fatal(err)
	}
	vectortest.CheckPrinted(t, "thermal power MW", pw, "15.884")
	vectortest.CheckRel(t, "MW vs GJ/h", pw*3.6, 57.184182, 1e-6)
}

// TestDensityCompensation reproduces the volumetric part of vectors.md V8
// [CALC]: a meter configured for 1.0 MPa / 250 °C running at 0.9 MPa /
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
	checkV6(t, "m with design rho t/h", mDesign, "12.889979")
	checkV6(t, "m with actual rho t/h", mActual, "11.814489")
	checkV6(t, "volumetric error %", (mDesign/mActual-1)*100, "9.103149")
	checkV6(t, "DP error %", (math.Sqrt(mDesign/mActual)-1)*100, "4.452453")
	rho, _ := Density(0.9, Kelvin(240))
	checkV6(t, "rho actual", rho, "3.938163")
}

// TestCascadeFlash reproduces the flash fraction of the V17 cascade chain
// [CALC]: saturated liquid at 1.0 MPa flashing to 0.4 MPa.
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

// TestWetSteam checks the wet-steam mixing rule against the V6 saturated
// values at 1.0 MPa and Quality as its inverse.
func TestWetSteam(t *testing.T) {
	// V6 at 1.0 MPa, printed to 1e-6 kJ/kg.
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

// TestExergy reproduces the exergy table of vectors.md V17 [CALC], dead
// state 25 °C, 0.101325 MPa.
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
		checkV6(t, c.name+" exergy", e, c.e)
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

package steam

import "math"

// IAPWS-IF97 reference constants, IAPWS R7-97(2012) eqs. 1-3.
const (
	// R is the specific gas constant of water, kJ/(kg·K).
	R = 0.461526
	// Tc is the critical temperature, K.
	Tc = 647.096
	// Pc is the critical pressure, MPa.
	Pc = 22.064
)

// Boundaries of the regions as IAPWS R7-97(2012) defines them.
const (
	tMin   = 273.15  // K, lower temperature bound of IF97
	t13    = 623.15  // K, upper bound of region 1; start of B23
	t2B23  = 863.15  // K, upper end of the B23 boundary
	t2Max  = 1073.15 // K, upper bound of region 2
	t5Max  = 2273.15 // K, upper bound of region 5
	pMax   = 100.0   // MPa, upper pressure bound of regions 1, 2 and 3
	p5Max  = 50.0    // MPa, upper pressure bound of region 5
	pSatLo = 611.213e-6
)

// gibbs holds a dimensionless Gibbs free energy γ and its derivatives with
// respect to the reduced pressure π and reduced temperature τ.
type gibbs struct {
	g, gp, gpp, gt, gtt, gpt float64
}

// r1Term is one term nᵢ (7.1 − π)^Iᵢ (τ − 1.222)^Jᵢ of the region 1 Gibbs
// equation.
type r1Term struct {
	i, j int
	n    float64
}

// region1Terms are the coefficients and exponents of the region 1 Gibbs
// equation, IAPWS R7-97(2012) eq. 7 and table 2. Read-only.
var region1Terms = [34]r1Term{
	{0, -2, 0.14632971213167}, {0, -1, -0.84548187169114}, {0, 0, -0.37563603672040e1},
	{0, 1, 0.33855169168385e1}, {0, 2, -0.95791963387872}, {0, 3, 0.15772038513228},
	{0, 4, -0.16616417199501e-1}, {0, 5, 0.81214629983568e-3}, {1, -9, 0.28319080123804e-3},
	{1, -7, -0.60706301565874e-3}, {1, -1, -0.18990068218419e-1}, {1, 0, -0.32529748770505e-1},
	{1, 1, -0.21841717175414e-1}, {1, 3, -0.52838357969930e-4}, {2, -3, -0.47184321073267e-3},
	{2, 0, -0.30001780793026e-3}, {2, 1, 0.47661393906987e-4}, {2, 3, -0.44141845330846e-5},
	{2, 17, -0.72694996297594e-15}, {3, -4, -0.31679644845054e-4}, {3, 0, -0.28270797985312e-5},
	{3, 6, -0.85205128120103e-9}, {4, -5, -0.22425281908000e-5}, {4, -2, -0.65171222895601e-6},
	{4, 10, -0.14341729937924e-12}, {5, -8, -0.40516996860117e-6}, {8, -11, -0.12734301741641e-8},
	{8, -6, -0.17424871230634e-9}, {21, -29, -0.68762131295531e-18}, {23, -31, 0.14478307828521e-19},
	{29, -38, 0.26335781662795e-22}, {30, -39, -0.11947622640071e-22}, {31, -40, 0.18228094581404e-23},
	{32, -41, -0.93537087292458e-25},
}

// r2IdealTerm is one term n⁰ᵢ τ^J⁰ᵢ of the region 2 ideal-gas part.
type r2IdealTerm struct {
	j int
	n float64
}

// region2IdealTerms are the coefficients of the region 2 ideal-gas part,
// IAPWS R7-97(2012) eq. 16 and table 10. Read-only.
var region2IdealTerms = [9]r2IdealTerm{
	{0, -0.96927686500217e1}, {1, 0.10086655968018e2}, {-5, -0.56087911283020e-2},
	{-4, 0.71452738081455e-1}, {-3, -0.40710498223928}, {-2, 0.14240819171444e1},
	{-1, -0.43839511319450e1}, {2, -0.28408632460772}, {3, 0.21268463753307e-1},
}

// region2ResidualTerms are the coefficients of the region 2 residual part,
// IAPWS R7-97(2012) eq. 17 and table 11: nᵢ π^Iᵢ (τ − 0.5)^Jᵢ. Read-only.
var region2ResidualTerms = [43]r1Term{
	{1, 0, -0.17731742473213e-2}, {1, 1, -0.17834862292358e-1}, {1, 2, -0.45996013696365e-1},
	{1, 3, -0.57581259083432e-1}, {1, 6, -0.50325278727930e-1}, {2, 1, -0.33032641670203e-4},
	{2, 2, -0.18948987516315e-3}, {2, 4, -0.39392777243355e-2}, {2, 7, -0.43797295650573e-1},
	{2, 36, -0.26674547914087e-4}, {3, 0, 0.20481737692309e-7}, {3, 1, 0.43870667284435e-6},
	{3, 3, -0.32277677238570e-4}, {3, 6, -0.15033924542148e-2}, {3, 35, -0.40668253562649e-1},
	{4, 1, -0.78847309559367e-9}, {4, 2, 0.12790717852285e-7}, {4, 3, 0.48225372718507e-6},
	{5, 7, 0.22922076337661e-5}, {6, 3, -0.16714766451061e-10}, {6, 16, -0.21171472321355e-2},
	{6, 35, -0.23895741934104e2}, {7, 0, -0.59059564324270e-17}, {7, 11, -0.12621808899101e-5},
	{7, 25, -0.38946842435739e-1}, {8, 8, 0.11256211360459e-10}, {8, 36, -0.82311340897998e1},
	{9, 13, 0.19809712802088e-7}, {10, 4, 0.10406965210174e-18}, {10, 10, -0.10234747095929e-12},
	{10, 14, -0.10018179379511e-8}, {16, 29, -0.80882908646985e-10}, {16, 50, 0.10693031879409},
	{18, 57, -0.33662250574171}, {20, 20, 0.89185845355421e-24}, {20, 35, 0.30629316876232e-12},
	{20, 48, -0.42002467698208e-5}, {21, 21, -0.59056029685639e-25}, {22, 53, 0.37826947613457e-5},
	{23, 39, -0.12768608934681e-14}, {24, 26, 0.73087610595061e-28}, {24, 40, 0.55414715350778e-16},
	{24, 58, -0.94369707241210e-6},
}

// powi returns x**k for an integer k (math.Pow is exact enough for the
// integer exponents of IF97 and handles negative k).
func powi(x float64, k int) float64 {
	return math.Pow(x, float64(k))
}

// region1Gibbs evaluates γ(π, τ) of IF97 region 1 (Eq. 7) and its
// derivatives (Table 4), with π = p/16.53 MPa and τ = 1386 K/T.
func region1Gibbs(pi, tau float64) gibbs {
	a := 7.1 - pi
	b := tau - 1.222
	var g gibbs
	for _, c := range region1Terms {
		fi := float64(c.i)
		fj := float64(c.j)
		ai := powi(a, c.i)
		bj := powi(b, c.j)
		g.g += c.n * ai * bj
		if c.i != 0 {
			ai1 := powi(a, c.i-1)
			g.gp -= c.n * fi * ai1 * bj
			if c.i != 1 {
				g.gpp += c.n * fi * (fi - 1) * powi(a, c.i-2) * bj
			}
			if c.j != 0 {
				g.gpt -= c.n * fi * ai1 * fj * powi(b, c.j-1)
			}
		}
		if c.j != 0 {
			g.gt += c.n * ai * fj * powi(b, c.j-1)
			if c.j != 1 {
				g.gtt += c.n * ai * fj * (fj - 1) * powi(b, c.j-2)
			}
		}
	}
	return g
}

// region1 evaluates the IF97 region 1 basic equation at p (MPa) and T (K),
// with no range check. Property relations: IAPWS R7-97(2012) table 3.
func region1(p, T float64) Props {
	pi := p / 16.53
	tau := 1386.0 / T
	g := region1Gibbs(pi, tau)
	rt := R * T
	w2 := 1000 * rt * g.gp * g.gp / ((g.gp-tau*g.gpt)*(g.gp-tau*g.gpt)/(tau*tau*g.gtt) - g.gpp)
	return Props{
		P:      p,
		T:      T,
		V:      pi * g.gp * rt / p / 1000,
		H:      rt * tau * g.gt,
		U:      rt * (tau*g.gt - pi*g.gp),
		S:      R * (tau*g.gt - g.g),
		Cp:     -R * tau * tau * g.gtt,
		W:      math.Sqrt(w2),
		Region: Region1,
	}
}

// region2Gibbs evaluates the ideal-gas part γ⁰ (Eq. 16) and the residual part
// γʳ (Eq. 17) of IF97 region 2 and their derivatives (Tables 13 and 14), with
// π = p/1 MPa and τ = 540 K/T.
func region2Gibbs(pi, tau float64) (ideal, res gibbs) {
	ideal.g = math.Log(pi)
	ideal.gp = 1 / pi
	ideal.gpp = -1 / (pi * pi)
	for _, c := range region2IdealTerms {
		fj := float64(c.j)
		ideal.g += c.n * powi(tau, c.j)
		ideal.gt += c.n * fj * powi(tau, c.j-1)
		ideal.gtt += c.n * fj * (fj - 1) * powi(tau, c.j-2)
	}
	b := tau - 0.5
	for _, c := range region2ResidualTerms {
		fi := float64(c.i)
		fj := float64(c.j)
		pI := powi(pi, c.i)
		pI1 := powi(pi, c.i-1)
		bj := powi(b, c.j)
		res.g += c.n * pI * bj
		res.gp += c.n * fi * pI1 * bj
		res.gpp += c.n * fi * (fi - 1) * powi(pi, c.i-2) * bj
		if c.j != 0 {
			bj1 := powi(b, c.j-1)
			res.gt += c.n * pI * fj * bj1
			res.gpt += c.n * fi * pI1 * fj * bj1
			res.gtt += c.n * pI * fj * (fj - 1) * powi(b, c.j-2)
		}
	}
	return ideal, res
}

// region2 evaluates the IF97 region 2 basic equation at p (MPa) and T (K),
// with no range check. Property relations: IAPWS R7-97(2012) table 12.
func region2(p, T float64) Props {
	pi := p / 1.0
	tau := 540.0 / T
	o, r := region2Gibbs(pi, tau)
	rt := R * T
	gt := o.gt + r.gt
	gtt := o.gtt + r.gtt
	num := 1 + 2*pi*r.gp + pi*pi*r.gp*r.gp
	x := 1 + pi*r.gp - tau*pi*r.gpt
	den := (1 - pi*pi*r.gpp) + x*x/(tau*tau*gtt)
	return Props{
		P:      p,
		T:      T,
		V:      pi * (o.gp + r.gp) * rt / p / 1000,
		H:      rt * tau * gt,
		U:      rt * (tau*gt - pi*(o.gp+r.gp)),
		S:      R * (tau*gt - (o.g + r.g)),
		Cp:     -R * tau * tau * gtt,
		W:      math.Sqrt(1000 * rt * num / den),
		Region: Region2,
	}
}

#!/usr/bin/env python3
"""Independent recomputation of three hourly records of the park engine.

Input: inputs.csv.gz, the readings the engine consumed for three hours of
the reference-park replay (TestReplay48hMatchesReference exports it with
-update): one row per device poll, ts_ms, device, then the values of

    steam_meter  mass_flow (t/h), pressure (MPa abs), temperature (degC)
    chp          electric_power (MW), ng_flow (Nm3/h), biogas_flow (Nm3/h),
                 steam_flow (t/h), steam_pressure (MPa abs),
                 steam_temperature (degC), feedwater_temperature (degC)
    cems         so2 (mg/Nm3), flue_gas_flow_dry (Nm3/h)
    boiler       fuel_flow (kg/h)

Output (stdout): expected.csv, hour_start_ms,metric,entity,value.

Derivation, per clock hour (every input of these hours is good, so every
minute is valid):
  * a per-reading quantity is averaged over the hour's readings, and an
    hourly total is that mean rate times 1 h;
  * steam thermal power P = m (h(p, T) - h_ref) / 3600 MW, h from IAPWS-IF97
    (regions 1 and 2, implemented below from the release's coefficients),
    h_ref = h(0.101325 MPa, 20 degC); energy E = mean(P) * 3.6 GJ;
  * CHP useful heat Q = m (h(p_s, T_s) - h_ref) / 3600 MW, on the basis of
    the delivery meters (0 when m = 0); fuel power F = (ng * 35.9 +
    biogas * 21.5) / 3600 MW; eta_e = mean(W)/mean(F), eta_th =
    mean(Q)/mean(F); reference efficiencies weighted by fuel energy,
    Ref E = (F_ng 0.53 + F_bg 0.42)/F, Ref H = (F_ng 0.87 + F_bg 0.75)/F;
    PES = 1 - 1/(eta_th/Ref H + eta_e/Ref E) (the overall efficiency is
    above the 0.75 threshold in these hours);
  * heat check: Q * 3.6 >= E_s (1 - 0.02), margin Q * 3.6 - E_s GJ;
  * balance: loss = M_s - sum(M_i), U = sqrt((0.015 M_s)^2 + sum((0.025 M_i)^2)),
    alarm = |loss - 0.03 M_s| > U; network loss = E_s - sum(E_i);
  * SO2 from the CEMS: mean(so2 * flow / 1e6) kg;
  * CO2 from fuel: ng * 35.9/1000 GJ * 56.1 kg/GJ (biogas biogenic, 0) plus
    boiler oil kg * 42.6/1000 * 74.1, in t;
  * baseline per tenant, per steam-meter sample: the tenant's replaced
    boilers (BOILERS below) share its heat P in proportion to capacity,
    load L = min(P/sum C, 1), excess P - min(P, sum C) not credited, each
    boiler burns C L 3.6/eta(L) GJ in an hour (eta from its curve,
    interpolated linearly, else flat); CO2 = fuel * EF/1000 t/h, SO2 =
    2 S fuel/NCV t/h; hourly = mean rate * 1 h; park baseline CO2 = sum of
    tenants + W(MWh) * 0.581;
  * project CO2 = CO2 from fuel; project SO2 = CEMS SO2 + 2 * 0.001 *
    boiler oil (t); reduction = baseline - project;
  * per tenant: the CHP's emissions go to heat in the share
    a = (Q/Ref H)/(Q/Ref H + W/Ref E), the heat's to each tenant by its
    share of the tenants' energy; reduction = tenant baseline - share.
The constants are those of config/examples/park.yaml.
"""
import csv
import gzip
import io
import math
import sys

# --- IAPWS-IF97 regions 1 and 2 (IAPWS R7-97(2012)) -------------------------
R = 0.461526  # kJ/(kg K)

I1 = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 8, 8, 21, 23, 29, 30, 31, 32]
J1 = [-2, -1, 0, 1, 2, 3, 4, 5, -9, -7, -1, 0, 1, 3, -3, 0, 1, 3, 17, -4, 0, 6, -5, -2, 10, -8, -11, -6, -29, -31, -38, -39, -40, -41]
N1 = [0.14632971213167, -0.84548187169114, -0.37563603672040e1, 0.33855169168385e1, -0.95791963387872,
      0.15772038513228, -0.16616417199501e-1, 0.81214629983568e-3, 0.28319080123804e-3, -0.60706301565874e-3,
      -0.18990068218419e-1, -0.32529748770505e-1, -0.21841717175414e-1, -0.52838357969930e-4, -0.47184321073267e-3,
      -0.30001780793026e-3, 0.47661393906987e-4, -0.44141845330846e-5, -0.72694996297594e-15, -0.31679644845054e-4,
      -0.28270797985312e-5, -0.85205128120103e-9, -0.22425281908000e-5, -0.65171222895601e-6, -0.14341729937924e-12,
      -0.40516996860117e-6, -0.12734301741641e-8, -0.17424871230634e-9, -0.68762131295531e-18, 0.14478307828521e-19,
      0.26335781662795e-22, -0.11947622640071e-22, 0.18228094581404e-23, -0.93537087292458e-25]

J0 = [0, 1, -5, -4, -3, -2, -1, 2, 3]
N0 = [-0.96927686500217e1, 0.10086655968018e2, -0.56087911283020e-2, 0.71452738081455e-1, -0.40710498223928,
      0.14240819171444e1, -0.43839511319450e1, -0.28408632460772, 0.21268463753307e-1]
IR = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 10, 10, 10, 16, 16, 18, 20, 20, 20, 21, 22, 23, 24, 24, 24]
JR = [0, 1, 2, 3, 6, 1, 2, 4, 7, 36, 0, 1, 3, 6, 35, 1, 2, 3, 7, 3, 16, 35, 0, 11, 25, 8, 36, 13, 4, 10, 14, 29, 50, 57, 20, 35, 48, 21, 53, 39, 26, 40, 58]
NR = [-0.17731742473213e-2, -0.17834862292358e-1, -0.45996013696365e-1, -0.57581259083432e-1, -0.50325278727930e-1,
      -0.33032641670203e-4, -0.18948987516315e-3, -0.39392777243355e-2, -0.43797295650573e-1, -0.26674547914087e-4,
      0.20481737692309e-7, 0.43870667284435e-6, -0.32277677238570e-4, -0.15033924542148e-2, -0.40668253562649e-1,
      -0.78847309559367e-9, 0.12790717852285e-7, 0.48225372718507e-6, 0.22922076337661e-5, -0.16714766451061e-10,
      -0.21171472321355e-2, -0.23895741934104e2, -0.59059564324270e-17, -0.12621808899101e-5, -0.38946842435739e-1,
      0.11256211360459e-10, -0.82311340897998e1, 0.19809712802088e-7, 0.10406965210174e-18, -0.10234747095929e-12,
      -0.10018179379511e-8, -0.80882908646985e-10, 0.10693031879409, -0.33662250574171, 0.89185845355421e-24,
      0.30629316876232e-12, -0.42002467698208e-5, -0.59056029685639e-25, 0.37826947613457e-5, -0.12768608934681e-14,
      0.73087610595061e-28, 0.55414715350778e-16, -0.94369707241210e-6]

N4 = [0.11670521452767e4, -0.72421316703206e6, -0.17073846940092e2, 0.12020824702470e5, -0.32325550322333e7,
      0.14915108613530e2, -0.48232657361591e4, 0.40511340542057e6, -0.23855557567849, 0.65017534844798e3]


def tsat(p):
    """Saturation temperature (K) at p (MPa), IF97 Eq. 31."""
    n = N4
    b = p ** 0.25
    e = b * b + n[2] * b + n[5]
    f = n[0] * b * b + n[3] * b + n[6]
    g = n[1] * b * b + n[4] * b + n[7]
    d = 2 * g / (-f - math.sqrt(f * f - 4 * e * g))
    return (n[9] + d - math.sqrt((n[9] + d) ** 2 - 4 * (n[8] + n[9] * d))) / 2


def h1(p, T):
    """Region 1 specific enthalpy, kJ/kg."""
    pi, tau = p / 16.53, 1386.0 / T
    gt = sum(n * (7.1 - pi) ** i * j * (tau - 1.222) ** (j - 1) for i, j, n in zip(I1, J1, N1))
    return R * T * tau * gt


def h2(p, T):
    """Region 2 specific enthalpy, kJ/kg."""
    pi, tau = p / 1.0, 540.0 / T
    g0t = sum(n * j * tau ** (j - 1) for j, n in zip(J0, N0))
    grt = sum(n * pi ** i * j * (tau - 0.5) ** (j - 1) for i, j, n in zip(IR, JR, NR))
    return R * T * tau * (g0t + grt)


def h(p, t_c):
    T = t_c + 273.15
    if T < tsat(p):
        return h1(p, T)
    if T > tsat(p):
        return h2(p, T)
    raise ValueError("on the saturation line")


# --- park constants (config/examples/park.yaml) -------------------------------
H_REF = h(0.101325, 20.0)
U_SUPPLIER, U_TENANT, EXPECTED_LOSS = 0.015, 0.025, 0.03
NG_NCV, NG_EF, BIOGAS_NCV = 35.9, 56.1, 21.5
OIL_NCV, OIL_EF, OIL_S = 42.6, 74.1, 0.001
REF_E = {"ng": 0.53, "bg": 0.42}
REF_H = {"ng": 0.87, "bg": 0.75}
HEAT_TOL = 0.02
GRID_EF = 0.581
TENANTS = ["t%02d" % i for i in range(1, 19)]
# Fuels of the replaced boilers: NCV GJ/t, EF kg/GJ, S mass fraction.
FUELS = {"heavy_oil": (40.4, 77.4, 0.02), "light_oil": (42.6, 74.1, 0.001)}
CURVE_A = [(0.3, 0.74), (0.7, 0.83), (1.0, 0.82)]
CURVE_B = [(0.25, 0.70), (0.6, 0.82), (1.0, 0.84)]
# tenant: (fuel, [capacities MW], efficiency or curve, sulphur override)
BOILERS = {
    "t01": ("heavy_oil", [2.5, 2.5], CURVE_A, None), "t02": ("heavy_oil", [0.7, 0.7], 0.78, None),
    "t03": ("heavy_oil", [2.0, 2.0], 0.80, None), "t04": ("heavy_oil", [3.0, 2.0], 0.82, None),
    "t05": ("heavy_oil", [1.5, 1.5], 0.79, 0.01), "t06": ("heavy_oil", [1.2, 1.0], 0.80, None),
    "t07": ("heavy_oil", [1.5, 1.5], 0.81, None), "t08": ("heavy_oil", [1.4, 1.4], 0.80, None),
    "t09": ("heavy_oil", [2.0, 2.0], 0.83, None), "t10": ("heavy_oil", [2.5, 2.5], CURVE_B, None),
    "t11": ("heavy_oil", [1.0, 1.0], 0.78, None), "t12": ("heavy_oil", [2.0, 1.5], 0.80, None),
    "t13": ("light_oil", [0.8, 0.8], 0.85, None), "t14": ("light_oil", [0.5, 0.5], 0.84, None),
    "t15": ("light_oil", [0.8, 0.8], 0.85, None), "t16": ("light_oil", [1.2, 1.0], 0.84, None),
    "t17": ("light_oil", [0.7, 0.7], 0.83, None), "t18": ("light_oil", [1.0, 1.0], 0.85, None),
}


def eta_at(eff, load):
    """Efficiency at load: flat, or the curve interpolated and held at its ends."""
    if not isinstance(eff, list):
        return eff
    if load <= eff[0][0]:
        return eff[0][1]
    for (l0, e0), (l1, e1) in zip(eff, eff[1:]):
        if load <= l1:
            return e0 + (e1 - e0) * (load - l0) / (l1 - l0)
    return eff[-1][1]


def baseline(tenant, p):
    """Credited MW, excess MW, CO2 t/h, SO2 t/h of a tenant taking p MW."""
    fuel, caps, eff, s_over = BOILERS[tenant]
    ncv, ef, s = FUELS[fuel]
    if s_over is not None:
        s = s_over
    cap = sum(caps)
    load = min(p / cap, 1.0)
    co2 = so2 = 0.0
    for c in caps:
        gj = c * load * 3.6 / eta_at(eff, load)
        co2 += gj * ef / 1000
        so2 += 2 * s * (gj / ncv)
    return min(p, cap), p - min(p, cap), co2, so2


def main(path):
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))[1:]
    hours = {}
    for row in rows:
        ts, dev, vals = int(row[0]), row[1], [float(v) for v in row[2:]]
        hour = ts - ts % 3_600_000
        acc = hours.setdefault(hour, {})

        def add(key, v):
            s = acc.setdefault(key, [0.0, 0])
            s[0] += v
            s[1] += 1

        if dev.startswith("steam-"):
            m, p, t = vals
            pw = m * (h(p, t) - H_REF) / 3600
            add(dev + ".mass", m)
            add(dev + ".power", pw)
            tenant = dev[len("steam-"):]
            if tenant in BOILERS:
                for key, v in zip(("credited", "excess", "co2", "so2"), baseline(tenant, max(pw, 0.0))):
                    add(tenant + ".base_" + key, v)
        elif dev == "chp-1":
            w, ng, bg, m, ps, ts_c, tfw = vals
            add("chp.w", w)
            add("chp.ng", ng)
            add("chp.bg", bg)
            add("chp.f", (ng * NG_NCV + bg * BIOGAS_NCV) / 3600)
            add("chp.q", 0.0 if m == 0 else m * (h(ps, ts_c) - H_REF) / 3600)
        elif dev == "cems-1":
            so2, q = vals
            add("cems.so2", so2 * q / 1e6)
        elif dev.startswith("boiler-"):
            add("boilers.oil", vals[0])

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["hour_start_ms", "metric", "entity", "value"])
    for hour in sorted(hours):
        a = hours[hour]

        def mean(key):
            s, n = a[key]
            return s / n

        ms = mean("steam-supply.mass")
        es = mean("steam-supply.power") * 3.6
        mt = [mean("steam-%s.mass" % t) for t in TENANTS]
        et = {t: mean("steam-%s.power" % t) * 3.6 for t in TENANTS}
        loss = ms - sum(mt)
        u = math.sqrt((U_SUPPLIER * ms) ** 2 + sum((U_TENANT * m) ** 2 for m in mt))
        alarm = 1.0 if abs(loss - EXPECTED_LOSS * ms) > u else 0.0
        W, F, Q = mean("chp.w"), mean("chp.f"), mean("chp.q")
        eta_e, eta_h = W / F, Q / F
        f_ng, f_bg = mean("chp.ng") * NG_NCV, mean("chp.bg") * BIOGAS_NCV
        ref_e = (f_ng * REF_E["ng"] + f_bg * REF_E["bg"]) / (f_ng + f_bg)
        ref_h = (f_ng * REF_H["ng"] + f_bg * REF_H["bg"]) / (f_ng + f_bg)
        assert eta_e + eta_h >= 0.75
        pes = 1 - 1 / (eta_h / ref_h + eta_e / ref_e)
        heat_ok = 1.0 if Q * 3.6 >= es * (1 - HEAT_TOL) else 0.0
        so2_cems = mean("cems.so2")
        oil = mean("boilers.oil") * 2  # two boilers, mean per boiler x 2
        co2 = mean("chp.ng") * NG_NCV / 1000 * NG_EF / 1000 + oil * OIL_NCV / 1000 * OIL_EF / 1000
        hg = sum(et.values())
        tb = {t: {k: mean(t + ".base_" + k) for k in ("credited", "excess", "co2", "so2")} for t in TENANTS}
        base_co2 = sum(b["co2"] for b in tb.values()) + W * GRID_EF
        base_so2 = sum(b["so2"] for b in tb.values())
        chp_so2 = so2_cems / 1000
        boil_so2 = 2 * oil * OIL_S / 1000
        proj_so2 = chp_so2 + boil_so2
        chp_co2 = mean("chp.ng") * NG_NCV / 1000 * NG_EF / 1000
        boil_co2 = oil * OIL_NCV / 1000 * OIL_EF / 1000
        alloc = (Q / ref_h) / (Q / ref_h + W / ref_e)

        def tenant_red(t):
            share = et[t] / hg
            return (tb[t]["co2"] - (alloc * chp_co2 + boil_co2) * share,
                    tb[t]["so2"] - (alloc * chp_so2 + boil_so2) * share)
        for metric, entity, v in [
            ("supplier_steam_mass_t", "", ms), ("supplier_steam_energy_gj", "", es),
            ("steam_energy_gj", "t01", et["t01"]), ("steam_energy_gj", "t07", et["t07"]), ("steam_energy_gj", "t14", et["t14"]),
            ("balance_loss_t", "", loss), ("balance_uncertainty_t", "", u), ("balance_alarm", "", alarm),
            ("network_loss_gj", "", es - sum(et.values())),
            ("chp_electrical_efficiency", "", eta_e), ("chp_thermal_efficiency", "", eta_h), ("chp_pes", "", pes),
            ("so2_cems_kg", "", so2_cems), ("co2_fuel_t", "", co2),
            ("reduction_co2_t", "", base_co2 - co2), ("reduction_so2_t", "", base_so2 - proj_so2),
            ("chp_heat_check", "", heat_ok), ("chp_heat_margin_gj", "", Q * 3.6 - es),
            ("chp_ref_electrical_efficiency", "", ref_e), ("chp_ref_heat_efficiency", "", ref_h),
            ("chp_heat_allocation", "", alloc),
            ("baseline_co2_t", "t01", tb["t01"]["co2"]), ("baseline_co2_t", "t02", tb["t02"]["co2"]),
            ("baseline_uncredited_heat_gj", "t02", tb["t02"]["excess"] * 3.6),
            ("baseline_so2_t", "t05", tb["t05"]["so2"]), ("baseline_co2_t", "t10", tb["t10"]["co2"]),
            ("reduction_co2_t", "t07", tenant_red("t07")[0]), ("reduction_so2_t", "t07", tenant_red("t07")[1]),
        ]:
            w.writerow([hour, metric, entity, repr(v)])
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "inputs.csv.gz")

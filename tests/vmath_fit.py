"""Derive the polynomial and rational coefficients of jitnet/lower/vmath/coefficients.py (mpmath Remez).

Not a test: run `python tests/vmath_fit.py` to print every table that
jitnet/lower/vmath/coefficients.py embeds as hex floats, with the worst relative error of each fit
after rounding its coefficients to the working precision. The method is the
Remez exchange on a dense grid (discrete minimax), weighted for relative
error; rational fits linearise the denominator around the previous iterate.
Needs mpmath (a sympy dependency); the tests do not.
"""

import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 40


def _extrema(xs, es):
    """Indices of the signed extrema of `es`, one per run of equal sign."""
    out, start = [], 0
    for i in range(1, len(xs) + 1):
        if i == len(xs) or (es[i] > 0) != (es[start] > 0):
            seg = range(start, i)
            out.append(max(seg, key=lambda j: abs(es[j])))
            start = i
    return out


def _pick(idx, es, m):
    """Shrink an alternating list of extrema to m entries, dropping the smallest at the ends/pairs."""
    idx = list(idx)
    while len(idx) > m:
        if len(idx) == m + 1:
            drop = 0 if abs(es[idx[0]]) < abs(es[idx[-1]]) else len(idx) - 1
            idx.pop(drop)
        else:
            k = min(range(len(idx) - 1), key=lambda j: abs(es[idx[j]]) + abs(es[idx[j + 1]]))
            del idx[k:k + 2]
    return idx


def remez(g, w, basis, lo, hi, n_grid=4000, iters=40, grid=None):
    """Minimise max |w(x) (g(x) - sum c_j basis_j(x))| over [lo, hi]; returns (c, max error)."""
    m = len(basis)
    if grid is None:
        grid = [lo + (hi - lo) * (1 - mp.cos(mp.pi * i / (n_grid - 1))) / 2 for i in range(n_grid)]
    gv = [g(x) for x in grid]
    wv = [w(x) for x in grid]
    bv = [[b(x) for b in basis] for x in grid]
    ref = [int(round((n_grid - 1) * (1 - np.cos(np.pi * i / m)) / 2)) for i in range(m + 1)]
    best = None
    for _ in range(iters):
        a = mp.matrix(m + 1, m + 1)
        rhs = mp.matrix(m + 1, 1)
        for r, i in enumerate(ref):
            for j in range(m):
                a[r, j] = bv[i][j]
            a[r, m] = (-1) ** r / wv[i]
            rhs[r] = gv[i]
        sol = mp.lu_solve(a, rhs)
        c = [sol[j] for j in range(m)]
        es = [wv[i] * (gv[i] - mp.fsum(cj * bj for cj, bj in zip(c, bv[i]))) for i in range(n_grid)]
        emax = max(abs(e) for e in es)
        if best is None or emax < best[1]:
            best = (c, emax)
        lev = abs(sol[m])
        if emax <= lev * (1 + mp.mpf("1e-6")):
            break
        new = _extrema(grid, es)
        if len(new) < m + 1:
            break
        ref = _pick(new, es, m + 1)
    return best


def rounded(c, dtype):
    if dtype == "float32":
        return [float(np.float32(float(x))) for x in c]
    return [float(x) for x in c]


def horner(c, x):
    acc = mp.mpf(0)
    for cj in reversed(c):
        acc = acc * x + cj
    return acc


def fit(fun, fixed, mult, x_of_v, vlo, vhi, n_coef, dtype, n_grid=2000):
    """fun(x) ~ fixed(x) + mult(x) P(v), x = x_of_v(v), P of n_coef coefficients, minimax relative error.

    Returns the coefficients rounded to dtype and the worst relative error of
    the rounded fit on a fine grid (exact arithmetic, no evaluation rounding).
    """
    def g(v):
        x = x_of_v(v)
        return (fun(x) - fixed(x)) / mult(x)

    def w(v):
        x = x_of_v(v)
        return mult(x) / fun(x)

    basis = [lambda v, j=j: v**j for j in range(n_coef)]
    c, _ = remez(g, w, basis, vlo, vhi, n_grid=n_grid)
    c = rounded(c, dtype)
    cm = [mp.mpf(x) for x in c]
    vs = [vlo + (vhi - vlo) * (i + mp.mpf(1) / 3) / 10000 for i in range(10000)] + [vlo, vhi]
    err = max(abs((fixed(x_of_v(v)) + mult(x_of_v(v)) * horner(cm, v) - fun(x_of_v(v))) / fun(x_of_v(v)))
              for v in vs)
    return c, err


ULP = {"float32": 2.0**-24, "float64": 2.0**-53}


def show(name, c, err, dtype, ulp=None):
    ulp = ulp or ULP[dtype]
    print(f"# {name}: {len(c)} coefficients, max rel err {float(err):.3g} ({float(err) / ulp:.3g} ulp)")
    print("(" + ", ".join(float(x).hex() for x in c) + ")", flush=True)


TINY = mp.mpf("1e-9")
LN2_HALF = mp.log(2) / 2 * mp.mpf("1.0001")
TANH_SPLIT = mp.mpf("0.5493")  # ln(3)/2 rounded up slightly: tanh >= 1/2 above
PI_4 = mp.pi / 4 * mp.mpf("1.000001")


def expm1_fit(n, dtype):
    """expm1(r) = r + r^2/2 + r^3 P(r), |r| <= ln2/2."""
    return fit(mp.expm1, lambda r: r + r * r / 2, lambda r: r**3, lambda v: v,
               -LN2_HALF, LN2_HALF, n, dtype)


def tanh_fit(n, dtype):
    """tanh(a) = a + a^3 P(a^2), 0 <= a <= 0.5493."""
    return fit(mp.tanh, lambda a: a, lambda a: a**3, mp.sqrt, TINY, TANH_SPLIT**2, n, dtype)


def atanh_fit(n, dtype):
    """atanh(s)/s = 1 + s^2 P(s^2), 0 <= s <= 1/3: log1p(e) = 2 atanh(e/(2+e)) for 0 <= e <= 1."""
    third = mp.mpf(1) / 3 * mp.mpf("1.0001")
    return fit(lambda s: mp.atanh(s) / s, lambda s: 1, lambda s: s * s, mp.sqrt, TINY, third**2, n, dtype)


def sin_fit(n, dtype):
    """sin(r) = r + r^3 P(r^2), |r| <= pi/4."""
    return fit(mp.sin, lambda r: r, lambda r: r**3, mp.sqrt, TINY, PI_4**2, n, dtype)


def cos_fit(n, dtype):
    """cos(r) = 1 - r^2/2 + r^4 P(r^2), |r| <= pi/4."""
    return fit(mp.cos, lambda r: 1 - r * r / 2, lambda r: r**4, mp.sqrt, TINY, PI_4**2, n, dtype)


FITS = {"expm1": expm1_fit, "tanh": tanh_fit, "atanh": atanh_fit, "sin": sin_fit, "cos": cos_fit}


def remez_rational(g, m, n, lo, hi, n_grid=3000, iters=60, x_grid=None, ref=None, w=None):
    """Minimax weighted-error rational N/D (deg m / deg n, D(0) = 1) for g on [lo, hi].

    The error is w(x) (N/D - g)(x), relative (w = 1/g) by default. The reference
    system N(x_i) - g_i D(x_i) = s_i E D_prev(x_i) / w_i is linearised in the
    previous denominator and iterated with the exchange.
    """
    w = w or (lambda x: 1 / g(x))
    k = m + n + 2
    grid = x_grid or [lo + (hi - lo) * (1 - mp.cos(mp.pi * i / (n_grid - 1))) / 2 for i in range(n_grid)]
    ng = len(grid)
    gv = [g(x) for x in grid]
    wv = [w(x) for x in grid]
    ref = ref or [int(round((ng - 1) * (1 - np.cos(np.pi * i / (k - 1))) / 2)) for i in range(k)]
    dprev = [mp.mpf(1)] * ng
    best = None
    for _it in range(iters):
        for _inner in range(8):
            a = mp.matrix(k, k)
            rhs = mp.matrix(k, 1)
            for r, i in enumerate(ref):
                x = grid[i]
                for j in range(m + 1):
                    a[r, j] = x**j
                for j in range(1, n + 1):
                    a[r, m + j] = -gv[i] * x**j
                a[r, k - 1] = -((-1) ** r) * dprev[i] / wv[i]
                rhs[r] = gv[i]
            sol = mp.lu_solve(a, rhs)
            num = [sol[j] for j in range(m + 1)]
            den = [mp.mpf(1)] + [sol[m + j] for j in range(1, n + 1)]
            dnew = [horner(den, grid[i]) for i in ref]
            done = all(abs(dn - dprev[i]) < abs(dn) * mp.mpf("1e-30") for dn, i in zip(dnew, ref))
            for dn, i in zip(dnew, ref):
                dprev[i] = dn
            if done:
                break
        dall = [horner(den, x) for x in grid]
        dprev = dall
        es = [(horner(num, x) / d - gi) * wi for x, d, gi, wi in zip(grid, dall, gv, wv)]
        emax = max(abs(e) for e in es)
        if any(d <= 0 for d in dall):
            emax = mp.inf
        if best is None or emax < best[2]:
            best = (num, den, emax)
        lev = abs(sol[k - 1])
        if emax <= lev * (1 + mp.mpf("1e-4")):
            break
        new = _extrema(grid, es)
        if len(new) < k:
            break
        ref = _pick(new, es, k)
    return best


def gelu_G(a):
    """G(a) = e^(a^2/2) Q(a), Q(a) = erfc(a/sqrt2)/2 the upper normal tail."""
    return mp.exp(a * a / 2) * mp.erfc(a / mp.sqrt(2)) / 2


KAPPA = float(1 / mp.sqrt(2 * mp.pi))  # the double vmath multiplies by


def gelu_fit(m, n, amax):
    """G(a) = (kappa D(a) + N(a)) / ((a + 1) D(a)): N/D ~ G(a)(a+1) - kappa, minimax in G's relative error.

    The quotient N/D is a correction of at most ~0.13 to kappa, so the Horner
    rounding in N and D (which grows with a) reaches G scaled down.
    """
    def g(a):
        return gelu_G(a) * (a + 1) - mp.mpf(KAPPA)
    def w(a):
        return 1 / (gelu_G(a) * (a + 1))
    num, den, err = remez_rational(g, m, n, mp.mpf(0), mp.mpf(amax), n_grid=1500, w=w)
    return num, den, err


GELU_SMALL = mp.mpf("0.5")


def gelu_small_fit(n, dtype="float64"):
    """gelu(x) = x/2 + x^2 S(x^2) for |x| <= 1/2: S(u) = (Phi(x) - 1/2)/x, relative error of S."""
    return fit(lambda x: (mp.ncdf(x) - mp.mpf(1) / 2) / x, lambda x: 0, lambda x: 1, mp.sqrt,
               TINY, GELU_SMALL**2, n, dtype)


def dgelu_small_fit(n, dtype="float64"):
    """gelu'(x) = 1/2 + x V(x^2) for |x| <= 1/2: V(u) = (Phi(x) + x phi(x) - 1/2)/x."""
    return fit(lambda x: (mp.ncdf(x) + x * mp.npdf(x) - mp.mpf(1) / 2) / x, lambda x: 0, lambda x: 1,
               mp.sqrt, TINY, GELU_SMALL**2, n, dtype)


FITS.update({"gelu_small": gelu_small_fit, "dgelu_small": dgelu_small_fit})


# (table, dtype the coefficients are rounded to, size) for every table of coefficients.py; "wide" is
# the double-arithmetic profile float32 gelu/sin/cos use, fitted to ~1e-10.
TABLES = (
    ("expm1", "float32", 5), ("expm1", "float64", 10), ("expm1 wide", "float64", 6),
    ("tanh", "float32", 5), ("tanh", "float64", 10),
    ("atanh", "float32", 4), ("atanh", "float64", 10),
    ("sin", "float64", 6), ("sin wide", "float64", 4),
    ("cos", "float64", 6), ("cos wide", "float64", 3),
    ("gelu_small", "float64", 8), ("dgelu_small", "float64", 8),
)


def main(argv):
    if argv:  # name dtype n...: explore sizes of one table
        name, dtype, ns = argv[0], argv[1], [int(a) for a in argv[2:]]
        for n in ns:
            show(f"{name} {dtype} n={n}", *FITS[name](n, dtype), dtype)
        return
    for name, dtype, n in TABLES:
        c, err = FITS[name.split()[0]](n, dtype)
        show(f"{name} ({dtype}, {n} coefficients)", c, err, dtype)
    for amax, m, n in ((38.7, 10, 11), (14.5, 5, 6)):
        num, den, err = gelu_fit(m, n, amax)
        print(f"# gelu G on [0, {amax}]: ({m}, {n}) rational, weighted error {float(err):.3g}")
        print("num (" + ", ".join(float(x).hex() for x in num) + ")")
        print("den (" + ", ".join(float(x).hex() for x in den) + ")", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The activation kernels: each takes (Ops, x) and returns f(x) or f'(x) as an ir.Value (SPEC §2).

table.py wraps each in an internal helper function per module and keys them
by activation code. The notes give, per kernel, the form that keeps it
accurate (the bounds are in tests/test_vmath.py).
"""

import struct

from llvmlite import ir

from ...activations import SELU_LAMBDA, SELU_LAMBDA_ALPHA
from .coefficients import GELU_SMALL, KAPPA, P64, PIO2, TANH_SPLIT, TRIG_MAX, TWO_OVER_PI
from .ops import Ops


def sigmoid(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: s(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0 with e = e^-|x| <= 1: no overflow, and
    # for x << 0 the quotient p/(1+e) is scaled by 2^k once, so subnormal results stay accurate.
    neg = o.cmp("<", x, o.c(0.0))
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    q = o.div(o.sel(neg, p, o.c(1.0)), o.add(o.c(1.0), o.unscale(p, t)))
    return o.sel(neg, o.unscale(q, t), q)


def dsigmoid(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: s'(x) = e/(1+e)^2, e = e^-|x|, symmetric; (1+e)^2 = fma(e, 2+e, 1) rounds once.
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    e = o.unscale(p, t)
    return o.unscale(o.div(p, o.fma(e, o.add(o.c(2.0), e), o.c(1.0))), t)


def silu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: x s(x) = x/(1+e) (x >= 0) or x e/(1+e) (x < 0): x p is formed before the 2^k scaling.
    neg = o.cmp("<", x, o.c(0.0))
    em, p, t = o.exp_neg(o.neg(o.fabs(x)), dead=True)
    q = o.div(o.sel(neg, o.times_exp(x, em), x), o.add(o.c(1.0), o.unscale(p, t)))
    return o.sel(neg, o.unscale(q, t), q)


def dsilu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: s(x)(1 + x s(-x)) = (1 + e + x e)/(1+e)^2 for x >= 0 and e ((1 + x) + e)/(1+e)^2 for
    # x < 0; 1 + x is exact on [-2, -1/2], so near the zero at x = -1.2785 only e's own rounding
    # remains (an absolute error of ~1 ulp of 0.3 there).
    neg = o.cmp("<", x, o.c(0.0))
    em, p, t = o.exp_neg(o.neg(o.fabs(x)), dead=True)
    e = o.unscale(p, t)
    d2 = o.fma(e, o.add(o.c(2.0), e), o.c(1.0))
    num = o.sel(neg, o.times_exp(o.add(o.add(o.c(1.0), x), e), em), o.fma(x, e, o.add(o.c(1.0), e)))
    q = o.div(num, d2)
    return o.sel(neg, o.unscale(q, t), q)


def _tanh_parts(o, x):
    a = o.fabs(x)
    u = o.mul(a, a)
    small_t = o.fma(o.mul(a, u), o.horner(u, o.p.tanh), a)
    em, p, t = o.exp_neg(o.neg(o.add(a, a)))
    return a, small_t, em, t, o.unscale(p, t)


def tanh(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: |x| >= 0.5493: 1 - 2e/(1+e), e = e^-2|x| (never overflows, 1 for |x| > 19.1);
    # below, the odd minimax polynomial keeps full relative accuracy down to subnormal x.
    a, small_t, _, _, e = _tanh_parts(o, x)
    big_t = o.fma(o.c(-2.0), o.div(e, o.add(o.c(1.0), e)), o.c(1.0))
    return o.copysign(o.sel(o.cmp("<", a, o.c(TANH_SPLIT)), small_t, big_t), x)


def dtanh(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: 1 - t^2 only where t^2 <= 0.3 (no cancellation); else 4e/(1+e)^2 = 1/cosh^2, e = e^-2|x|,
    # which keeps relative accuracy in the tails where 1 - t^2 would be 0.
    a, small_t, em, t, e = _tanh_parts(o, x)
    small_d = o.fma(o.neg(small_t), small_t, o.c(1.0))
    big_d = o.unscale(o.div(o.times_exp(o.c(4.0), em), o.fma(e, o.add(o.c(2.0), e), o.c(1.0))), t)
    return o.sel(o.cmp("<", a, o.c(TANH_SPLIT)), small_d, big_d)


def softplus(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: log(1 + e^x) = max(x, 0) + log1p(e), e = e^-|x| in (0, 1]; log1p(e) = 2 atanh(s) with
    # s = e/(2+e) <= 1/3: one division, no range reduction, and relative accuracy as e -> 0 (the
    # tail is e^x scaled once, never rounded through 1 + e^x).
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    q2 = o.div(o.add(p, p), o.add(o.c(2.0), o.unscale(p, t)))   # 2s = q2 2^k
    s2 = o.unscale(q2, t)
    v = o.mul(o.mul(s2, s2), o.c(0.25))
    w = o.fma(o.mul(q2, v), o.horner(v, o.p.atanh), q2)            # log1p(e) = w 2^k
    return o.add(o.sel(o.cmp("<", x, o.c(0.0)), o.c(0.0), x), o.unscale(w, t))


def expm1_neg(o: Ops, x: ir.Value) -> ir.Value:
    """expm1(x) for x <= 0 (callers select another value where x > 0; those lanes compute expm1(0))."""
    # NOTE: expm1(x) = 2^k (1 + E(r)) - 1 = fma(2^k, E(r), 2^k - 1) for x <= 0: exact 2^k - 1 and one
    # rounding, so no cancellation near 0 (k = 0 gives E(x) itself); clamped where it rounds to -1.
    p = o.p
    xm = o.sel(o.cmp(">", x, o.c(0.0)), o.c(0.0), o.sel(o.cmp("<", x, o.c(p.em1_min)), o.c(p.em1_min), x))
    k, r = o.exp_reduce(xm)
    two_k = o.pow2(k)
    return o.fma(two_k, o.expm1_poly(r), o.sub(two_k, o.c(1.0)))


def elu(o: Ops, x: ir.Value) -> ir.Value:
    return o.sel(o.cmp(">", x, o.c(0.0)), x, expm1_neg(o, x))


def delu(o: Ops, x: ir.Value) -> ir.Value:
    pos = o.cmp(">", x, o.c(0.0))
    _, p, t = o.exp_neg(o.sel(pos, o.c(0.0), x))
    return o.sel(pos, o.c(1.0), o.unscale(p, t))


def _half_square_exp(o, x, dead=False):
    """e^(-x^2/2) as (em, p, t), with x^2 = h + l exactly (fma) so the exponent carries no rounding."""
    h = o.mul(x, x)
    if o.p.exact_square:
        return o.exp_neg(o.mul(h, o.c(-0.5)), dead=dead)
    # NOTE: at x^2/2 = 700 a rounded x^2 would be off by up to 2^-43, i.e. 2^-43 relative in the
    # result (~500 ulp); the low part l = fma(x, x, -h) goes into the reduced argument.
    l = o.fma(x, x, o.neg(h))
    return o.exp_neg(o.mul(h, o.c(-0.5)), o.mul(l, o.c(-0.5)), dead=dead)


def gauss(o: Ops, x: ir.Value) -> ir.Value:
    _, p, t = _half_square_exp(o, x)
    return o.unscale(p, t)


def dgauss(o: Ops, x: ir.Value) -> ir.Value:
    em, _, t = _half_square_exp(o, x, dead=True)
    return o.unscale(o.times_exp(o.neg(x), em), t)


def _gelu_parts(o, x):
    # NOTE: with a = |x|, Q(a) = erfc(a/sqrt2)/2 = e^(-a^2/2) G(a): the tail of Phi is never formed
    # as 1 - Phi (gelu(x) = x Q(|x|) for x < 0, x (1 - Q) for x >= 0), e^(-a^2/2) uses the exact
    # square, and its 1 + E is folded into an fma, so x = -37 is as accurate as x = -1.
    a = o.fabs(x)
    # NOTE: beyond gelu_amax both gelu and gelu' underflow; clamping keeps N, D and kappa a finite.
    ag = o.sel(o.cmp(">", a, o.c(o.p.gelu_amax)), o.c(o.p.gelu_amax), a)
    nn, dd = o.horner(ag, o.p.gelu_num), o.horner(ag, o.p.gelu_den)
    num, den = o.fma(o.c(KAPPA), dd, nn), o.fma(ag, dd, dd)    # G = num/den
    em, _, t = _half_square_exp(o, a, dead=True)                 # e^(-a^2/2) = (1 + em) 2^k
    return ag, nn, dd, num, den, em, t


def _gelu_near0(o, x, y, coefs, deriv):
    """Where |x| < GELU_SMALL: x/2 + x^2 P(x^2) (gelu) or 1/2 + x P(x^2) (gelu'); y elsewhere."""
    if not coefs:
        return y
    u = o.mul(x, x)
    poly = o.horner(u, coefs)
    near = o.fma(x, poly, o.c(0.5)) if deriv else o.fma(u, poly, o.mul(o.c(0.5), x))
    return o.sel(o.cmp("<", o.fabs(x), o.c(GELU_SMALL)), near, y)


def gelu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: gelu(x) = -a Q(a) (x < 0), x - a Q(a) (x >= 0). a G(a) is formed as a (num/den) for
    # a < 1, and for a >= 1 as kappa - c with c = (kappa D - a N)/den: c <= kappa/2 there and
    # -> kappa/a^2, so its three roundings reach a G scaled down (the worst case falls from ~3.9
    # to ~2.3 ulp). Both share one division.
    ag, nn, dd, num, den, em, t = _gelu_parts(o, x)
    big = o.cmp(">=", ag, o.c(1.0))
    quo = o.div(o.sel(big, o.fma(o.c(KAPPA), dd, o.neg(o.mul(ag, nn))), num), den)
    ag_g = o.sel(big, o.sub(o.c(KAPPA), quo), o.mul(ag, quo))
    aq = o.unscale(o.times_exp(ag_g, em), t)                     # a Q(a); 0 for dead lanes
    y = o.sel(o.cmp("<", x, o.c(0.0)), o.neg(aq), o.sub(x, aq))
    return _gelu_near0(o, x, y, o.p.gelu_small, False)


def dgelu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: gelu' = Phi(x) + x phi(x) = e^(-a^2/2) (G - kappa a) for x < 0, 1 - that for x >= 0.
    # G - kappa a = (kappa (1 - a - a^2) D + N)/den: 1 - a is exact on [1/2, 2] and
    # fma(-a, a, 1 - a) rounds once, so only the final fma and N, D's roundings remain; near
    # the zero at x = -0.7518 that is an absolute error of ~1 ulp of 0.13.
    ag, nn, dd, _, den, em, t = _gelu_parts(o, x)
    poly = o.mul(o.c(KAPPA), o.fma(o.neg(ag), ag, o.sub(o.c(1.0), ag)))
    tail = o.unscale(o.div(o.times_exp(o.fma(poly, dd, nn), em), den), t)
    y = o.sel(o.cmp("<", x, o.c(0.0)), tail, o.sub(o.c(1.0), tail))
    return _gelu_near0(o, x, y, o.p.dgelu_small, True)


def sincos(o, x, cosine):
    """sin or cos of double lanes x on the fast path |x| < TRIG_MAX; also returns the slow-lane mask."""
    p = o.p
    shifter = 1.5 * 2.0**p.mbits
    t = o.fma(x, o.c(TWO_OVER_PI), o.c(shifter))
    kf = o.neg(o.sub(t, o.c(shifter)))
    q = o.bits(t)  # NOTE: k mod 4 (the quadrant) is in the low bits of t's mantissa
    r = o.fma(kf, o.c(PIO2[0]), x)
    r = o.fma(kf, o.c(PIO2[1]), r)
    r = o.fma(kf, o.c(PIO2[2]), r)
    z = o.mul(r, r)
    s = o.fma(o.mul(r, z), o.horner(z, p.sin), r)
    hz = o.mul(z, o.c(0.5))
    w = o.sub(o.c(1.0), hz)
    if p is P64:
        # NOTE: 1 - r^2/2 carried in two parts (w + corr): the rounding of w and of r*r are
        # recovered exactly (Sterbenz, fma), so cos(r) near pi/4 stays within ~0.5 ulp.
        zl = o.fma(r, r, o.neg(z))
        corr = o.sub(o.sub(o.sub(o.c(1.0), w), hz), o.mul(zl, o.c(0.5)))
        c = o.add(w, o.fma(o.mul(z, z), o.horner(z, p.cos), corr))
    else:
        c = o.fma(o.mul(z, z), o.horner(z, p.cos), w)
    if cosine:
        q = o.b.add(q, o.ci(1))  # NOTE: cos x = sin(x + pi/2): one quadrant on
    y = o.sel(o.b.icmp_unsigned("!=", o.b.and_(q, o.ci(1)), o.ci(0)), c, s)
    sign = o.b.shl(o.b.and_(q, o.ci(2)), o.ci(p.ibits - 2))
    y = o.b.bitcast(o.b.xor(o.bits(y), sign), o.ty)
    return y, o.cmp(">=", o.fabs(x), o.c(TRIG_MAX))


def cube(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: x^3 = (h + l) x with h = x*x and l = fma(x, x, -h) its exact error: fma(h, x, l x)
    # is one rounding of h x plus the tiny l x. Beyond cube_max x^3 overflows, but l x might too
    # (with l's sign) or h be inf (and l -inf, or l x = 0 inf = nan at x = inf): there the result
    # is h x, +-inf.
    h = o.mul(x, x)
    big = o.cmp(">", o.fabs(x), o.c(o.p.cube_max))
    return o.sel(big, o.mul(h, x), o.fma(h, x, o.mul(o.fma(x, x, o.neg(h)), x)))


def dcube(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: 3x^2 = 3 (h + l) = fma(3, h, 3l): 3l is exact but for underflow, so one rounding.
    # Beyond square_max h is inf (l -inf, and inf - inf nan): there l is 0 (3h is inf or 2 roundings).
    h = o.mul(x, x)
    big = o.cmp(">", o.fabs(x), o.c(o.p.square_max))
    l = o.sel(big, o.c(0.0), o.fma(x, x, o.neg(h)))
    return o.fma(o.c(3.0), h, o.mul(o.c(3.0), l))


def exp(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: exp' = exp: both are this kernel (one helper per module).
    return o.exp_any(x)


def log(o: Ops, x: ir.Value) -> ir.Value:
    """log x for positive normal x; +inf and NaN give themselves (no activation: the fused loss's
    log-sum-exp, whose argument is a sum >= 1)."""
    # NOTE: x = 2^e m with m in [sqrt(1/2), sqrt(2)): adding 1.0's bits minus sqrt(1/2)'s carries
    # into e exactly where m passes sqrt(2). f = m - 1 is exact (Sterbenz), and log m = log1p(f)
    # = 2 atanh(s) = 2s + s R, s = f/(2+f), |s| <= 0.172, R = 2 s^2 P(s^2); written as
    # f - (h - s (h + R)), h = f^2/2 (fdlibm's form: 2s = f - s f = f - h + s h), the roundings of
    # s and h touch terms <= |f|/5, and e ln2 goes in by two fmas (ln2 as hi + lo): < 1 ulp.
    p, b = o.p, o.b
    code = {32: "<f", 64: "<d"}[p.ibits]
    root_half = int.from_bytes(struct.pack(code, 0.5 ** 0.5), "little")
    one = int.from_bytes(struct.pack(code, 1.0), "little")
    u = b.add(o.bits(x), o.ci(one - root_half))
    e = b.sitofp(b.sub(b.ashr(u, o.ci(p.mbits)), o.ci(p.bias)), o.ty)
    m = b.bitcast(b.add(b.and_(u, o.ci((1 << p.mbits) - 1)), o.ci(root_half)), o.ty)
    f = o.sub(m, o.c(1.0))
    s = o.div(f, o.add(o.c(2.0), f))
    s2 = o.mul(s, s)
    r = o.mul(o.add(s2, s2), o.horner(s2, p.atanh))
    h = o.mul(o.mul(o.c(0.5), f), f)
    log_m = o.sub(f, o.fma(o.neg(s), o.add(h, r), h))
    y = o.fma(e, o.c(p.ln2[0]), o.fma(e, o.c(p.ln2[1]), log_m))
    return o.sel(o.cmp("<", x, o.c(float("inf"))), y, x)


def selu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: lambda x (one rounding of the double constant's product) for x > 0; for x <= 0
    # lambda alpha expm1(x) with the expm1 of elu, so it keeps relative accuracy near 0-.
    return o.sel(o.cmp(">", x, o.c(0.0)), o.mul(o.c(SELU_LAMBDA), x),
                 o.mul(o.c(SELU_LAMBDA_ALPHA), expm1_neg(o, x)))


def dselu(o: Ops, x: ir.Value) -> ir.Value:
    # NOTE: lambda for x > 0; lambda alpha e^x (x <= 0) as one rounding of (lambda alpha)(1 + em),
    # then the 2^k scaling: lambda alpha at 0, SPEC §2's value at the kink.
    pos = o.cmp(">", x, o.c(0.0))
    em, _, t = o.exp_neg(o.sel(pos, o.c(0.0), x))
    return o.sel(pos, o.c(SELU_LAMBDA), o.unscale(o.times_exp(o.c(SELU_LAMBDA_ALPHA), em), t))

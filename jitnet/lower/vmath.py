"""Vector activations in LLVM IR: (builder, code, z) -> ir.Value.

`emit_f` and `emit_df` emit f_j(z) and f_j'(z) (SPEC §2) for z of type
<L x float>, <L x double>, float or double, at the builder's position. The
normal path makes no libm call: exp, expm1, log1p, tanh, the normal tail
(erfc) and sin/cos are range reductions (Cody-Waite, with `llvm.fma`) plus
minimax polynomials or one rational, with `select` in place of branches, so
LLVM keeps every lane in vector registers. The coefficients were fitted by
tests/vmath_fit.py (mpmath Remez) and are stored as hex floats; there are no
fast-math flags, so the results are bit-identical wherever this code runs.

Each non-trivial activation is one internal `alwaysinline` helper per
module, created once by name (`jitnet_sigmoid_v8f32`, `jitnet_dsigmoid_f64`):
the IR stays readable and the caller's basic block is never split (sin and cos
branch to a per-lane libm slow path only for |x| >= 2^30). float32 sin, cos
and gelu run in double internally (0.5 ulp); everything else runs in the
input's precision (at most ~3.5 ulp; tests/test_vmath.py has the bounds).
"""

from dataclasses import dataclass

from llvmlite import ir

from ..activations import ACTIVATIONS

__all__ = ["emit_f", "emit_df", "NAMES", "TANH_SPLIT", "TRIG_MAX", "GELU_SMALL"]

_F32, _F64 = ir.FloatType(), ir.DoubleType()

# NOTE: every exp/expm1 below takes an argument <= 0 (exp(-|x|), exp(-x^2/2),
# expm1(min(x, 0))), so results never overflow and only underflow needs care.
# e^x is kept as p * 2^k, p in [0.7, 1.42], with t = 2^(k + k_off) a normal
# float for every k the clamp allows; a value v * e^x is formed as
# (v * p * t) * 2^-k_off (`_Ops.unscale`): the first product is exact, the
# last multiply rounds once, so products like x * e^x stay accurate deep into
# the subnormal range instead of multiplying an already-rounded subnormal.


@dataclass(frozen=True)
class _Prec:
    """Constants and coefficient tables of one working precision."""

    ety: ir.Type
    ibits: int
    mbits: int
    bias: int
    x_min: float        # exp arguments are clamped here; e^x_min underflows even times 760
    k_off: int          # 2^(k + k_off) is normal for every k in [k(x_min), 0]
    em1_min: float      # expm1(x) rounds to -1 below this
    log2e: float
    ln2: tuple          # (hi, lo): hi * k is exact for every k the clamps allow
    expm1: tuple        # expm1(r) = r + r^2/2 + r^3 P(r), |r| <= ln2/2
    tanh: tuple = ()    # tanh(a) = a + a^3 P(a^2), a < TANH_SPLIT
    atanh: tuple = ()   # atanh(s)/s = 1 + s^2 P(s^2), s <= 1/3
    sin: tuple = ()     # sin(r) = r + r^3 P(r^2), |r| <= pi/4
    cos: tuple = ()     # cos(r) = 1 - r^2/2 + r^4 P(r^2), |r| <= pi/4
    gelu_num: tuple = ()  # G(a) = e^(a^2/2) Q(a) = (kappa D + N)/((a+1) D) on [0, gelu_amax]
    gelu_den: tuple = ()
    gelu_amax: float = 0.0
    gelu_small: tuple = ()   # gelu(x) = x/2 + x^2 P(x^2), |x| < GELU_SMALL (float64 only)
    dgelu_small: tuple = ()  # gelu'(x) = 1/2 + x P(x^2), |x| < GELU_SMALL
    exact_square: bool = False  # a*a is exact (float32 values squared in double)


_H = float.fromhex
_P32 = _Prec(
    ety=_F32, ibits=32, mbits=23, bias=127,
    # NOTE: e^-110 = 2^-158.7: 110 * e^-110 and 15 * e^-112.5 (silu, gauss') round to 0 in float32.
    x_min=-110.0, k_off=64, em1_min=-20.0,
    log2e=_H("0x1.715476p+0"), ln2=(_H("0x1.62e430p-1"), _H("-0x1.05c610p-29")),
    expm1=tuple(map(_H, ("0x1.555554p-3", "0x1.5554f2p-5", "0x1.1111cap-7", "0x1.6d407ap-10",
                         "0x1.9fbdfap-13"))),
    tanh=tuple(map(_H, ("-0x1.55554ap-2", "0x1.110d30p-3", "-0x1.b92a24p-5", "0x1.594bbap-6",
                        "-0x1.9b88d4p-8"))),
    atanh=tuple(map(_H, ("0x1.555502p-2", "0x1.99d212p-3", "0x1.1ebc64p-3", "0x1.1edb4cp-3"))),
)
_P64 = _Prec(
    ety=_F64, ibits=64, mbits=52, bias=1023,
    # NOTE: e^-760 = 2^-1096.5: 760 * e^-760 and 39 * e^-760.5 round to 0 in double.
    x_min=-760.0, k_off=128, em1_min=-40.0,
    log2e=_H("0x1.71547652b82fep+0"), ln2=(_H("0x1.62e42fefa39efp-1"), _H("0x1.abc9e3b39803fp-56")),
    expm1=tuple(map(_H, (
        "0x1.5555555555559p-3", "0x1.5555555555549p-5", "0x1.111111110f7e7p-7", "0x1.6c16c16c1ccf7p-10",
        "0x1.a01a01af77e48p-13", "0x1.a01a018301d89p-16", "0x1.71ddf94d5e0c0p-19", "0x1.27e52b309b107p-22",
        "0x1.af5d2cc229f1ap-26", "0x1.1ef524d51c86ep-29"))),
    tanh=tuple(map(_H, (
        "-0x1.55555555554a2p-2", "0x1.1111111102e43p-3", "-0x1.ba1ba1adacea6p-5", "0x1.664f45ce10f6fp-6",
        "-0x1.226dde78b87ecp-7", "0x1.d6c6449522bb5p-9", "-0x1.7cf54332745e2p-10", "0x1.2fabb09cdb250p-11",
        "-0x1.b946627ae8bedp-13", "0x1.acab1e8019eeap-15"))),
    atanh=tuple(map(_H, (
        "0x1.5555555555535p-2", "0x1.99999999a06f7p-3", "0x1.249249208f4e7p-3", "0x1.c71c741aee547p-4",
        "0x1.745cb4384346ep-4", "0x1.3b1dd692cd195p-4", "0x1.1068076085312p-4", "0x1.efd412967e9e9p-5",
        "0x1.55c3fe92fa0e7p-5", "0x1.5c66f3af2d0a0p-4"))),
    sin=tuple(map(_H, (
        "-0x1.5555555555548p-3", "0x1.111111110f7d0p-7", "-0x1.a01a019bfdee1p-13", "0x1.71de3567d2a49p-19",
        "-0x1.ae5e5a9109c78p-26", "0x1.5d8fd187cb0d6p-33"))),
    cos=tuple(map(_H, (
        "0x1.555555555554bp-5", "-0x1.6c16c16c14f91p-10", "0x1.a01a019c844d7p-16", "-0x1.27e4f7eac3539p-22",
        "0x1.1ee9d7b3e9293p-29", "-0x1.8fa4998390fb3p-37"))),
    # NOTE: Q(a) = e^(-a^2/2) G(a), G = (kappa D + N) / ((a + 1) D): N/D is a (10, 11) rational fit
    # of G (a+1) - kappa, a correction <= 0.13 kappa (0.01 ulp of G on all of [0, 38.7]; beyond,
    # gelu and gelu' underflow). D's Horner rounding cancels between numerator and denominator
    # and N's is scaled by <= 1/4, so G costs ~3 roundings however large a is.
    gelu_num=tuple(map(_H, (
        "0x1.9deeb30af26bcp-4", "0x1.69214eb8b84acp-2", "0x1.958bafe775c62p-2", "0x1.01866f5556e6fp-2",
        "0x1.b267d78287eb7p-4", "0x1.03e1c72b6438dp-5", "0x1.c3fd896d416a5p-8", "0x1.1c988313fe86ap-10",
        "0x1.f544a63f14c97p-14", "0x1.1a1738cf5479ap-17", "0x1.3a0760ef2fccep-22"))),
    gelu_den=tuple(map(_H, (
        "0x1.0000000000000p+0", "0x1.3eb01c15c0100p+1", "0x1.7396ccba763afp+1", "0x1.0c6c9be5ff1f6p+1",
        "0x1.0ba1748fb55c7p+0", "0x1.83e3cd014fd2dp-2", "0x1.a27a6a30fc96dp-4", "0x1.5198e5f15ddf8p-6",
        "0x1.917a3badeb429p-9", "0x1.51c1e5d708c68p-12", "0x1.6dd8f90017a25p-16", "0x1.8993a6c0da5aep-21"))),
    gelu_amax=38.7,
    gelu_small=tuple(map(_H, (
        "0x1.9884533d43651p-2", "-0x1.1058377e2cebbp-4", "0x1.46d0429762f69p-7", "-0x1.37403f657bcbap-10",
        "0x1.e42b07490e7e3p-14", "-0x1.3ce75e3abc22bp-17", "0x1.650fd1b214224p-21", "-0x1.4f272ea8faa16p-25"))),
    dgelu_small=tuple(map(_H, (
        "0x1.9884533d43650p-1", "-0x1.1058377e2ce36p-2", "0x1.ea3863e301d19p-5", "-0x1.37403f5dc1915p-7",
        "0x1.2e9ae1873d65dp-10", "-0x1.db59d87c22b14p-14", "0x1.384f7fccde5f6p-17", "-0x1.4cd2eff22219cp-21"))),
)
# NOTE: float32 gelu/sin/cos run in double with fits good to ~1e-10, far below float32's 6e-8:
# the float32 result is then correctly rounded but for ~1 case in 1e3 near a rounding midpoint.
_P32W = _Prec(
    ety=_F64, ibits=64, mbits=52, bias=1023,
    x_min=-760.0, k_off=128, em1_min=-40.0,
    log2e=_P64.log2e, ln2=_P64.ln2,
    expm1=tuple(map(_H, ("0x1.55555571a14b6p-3", "0x1.555555253f690p-5", "0x1.1110b497399f3p-7",
                         "0x1.6c17246b2ab46p-10", "0x1.a16c048e19e5cp-13", "0x1.a03b9884c50bdp-16"))),
    sin=tuple(map(_H, ("-0x1.5555554c71ccfp-3", "0x1.1111086a5df4ap-7", "-0x1.a00f7f25e7ebfp-13",
                       "0x1.6cd1f1fed5fccp-19"))),
    cos=tuple(map(_H, ("0x1.55554a1157061p-5", "-0x1.6c0c33a55ba8ap-10", "0x1.99eb9b7a06fe8p-16"))),
    gelu_num=tuple(map(_H, ("0x1.9deeb30e11308p-4", "0x1.296e3237fb205p-2", "0x1.9485b45546607p-3",
                            "0x1.1c4c287e842b5p-4", "0x1.b8a905385fabcp-7", "0x1.45d3eef24e727p-10"))),
    gelu_den=tuple(map(_H, ("0x1.0000000000000p+0", "0x1.dfcb23e2e7121p+0", "0x1.8dde3c49a17dfp+0",
                            "0x1.7952fc5e4f41bp-1", "0x1.b60cf103bd6d1p-3", "0x1.2dacc94da8921p-5",
                            "0x1.985cb6cbe310cp-9"))),
    # NOTE: in float32, x Q(a) and gelu' underflow to 0 beyond a = 14.3.
    gelu_amax=14.5,
    exact_square=True,
)

# NOTE: above ln(3)/2 tanh >= 1/2, so 1 - 2e/(1+e) loses nothing to cancellation; below it the odd
# polynomial is used (fitted on [0, 0.5493]).
TANH_SPLIT = 0.5493
# NOTE: Cody-Waite with pi/2 in three double parts (hi * k exact by fma) gives r = x - k pi/2 to
# ~1 ulp for |x| < 2^30, where the neglected 2^-160 k is far below min |r| (~2^-62). Beyond (inf
# included) each such lane calls libm's double sin/cos, whose full reduction is within 1 ulp
# (glibc: correctly rounded in practice) even at 1e300 (SPEC §2).
TRIG_MAX = 2.0**30
# NOTE: near 0, num/den above is ~0.5/(1 + tiny): den's rounding alone is 2 ulp of a result just
# below 1/2. The odd series x/2 + x^2 S(x^2) (and 1/2 + x V(x^2)) is ~1 ulp there; at |x| = 1/2
# its x^2 S term is 0.62 of the result, so the cancellation for x < 0 stays mild.
GELU_SMALL = 0.5
_PIO2 = (_H("0x1.921fb54442d18p+0"), _H("0x1.1a62633145c07p-54"), _H("-0x1.f1976b7ed8fbcp-110"))
_TWO_OVER_PI = _H("0x1.45f306dc9c883p-1")
_KAPPA = _H("0x1.9884533d43651p-2")  # 1/sqrt(2 pi)

NAMES = tuple(a.name for a in ACTIVATIONS)  # code -> name, as in SPEC §2


class _Ops:
    """IR builder helpers for one value type (scalar or vector) and one working precision."""

    def __init__(self, builder, prec, lanes):
        self.b, self.p = builder, prec
        self.ty = prec.ety if lanes is None else ir.VectorType(prec.ety, lanes)
        ity = ir.IntType(prec.ibits)
        self.ity = ity if lanes is None else ir.VectorType(ity, lanes)
        tag = prec.ety.intrinsic_name
        self.tag = tag if lanes is None else f"v{lanes}{tag}"

    def c(self, v):
        return ir.Constant(self.ty, float(v))

    def ci(self, v):
        return ir.Constant(self.ity, int(v))

    def intrinsic(self, name, *args):
        mod = self.b.module
        full = f"{name}.{self.tag}"
        fn = mod.globals.get(full)
        if fn is None:
            fn = ir.Function(mod, ir.FunctionType(self.ty, [self.ty] * len(args)), full)
        return self.b.call(fn, args)

    def fma(self, a, b, c):
        # NOTE: llvm.fma is one rounding on every target (a libm call without FMA hardware, never
        # a separate mul and add); the exactness arguments below depend on it.
        return self.intrinsic("llvm.fma", a, b, c)

    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def neg(self, a):
        return self.b.fneg(a)

    def fabs(self, a):
        return self.intrinsic("llvm.fabs", a)

    def copysign(self, a, s):
        return self.intrinsic("llvm.copysign", a, s)

    def cmp(self, op, a, b):
        # NOTE: ordered compares are false for NaN; each select below is written so that a NaN
        # input falls through to arithmetic on x and comes out NaN.
        return self.b.fcmp_ordered(op, a, b)

    def sel(self, m, a, b):
        return self.b.select(m, a, b)

    def horner(self, x, coefs):
        # NOTE: Horner, not Estrin: these loops are throughput-bound (measured), and Horner is
        # both fewer operations and the better-conditioned order.
        acc = self.c(coefs[-1])
        for cf in reversed(coefs[:-1]):
            acc = self.fma(acc, x, self.c(cf))
        return acc

    def bits(self, x):
        return self.b.bitcast(x, self.ity)

    def pow2(self, k, offset=0):
        """2^(k + offset) for integer lanes k with k + offset + bias in [1, 2 bias] (a normal float)."""
        e = self.b.shl(self.b.add(k, self.ci(self.p.bias + offset)), self.ci(self.p.mbits))
        return self.b.bitcast(e, self.ty)

    def unscale(self, v, t):
        """v * 2^k from t = 2^(k + k_off): (v t) is exact, the multiply by 2^-k_off rounds once."""
        return self.mul(self.mul(v, t), self.c(2.0 ** -self.p.k_off))

    def exp_reduce(self, xh):
        """x -> (k, r) with x = k ln2 + r, |r| <= ln2/2 (x <= 0, clamped at x_min)."""
        p = self.p
        xc = self.sel(self.cmp("<", xh, self.c(p.x_min)), self.c(p.x_min), xh)
        # NOTE: the 1.5 * 2^mbits shifter rounds x log2e to an integer k in the low mantissa bits.
        shifter = 1.5 * 2.0**p.mbits
        t = self.fma(xc, self.c(p.log2e), self.c(shifter))
        kf = self.sub(t, self.c(shifter))
        k = self.b.sub(self.bits(t), self.bits(self.c(shifter)))
        # NOTE: x - k ln2_hi is exact under fma (|r| < 1, lsb >= ulp(ln2_hi)); ln2_lo adds the rest.
        r = self.fma(self.neg(kf), self.c(p.ln2[0]), xc)
        r = self.fma(self.neg(kf), self.c(p.ln2[1]), r)
        return k, r

    def expm1_poly(self, r):
        q = self.fma(self.horner(r, self.p.expm1), r, self.c(0.5))
        return self.fma(self.mul(r, r), q, r)

    def exp_neg(self, xh, xl=None, dead=False):
        """e^(xh + xl) for xh <= 0 as (em, p, t): e^x = p 2^k, p = 1 + em, t = 2^(k + k_off).

        See `unscale`. `p` is rounded; callers that multiply e^x by v use fma(v, em, v)
        instead of v * p, one rounding fewer. With dead=True, lanes with xh < x_min get em = -1,
        p = 0: needed where e^x is multiplied by a large x (x e^x at x = -1e30 must be 0, not
        x e^x_min).
        """
        k, r = self.exp_reduce(xh)
        if xl is not None:
            r = self.add(r, xl)
            dead = True  # NOTE: xl is nan where x^2 overflowed; those lanes are dead anyway
        em = self.expm1_poly(r)
        if dead:
            em = self.sel(self.cmp("<", xh, self.c(self.p.x_min)), self.c(-1.0), em)
        return em, self.add(self.c(1.0), em), self.pow2(k, self.p.k_off)

    def times_exp(self, v, em):
        """v (1 + em) with one rounding."""
        return self.fma(v, em, v)


# --- the activations: each takes (_Ops, x) and returns the value --------------------------------


def _sigmoid(o, x):
    # NOTE: s(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0 with e = e^-|x| <= 1: no overflow, and
    # for x << 0 the quotient p/(1+e) is scaled by 2^k once, so subnormal results stay accurate.
    neg = o.cmp("<", x, o.c(0.0))
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    q = o.div(o.sel(neg, p, o.c(1.0)), o.add(o.c(1.0), o.unscale(p, t)))
    return o.sel(neg, o.unscale(q, t), q)


def _dsigmoid(o, x):
    # NOTE: s'(x) = e/(1+e)^2, e = e^-|x|, symmetric; (1+e)^2 = fma(e, 2+e, 1) rounds once.
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    e = o.unscale(p, t)
    return o.unscale(o.div(p, o.fma(e, o.add(o.c(2.0), e), o.c(1.0))), t)


def _silu(o, x):
    # NOTE: x s(x) = x/(1+e) (x >= 0) or x e/(1+e) (x < 0): x p is formed before the 2^k scaling.
    neg = o.cmp("<", x, o.c(0.0))
    em, p, t = o.exp_neg(o.neg(o.fabs(x)), dead=True)
    q = o.div(o.sel(neg, o.times_exp(x, em), x), o.add(o.c(1.0), o.unscale(p, t)))
    return o.sel(neg, o.unscale(q, t), q)


def _dsilu(o, x):
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


def _tanh(o, x):
    # NOTE: |x| >= 0.5493: 1 - 2e/(1+e), e = e^-2|x| (never overflows, 1 for |x| > 19.1);
    # below, the odd minimax polynomial keeps full relative accuracy down to subnormal x.
    a, small_t, _, _, e = _tanh_parts(o, x)
    big_t = o.fma(o.c(-2.0), o.div(e, o.add(o.c(1.0), e)), o.c(1.0))
    return o.copysign(o.sel(o.cmp("<", a, o.c(TANH_SPLIT)), small_t, big_t), x)


def _dtanh(o, x):
    # NOTE: 1 - t^2 only where t^2 <= 0.3 (no cancellation); else 4e/(1+e)^2 = 1/cosh^2, e = e^-2|x|,
    # which keeps relative accuracy in the tails where 1 - t^2 would be 0.
    a, small_t, em, t, e = _tanh_parts(o, x)
    small_d = o.fma(o.neg(small_t), small_t, o.c(1.0))
    big_d = o.unscale(o.div(o.times_exp(o.c(4.0), em), o.fma(e, o.add(o.c(2.0), e), o.c(1.0))), t)
    return o.sel(o.cmp("<", a, o.c(TANH_SPLIT)), small_d, big_d)


def _softplus(o, x):
    # NOTE: log(1 + e^x) = max(x, 0) + log1p(e), e = e^-|x| in (0, 1]; log1p(e) = 2 atanh(s) with
    # s = e/(2+e) <= 1/3: one division, no range reduction, and relative accuracy as e -> 0 (the
    # tail is e^x scaled once, never rounded through 1 + e^x).
    _, p, t = o.exp_neg(o.neg(o.fabs(x)))
    q2 = o.div(o.add(p, p), o.add(o.c(2.0), o.unscale(p, t)))   # 2s = q2 2^k
    s2 = o.unscale(q2, t)
    v = o.mul(o.mul(s2, s2), o.c(0.25))
    w = o.fma(o.mul(q2, v), o.horner(v, o.p.atanh), q2)            # log1p(e) = w 2^k
    return o.add(o.sel(o.cmp("<", x, o.c(0.0)), o.c(0.0), x), o.unscale(w, t))


def _elu(o, x):
    # NOTE: expm1(x) = 2^k (1 + E(r)) - 1 = fma(2^k, E(r), 2^k - 1) for x <= 0: exact 2^k - 1 and one
    # rounding, so no cancellation near 0 (k = 0 gives E(x) itself); clamped where it rounds to -1.
    p = o.p
    pos = o.cmp(">", x, o.c(0.0))
    xm = o.sel(pos, o.c(0.0), o.sel(o.cmp("<", x, o.c(p.em1_min)), o.c(p.em1_min), x))
    k, r = o.exp_reduce(xm)
    two_k = o.pow2(k)
    em1 = o.fma(two_k, o.expm1_poly(r), o.sub(two_k, o.c(1.0)))
    return o.sel(pos, x, em1)


def _delu(o, x):
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


def _gauss(o, x):
    _, p, t = _half_square_exp(o, x)
    return o.unscale(p, t)


def _dgauss(o, x):
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
    num, den = o.fma(o.c(_KAPPA), dd, nn), o.fma(ag, dd, dd)    # G = num/den
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


def _gelu(o, x):
    # NOTE: gelu(x) = -a Q(a) (x < 0), x - a Q(a) (x >= 0). a G(a) is formed as a (num/den) for
    # a < 1, and for a >= 1 as kappa - c with c = (kappa D - a N)/den: c <= kappa/2 there and
    # -> kappa/a^2, so its three roundings reach a G scaled down (the worst case falls from ~3.9
    # to ~2.3 ulp). Both share one division.
    ag, nn, dd, num, den, em, t = _gelu_parts(o, x)
    big = o.cmp(">=", ag, o.c(1.0))
    quo = o.div(o.sel(big, o.fma(o.c(_KAPPA), dd, o.neg(o.mul(ag, nn))), num), den)
    ag_g = o.sel(big, o.sub(o.c(_KAPPA), quo), o.mul(ag, quo))
    aq = o.unscale(o.times_exp(ag_g, em), t)                     # a Q(a); 0 for dead lanes
    y = o.sel(o.cmp("<", x, o.c(0.0)), o.neg(aq), o.sub(x, aq))
    return _gelu_near0(o, x, y, o.p.gelu_small, False)


def _dgelu(o, x):
    # NOTE: gelu' = Phi(x) + x phi(x) = e^(-a^2/2) (G - kappa a) for x < 0, 1 - that for x >= 0.
    # G - kappa a = (kappa (1 - a - a^2) D + N)/den: 1 - a is exact on [1/2, 2] and
    # fma(-a, a, 1 - a) rounds once, so only the final fma and N, D's roundings remain; near
    # the zero at x = -0.7518 that is an absolute error of ~1 ulp of 0.13.
    ag, nn, dd, _, den, em, t = _gelu_parts(o, x)
    poly = o.mul(o.c(_KAPPA), o.fma(o.neg(ag), ag, o.sub(o.c(1.0), ag)))
    tail = o.unscale(o.div(o.times_exp(o.fma(poly, dd, nn), em), den), t)
    y = o.sel(o.cmp("<", x, o.c(0.0)), tail, o.sub(o.c(1.0), tail))
    return _gelu_near0(o, x, y, o.p.dgelu_small, True)


def _sincos(o, x, cosine):
    """sin or cos of double lanes x on the fast path |x| < TRIG_MAX; also returns the slow-lane mask."""
    p = o.p
    shifter = 1.5 * 2.0**p.mbits
    t = o.fma(x, o.c(_TWO_OVER_PI), o.c(shifter))
    kf = o.neg(o.sub(t, o.c(shifter)))
    q = o.bits(t)  # NOTE: k mod 4 (the quadrant) is in the low bits of t's mantissa
    r = o.fma(kf, o.c(_PIO2[0]), x)
    r = o.fma(kf, o.c(_PIO2[1]), r)
    r = o.fma(kf, o.c(_PIO2[2]), r)
    z = o.mul(r, r)
    s = o.fma(o.mul(r, z), o.horner(z, p.sin), r)
    hz = o.mul(z, o.c(0.5))
    w = o.sub(o.c(1.0), hz)
    if p is _P64:
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


# --- helpers in the module ---------------------------------------------------------------------


def _prec_of(ety, wide):
    if ety == _F64:
        return _P64
    return _P32W if wide else _P32


_KERNELS = {
    # code: (f, df, float32 runs in double)
    1: (_sigmoid, _dsigmoid, False),
    2: (_tanh, _dtanh, False),
    4: (_silu, _dsilu, False),
    5: (_gelu, _dgelu, True),
    6: (_silu, _dsilu, False),
    9: (_softplus, _sigmoid, False),
    10: (_elu, _delu, False),
    12: (_gauss, _dgauss, False),
}


def _split_type(ty):
    if isinstance(ty, ir.VectorType):
        ety, lanes = ty.element, ty.count
    else:
        ety, lanes = ty, None
    if ety not in (_F32, _F64):
        raise TypeError(f"vmath: expected float, double or a vector of them, got {ty}")
    if lanes is not None and (lanes & (lanes - 1) or lanes > 64):
        raise TypeError(f"vmath: vector width must be a power of two <= 64, got {lanes}")
    return ety, lanes


def _helper(builder, z, name, body):
    """Call (creating once per module) the internal alwaysinline function `name`: T -> T."""
    mod = builder.module
    fn = mod.globals.get(name)
    if fn is None:
        fn = ir.Function(mod, ir.FunctionType(z.type, [z.type]), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        body(fn)
    return builder.call(fn, [z])


def _kernel_body(kernel, ety, lanes, wide):
    def body(fn):
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        o = _Ops(b, _prec_of(ety, wide), lanes)
        x = fn.args[0]
        if o.ty != x.type:
            x = b.fpext(x, o.ty)
        y = kernel(o, x)
        if o.ty != fn.args[0].type:
            y = b.fptrunc(y, fn.args[0].type)
        b.ret(y)
    return body


def _trig_body(cosine, ety, lanes):
    def body(fn):
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        o = _Ops(b, _P64 if ety == _F64 else _P32W, lanes)
        x = fn.args[0]
        xd = b.fpext(x, o.ty) if o.ty != x.type else x
        fast, big = _sincos(o, xd, cosine)
        # NOTE: the slow path (libm per lane, all lanes of the vector) runs only if some lane has
        # |x| >= 2^30 (inf included); its branch is predicted not-taken on ordinary data.
        if lanes is None:
            anybig = big
        else:
            mask = ir.IntType(lanes)
            anybig = b.icmp_unsigned("!=", b.bitcast(big, mask), ir.Constant(mask, 0))
        entry = b.block
        slow_bb = fn.append_basic_block("slow")
        done_bb = fn.append_basic_block("done")
        b.cbranch(anybig, slow_bb, done_bb)
        b.position_at_end(slow_bb)
        libm = _libm(b.module, "cos" if cosine else "sin")
        if lanes is None:
            slow = b.call(libm, [xd])
        else:
            slow = fast
            for i in range(lanes):
                idx = ir.Constant(ir.IntType(32), i)
                slow = b.insert_element(slow, b.call(libm, [b.extract_element(xd, idx)]), idx)
        slow = b.select(big, slow, fast)
        b.branch(done_bb)
        b.position_at_end(done_bb)
        y = b.phi(o.ty)
        y.add_incoming(fast, entry)
        y.add_incoming(slow, slow_bb)
        b.ret(b.fptrunc(y, x.type) if o.ty != x.type else y)
    return body


def _libm(mod, name):
    fn = mod.globals.get(name)
    if fn is None:
        fn = ir.Function(mod, ir.FunctionType(_F64, [_F64]), name)
    return fn


def _emit(builder, code, z, which):
    ety, lanes = _split_type(z.type)
    code = int(code)
    if not 0 <= code < len(NAMES):
        raise ValueError(f"vmath: unknown activation code {code}: expected 0-15")
    o = _Ops(builder, _P64 if ety == _F64 else _P32, lanes)
    d = which == "df"
    tag = o.tag
    if code == 0:  # identity
        return o.c(1.0) if d else z
    if code == 3:  # relu; NOTE: relu'(0) = 0 (SPEC §2); relu(nan) = nan
        return o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.c(0.0)) if d else \
            o.sel(o.cmp("<", z, o.c(0.0)), o.c(0.0), z)
    if code == 7:  # leaky_relu
        # NOTE: x/100 by fdiv, as SPEC §2 writes it (x * 0.01 differs in the last bit for some x,
        # 0.01 not being 1/100); f'(0) = 1/100 (PyTorch's value at the kink).
        if d:
            return o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.c(0.01))
        return o.sel(o.cmp(">=", z, o.c(0.0)), z, o.div(z, o.c(100.0)))
    if code == 8:  # step; NOTE: step' = 0 everywhere (SPEC §2)
        return o.c(0.0) if d else o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.c(0.0))
    if code == 13:  # abs; NOTE: abs'(0) = 0, like np.sign (and nan -> nan)
        if d:
            return o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.sel(o.cmp("<", z, o.c(0.0)), o.c(-1.0), z))
        return o.fabs(z)
    if code == 15:  # square; 2x is exact
        return o.add(z, z) if d else o.mul(z, z)
    if code in (11, 14):  # sin, cos: sin' = cos, cos' = -sin
        cosine = (code == 14) != d
        name = f"jitnet_{'cos' if cosine else 'sin'}_{tag}"  # NOTE: sin' and cos' reuse them
        y = _helper(builder, z, name, _trig_body(cosine, ety, lanes))
        return o.neg(y) if code == 14 and d else y
    f, df, wide = _KERNELS[code]
    kernel = df if d else f
    # NOTE: named after the kernel, so swish shares silu's helper and softplus' sigmoid's.
    name = f"jitnet{kernel.__name__}_{tag}"
    return _helper(builder, z, name, _kernel_body(kernel, ety, lanes, wide))


def emit_f(builder: ir.IRBuilder, code: int, z: ir.Value) -> ir.Value:
    """Emit f(z) for activation `code` 0-15 (SPEC §2) at the builder's position.

    Args:
        builder: positioned where the value is needed; it stays in its block.
        code: the activation code (see jitnet.activations).
        z: a value of type <L x float>, <L x double> (L a power of two <= 64), float or double.
    Returns:
        An ir.Value of z's type.
    Raises:
        TypeError: for any other type of z; ValueError: for a code outside 0-15.
    """
    return _emit(builder, code, z, "f")


def emit_df(builder: ir.IRBuilder, code: int, z: ir.Value) -> ir.Value:
    """Emit f'(z), the derivative with respect to the pre-activation z (SPEC §2); see `emit_f`."""
    return _emit(builder, code, z, "df")

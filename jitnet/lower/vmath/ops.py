"""`Ops`: IR builder helpers for one value type and one working precision, and the exp reduction.

Every kernel in kernels.py is written against these: constants, intrinsics
(`llvm.fma` and friends), ordered compares and selects, Horner evaluation,
2^k from integer lanes, and e^x for x <= 0 as p 2^k (see the note below).
"""

from llvmlite import ir

from .coefficients import Prec

# NOTE: the exp/expm1 of the smooth activations take an argument <= 0 (exp(-|x|),
# exp(-x^2/2), expm1(min(x, 0))), so those results never overflow and only
# underflow needs care. e^x is kept as p * 2^k, p in [0.7, 1.42], with
# t = 2^(k + k_off) a normal float for every k the clamp allows; a value v * e^x
# is formed as (v * p * t) * 2^-k_off (`Ops.unscale`): the first product is
# exact, the last multiply rounds once, so products like x * e^x stay accurate
# deep into the subnormal range instead of multiplying an already-rounded
# subnormal. Only exp itself (code 0x13) takes any x: `Ops.exp_any`.


class Ops:
    """IR builder helpers for one value type (scalar or vector) and one working precision."""

    def __init__(self, builder: ir.IRBuilder, prec: Prec, lanes: "int | None"):
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
        """x -> (k, r) with x = k ln2 + r, |r| <= ln2/2 (x clamped below at x_min)."""
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

    def exp_any(self, x):
        """e^x for every x: p 2^k with 2^k applied as 2^k1 2^k2 (k1 = k >> 1, k2 = k - k1).

        Both factors are normal for every k of the clamped range [x_min, x_max], so
        p 2^k1 is exact and the multiply by 2^k2 rounds once: the result overflows
        to inf exactly where e^x rounds beyond the largest float, and subnormal
        results round once. NaN stays NaN (ordered compares leave it unclamped).
        """
        p = self.p
        xc = self.sel(self.cmp(">", x, self.c(p.x_max)), self.c(p.x_max), x)
        k, r = self.exp_reduce(xc)
        k1 = self.b.ashr(k, self.ci(1))
        t1 = self.pow2(k1)
        # NOTE: fma(em, 2^k1, 2^k1) = 2^k1 (1 + em) rounds once, the same as forming p.
        y = self.fma(self.expm1_poly(r), t1, t1)
        return self.mul(y, self.pow2(self.b.sub(k, k1)))

    def times_exp(self, v, em):
        """v (1 + em) with one rounding."""
        return self.fma(v, em, v)


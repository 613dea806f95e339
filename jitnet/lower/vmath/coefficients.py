"""Coefficient tables and constants of vmath, one `Prec` record per working precision.

This module is data (its length is the tables). How they were fitted: every
polynomial (expm1, tanh, atanh, sin, cos, and the small-|x| gelu and gelu'
series) is a discrete minimax fit by the Remez exchange on a dense grid,
weighted for relative error, computed in mpmath at 40 digits; the gelu tail
G(a) is a rational minimax fit whose denominator is linearised around the
previous iterate. `python tests/vmath_fit.py` re-derives and prints every
table below as hex floats, with each fit's worst relative error after its
coefficients are rounded to the working precision (`python tests/vmath_fit.py
NAME DTYPE N...` explores other sizes of one table). The coefficients are
stored as hex floats so they are read back bit-exactly; the fit domains
(TANH_SPLIT, GELU_SMALL, the gelu `amax`, |r| <= ln2/2 and pi/4) are the
reductions in kernels.py.
"""

from dataclasses import dataclass

from llvmlite import ir

_F32, _F64 = ir.FloatType(), ir.DoubleType()

@dataclass(frozen=True)
class Prec:
    """Constants and coefficient tables of one working precision."""

    ety: ir.Type
    ibits: int
    mbits: int
    bias: int
    x_min: float        # exp arguments are clamped here; e^x_min underflows even times 760
    k_off: int          # 2^(k + k_off) is normal for every k in [k(x_min), 0]
    em1_min: float      # expm1(x) rounds to -1 below this
    x_max: float        # exp (code 0x13) clamps its argument here; e^x_max overflows
    square_max: float   # 2^((emax - 1)/2): x*x is finite below it, so fma(x, x, -x*x) is its exact error
    cube_max: float     # 2^ceil((emax + 1)/3): x^3 overflows above it, and x^2 and x^3 2^-mbits do not below
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
P32 = Prec(
    ety=_F32, ibits=32, mbits=23, bias=127,
    # NOTE: e^-110 = 2^-158.7: 110 * e^-110 and 15 * e^-112.5 (silu, gauss') round to 0 in float32.
    x_min=-110.0, k_off=64, em1_min=-20.0, x_max=100.0, square_max=2.0**63, cube_max=2.0**43,
    log2e=_H("0x1.715476p+0"), ln2=(_H("0x1.62e430p-1"), _H("-0x1.05c610p-29")),
    expm1=tuple(map(_H, ("0x1.555554p-3", "0x1.5554f2p-5", "0x1.1111cap-7", "0x1.6d407ap-10",
                         "0x1.9fbdfap-13"))),
    tanh=tuple(map(_H, ("-0x1.55554ap-2", "0x1.110d30p-3", "-0x1.b92a24p-5", "0x1.594bbap-6",
                        "-0x1.9b88d4p-8"))),
    atanh=tuple(map(_H, ("0x1.555502p-2", "0x1.99d212p-3", "0x1.1ebc64p-3", "0x1.1edb4cp-3"))),
)
P64 = Prec(
    ety=_F64, ibits=64, mbits=52, bias=1023,
    # NOTE: e^-760 = 2^-1096.5: 760 * e^-760 and 39 * e^-760.5 round to 0 in double.
    x_min=-760.0, k_off=128, em1_min=-40.0, x_max=720.0, square_max=2.0**511, cube_max=2.0**342,
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
P32W = Prec(
    ety=_F64, ibits=64, mbits=52, bias=1023,
    x_min=-760.0, k_off=128, em1_min=-40.0, x_max=720.0, square_max=2.0**511, cube_max=2.0**342,
    log2e=P64.log2e, ln2=P64.ln2,
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
PIO2 = (_H("0x1.921fb54442d18p+0"), _H("0x1.1a62633145c07p-54"), _H("-0x1.f1976b7ed8fbcp-110"))
TWO_OVER_PI = _H("0x1.45f306dc9c883p-1")
KAPPA = _H("0x1.9884533d43651p-2")  # 1/sqrt(2 pi)

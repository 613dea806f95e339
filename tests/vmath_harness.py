"""A tiny JIT and the exact references for vmath: (code, dtype, f|df|log, lanes) -> kernel; x -> exact f(x).

Shared by tests/test_vmath.py and benchmarks/vmath.py. The kernel is
`void k(T *in, T *out, i64 n)`: out[i] = f(in[i]) over chunks of `lanes`
(n a multiple of it), built with llvmlite and compiled at O3 for the host CPU
through MCJIT. jitnet/native/jit.py is the project's real JIT; this one exists so
vmath can be tested alone.

The references are float64 (the jitnet.activations oracle, for float32
results) and long double (x87, 64-bit mantissa) formulas for float64 results,
written so that no step loses more than a few long-double ulps: exact
squares, tails as e^-|x| times a quotient, and the normal tail by a series
(|x| <= 2) or the Laplace continued fraction (|x| > 2).
"""

import ctypes
import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from jitnet.activations import ACTIVATIONS
from jitnet.lower import vmath

LD = np.longdouble


def target_machine(opt=3):
    """A new host TargetMachine (an MCJIT engine takes ownership of the one it is given)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(), opt=opt)


def build_module(code, dtype, which, lanes):
    """IR module with `kernel(in, out, n)` applying emit_f/emit_df of `code` lane-chunk by chunk."""
    ety = ir.FloatType() if np.dtype(dtype) == np.float32 else ir.DoubleType()
    vty = ety if lanes is None else ir.VectorType(ety, lanes)
    step = 1 if lanes is None else lanes
    align = np.dtype(dtype).itemsize
    mod = ir.Module(name=f"vmath_{code}_{which}_{dtype}")
    ptr, i64 = ir.PointerType(), ir.IntType(64)
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr, ptr, i64]), "kernel")
    src, dst, n = fn.args
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    # NOTE: align = element size: numpy buffers are not vector-aligned (PERF-NOTES pitfall).
    z = b.load(b.gep(src, [i], inbounds=True, source_etype=ety), typ=vty, align=align)
    if which == "log":  # NOTE: vmath's log (the fused loss's), no activation: `code` is unused
        y = vmath.emit_log(b, z)
    else:
        y = (vmath.emit_df if which == "df" else vmath.emit_f)(b, code, z)
    b.store(y, b.gep(dst, [i], inbounds=True, source_etype=ety), align=align)
    i2 = b.add(i, ir.Constant(i64, step))
    i.add_incoming(i2, b.block)
    b.cbranch(b.icmp_signed("<", i2, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return mod


class Kernel:
    """A compiled kernel: call it on a numpy array (length a multiple of lanes) for f(x).

    optimize=False skips the IR passes and uses FastISel (codegen opt=0), as jitnet's
    unrolled SSA tier does: the helpers then stay calls, nothing is inlined or fused.
    """

    def __init__(self, code, dtype, which, lanes=16, optimize=True):
        self.code, self.dtype, self.which, self.lanes = code, np.dtype(dtype), which, lanes
        tm = target_machine(3 if optimize else 0)
        self.ir = str(build_module(code, dtype, which, lanes))
        mod = llvm.parse_assembly(self.ir)
        mod.verify()
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        if optimize:
            pto = llvm.create_pipeline_tuning_options(speed_level=3)
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
        self.ir_opt = str(mod)
        self.asm = tm.emit_assembly(mod)
        self._engine = llvm.create_mcjit_compiler(mod, tm)
        self._engine.finalize_object()
        addr = self._engine.get_function_address("kernel")
        self._fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(addr)

    def __call__(self, x, out=None):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        step = self.lanes or 1
        assert x.ndim == 1 and x.size % step == 0, "pad the input to a multiple of lanes"
        out = np.empty_like(x) if out is None else out
        self._fn(x.ctypes.data, out.ctypes.data, x.size)
        return out


@functools.lru_cache(maxsize=None)
def kernel(code, dtype, which, lanes=16, optimize=True):
    """A cached `Kernel` (one compile per argument tuple per process)."""
    return Kernel(code, dtype, which, lanes, optimize)


def pad(x, lanes):
    m = (-x.size) % (lanes or 1)
    return np.concatenate([x, np.zeros(m, x.dtype)]) if m else x


# --- exact references --------------------------------------------------------------------------

_SQRT_2PI = LD("2.506628274631000502415765284811045253")


def _split(x):
    """x (float64) = hi + lo with 27 + 26 significant bits, so hi^2, hi*lo, lo^2 are exact in long double."""
    hi = (x.astype(np.float64).view(np.int64) & ~np.int64((1 << 26) - 1)).view(np.float64)
    return LD(hi), LD(x) - LD(hi)


def exp_neg_half_square(x):
    """e^(-x^2/2) in long double with x^2 taken exactly (x float64)."""
    hi, lo = _split(np.asarray(x, np.float64))
    return np.exp(-hi * hi / 2) * np.exp(-hi * lo) * np.exp(-lo * lo / 2)


def _phi(x):
    return exp_neg_half_square(x) / _SQRT_2PI


def _mills(a):
    """Q(a)/phi(a) for a >= 2 by the Laplace continued fraction 1/(a+ 1/(a+ 2/(a+ ...))).

    200 terms converge to 1e-19 at a = 2, 60 terms at a = 3 (checked against mpmath).
    """
    a = LD(a)
    out = np.empty_like(a)
    for sel, terms in ((a < 3, 200), (a >= 3, 60)):
        t = np.zeros_like(a[sel])
        for n in range(terms, 0, -1):
            t = n / (a[sel] + t)
        out[sel] = 1 / (a[sel] + t)
    return out


def _phi_cdf_parts(x):
    """(Phi(x), Phi(x) computed for x < 0 as a tail) in long double: series for |x| <= 2, CF beyond."""
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    out = np.empty(x.shape, LD)
    s = a <= 2
    xs = LD(x[s])
    term, acc = xs.copy(), xs.copy()
    for n in range(1, 60):
        term = term * xs * xs / (2 * n + 1)
        acc = acc + term
    out[s] = LD(0.5) + _phi(x[s]) * acc
    # NOTE: beyond a = 40, Q(a) < 1e-349: Phi is 0 or 1 to any precision a double can show.
    mid = ~s & (a <= 40)
    q = _phi(a[mid]) * _mills(a[mid])
    out[mid] = np.where(x[mid] < 0, q, 1 - q)
    far = a > 40
    out[far] = np.where(x[far] < 0, LD(0), LD(1))
    return out


def _sigmoid_ld(x):
    e = np.exp(-np.abs(LD(x)))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _gelu_ld(x):
    return LD(x) * _phi_cdf_parts(x)


def _dgelu_ld(x):
    return _phi_cdf_parts(x) + LD(x) * _phi(x)


def _silu_ld(x):
    return LD(x) * _sigmoid_ld(x)


def _dsilu_ld(x):
    return _sigmoid_ld(x) * (1 + LD(x) * _sigmoid_ld(-x))


def _e1(x):
    return np.exp(-np.abs(LD(x)))


_SELU_L = LD("1.0507009873554804934193349852946")
_SELU_LA = _SELU_L * LD("1.6732632423543772848170429916717")

# NOTE: long-double (f, f') for the rows whose float64 oracle is not exact to a few long-double
# ulps, keyed by the names of jitnet.activations' table; every other row (identity, relu, step,
# abs, square, clamped, hat: exact in float64) is its float64 oracle.
LD_REFS = {
    "sigmoid": (_sigmoid_ld, lambda x: _e1(x) / (1 + _e1(x)) ** 2),
    "tanh": (lambda x: np.tanh(LD(x)), lambda x: 4 * _e1(2 * x) / (1 + _e1(2 * x)) ** 2),
    "silu": (_silu_ld, _dsilu_ld),
    "swish": (_silu_ld, _dsilu_ld),
    "gelu": (_gelu_ld, _dgelu_ld),
    "softplus": (lambda x: np.maximum(LD(x), 0) + np.log1p(_e1(x)), _sigmoid_ld),
    "elu": (lambda x: np.where(x > 0, LD(x), np.expm1(np.minimum(LD(x), 0))),
            lambda x: np.where(x > 0, LD(1), np.exp(np.minimum(LD(x), 0)))),
    "sin": (lambda x: np.sin(LD(x)), lambda x: np.cos(LD(x))),
    "cos": (lambda x: np.cos(LD(x)), lambda x: -np.sin(LD(x))),
    "gauss": (exp_neg_half_square, lambda x: -LD(x) * exp_neg_half_square(x)),
    "cube": (lambda x: LD(x) ** 3, lambda x: 3 * LD(x) ** 2),
    "exp": (lambda x: np.exp(LD(x)), lambda x: np.exp(LD(x))),
    "selu": (lambda x: np.where(x > 0, _SELU_L * LD(x), _SELU_LA * np.expm1(np.minimum(LD(x), 0))),
             lambda x: np.where(x > 0, _SELU_L, _SELU_LA * np.exp(np.minimum(LD(x), 0)))),
}


def _ref_ld(code, which, x):
    """f or f' of float64 x in long double (SPEC §2 formulas rearranged to keep accuracy)."""
    pair = LD_REFS.get(ACTIVATIONS[code].name, (None, None))
    fn = pair[0] if which == "f" else pair[1]
    if fn is not None:
        return fn(x)
    f = ACTIVATIONS[code].f if which == "f" else ACTIVATIONS[code].df
    return LD(f(np.asarray(x, np.float64)))


def reference(code, which, x):
    """The exact value (as float64 for float32 x, long double for float64 x) of f or f' at x."""
    with np.errstate(all="ignore"):
        if x.dtype == np.float32:
            f = ACTIVATIONS[code].f if which == "f" else ACTIVATIONS[code].df
            return f(x.astype(np.float64)).astype(np.float64)
        return _ref_ld(code, which, x.astype(np.float64))


def ulp_error(y, ref, dtype, floor=0.0):
    """|y - ref| in ulps of dtype at max(|ref|, floor); inf where finiteness or NaN-ness disagree."""
    fi = np.finfo(dtype)
    ref = np.asarray(ref, LD)
    mag = np.maximum(np.abs(ref), LD(floor))
    with np.errstate(all="ignore"):
        _, e = np.frexp(mag)
        e = np.where(mag > 0, e.astype(np.int64), -100000)
        ulp = np.ldexp(LD(1), np.maximum(e - 1 - fi.nmant, fi.minexp - fi.nmant))
        err = np.abs(LD(y) - ref) / ulp
        ref_t = ref.astype(dtype)  # NOTE: an exact value beyond the format's range must round to inf
    fin_r, fin_y = np.isfinite(ref_t), np.isfinite(y)
    err = np.where(fin_r & fin_y, err, np.inf)
    same_special = ~fin_r & ((np.isnan(ref_t) & np.isnan(y)) | (ref_t == y))
    return np.where(same_special, 0.0, err).astype(np.float64)


# --- inputs --------------------------------------------------------------------------------------

THRESHOLDS = (
    0.5, 1.0, 2.0, vmath.TANH_SPLIT, 0.34657359, 1.2784645428, 0.7517915241, 14.5, 38.7, 14.3,
    20.0, 40.0, 87.336, 88.722, 103.279, 103.972, 100.0, 110.0, 112.5, 708.396, 709.78, 744.44,
    745.133, 750.0, 760.0, 19.06, 9.01, 37.43, 17.33, vmath.TRIG_MAX, 2.0**28, 1e8, 1e15, 1e30,
    # exp's overflow (ln max), cube's (cbrt max), 3x^2's (sqrt(max/3)), the exact-square limit
    88.72283935546875, 709.782712893384, 6.981463e12, 5.643803094122362e102, 1.0650410e19,
    7.7405e153, 2.0**63, 2.0**511, 2.0**43, 2.0**342, 100.0, 720.0,
)


def sweep(dtype, n_log=400_000, n_uni=200_000, seed=0):
    """Dense inputs: log-spaced |x| in [1e-30, 1e30] (and [1e-300, 1e300] for float64), uniform
    [-50, 50], special values, and every threshold of vmath with its float neighbours."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    mags = [np.logspace(-30, 30, n_log // 2)]
    if dtype == np.float64:
        mags.append(np.logspace(-300, 300, n_log // 8))
    mags.append(np.logspace(np.log10(fi.smallest_subnormal), np.log10(fi.tiny), 2000))  # subnormal x
    mags.append(rng.uniform(0, 50, n_uni // 2))
    mags.append(10.0 ** rng.uniform(-3, 3, n_uni // 2))
    k = np.concatenate([np.arange(1, 20000), np.unique(np.logspace(4, 9.8, 20000).astype(np.int64))])
    mags.append(k * (np.pi / 2))  # NOTE: rounded multiples of pi/2: sin/cos reduce to tiny r
    mags.append(np.arange(1, 2001) * (np.log(2) / 2))  # exp reduction boundaries (k changes)
    specials = [0.0, fi.max, fi.tiny, fi.smallest_subnormal, 1e30, 1e-30, np.pi, np.pi / 2]
    with np.errstate(over="ignore"):  # NOTE: float64-only thresholds are inf in float32, dropped below
        t = np.array(THRESHOLDS + tuple(specials), dtype)
    near, lo = [t], [t]
    with np.errstate(over="ignore"):
        for _ in range(3):
            near.append(np.nextafter(near[-1], np.inf, dtype=dtype))
            lo.append(np.nextafter(lo[-1], -np.inf, dtype=dtype))
    m = np.concatenate([a.astype(dtype) for a in mags] + near + lo)
    m = m[np.isfinite(m)]
    x = np.concatenate([m, -m])
    return np.unique(x)

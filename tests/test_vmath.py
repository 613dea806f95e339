"""vmath: every activation f and f' (SPEC §2), float32 and float64, against exact references.

Each row JIT-compiles a loop of `vmath.emit_f`/`emit_df` over <16 x T> chunks
(tests/vmath_harness.py) and runs it on ~1e6 inputs: log-spaced over
+-[1e-30, 1e30] (+-[1e-300, 1e300] too for float64), uniform in [-50, 50],
rounded multiples of pi/2 and ln2/2, specials, and every threshold of vmath
with its float neighbours. The error is |y - exact| in ulps of the exact
value (so a correctly rounded result scores <= 0.5); the worst per row is
recorded as the `worst_ulp` user property (junit xml; benchmarks/vmath.py prints the table).
"""

import re

import numpy as np
import pytest
from llvmlite import ir
from vmath_harness import kernel, pad, reference, sweep, ulp_error

from jitnet.activations import ACTIVATIONS
from jitnet.lower import vmath

CODES = range(len(ACTIVATIONS))
BOUND = 4.0
# NOTE: silu'/swish' and gelu' have zeros (x = -1.2785, -0.7518) where any rounding of
# e^x or of G is large relative to the tiny result: there the bound is in ulps of 1/8
# (an absolute error <= 4 ulp(1/8)); everywhere else the error is relative.
FLOOR = {(4, "df"): 0.125, (6, "df"): 0.125, (5, "df"): 0.125}


@pytest.fixture(scope="module")
def inputs():
    return {dt: pad(sweep(dt), 16) for dt in ("float32", "float64")}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("which", ["f", "df"])
@pytest.mark.parametrize("code", CODES, ids=lambda c: vmath.NAMES[c])
def test_accuracy_and_finiteness(code, which, dtype, inputs, request):
    x = inputs[dtype]
    y = kernel(code, dtype, which, 16)(x)
    err = ulp_error(y, reference(code, which, x), dtype, FLOOR.get((code, which), 0.0))
    i = int(np.argmax(err))
    request.node.user_properties.append(("worst_ulp", float(err[i])))
    # NOTE: ulp_error is inf wherever y is inf/nan but the exact value is finite in dtype,
    # so this also checks SPEC §2's finiteness rule on every input.
    assert err[i] <= BOUND, f"{vmath.NAMES[code]} {which} {dtype}: {err[i]:.3g} ulp at x={x[i]!r}, got {y[i]!r}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kinks_and_exact_rows(dtype):
    x = np.array([0.0, -0.0, 1.5, -1.5, 3e-3, -7.0, 1e30, -1e30] * 2, dtype)
    def run(code, which):
        return kernel(code, dtype, which, 16)(x)
    zero = x == 0
    assert np.all(run(3, "df")[zero] == 0)                       # relu'(0) = 0
    assert np.all(run(7, "df")[zero] == np.asarray(0.01, dtype))  # leaky_relu'(0) = 1/100
    assert np.all(run(13, "df")[zero] == 0)                      # abs'(0) = 0
    assert np.all(run(8, "df") == 0)                             # step' = 0 everywhere
    assert np.array_equal(run(7, "f"), np.where(x >= 0, x, x / np.asarray(100, dtype)))  # x/100, divided
    with np.errstate(over="ignore"):
        assert np.array_equal(run(15, "f"), x * x) and np.array_equal(run(15, "df"), x + x)
    assert np.array_equal(run(8, "f"), (x > 0).astype(dtype))
    assert np.array_equal(run(0x10, "f"), np.clip(x, -1, 1))                  # clamped
    assert np.array_equal(run(0x11, "f"), np.maximum(1 - np.abs(x), 0))       # hat


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_propagates_like_the_oracle(dtype):
    x = np.full(16, np.nan, dtype)
    for code in CODES:
        for which in ("f", "df"):
            ref = (ACTIVATIONS[code].f if which == "f" else ACTIVATIONS[code].df)(x.astype(np.float64))
            y = kernel(code, dtype, which, 16)(x)
            assert np.array_equal(np.isnan(y), np.isnan(ref)), (vmath.NAMES[code], which)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_sin_cos_use_the_exact_slow_path(dtype):
    fi = np.finfo(dtype)
    x = np.array([1e300 if dtype == "float64" else 1e38, fi.max, -fi.max, 2.0**30, -(2.0**30),
                  np.nextafter(2.0**30, 0), 1e22, 3.0, 0.5, -2.5e9, 6381956970095103 * 2.0**-30,
                  1e15, 1e-310, 0.0, 7e8, -7e8], dtype)
    x64 = x.astype(np.float64)
    slow = np.abs(x64) >= vmath.TRIG_MAX
    for code, which, libm in ((11, "f", np.sin(x64)), (11, "df", np.cos(x64)),
                              (14, "f", np.cos(x64)), (14, "df", -np.sin(x64))):
        y = kernel(code, dtype, which, 16)(x)
        # NOTE: slow lanes are libm's double sin/cos (< 1 ulp; exactly it for float64).
        assert ulp_error(y[slow], libm[slow], dtype).max() <= (0.0 if dtype == "float64" else 0.5 + 1e-6)
        assert ulp_error(y, reference(code, which, x), dtype).max() <= BOUND


@pytest.mark.parametrize("lanes", [None, 4, 32])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bit_identical_across_widths(lanes, dtype):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 4, 448), 10.0 ** rng.uniform(-8, 12, 64) * rng.choice([-1, 1], 64)])
    x = x.astype(dtype)
    for code in (1, 2, 5, 9, 11, 12, 0x12, 0x13, 0x14):
        for which in ("f", "df"):
            ref = kernel(code, dtype, which, 16)(x)
            assert np.array_equal(kernel(code, dtype, which, lanes)(x), ref), (vmath.NAMES[code], which)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bit_identical_without_optimization(dtype):
    # NOTE: no fast-math flags anywhere: FastISel without IR passes (helpers left as calls,
    # nothing contracted or reassociated) must give the very same bits as O3.
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(0, 5, 960), 10.0 ** rng.uniform(-40, 40, 64) * rng.choice([-1, 1], 64)])
    x = x.astype(dtype)
    for code in CODES:
        for which in ("f", "df"):
            ref = kernel(code, dtype, which, 16)(x)
            y = kernel(code, dtype, which, 16, optimize=False)(x)
            assert np.array_equal(y, ref, equal_nan=True), (vmath.NAMES[code], which)


def test_normal_path_is_vectorized_without_calls():
    sig = kernel(1, "float32", "f", 16)
    assert not re.search(r"\bcall", sig.asm) and not re.search(r"\bexpf?\b", sig.asm)
    assert re.search(r"vfmadd\w*ps\s+%[yz]mm", sig.asm)
    for code, dtype in ((11, "float32"), (14, "float64"), (11, "float64")):
        k = kernel(code, dtype, "f", 16)
        assert re.search(r"vfmadd\w*pd\s+%[yz]mm", k.asm)
        # NOTE: the only calls besides intrinsics are libm sin/cos, in blocks of their own (no
        # fma, no load/store there), i.e. off the vector path.
        body = re.search(r"define [^\n]*@kernel\(.*?\n}\n", k.ir_opt, re.S).group(0)
        callees = set(re.findall(r"call [^@]*@([\w.]+)", body))
        assert {c for c in callees if not c.startswith("llvm.")} == {"sin" if code == 11 else "cos"}
        slow = [blk for blk in re.split(r"\n(?=[\w.]+:)", body) if re.search(r"@(sin|cos)\(", blk)]
        assert slow, "the slow path is missing"
        for blk in slow:
            assert "llvm.fma" not in blk and " store " not in blk and " load " not in blk


def test_helpers_are_created_once_per_module_and_type_checked():
    mod = ir.Module()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ir.VectorType(ir.FloatType(), 8)]), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    z = fn.args[0]
    for _ in range(3):
        assert vmath.emit_f(b, 1, z).type == z.type
        assert vmath.emit_df(b, 2, z).type == z.type
    names = [g.name for g in mod.functions if g.name.startswith("jitnet_")]
    assert sorted(names) == ["jitnet_dtanh_v8f32", "jitnet_sigmoid_v8f32"]
    b.ret_void()
    with pytest.raises(TypeError):
        vmath.emit_f(b, 1, ir.Constant(ir.IntType(32), 1))
    with pytest.raises(ValueError):
        vmath.emit_f(b, len(ACTIVATIONS), z)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_is_within_an_ulp_over_every_normal_number(dtype):
    """`emit_log` (the fused loss's log-sum-exp): all normal x, the reduction's boundary sqrt 2 included."""
    rng = np.random.default_rng(11)
    info = np.finfo(dtype)
    x = np.concatenate([1 + rng.random(1 << 16), 1 + 1e4 * rng.random(1 << 16),
                        10.0 ** rng.uniform(np.log10(info.tiny), np.log10(info.max), 1 << 16),
                        np.nextafter(np.float64(2 ** 0.5), [0, 10]), [1.0, 2.0, 0.5, info.max, info.tiny]])
    x = pad(x.astype(dtype), 16)
    x[x == 0] = 1.0
    y = kernel(None, dtype, "log", 16)(x)
    exact = np.log(x.astype(np.longdouble))
    err = np.abs(y - exact) / np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    err[exact == 0] = np.abs(y[exact == 0])
    i = int(np.argmax(err))
    assert err[i] <= 1.1, f"log {dtype}: {float(err[i]):.3g} ulp at x={x[i]!r}"
    specials = kernel(None, dtype, "log", 16)(np.array([np.inf, np.nan] * 8, dtype))
    assert specials[0] == np.inf and np.isnan(specials[1])

"""The activation table (SPEC §2): one row per code in numpy and in IR, names and codes, and codes
10-14 compiled through `jitnet.compile` (both tiers, both dtypes) at their kinks and tails."""

import math

import numpy as np
import pytest

import jitnet
from jitnet.activations import ACTIVATIONS, activation, activation_code
from jitnet.lower import vmath
from jitnet.net import Net

LAMBDA = 1.0507009873554804934193349852946
ALPHA = 1.6732632423543772848170429916717
LAMBDA_ALPHA = 1.7580993408473768599402175208123  # NOTE: the exact product, rounded once (not LAMBDA * ALPHA)


def test_ir_table_and_numpy_table_cover_the_same_codes():
    codes = [a.code for a in ACTIVATIONS]
    assert codes == list(range(21))                 # 0x00-0x14, row i is code i
    assert set(vmath.EMITTERS) == set(codes)
    assert all(len(pair) == 2 and all(map(callable, pair)) for pair in vmath.EMITTERS.values())
    assert vmath.NAMES == tuple(a.name for a in ACTIVATIONS)
    assert len(set(vmath.NAMES)) == len(codes)


@pytest.mark.parametrize("code, name", [(0x10, "clamped"), (0x11, "hat"), (0x12, "cube"), (0x13, "exp"),
                                        (0x14, "selu")])
def test_new_codes_by_int_hex_and_name(code, name):
    assert activation_code(code) == activation_code(f"{code:02x}") == activation_code(name) == code
    assert activation_code(np.uint8(code)) == activation_code(f" {name.upper()} ") == code
    assert activation(name).name == name


@pytest.mark.parametrize("bad", [21, 255, -1, "15", "0x10", "ff", True, "", "selu2"])
def test_unknown_codes_are_rejected(bad):
    with pytest.raises(ValueError, match="unknown activation"):
        activation_code(bad)


def test_every_int_code_is_accepted():
    assert [activation_code(c) for c in range(21)] == list(range(21))
    # NOTE: a Python int is the code's value: 16 is "10" (clamped), not "16".
    assert activation_code(16) == activation_code("10") == activation_code("clamped")
    with pytest.raises(jitnet.errors.GraphError, match="unknown activation code 21"):
        Net(2, [(0, 1)], activations=np.array([0, 21]))


# Points at the kinks and in the tails, and SPEC §2's f and f' there (written out, not the oracle).
POINTS = [-1e30, -800.0, -100.0, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 30.0, 100.0, 800.0, 1e30, 1e200]


def _spec(code, x):
    """SPEC §2's (f, f') at x in Python floats (inf where the exact value overflows float64)."""
    def big_pow(v, p):
        try:
            return math.copysign(abs(v) ** p, v if p % 2 else 1.0)
        except OverflowError:
            return math.copysign(math.inf, v if p % 2 else 1.0)

    def exp(v):
        return math.exp(v) if v < 709.78 else math.inf
    if code == 0x10:
        return max(-1.0, min(1.0, x)), 1.0 if -1 < x < 1 else 0.0
    if code == 0x11:
        return max(0.0, 1.0 - abs(x)), (-math.copysign(1.0, x) if x != 0 else 0.0) if abs(x) < 1 else 0.0
    if code == 0x12:
        return big_pow(x, 3), 3.0 * big_pow(x, 2)
    if code == 0x13:
        return exp(x), exp(x)
    if code == 0x14:
        if x > 0:
            return LAMBDA * x, LAMBDA
        return LAMBDA_ALPHA * math.expm1(x), LAMBDA_ALPHA * math.exp(x)
    raise AssertionError(code)


@pytest.mark.parametrize("strategy", ["ssa", "csr"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_new_codes_compiled_at_kinks_and_tails(strategy, dtype):
    """Input k feeds neuron k of code codes[k] (weight 1, bias 0): y = f(x) and, with dy = 1,
    dx = f'(x), so each code's f and f' are read through the compiled forward and backward."""
    codes = [0x10, 0x11, 0x12, 0x13, 0x14]
    m = len(codes)
    net = Net(2 * m, [(k, m + k) for k in range(m)], activations=[0] * m + codes)
    cn = jitnet.compile(net, dtype=dtype, strategy=strategy, cache=False)
    with np.errstate(over="ignore"):  # NOTE: 1e200 is inf in float32, a point of its own
        xs = np.array(POINTS, dtype)
    x = np.repeat(xs[:, None], m, axis=1)
    w, b = np.ones(m, dtype), np.zeros(2 * m, dtype)
    y = cn.forward(x, w, b)
    dx = cn.backward(x, w, b, np.ones_like(y)).dx
    for k, code in enumerate(codes):
        with np.errstate(over="ignore"):
            want = np.array([_spec(code, v) for v in xs.astype(np.float64)]).astype(dtype)
        for got, exp, what in ((y[:, k], want[:, 0], "f"), (dx[:, k], want[:, 1], "df")):
            np.testing.assert_allclose(got, exp, rtol=4 * np.finfo(dtype).eps, atol=0,
                                       err_msg=f"{vmath.NAMES[code]} {what} {strategy} {dtype}")
    dx_all = {code: dx[:, k] for k, code in enumerate(codes)}
    # NOTE: the exact values SPEC §2 names at the kinks, bit for bit.
    at = {v: i for i, v in enumerate(POINTS)}
    assert dx_all[0x10][at[1.0]] == dx_all[0x10][at[-1.0]] == 0 and dx_all[0x10][at[0.5]] == 1
    assert dx_all[0x11][at[0.0]] == dx_all[0x11][at[1.0]] == dx_all[0x11][at[-1.0]] == 0
    assert dx_all[0x11][at[0.5]] == -1 and dx_all[0x11][at[-0.5]] == 1
    assert dx_all[0x14][at[0.0]] == np.asarray(LAMBDA_ALPHA, dtype)       # lambda alpha at 0
    assert dx_all[0x14][at[0.5]] == np.asarray(LAMBDA, dtype)
    assert np.isinf(y[at[1e200], 2]) and np.isinf(y[at[800.0], 3]) and y[at[-800.0], 3] == 0
    assert np.all(np.isfinite(y[np.isfinite(xs)][:, [0, 1, 4]]))
    assert y[at[-1e30], 4] == np.asarray(-LAMBDA_ALPHA, dtype)

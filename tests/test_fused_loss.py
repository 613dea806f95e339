"""The fused loss (SPEC §4): `loss_and_grad` in one native pass against the float64 oracle and the numpy path.

Two references: the oracle (`reference.py` forward and VJP in float64, the
loss from `losses.loss_and_cotangent`), and the numpy path `loss_and_grad`
took before the fusion, forward -> numpy loss and dy -> `backward`, which
the fused pass must match to the last bits of float64 (the loss) and
nearly bit for bit in dw and db (dy rounded to the dtype once, as there).
"""

import re

import numpy as np
import pytest
from helpers import random_values
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

from jitnet import nets, reference, ties
from jitnet.compiler import compile
from jitnet.losses import loss_and_cotangent
from jitnet.native import pool
from jitnet.net import Net

TARGETS = ["mse", "xent classes", "xent rows"]


def _target(kind: str, rng, batch: int, k: int):
    if kind == "mse":
        return "mse", rng.normal(size=(batch, k))
    if kind == "xent classes":
        return "xent", rng.integers(0, k, batch)
    return "xent", rng.dirichlet(np.ones(k), batch)


def _numpy_path(cn, x, w, b, target, loss):
    """What loss_and_grad computed before the fusion: (loss, dw, db) via forward, numpy and backward."""
    value, dy = loss_and_cotangent(loss, cn.forward(x, w, b), target, False)
    _, dw, db = cn.backward(x, w, b, dy.astype(cn.dtype))
    return value, dw, db


def _assert_like_numpy_path(cn, x, w, b, target, loss):
    """The fused call gives the numpy path's loss to 1e-12 and its dw, db: float32 within 4 ulp;
    float64, whose dy may differ in its last bit (exp, log and sums in another order), to 1e-12 of
    the largest gradient (a sum with cancellation turns one ulp of dy into many ulps of itself)."""
    value, dw, db = cn.loss_and_grad(x, w, b, target, loss=loss)
    want, want_dw, want_db = _numpy_path(cn, x, w, b, target, loss)
    assert isinstance(value, float) and value == pytest.approx(want, rel=1e-12, abs=1e-300)
    for name, got, ref in (("dw", dw, want_dw), ("db", db, want_db)):
        assert got.dtype == cn.dtype and got.shape == ref.shape, name
        if cn.dtype == np.float32:
            np.testing.assert_array_max_ulp(got, ref, maxulp=4)
        else:
            scale = np.abs(ref).max(initial=0.0)
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * scale, err_msg=name)
    return value, dw, db


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("strategy", ["csr", "ssa"])
def test_matches_the_float64_oracle_at_odd_batches(dtype, kind, strategy):
    net = nets.dense([5, 9, 4], activation="tanh")
    cn = compile(net, dtype=dtype, strategy=strategy)
    rng = np.random.default_rng(3)
    rtol = 1e-11 if dtype == "float64" else 2e-5
    for batch in (1, 7, 33, 100):
        x, w, b = random_values(net, batch, dtype, batch)
        loss, target = _target(kind, rng, batch, cn.n_outputs)
        value, dw, db = _assert_like_numpy_path(cn, x, w, b, target, loss)
        x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
        want, dy = loss_and_cotangent(loss, reference.forward(net, x64, w64, b64).y, target, False)
        _, rw, rb = reference.vjp(net, x64, w64, b64, dy)
        assert value == pytest.approx(want, rel=rtol)
        for name, got, ref in (("dw", dw, rw), ("db", db, rb)):
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max(), err_msg=name)


def test_float32_gradients_are_the_numpy_paths_bits():
    """dy is computed in float64 and rounded once, as numpy's was: float32 dw and db keep its bits."""
    net = nets.random_dag(6, 5, 30, fan_in=(2, 8), n_layers=3, activation=["relu", "sigmoid"], seed=1)
    cn = compile(net, dtype="float32")
    x, w, b = random_values(net, 257, "float32", 4)
    rng = np.random.default_rng(4)
    for kind in TARGETS:
        loss, target = _target(kind, rng, len(x), cn.n_outputs)
        _, dw, db = cn.loss_and_grad(x, w, b, target, loss=loss)
        _, want_dw, want_db = _numpy_path(cn, x, w, b, target, loss)
        assert dw.tobytes() == want_dw.tobytes() and db.tobytes() == want_db.tobytes(), kind


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", TARGETS)
def test_batch_zero_gives_zero_loss_and_zero_gradients(dtype, kind):
    cn = compile(nets.dense([3, 2]), dtype=dtype)
    w, b = cn.init(0)
    loss, target = _target(kind, np.random.default_rng(0), 0, 2)
    value, dw, db = cn.loss_and_grad(np.zeros((0, 3)), w, b, target, loss=loss)
    assert value == 0.0 and isinstance(value, float)
    assert dw.dtype == cn.dtype and not dw.any() and not db.any() and dw.shape == w.shape


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_logits_stay_finite_and_exact(dtype):
    """Logits of +-1e4: log-sum-exp after the row's top, so nothing overflows (SPEC §4)."""
    cn = compile(Net(5, [(0, 2), (1, 3), (0, 4)]), dtype=dtype)
    x = np.array([[1e4, -1e4], [-1e4, 1e4], [3.0, 1e4], [1e4, 1e4]], dtype=dtype)
    w = np.array([1.0, 1.0, -1.0], dtype=dtype)
    for target in (np.array([1, 0, 2, 1]), np.eye(3)[[0, 1, 2, 2]], np.full((4, 3), 1 / 3)):
        value, dw, db = _assert_like_numpy_path(cn, x, w, None, target, "xent")
        assert np.isfinite(value) and np.isfinite(dw).all() and np.isfinite(db).all()
        assert value > 1e4


def test_an_output_read_out_twice_gets_both_seeds():
    net = nets.dense([3, 4, 2], activation="sigmoid")
    for outputs in ([6, 3, 6], [5, 5, 6, 5]):
        cn = compile(net, dtype="float64", outputs=outputs)
        x, w, b = random_values(net, 19, np.float64, 8)
        rng = np.random.default_rng(8)
        for kind in TARGETS:
            loss, target = _target(kind, rng, len(x), len(outputs))
            _assert_like_numpy_path(cn, x, w, b, target, loss)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tied_nets_expand_and_fold_as_backward_does(dtype):
    net = nets.conv2d(6, 6, (1, 2, 3), kernel=3, stride=(1, 2), n_outputs=3, tied=True)
    cn = compile(net, dtype=dtype)
    rng = np.random.default_rng(9)
    w, b = cn.init(9)
    b = (0.1 * rng.normal(size=b.shape)).astype(dtype)
    x = rng.normal(size=(45, net.n_inputs)).astype(dtype)
    for kind in TARGETS:
        loss, target = _target(kind, rng, len(x), cn.n_outputs)
        _, dw, db = _assert_like_numpy_path(cn, x, w, b, target, loss)
        assert dw.shape == (net.n_weights,) and db.shape == (net.n_biases,)
    untied = compile(Net(net.n_neurons, net.edges, activations=net.activations), dtype=dtype)
    _, dw_edges, _ = untied.loss_and_grad(x, ties.expand(w, net.weight_ties, dtype),
                                          ties.expand(b, net.bias_ties, dtype), target, loss=loss)
    # NOTE: the same per-edge sums folded the same way: the same bits.
    assert dw.tobytes() == ties.fold(dw_edges, net.weight_ties, net.n_weights).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_batch_split_over_two_threads_adds_chunk_losses_in_order(dtype):
    net = nets.dense([64, 32, 10])
    one, two = compile(net, dtype=dtype, threads=1), compile(net, dtype=dtype, threads=2)
    batch = 3001
    # NOTE: the batch must really be split, or chunk 1's loss and private dw go untested.
    assert len(pool.split(batch, two._lanes, 2, 3 * (net.n_weights + net.n_neurons))) == 2
    x, w, b = random_values(net, batch, dtype, 5)
    rng = np.random.default_rng(5)
    for kind in TARGETS:
        loss, target = _target(kind, rng, batch, 10)
        value, dw, db = _assert_like_numpy_path(two, x, w, b, target, loss)
        alone = one.loss_and_grad(x, w, b, target, loss=loss)
        assert value == pytest.approx(alone[0], rel=1e-13)
        np.testing.assert_allclose(dw, alone[1], rtol=1e-4 if dtype == "float32" else 1e-11,
                                   atol=1e-5 if dtype == "float32" else 1e-12)


def test_one_sample_takes_a_0d_class_and_a_row():
    net = nets.dense([3, 4], activation="tanh")
    cn = compile(net, dtype="float64")
    x, w, b = random_values(net, 1, np.float64, 2)
    for loss, target in (("xent", np.int64(2)), ("xent", np.eye(4)[1]), ("mse", np.arange(4.0))):
        value, dw, _ = cn.loss_and_grad(x[0], w, b, target, loss=loss)
        want, want_dw, _ = _numpy_path(cn, x, w, b, np.asarray(target)[None], loss)
        assert value == pytest.approx(want, rel=1e-12)
        np.testing.assert_allclose(dw, want_dw, rtol=1e-12, atol=1e-12 * np.abs(want_dw).max())


@settings(max_examples=15, deadline=None)
@given(net=dags(codes=(0, 1, 2, 3)), seed=st.integers(0, 1000), batch=st.sampled_from([1, 17, 40]),
       kind=st.sampled_from(TARGETS), dtype=st.sampled_from(["float32", "float64"]))
def test_random_nets_match_the_numpy_path(net, seed, batch, kind, dtype):
    cn = compile(net, dtype=dtype)
    x, w, b = random_values(net, batch, dtype, seed)
    loss, target = _target(kind, np.random.default_rng(seed), batch, cn.n_outputs)
    _assert_like_numpy_path(cn, x, w, b, target, loss)


def test_the_tiers_bodies_are_emitted_once_for_both_entries():
    """Both entries call one internal function: the fused loss does not double the gradient module."""
    text = compile(nets.dense([4, 3, 2]), cache=False).ir_backward
    assert len(re.findall(r"^define [^\n]*@jitnet_vjp\(", text, re.M)) == 1
    for entry in ("jitnet_backward", "jitnet_loss_and_grad"):
        body = re.search(rf"^define [^\n]*@{entry}\(.*?^}}\n", text, re.M | re.S).group(0)
        assert "@jitnet_vjp(" in body and len(body.splitlines()) < 10, entry


def test_one_native_call_and_no_separate_forward(monkeypatch):
    """loss_and_grad is one pass: neither the forward entry nor the backward call runs."""
    cn = compile(nets.dense([3, 4, 2]), dtype="float64")
    x, w, b = random_values(nets.dense([3, 4, 2]), 9, np.float64, 1)
    want = _numpy_path(cn, x, w, b, np.arange(9) % 2, "xent")

    def forbidden(*args, **kwargs):
        raise AssertionError("loss_and_grad ran a separate pass")

    monkeypatch.setattr(cn, "_run", forbidden)
    monkeypatch.setattr(cn, "_backward", forbidden)
    value, dw, _ = cn.loss_and_grad(x, w, b, np.arange(9) % 2, loss="xent")
    assert value == pytest.approx(want[0], rel=1e-12)
    np.testing.assert_allclose(dw, want[1], rtol=1e-12, atol=1e-14)

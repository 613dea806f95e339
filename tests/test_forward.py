"""The compiled forward pass against the float64 reference, across tiers, dtypes, batches, threads."""

import threading

import numpy as np
import pytest
from helpers import random_values
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

import jitnet
from jitnet import reference
from jitnet.compiler import compile
from jitnet.lower.abi import PRECISIONS
from jitnet.native import pool
from jitnet.net import Net

# NOTE: step is discontinuous: a float32 rounding of z near 0 may flip it, so
# the float32 comparison leaves it out (float64 and the tier tests keep it).
SMOOTH = tuple(c for c in range(16) if c != 8)


def _scale(net, x, w, b, outputs=None):
    """Sum of |terms| per output: the natural size of rounding errors."""
    absnet = Net(net.n_neurons, net.edges, net.activations)
    n = np.abs(reference.forward(absnet, x, w, b, outputs=outputs).n)
    return 1.0 + np.abs(n).max()


def _check_close(net, cn, x, w, b, rtol, outputs=None):
    y = cn.forward(x, w, b)
    ref = reference.forward(net, x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            outputs=outputs).y
    assert y.dtype == cn.dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * _scale(net, x, w, b, outputs))


@settings(max_examples=25, deadline=None)
@given(net=dags(), seed=st.integers(0, 1000), batch=st.sampled_from([1, 15, 17, 40]))
def test_float64_matches_reference(net, seed, batch):
    cn = compile(net, dtype="float64", strategy="csr")
    x, w, b = random_values(net, batch, np.float64, seed)
    _check_close(net, cn, x, w, b, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(net=dags(codes=SMOOTH), seed=st.integers(0, 1000), batch=st.sampled_from([1, 31, 33]))
def test_float32_matches_reference(net, seed, batch):
    cn = compile(net, dtype="float32", strategy="csr")
    x, w, b = random_values(net, batch, np.float32, seed)
    _check_close(net, cn, x, w, b, rtol=2e-5)


@settings(max_examples=10, deadline=None)
@given(net=dags(max_neurons=16), seed=st.integers(0, 1000), dtype=st.sampled_from(["float32", "float64"]))
def test_tiers_are_bit_identical(net, seed, dtype):
    x, w, b = random_values(net, 37, dtype, seed)
    ys = [compile(net, dtype=dtype, strategy=s).forward(x, w, b) for s in ("csr", "ssa")]
    assert ys[0].tobytes() == ys[1].tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_sizes_around_the_tile(dtype):
    net = Net(6, [(0, 3), (1, 3), (2, 4), (3, 5), (4, 5), (0, 5)], activations="tanh")
    cn = compile(net, dtype=dtype)
    lanes = PRECISIONS[dtype].lanes
    x, w, b = random_values(net, 3 * lanes + 5, dtype, 0)
    whole = cn.forward(x, w, b)
    for batch in (0, 1, lanes - 1, lanes, lanes + 1, 3 * lanes + 5):
        y = cn.forward(x[:batch], w, b)
        assert y.shape == (batch, 1)
        assert y.tobytes() == whole[:batch].tobytes()
    assert cn.forward(x[0], w, b).shape == (1,)
    assert cn.forward(x[0], w, b).tobytes() == whole[0].tobytes()


def test_outputs_override_in_given_order():
    net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 3, 0, 1])
    cn = compile(net, dtype="float64", outputs=[4, 2, 0])
    x, w, b = random_values(net, 9, np.float64, 1)
    assert cn.outputs.tolist() == [4, 2, 0] and cn.n_outputs == 3
    _check_close(net, cn, x, w, b, rtol=1e-12, outputs=[4, 2, 0])


def test_thread_counts_give_identical_bits():
    net = Net(400, [(i, j) for j in range(40, 400) for i in range(j - 40, j, 3)], activations="silu")
    x, w, b = random_values(net, 6000, np.float32, 2)
    cn = compile(net, threads=3)
    # NOTE: the batch must really be cut for 2 and 3 threads, or this compares one call with itself.
    assert [len(pool.split(len(x), cn._lanes, t, cn._work)) for t in (2, 3)] == [2, 3]
    ys = [compile(net, threads=t).forward(x, w, b) for t in (1, 2, 3)]
    assert ys[0].tobytes() == ys[1].tobytes() == ys[2].tobytes()


def test_many_threads_share_one_compiled_net():
    net = Net(6, [(0, 3), (1, 3), (2, 4), (3, 5), (4, 5), (0, 5)], activations="sigmoid")
    cn = compile(net, dtype="float64", threads=1)
    results, errors = {}, []

    def work(k):
        try:
            x, w, b = random_values(net, 50 + k, np.float64, k)
            for _ in range(20):
                results[k] = (cn.forward(x, w, b), reference.forward(net, x, w, b).y)
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in results.values():
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_assembly_uses_fma():
    cn = compile(Net(3, [(0, 2), (1, 2)], activations="relu"))
    assert "vfmadd" in cn.asm
    assert "llvm.fma" in cn.ir_unoptimized


def test_ssa_ir_reads_like_the_equations():
    cn = compile(Net(3, [(0, 2), (1, 2)], activations="relu"), strategy="ssa")
    for name in ("%n00", "%n01", "%w0002", "%w0102", "%n02", "@llvm.fma"):
        assert name in cn.ir_unoptimized


def test_init_follows_the_spec():
    net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4), (0, 4)])
    w, b = compile(net, dtype="float64").init(seed=7)
    fan_in = np.array([2, 2, 3, 3, 3])
    expected = np.random.default_rng(7).uniform(-1, 1, 5) / np.sqrt(fan_in)
    assert w.dtype == np.float64 and np.array_equal(w, expected)
    assert np.array_equal(b, np.zeros(5))
    w32, b32 = compile(net).init(seed=7)
    assert w32.dtype == np.float32 and b32.dtype == np.float32


def test_a_net_with_weights_runs_without_them():
    net = Net(3, [(0, 2), (1, 2)], activations="relu", weights=[2.0, -1.0], biases=[0, 0, 0.5])
    cn = compile(net, dtype="float64")
    assert cn.forward([1.0, 1.0]).tolist() == [1.5]
    with pytest.raises(TypeError):
        compile(Net(3, [(0, 2), (1, 2)])).forward([1.0, 1.0])


def test_arguments_are_converted_and_checked():
    cn = compile(Net(3, [(0, 2), (1, 2)]), dtype="float64")
    w, b = [1.0, 2.0], [0, 0, 1]
    assert cn.forward([[1, 2]], w, b).tolist() == [[6.0]]          # ints converted
    assert cn.forward(np.array([True, False]), w, b).tolist() == [2.0]
    x_f = np.asfortranarray(np.arange(6.0).reshape(3, 2))
    assert cn.forward(x_f, w, b)[:, 0].tolist() == [3.0, 9.0, 15.0]
    assert cn.forward(np.arange(8.0).reshape(4, 2)[::2], w, b)[:, 0].tolist() == [3.0, 15.0]
    for bad_x, expected in ((np.zeros(3), r"\(2,\) or \(batch, 2\)"), (np.float64(1.0), r"\(2,\)"),
                            (np.zeros((1, 1, 2)), r"\(batch, 2\)")):
        with pytest.raises(ValueError, match=expected):
            cn.forward(bad_x, w, b)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        cn.forward([1, 2], [1.0], b)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        cn.forward([1, 2], w, [0.0])
    for bad in (["a", "b"], np.array([1 + 2j, 0]), [object(), object()]):
        with pytest.raises(TypeError):
            cn.forward(bad, w, b)


def test_compile_rejects_bad_options():
    net = Net(3, [(0, 2), (1, 2)])
    with pytest.raises(TypeError):
        compile(net, activation="relu")
    with pytest.raises(ValueError, match="strategy"):
        compile(net, strategy="fast")
    with pytest.raises(ValueError, match="dtype"):
        compile(net, dtype="int8")
    with pytest.raises(ValueError, match="outputs"):
        compile(net, outputs=[3])
    with pytest.raises(ValueError, match="threads"):
        compile(net, threads=0)


def test_public_names():
    assert jitnet.compile is compile


def test_out_buffer_is_filled_and_returned():
    net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 3, 0, 1])
    cn = compile(net, dtype="float64")
    x, w, b = random_values(net, 40, np.float64, 3)
    out = np.full((40, 1), np.nan)
    assert cn.forward(x, w, b, out=out) is out
    assert out.tobytes() == cn.forward(x, w, b).tobytes()
    one = np.empty(1)
    assert cn.forward(x[0], w, b, out=one) is one and one[0] == out[0, 0]
    for bad, error in ((np.empty((40, 1), np.float32), TypeError), (np.empty((39, 1)), ValueError),
                       (np.empty((40, 2))[:, :1], ValueError), ([[0.0]] * 40, TypeError)):
        with pytest.raises(error):
            cn.forward(x, w, b, out=bad)

"""Calls of a few samples: the one-register forward that checks numpy's array objects itself.

It must give the bits of the ordinary path, and decline (return 1, touch no
buffer) every call it cannot take, so that the checked Python path handles it.
"""

import threading

import numpy as np
import pytest
from helpers import random_values
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

import jitnet
from jitnet import nets
from jitnet.lower.abi import PRECISIONS
from jitnet.native import runtime

DTYPES = ("float32", "float64")


def _compiled(dtype="float32", sizes=(6, 5, 3)):
    cn = jitnet.compile(nets.dense(list(sizes)), dtype=dtype, threads=1)
    x, w, b = random_values(cn.net, 9, dtype)
    return cn, x, w, b


def _checked(cn):
    cn.forward(np.zeros(cn.n_inputs, cn.dtype), np.zeros(cn.n_weights, cn.dtype))
    assert cn._checked is not None
    return cn._checked


def _wide(cn, x, w, b):
    """The same samples through the tile of the ordinary entry (a batch too large for the narrow one)."""
    lanes = PRECISIONS[cn.dtype.name].narrow_lanes
    rows = np.concatenate([x, np.zeros((lanes + 1, cn.n_inputs), cn.dtype)])
    return cn.forward(rows, w, b)[:len(x)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_layout_is_checked_here(dtype):
    """On this numpy the fields are where abi says, so small calls take the checked entry."""
    assert runtime.array_layout_checked()
    cn, x, w, b = _compiled(dtype)
    assert _checked(cn)(x[0], w, b, np.empty(cn.n_outputs, cn.dtype), cn._plan.address) == 0


@settings(max_examples=20, deadline=None)
@given(net=dags(max_neurons=30), seed=st.integers(0, 1000), dtype=st.sampled_from(DTYPES),
       batch=st.integers(1, 8))
def test_same_bits_as_the_wide_tile(net, seed, dtype, batch):
    cn = jitnet.compile(net, dtype=dtype, threads=1)
    lanes = PRECISIONS[dtype].narrow_lanes
    x, w, b = random_values(net, min(batch, lanes), dtype, seed)
    expected = _wide(cn, x, w, b)
    assert cn.forward(x, w, b).tobytes() == expected.tobytes()
    assert cn.forward(x[0], w, b).tobytes() == expected[0].tobytes()
    out = np.full((len(x), cn.n_outputs), np.nan, cn.dtype)
    assert cn.forward(x, w, b, out=out) is out and out.tobytes() == expected.tobytes()


def _declined_cases(cn, x, w, b):
    """(what, x, w, b, y) calls the checked entry must decline."""
    dt = cn.dtype
    other = np.float64 if dt == np.float32 else np.float32
    y1 = np.empty(cn.n_outputs, dt)
    locked = np.empty(cn.n_outputs, dt)
    locked.flags.writeable = False
    raw = np.zeros(cn.n_inputs * dt.itemsize + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, dt, cn.n_inputs, offset=1)
    lanes = PRECISIONS[dt.name].narrow_lanes
    many = np.zeros((lanes + 1, cn.n_inputs), dt)
    return [
        ("x of another dtype", x[0].astype(other), w, b, y1),
        ("w of another dtype", x[0], w.astype(other), b, y1),
        ("y of another dtype", x[0], w, b, y1.astype(other)),
        ("x not C-ordered", np.asfortranarray(x[:2]), w, b, np.empty((2, cn.n_outputs), dt)),
        ("x strided", x[:, ::2] if cn.n_inputs == 1 else x[0, ::1][::-1], w, b, y1),
        ("x unaligned", unaligned, w, b, y1),
        ("y read-only", x[0], w, b, locked),
        ("x too long", np.zeros(cn.n_inputs + 1, dt), w, b, y1),
        ("x 0-d", np.zeros((), dt), w, b, y1),
        ("x 3-d", x[None, :1], w, b, np.empty((1, 1, cn.n_outputs), dt)),
        ("x list", x[0].tolist(), w, b, y1),
        ("x a subclass", x[:1].view(np.matrix), w, b, np.empty((1, cn.n_outputs), dt)),
        ("batch 0", x[:0], w, b, np.empty((0, cn.n_outputs), dt)),
        ("batch past the narrow tile", many, w, b, np.empty((lanes + 1, cn.n_outputs), dt)),
        ("y for another batch", x[:2], w, b, np.empty((3, cn.n_outputs), dt)),
        ("y 1-d for 2-d x", x[:1], w, b, y1),
        ("y too short", x[0], w, b, np.empty(cn.n_outputs - 1, dt)),
        ("w too short", x[0], w[:-1], b, y1),
        ("w 2-d", x[0], w[None], b, y1),
        ("b too long", x[0], w, np.append(b, 0).astype(dt), y1),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_declines_what_it_cannot_take_and_touches_nothing(dtype):
    cn, x, w, b = _compiled(dtype)
    checked = _checked(cn)
    for what, xc, wc, bc, y in _declined_cases(cn, x, w, b):
        if isinstance(y, np.ndarray) and y.flags.writeable:
            y.fill(7)
        before = y.tobytes()
        assert checked(xc, wc, bc, y, cn._plan.address) == 1, what
        assert y.tobytes() == before, what


@pytest.mark.parametrize("dtype", DTYPES)
def test_declined_calls_get_the_ordinary_results_and_errors(dtype):
    cn, x, w, b = _compiled(dtype)
    expected = _wide(cn, x[:1], w, b)[0]
    np.testing.assert_array_equal(cn.forward(x[0].tolist(), w, b), expected)
    np.testing.assert_array_equal(cn.forward(x[0].astype(np.float16), w, b),
                                  _wide(cn, x[:1].astype(np.float16).astype(dtype), w, b)[0])
    np.testing.assert_array_equal(cn.forward(x[0], w.astype(np.float16).astype(np.float64), b),
                                  _wide(cn, x[:1], w.astype(np.float16).astype(dtype), b)[0])
    with pytest.raises(ValueError, match=r"x has shape \(7,\)"):
        cn.forward(np.zeros(7, dtype), w, b)
    with pytest.raises(ValueError, match="w has shape"):
        cn.forward(x[0], w[:-1], b)
    locked = np.empty(cn.n_outputs, dtype)
    locked.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        cn.forward(x[0], w, b, out=locked)
    with pytest.raises(TypeError, match="dtype"):
        cn.forward(x[0], w, b, out=np.empty(cn.n_outputs, np.int32))


def test_without_b_and_with_the_nets_own_weights():
    cn, x, w, b = _compiled()
    np.testing.assert_array_equal(cn.forward(x[0], w), _wide(cn, x[:1], w, np.zeros_like(b))[0])
    own = jitnet.compile(cn.net.with_weights(w, b))
    np.testing.assert_array_equal(own.forward(x[0]), _wide(cn, x[:1], w, b)[0])


def test_tied_nets_keep_the_ordinary_path():
    net = nets.conv2d(4, 4, (1, 2), kernel=3, tied=True)
    cn = jitnet.compile(net)
    assert not cn._checkable
    w, b = cn.init(1)
    x = np.random.default_rng(0).normal(size=(2, net.n_inputs)).astype(np.float32)
    big = np.concatenate([x, np.zeros((9, net.n_inputs), np.float32)])
    assert cn.forward(x[0], w, b).tobytes() == cn.forward(big, w, b)[0].tobytes()


def test_without_the_layout_check_calls_still_work(monkeypatch):
    monkeypatch.setattr(runtime, "array_layout_checked", lambda: False)
    cn, x, w, b = _compiled()
    assert not cn._checkable
    assert cn.forward(x[0], w, b).tobytes() == _wide(cn, x[:1], w, b)[0].tobytes()


def test_threads_share_it_safely():
    """The tile is on each call's own stack: concurrent calls give each caller its own result."""
    cn, x, w, b = _compiled(sizes=(16, 40, 40, 4))
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(4, 300, cn.n_inputs)).astype(np.float32)
    expected = [_wide(cn, s, w, b) for s in samples]
    results = [np.empty_like(e) for e in expected]

    def work(k):
        for i, sample in enumerate(samples[k]):
            results[k][i] = cn.forward(sample, w, b)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        assert got.tobytes() == want.tobytes()

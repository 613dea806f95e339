"""The compiled VJP and losses against the float64 reference, finite differences and each other."""

import re

import numpy as np
import pytest
from helpers import namespace, random_values, split_lines
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import dags

from jitnet import reference
from jitnet.compiler import compile
from jitnet.native import pool
from jitnet.net import Net
from jitnet.text.equations import equations

# NOTE: step jumps, so a finite difference across its threshold is meaningless;
# its zero derivative is still checked against the reference.
NO_JUMP = tuple(c for c in range(16) if c != 8)
SMOOTH = tuple(c for c in range(16) if c not in (3, 7, 8, 13))


def _check_against_reference(net, cn, x, w, b, dy, rtol):
    got = cn.backward(x, w, b, dy)
    want = reference.vjp(net, x.astype(float), w.astype(float), b.astype(float), dy.astype(float),
                         outputs=cn.outputs)
    for name, g, r in zip(("dx", "dw", "db"), got, want):
        assert g.dtype == cn.dtype and g.shape == r.shape, name
        # NOTE: deep exp chains can overflow; where the oracle's own sums reach inf, where a
        # nan appears depends on the summation order, so such draws compare nothing.
        assume(np.isfinite(r).all())
        scale = 1.0 + np.abs(r).max(initial=0.0)
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale, err_msg=name)


@settings(max_examples=20, deadline=None)
@given(net=dags(), seed=st.integers(0, 1000), batch=st.sampled_from([1, 15, 17, 40]))
def test_float64_matches_reference(net, seed, batch):
    cn = compile(net, dtype="float64", strategy="csr")
    _check_against_reference(net, cn, *random_values(net, batch, np.float64, seed, cn.n_outputs), 1e-11)


@settings(max_examples=12, deadline=None)
@given(net=dags(codes=NO_JUMP), seed=st.integers(0, 1000), batch=st.sampled_from([1, 33]))
def test_float32_matches_reference(net, seed, batch):
    cn = compile(net, dtype="float32", strategy="csr")
    _check_against_reference(net, cn, *random_values(net, batch, np.float32, seed, cn.n_outputs), 1e-4)


@settings(max_examples=15, deadline=None)
@given(net=dags(codes=SMOOTH), seed=st.integers(0, 1000))
def test_central_finite_differences(net, seed):
    cn = compile(net, dtype="float64")
    x, w, b, dy = random_values(net, 3, np.float64, seed, cn.n_outputs)
    rng = np.random.default_rng(seed + 1)
    tx, tw, tb = rng.normal(size=x.shape), rng.normal(size=w.shape), rng.normal(size=b.shape)
    tb[net.inputs] = 0.0
    h = 1e-6

    def loss(s):
        return float(np.sum(dy * cn.forward(x + s * tx, w + s * tw, b + s * tb)))

    numeric = (loss(h) - loss(-h)) / (2 * h)
    dx, dw, db = cn.backward(x, w, b, dy)
    analytic = np.sum(dx * tx) + dw @ tw + db @ tb
    assert abs(numeric - analytic) <= 1e-5 * (1.0 + abs(analytic))


@settings(max_examples=6, deadline=None)
@given(net=dags(max_neurons=16), seed=st.integers(0, 1000), dtype=st.sampled_from(["float32", "float64"]))
def test_tiers_are_bit_identical(net, seed, dtype):
    outputs = list(net.outputs) + [int(net.inputs[0]), int(net.outputs[0])]
    tiers = [compile(net, dtype=dtype, strategy=s, outputs=outputs) for s in ("csr", "ssa")]
    x, w, b, dy = random_values(net, 37, dtype, seed, len(outputs))
    a, s = (cn.backward(x, w, b, dy) for cn in tiers)
    for name, u, v in zip(("dx", "dw", "db"), a, s):
        assert u.tobytes() == v.tobytes(), name


def test_threads_and_batch_splits():
    net = Net(300, [(i, j) for j in range(30, 300) for i in range(j - 30, j, 4)], activations="tanh")
    x, w, b, dy = random_values(net, 4000, np.float32, 3, net.n_outputs)
    one = compile(net, threads=1).backward(x, w, b, dy)
    three = compile(net, threads=3)
    first, again = three.backward(x, w, b, dy), three.backward(x, w, b, dy)
    assert first.dx.tobytes() == one.dx.tobytes()
    assert first.dw.tobytes() == again.dw.tobytes() and first.db.tobytes() == again.db.tobytes()
    np.testing.assert_allclose(first.dw, one.dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(first.db, one.db, rtol=1e-4, atol=1e-3)
    halves = [compile(net, threads=1).backward(x[k:k + 2000], w, b, dy[k:k + 2000])
              for k in (0, 2000)]
    assert np.concatenate([h.dx for h in halves]).tobytes() == one.dx.tobytes()


def test_shapes_batch_zero_and_named_fields():
    net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 2, 0, 1])
    cn = compile(net, dtype="float64")
    w, b = cn.init(seed=0)
    g = cn.backward(np.ones(3), w, b, np.ones(1))
    assert g._fields == ("dx", "dw", "db") and g.dx.shape == (3,)
    assert g.dw.shape == (4,) and g.db.shape == (5,) and g.db[[0, 1, 3]].tolist() == [0, 0, 0]
    empty = cn.backward(np.zeros((0, 3)), w, b, np.zeros((0, 1)))
    assert empty.dx.shape == (0, 3) and not empty.dw.any() and not empty.db.any()
    with pytest.raises(ValueError, match=r"\(2, 1\)"):
        cn.backward(np.ones((2, 3)), w, b, np.ones((3, 1)))
    with pytest.raises(TypeError):
        cn.backward(np.ones(3), w, b)


def _loss_reference(net, x, w, b, target, kind):
    y = reference.forward(net, x, w, b).y
    if kind == "mse":
        dy = y - target
        return 0.5 * np.sum(dy ** 2), dy
    t = np.eye(y.shape[1])[target] if np.asarray(target).dtype.kind in "iu" else target
    top = y.max(axis=1, keepdims=True)
    lse = top + np.log(np.exp(y - top).sum(axis=1, keepdims=True))
    return float(np.sum(t * (lse - y))), np.exp(y - lse) - t


@pytest.mark.parametrize("kind", ["mse", "xent"])
def test_loss_and_grad(kind):
    net = Net(7, [(i, j) for j in (3, 4) for i in range(3)] + [(i, j) for j in (5, 6) for i in (3, 4)],
              activations=[0, 0, 0, 2, 2, 0, 0])
    cn = compile(net, dtype="float64")
    rng = np.random.default_rng(5)
    x, (w, b) = rng.normal(size=(9, 3)), cn.init(seed=5)
    target = rng.integers(0, 2, 9) if kind == "xent" else rng.normal(size=(9, 2))
    loss, dw, db = cn.loss_and_grad(x, w, b, target, loss=kind)
    want, dy = _loss_reference(net, x, w, b, target, kind)
    _, rw, rb = reference.vjp(net, x, w, b, dy)
    assert isinstance(loss, float) and loss == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(dw, rw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, rb, rtol=1e-10, atol=1e-12)
    if kind == "xent":
        one_hot = cn.loss_and_grad(x, w, b, np.eye(2)[target], loss="xent")
        assert one_hot[0] == pytest.approx(loss, rel=1e-12)
        single = cn.loss_and_grad(x[0], w, b, np.int64(target[0]), loss="xent")
        assert single[0] == pytest.approx(_loss_reference(net, x[:1], w, b, target[:1], kind)[0])


def test_xent_is_stable_for_extreme_logits():
    net = Net(4, [(0, 2), (1, 3)])
    cn = compile(net, dtype="float32")
    x = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=np.float32)
    loss, dw, db = cn.loss_and_grad(x, [1.0, 1.0], None, np.array([1, 1]), loss="xent")
    assert np.isfinite(loss) and np.isfinite(dw).all() and np.isfinite(db).all()
    assert loss == pytest.approx(2e4, rel=1e-6)


def test_loss_arguments_are_checked():
    cn = compile(Net(3, [(0, 2), (1, 2)]), dtype="float64")
    x, w = np.ones((2, 2)), [1.0, 1.0]
    with pytest.raises(ValueError, match="loss"):
        cn.loss_and_grad(x, w, None, np.ones((2, 1)), loss="hinge")
    with pytest.raises(ValueError, match=r"\(2, 1\)"):
        cn.loss_and_grad(x, w, None, np.ones((2, 2)), loss="mse")
    with pytest.raises(ValueError, match="range"):
        cn.loss_and_grad(x, w, None, np.array([0, 3]), loss="xent")


@settings(max_examples=8, deadline=None)
@given(net=dags(max_neurons=14), seed=st.integers(0, 1000))
def test_bwd_equations_evaluate_to_the_compiled_backward(net, seed):
    """SPEC §5: ncc's corrected bwd text, evaluated line by line, gives `backward`'s numbers."""
    cn = compile(net, dtype="float64")
    x, w, b, dy = random_values(net, 4, np.float64, seed, cn.n_outputs)
    _, z, n = reference.forward(net, x, w, b)
    space = namespace(net, w)
    for j in range(net.n_neurons):
        space[net.name(j)], space["z" + net.name(j)[1:]] = n[:, j], z[:, j]
    for k, j in enumerate(net.outputs.tolist()):
        space["DLY_" + net.name(j)] = dy[:, k]
    for lhs, rhs in split_lines(equations(net, "bwd")):
        space[lhs] = eval(rhs, space)
    dx, dw, db = cn.backward(x, w, b, dy)
    for e, (i, j) in enumerate(net.edges.tolist()):
        text = space["Dw" + net.name(i)[1:] + net.name(j)[1:]].sum()
        assert text == pytest.approx(dw[e], rel=1e-10, abs=1e-10)
    for j in np.flatnonzero(net.fan_in).tolist():
        assert space["Db" + net.name(j)[1:]].sum() == pytest.approx(db[j], rel=1e-10, abs=1e-10)
    for k, i in enumerate(net.inputs.tolist()):
        np.testing.assert_allclose(space.get("D" + net.name(i), np.zeros(len(x))), dx[:, k],
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-11), ("float32", 1e-4)])
def test_every_code_in_one_net(dtype, rtol):
    """All 16 activations in one net, each on two neurons, forward and backward."""
    codes = [c for c in range(16) if dtype == "float64" or c != 8] * 2
    n_in = 3
    edges = [(i, n_in + k) for k in range(len(codes)) for i in range(n_in)]
    out = n_in + len(codes)
    edges += [(n_in + k, out) for k in range(len(codes))]
    net = Net(out + 1, edges, activations=[0] * n_in + codes + [0])
    cn = compile(net, dtype=dtype, outputs=list(range(n_in, out + 1)))
    x, w, b, dy = random_values(net, 21, dtype, 7, cn.n_outputs)
    y = cn.forward(x, w, b)
    want = reference.forward(net, x.astype(float), w.astype(float), b.astype(float), outputs=cn.outputs).y
    np.testing.assert_allclose(y, want, rtol=rtol, atol=rtol)
    _check_against_reference(net, cn, x, w, b, dy, rtol)


def _nan_buffers(cn, dx_shape):
    return tuple(np.full(shape, np.nan, dtype=cn.dtype) for shape in (dx_shape, cn.n_weights, cn.n_neurons))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_out_buffers_are_filled_bit_identically_and_returned(dtype, threads):
    """`backward(..., out=)` writes the plain call's bits into the caller's arrays, alone or split."""
    net = Net(300, [(i, j) for j in range(30, 300) for i in range(j - 30, j, 4)], activations="tanh")
    cn = compile(net, dtype=dtype, threads=threads)
    split = 2400
    # NOTE: the largest batch must really be split for threads=2, or chunk 0's
    # direct write and the later chunks' private sums go untested.
    assert len(pool.split(split, cn._lanes, threads, 3 * (net.n_weights + net.n_neurons))) == threads
    x, w, b, dy = random_values(net, split, dtype, 11, net.n_outputs)
    for batch in (None, 1, 37, split):
        xs, dys = (x[0], dy[0]) if batch is None else (x[:batch], dy[:batch])
        want = cn.backward(xs, w, b, dys)
        out = _nan_buffers(cn, xs.shape)
        for _ in range(2):  # a reused buffer is overwritten, never added to
            got = cn.backward(xs, w, b, dys, out=out)
            assert got._fields == ("dx", "dw", "db") and all(g is o for g, o in zip(got, out))
            for name, g, r in zip(got._fields, got, want):
                assert g.tobytes() == r.tobytes(), (name, batch)
    again = cn.backward(x, w, b, dy, out=got)  # a Gradients from an earlier call will do
    assert again.dx is got.dx and again.dw.tobytes() == want.dw.tobytes()
    empty = cn.backward(x[:0], w, b, dy[:0], out=_nan_buffers(cn, (0, net.n_inputs)))
    assert not empty.dw.any() and not empty.db.any()


def test_bad_out_buffers_raise_before_the_call_and_name_the_buffer():
    net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 2, 0, 1])
    cn = compile(net, dtype="float64")
    x, w, b, dy = random_values(net, 6, np.float64, 2, cn.n_outputs)
    shapes = {"dx": (6, 3), "dw": (4,), "db": (5,)}

    def read_only(shape):
        a = np.full(shape, 7.0)
        a.flags.writeable = False
        return a

    bad = [(lambda s: np.full(s, 7.0, np.float32), TypeError),
           (lambda s: np.full(s[:-1] + (s[-1] + 1,), 7.0), ValueError),
           (lambda s: np.full(s[:-1] + (2 * s[-1],), 7.0)[..., ::2], ValueError),
           (read_only, ValueError),
           (lambda s: np.full(s, 7.0).tolist(), TypeError)]
    for k, (name, shape) in enumerate(shapes.items()):
        for make, error in bad:
            out = [np.full(s, 7.0) for s in shapes.values()]
            out[k] = make(shape)
            expected = rf"out\.{name}.*" + (re.escape(str(shape)) if error is ValueError else "float64")
            with pytest.raises(error, match=expected):
                cn.backward(x, w, b, dy, out=out)
            assert all((np.asarray(o) == 7.0).all() for o in out), (name, error)
    with pytest.raises(ValueError, match=r"out\.dx.*\(3,\)"):  # one sample: dx is (n_inputs,)
        cn.backward(x[0], w, b, dy[0], out=(np.empty((1, 3)), np.empty(4), np.empty(5)))
    for wrong in (np.empty(3), np.empty(4), (np.empty((6, 3)), np.empty(4)), 0, "dx dw db",
                  (np.empty((6, 3)), np.empty(4), np.empty(5), np.empty(5))):
        with pytest.raises(TypeError, match="out"):
            cn.backward(x, w, b, dy, out=wrong)

"""The float64 oracle (jitnet.reference) against hand values, the SPEC's sum orders,
central finite differences and the JVP/VJP identity."""

import numpy as np
import pytest
from helpers import random_values
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import dags

from jitnet import reference
from jitnet.activations import ACTIVATIONS
from jitnet.net import Net
from jitnet.nets import random_dag

# Activations with kinks (or a jump), and where: finite differences must not straddle one.
KINKS = {0x3: (0.0,), 0x7: (0.0,), 0x8: (0.0,), 0xD: (0.0,), 0x10: (-1.0, 1.0), 0x11: (-1.0, 0.0, 1.0)}
ALL_CODES = [a.code for a in ACTIVATIONS]


def test_forward_and_vjp_by_hand():
    # n2 = relu(0.5 + 2 n0 - n1), n3 = n2 * 3 + n0 * 0.5 (identity), one sample.
    net = Net(4, [(0, 2), (1, 2), (2, 3), (0, 3)], activations=[0, 0, 3, 0])
    w = [2.0, -1.0, 0.5, 3.0]           # canonical order: (0,2) (1,2) (0,3) (2,3)
    b = [9.0, 9.0, 0.5, -1.0]           # the inputs' biases are ignored
    y, z, n = reference.forward(net, [1.0, 2.0], w, b)
    assert z.tolist() == [0.0, 0.0, 0.5, 1.0] and n.tolist() == [1.0, 2.0, 0.5, 1.0] and y.tolist() == [1.0]
    dx, dw, db = reference.vjp(net, [1.0, 2.0], w, b, [2.0])
    # Dn3 = 2, Dz3 = 2; Dn2 = 3 * 2 = 6, Dz2 = 6 (relu' = 1); Dn0 = 2*6 + 0.5*2; Dn1 = -6.
    assert dx.tolist() == [13.0, -6.0]
    assert dw.tolist() == [6.0, 12.0, 2.0, 1.0]
    assert db.tolist() == [0.0, 0.0, 6.0, 2.0]


def test_relu_kink_takes_pytorch_derivative():
    net = Net(2, [(0, 1)], activations=[0, "relu"])
    dx, dw, db = reference.vjp(net, [[0.0]], [1.0], None, [[1.0]])
    assert dx.tolist() == [[0.0]] and dw.tolist() == [0.0] and db.tolist() == [0.0, 0.0]


def test_sums_follow_the_spec_order():
    # 1e16 + 1 rounds back to 1e16: only the SPEC's order (b, then edges by source) gives 0.
    net = Net(4, [(0, 3), (1, 3), (2, 3)])
    y = reference.forward(net, [[1e16, 1.0, -1e16]], [1.0, 1.0, 1.0], [0, 0, 0, 1.0]).y
    assert y.tolist() == [[((1.0 + 1e16) + 1.0) + -1e16]] == [[0.0]]
    # Dn0 = sum over its out-edges in ascending target of w * Dz: 1e16, then 1, then -1e16.
    fan_out = Net(4, [(0, 1), (0, 2), (0, 3)])
    dx = reference.vjp(fan_out, [[0.0]], [1e16, 1.0, -1e16], None, [[1.0, 1.0, 1.0]]).dx
    assert dx.tolist() == [[(1e16 + 1.0) + -1e16]] == [[0.0]]


def test_batch_and_single_sample_agree():
    net = random_dag(3, 2, 12, fan_in=(1, 4), n_layers=3, activation=ALL_CODES, seed=4)
    x, w, b = random_values(net, 6, np.float64, 4)
    dy = np.random.default_rng(5).normal(size=(6, 2))
    whole = reference.forward(net, x, w, b)
    grads = reference.vjp(net, x, w, b, dy)
    for k in range(6):
        one = reference.forward(net, x[k], w, b)
        assert np.array_equal(one.y, whole.y[k]) and np.array_equal(one.n, whole.n[k])
        assert np.array_equal(reference.vjp(net, x[k], w, b, dy[k]).dx, grads.dx[k])
    empty = reference.forward(net, np.zeros((0, 3)), w, b)
    assert empty.y.shape == (0, 2) and empty.n.shape == (0, net.n_neurons)


def test_outputs_override_seeds_every_named_neuron():
    net = Net(4, [(0, 2), (1, 2), (2, 3)], activations=[0, 0, "tanh", "sigmoid"])
    x, w, b = random_values(net, 3, np.float64, 1)
    outputs = [2, 3, 2]
    y = reference.forward(net, x, w, b, outputs=outputs).y
    assert y.shape == (3, 3) and np.array_equal(y[:, 0], y[:, 2])
    _check_vjp_against_jvp(net, x, w, b, outputs, seed=2)


def test_weights_default_to_the_nets_own():
    net = Net(3, [(0, 2), (1, 2)], weights=[2.0, 3.0], biases=[0, 0, 1.0])
    assert reference.forward(net, [1.0, 1.0]).y.tolist() == [6.0]
    assert reference.forward(net, [1.0, 1.0], [2.0, 3.0]).y.tolist() == [5.0]
    with pytest.raises(TypeError, match="no weights"):
        reference.forward(Net(3, [(0, 2), (1, 2)]), [1.0, 1.0])


def test_bad_shapes_are_named():
    net = Net(3, [(0, 2), (1, 2)])
    with pytest.raises(ValueError, match=r"\(2,\) or \(batch, 2\)"):
        reference.forward(net, [1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"w has shape"):
        reference.forward(net, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"dy has shape"):
        reference.vjp(net, [1.0, 2.0], [1.0, 1.0], None, [1.0, 2.0])


def _loss(net, x, w, b, dy, outputs=None):
    """<dy, y>: its gradient is the VJP with cotangent dy."""
    return float(np.sum(dy * reference.forward(net, x, w, b, outputs=outputs).y))


def _check_vjp_against_jvp(net, x, w, b, outputs, seed):
    rng = np.random.default_rng(seed)
    n_out = net.n_outputs if outputs is None else len(outputs)
    dy = rng.normal(size=(len(x), n_out))
    tx, tw, tb = rng.normal(size=x.shape), rng.normal(size=w.shape), rng.normal(size=b.shape)
    dx, dw, db = reference.vjp(net, x, w, b, dy, outputs=outputs)
    _, ty = reference.jvp(net, x, w, b, tx, tw, tb, outputs=outputs)
    forward_mode = np.sum(dy * ty)
    reverse_mode = np.sum(dx * tx) + dw @ tw + db @ tb
    scale = np.sum(np.abs(dy * ty)) + np.sum(np.abs(dx * tx)) + np.abs(dw) @ np.abs(tw) \
        + np.abs(db) @ np.abs(tb)
    assert abs(forward_mode - reverse_mode) <= 1e-12 * (1 + scale)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(net=dags(max_neurons=12), seed=st.integers(0, 2**16))
def test_vjp_matches_jvp_for_every_activation(net, seed):
    x, w, b = random_values(net, 3, np.float64, seed)
    _check_vjp_against_jvp(net, x, w, b, None, seed + 1)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(net=dags(max_neurons=12), seed=st.integers(0, 2**16))
def test_vjp_matches_central_differences(net, seed):
    """Along one random direction in (x, w, b): <grad, v> == (L(p + hv) - L(p - hv)) / 2h."""
    x, w, b = random_values(net, 3, np.float64, seed)
    rng = np.random.default_rng(seed + 1)
    dy = rng.normal(size=(len(x), net.n_outputs))
    vx, vw, vb = rng.normal(size=x.shape), rng.normal(size=w.shape), rng.normal(size=b.shape)
    h = 1e-6
    plus = (x + h * vx, w + h * vw, b + h * vb)
    minus = (x - h * vx, w - h * vw, b - h * vb)

    for code, kinks in KINKS.items():
        at = (net.activations == code) & (net.fan_in > 0)
        for kink in kinks:
            signs = [np.sign(reference.forward(net, *p).z[:, at] - kink) for p in (plus, (x, w, b), minus)]
            assume(np.array_equal(signs[0], signs[1]) and np.array_equal(signs[1], signs[2]))
            assume(np.all(signs[1] != 0))

    dx, dw, db = reference.vjp(net, x, w, b, dy)
    analytic = np.sum(dx * vx) + dw @ vw + db @ vb
    numeric = (_loss(net, *plus, dy) - _loss(net, *minus, dy)) / (2 * h)
    assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-6)


def test_every_partial_derivative_by_central_differences():
    """Coordinate by coordinate on one net that uses every smooth activation."""
    smooth = [c for c in ALL_CODES if c not in KINKS]
    shape = random_dag(3, 2, 16, fan_in=(1, 3), n_layers=3, seed=7)
    hidden = shape.n_neurons - shape.n_inputs
    net = Net(shape.n_neurons, shape.edges.tolist(),
              activations=[0] * shape.n_inputs + [smooth[k % len(smooth)] for k in range(hidden)])
    assert set(net.activations[net.n_inputs:]) == set(smooth)
    x, w, b = random_values(net, 2, np.float64, 7)
    dy = np.random.default_rng(8).normal(size=(2, 2))
    dx, dw, db = reference.vjp(net, x, w, b, dy)
    h = 1e-6
    for grad, arg in ((dx, 0), (dw, 1), (db, 2)):
        params = [x, w, b]
        for k in np.ndindex(grad.shape):
            up = [p.copy() for p in params]
            down = [p.copy() for p in params]
            up[arg][k] += h
            down[arg][k] -= h
            numeric = (_loss(net, *up, dy) - _loss(net, *down, dy)) / (2 * h)
            assert numeric == pytest.approx(grad[k], rel=1e-6, abs=1e-8), (arg, k)

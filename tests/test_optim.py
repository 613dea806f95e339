"""Optimizers (SPEC §7): the first steps against hand-computed numbers, weight decay, state, checks."""

import numpy as np
import pytest

from jitnet.optim import SGD, Adam, RMSprop


def _run(opt, p0, grads):
    """Parameter values after each step of `opt` on one parameter starting at `p0`."""
    p = np.array(p0, dtype=np.float64)
    seen = []
    for g in grads:
        opt.step([p], [np.array(g, dtype=np.float64)])
        seen.append(p.copy())
    return seen


def test_sgd_plain():
    seen = _run(SGD(0.1), [1.0, -2.0], [[2.0, 4.0], [-1.0, 0.5]])
    np.testing.assert_allclose(seen, [[0.8, -2.4], [0.9, -2.45]], rtol=1e-15)


def test_sgd_momentum_is_an_average_of_gradients():
    # v1 = 0.5*2 = 1, p1 = 1 - 0.1*1; v2 = 0.5*1 + 0.5*2 = 1.5, p2 = 0.9 - 0.15;
    # v3 = 0.5*1.5 + 0.5*(-1) = 0.25, p3 = 0.75 - 0.025.
    seen = _run(SGD(0.1, momentum=0.5), [1.0], [[2.0], [2.0], [-1.0]])
    np.testing.assert_allclose(np.concatenate(seen), [0.9, 0.75, 0.725], rtol=1e-15)


def test_rmsprop():
    # s1 = 0.25*2^2 = 1, p1 = 1 - 0.1*2/1; s2 = 0.75*1 + 0.25*16 = 4.75, p2 = 0.8 + 0.4/sqrt(4.75).
    seen = _run(RMSprop(0.1, beta=0.75, eps=0.0), [1.0], [[2.0], [-4.0]])
    np.testing.assert_allclose(np.concatenate(seen), [0.8, 0.8 + 0.4 / np.sqrt(4.75)], rtol=1e-15)


def test_rmsprop_eps_inside_the_square_root():
    # s = 0.1*(1e-4)^2 = 1e-9: eps=1e-8 under the root gives 1e-4/sqrt(1.1e-8) = 0.953...,
    # where eps outside it would give 1e-4/(sqrt(1e-9) + 1e-8) = 2.40...
    (p,) = _run(RMSprop(1.0), [0.0], [[1e-4]])
    np.testing.assert_allclose(p, [-1e-4 / np.sqrt(1.1e-8)], rtol=1e-12)


def test_adam_with_bias_correction():
    # t=1: m_hat = g and v_hat = g^2, so the step is lr*sign(g) (eps=0).
    # t=2: m = 0.9*0.2 - 0.1 = 0.08, v = 0.999*0.004 + 0.001 = 0.004996,
    #      m_hat = 0.08/0.19, v_hat = 0.004996/0.001999.
    # t=3: m = 0.9*0.08 + 0.1*3 = 0.372, v = 0.999*0.004996 + 0.001*9 = 0.013991004,
    #      m_hat = 0.372/0.271, v_hat = 0.013991004/0.002997001.
    seen = _run(Adam(0.1, eps=0.0), [1.0], [[2.0], [-1.0], [3.0]])
    p2 = 0.9 - 0.1 * (0.08 / 0.19) / np.sqrt(0.004996 / 0.001999)
    p3 = p2 - 0.1 * (0.372 / 0.271) / np.sqrt(0.013991004 / 0.002997001)
    np.testing.assert_allclose(np.concatenate(seen), [0.9, p2, p3], rtol=1e-12)


def test_adam_eps_outside_the_square_root():
    (p,) = _run(Adam(1.0, eps=0.5), [0.0], [[2.0]])
    np.testing.assert_allclose(p, [-2.0 / 2.5], rtol=1e-15)


@pytest.mark.parametrize("make", [lambda wd: SGD(0.1, weight_decay=wd),
                                  lambda wd: SGD(0.1, momentum=0.9, weight_decay=wd),
                                  lambda wd: RMSprop(0.1, weight_decay=wd),
                                  lambda wd: Adam(0.1, weight_decay=wd)])
def test_weight_decay_adds_to_the_gradient(make):
    # Decay 0.5 on p = 2 adds 1 to the gradient: the same steps as gradient g + 1.
    decayed = _run(make(0.5), [2.0], [[1.0]])
    plain = _run(make(0.0), [2.0], [[2.0]])
    np.testing.assert_array_equal(decayed, plain)
    assert decayed[0][0] != 2.0


def test_weight_decay_uses_the_current_parameter():
    # Step 1: g = 1 + 0.5*2 = 2, p = 1.8; step 2: g = 1 + 0.5*1.8 = 1.9, p = 1.61.
    seen = _run(SGD(0.1, weight_decay=0.5), [2.0], [[1.0], [1.0]])
    np.testing.assert_allclose(np.concatenate(seen), [1.8, 1.61], rtol=1e-15)


OPTIMIZERS = [lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9, weight_decay=0.1),
              lambda: RMSprop(0.01, weight_decay=0.1), lambda: Adam(0.01, weight_decay=0.1)]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_step_never_changes_the_gradients(make):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=5), rng.normal(size=3)
    dw, db = rng.normal(size=5), rng.normal(size=3)
    dw0, db0 = dw.copy(), db.copy()
    opt = make()
    for _ in range(3):
        opt.step([w, b], [dw, db])
    np.testing.assert_array_equal(dw, dw0)
    np.testing.assert_array_equal(db, db0)


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_state_is_kept_per_parameter(make):
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=4), rng.normal(size=2)
    grads = [(rng.normal(size=4), rng.normal(size=2)) for _ in range(3)]
    together, alone_w, alone_b = make(), make(), make()
    w1, b1 = w.copy(), b.copy()
    for dw, db in grads:
        together.step([w, b], [dw, db])
        alone_w.step([w1], [dw])
        alone_b.step([b1], [db])
    np.testing.assert_array_equal(w, w1)
    np.testing.assert_array_equal(b, b1)


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_float32_stays_float32(make):
    p = np.ones(3, dtype=np.float32)
    make().step([p], [np.array([0.5, -1.0, 2.0])])
    assert p.dtype == np.float32
    assert not np.array_equal(p, np.ones(3))


def test_first_step_computes_in_the_parameter_dtype():
    p = np.ones(3, dtype=np.float32)
    g = np.array([0.3, -0.7, 1.1], dtype=np.float32)
    SGD(0.1).step([p], [g])
    expected = np.float32(1) - np.float32(0.1) * g
    np.testing.assert_array_equal(p, expected)


def test_state_shapes_must_match_across_steps():
    opt = Adam()
    opt.step([np.zeros(3), np.zeros(2)], [np.ones(3), np.ones(2)])
    with pytest.raises(ValueError, match=r"params\[1\] is float64 \(4,\).*state for it is float64 \(2,\)"):
        opt.step([np.zeros(3), np.zeros(4)], [np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="state is for 2"):
        opt.step([np.zeros(3)], [np.ones(3)])
    assert opt.t == 1


def test_argument_checks():
    with pytest.raises(ValueError, match="1 params but 2 grads"):
        SGD(0.1).step([np.zeros(2)], [np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(3,\); expected \(2,\)"):
        SGD(0.1).step([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(TypeError, match="numpy array"):
        SGD(0.1).step([[0.0, 0.0]], [np.zeros(2)])
    with pytest.raises(TypeError, match="floating-point"):
        SGD(0.1).step([np.zeros(2, dtype=int)], [np.zeros(2)])
    with pytest.raises(ValueError, match="lr=-0.1"):
        SGD(-0.1)
    with pytest.raises(ValueError, match=r"momentum=1.0; expected a number in \[0, 1\)"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta2"):
        Adam(beta2=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        RMSprop(0.1, weight_decay=-1)

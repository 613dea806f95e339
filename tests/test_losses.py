"""Loss targets (SPEC §4): a dtype mistake is named as one, and xent float rows must be probabilities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitnet import Net
from jitnet.compiler import compile
from jitnet.losses import check_target, loss_and_cotangent


@pytest.fixture(scope="module")
def cn():
    return compile(Net(4, [(0, 2), (1, 2), (0, 3), (1, 3)]), dtype="float64")


def test_float_class_labels_are_told_to_be_integers(cn):
    with pytest.raises(ValueError, match=r"class indices must be integers; got float64 — use \.astype\(int\)"):
        cn.loss_and_grad(np.ones((10, 2)), [1.0] * 4, None, np.zeros(10), loss="xent")


def test_integer_one_hot_rows_are_told_to_be_floats(cn):
    with pytest.raises(ValueError, match=r"one-hot rows must be floats; got int64"):
        cn.loss_and_grad(np.ones((3, 2)), [1.0] * 4, None, np.eye(2, dtype=np.int64)[[0, 1, 0]], loss="xent")


@pytest.mark.parametrize("rows, message", [
    ([[1.5, -0.5], [0.0, 1.0]], r"target\[0\] has an entry that is negative"),
    ([[0.5, 0.5], [0.3, 0.3]], r"target\[1\] sums to 0\.6"),
    ([[np.nan, 1.0], [0.0, 1.0]], r"target\[0\] has an entry that is negative or not finite"),
])
def test_xent_float_targets_must_be_probabilities(cn, rows, message):
    with pytest.raises(ValueError, match=message):
        cn.loss_and_grad(np.ones((2, 2)), [1.0] * 4, None, np.array(rows), loss="xent")


def test_mse_with_class_labels_hints_at_xent(cn):
    hint = r"integer class labels: for classification use loss='xent' \(--loss xent\)"
    with pytest.raises(ValueError, match=hint):
        cn.loss_and_grad(np.ones((3, 2)), [1.0] * 4, None, np.array([0, 1, 1]), loss="mse")
    with pytest.raises(ValueError) as e:
        cn.loss_and_grad(np.ones((3, 2)), [1.0] * 4, None, np.zeros((3, 3)), loss="mse")
    assert "xent" not in str(e.value), "a float target of the wrong shape is no class label"


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2 ** 31))
def test_probability_rows_and_their_class_indices_give_the_same_loss(n, k, seed):
    """A float32 softmax (rows off 1 by rounding) is accepted; one-hot floats equal class indices."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, k))
    logits = rng.normal(size=(n, k)).astype(np.float32)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    value, _ = loss_and_cotangent("xent", y, p, False)
    top = y.max(axis=1, keepdims=True)
    want = float(np.sum(p.astype(np.float64) * (top + np.log(np.exp(y - top).sum(axis=1, keepdims=True)) - y)))
    assert value == pytest.approx(want, rel=1e-12)
    classes = rng.integers(0, k, n)
    assert loss_and_cotangent("xent", y, classes, False)[0] == pytest.approx(
        loss_and_cotangent("xent", y, np.eye(k)[classes], False)[0], rel=1e-12)


def test_check_target_names_the_argument():
    with pytest.raises(ValueError, match=r"^Y: class indices must be integers"):
        check_target("xent", np.zeros(4), 4, 3, False, "Y")
    assert check_target("xent", np.int32(2), 1, 3, True).tolist() == [2]

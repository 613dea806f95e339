"""Losses over a batch of outputs: (y, target) -> (loss, dL/dy), in float64 (SPEC §4).

`check_target` is the one place that decides what a target may be, so that
`CompiledNet.loss_and_grad` and `jitnet.train` give the same message for the
same mistake, and that message names the actual problem: a dtype (float class
labels, integer one-hot rows) is reported as a dtype, not as a wrong shape.
"""

from typing import Tuple

import numpy as np

from .native.checks import real_array

LOSSES = ("mse", "xent")

# NOTE: a float row of probabilities may miss 1 by rounding (a float32 softmax
# is off by a few ulps); 1e-4 accepts every such row and rejects real mistakes.
_SUM_TOLERANCE = 1e-4


def check_target(kind: str, target, n: int, k: int, single: bool, name: str = "target") -> np.ndarray:
    """`target` checked for `n` samples of `k` outputs: int class indices (n,) or floats (n, k).

    Args:
        kind: "mse" or "xent".
        target: what the caller gave.
        n, k: the batch size and the number of outputs.
        single: the sample is one 1-D `x` (then `target` has no batch axis).
        name: the argument's name in messages ("target", "Y").

    Returns:
        For "xent" with integer targets, an int64 array of `n` class indices;
        otherwise a float64 array of shape (n, k).

    Raises:
        ValueError: for an unknown loss, a wrong shape or dtype, a class out
            of range, or (xent) float rows that are not probabilities.
        TypeError: for a target that is not a real numeric array.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss={kind!r}; expected one of {', '.join(LOSSES)}")
    # NOTE: ascontiguousarray (inside real_array) makes a 0-d array 1-d; the caller's shape is kept.
    # asarray first: a non-numeric target still reaches real_array, which names it (a TypeError).
    raw = np.asarray(target)
    raw = real_array(raw, name, raw.dtype).reshape(raw.shape)
    rows = (k,) if single else (n, k)
    labels = () if single else (n,)
    integer = raw.dtype.kind in "iu"
    if kind == "mse":
        if raw.shape != rows:
            hint = ("; these look like integer class labels: for classification use loss='xent' "
                    "(--loss xent)" if integer and raw.shape == labels else "")
            raise ValueError(f"{name} has shape {raw.shape}; expected {rows}, shaped like the outputs{hint}")
        return raw.astype(np.float64, copy=False).reshape(n, k)
    if integer:
        if raw.shape == labels:
            return _classes(raw.reshape(n), k, name)
        if raw.shape == rows:
            raise ValueError(f"{name}: one-hot rows must be floats; got {raw.dtype} "
                             f"- use .astype(float) (integers are class indices, shape {labels})")
    elif raw.shape == labels and raw.dtype.kind == "f":
        raise ValueError(f"{name}: class indices must be integers; got {raw.dtype} — use .astype(int)")
    if raw.shape != rows:
        raise ValueError(f"{name} has shape {raw.shape}; expected {labels} integer class indices "
                         f"or {rows} float one-hot or probability rows")
    return _probabilities(raw.astype(np.float64, copy=False).reshape(n, k), name)


# NOTE: the checks below run on every loss_and_grad call, whose native part
# costs ~1 ms for a small net at batch 4096: each first asks one cheap
# question of the whole array (its min, a matrix-vector product for the
# row sums: ~30 us where np.isfinite, t < 0 and t.sum(axis=1) took ~140 us),
# and only a target that fails it is scanned for the first bad row to name.


def _classes(classes: np.ndarray, k: int, name: str) -> np.ndarray:
    if classes.size and (classes.min() < 0 or classes.max() >= k):
        bad = np.flatnonzero((classes < 0) | (classes >= k))
        raise ValueError(f"{name}[{bad[0]}] is class {classes[bad[0]]}; expected 0 .. {k - 1}, "
                         f"one class per output (out of range)")
    return classes.astype(np.int64, copy=False)


def _probabilities(t: np.ndarray, name: str) -> np.ndarray:
    """Float xent targets must be distributions: softmax cross-entropy means nothing otherwise."""
    # NOTE: min is NaN if any entry is (NaN >= 0 is false) and < 0 for -inf; once every entry is
    # >= 0, a row with +inf (or so large that it overflows) sums to inf, so the sums find it.
    with np.errstate(invalid="ignore", over="ignore"):  # NOTE: inf - inf in a bad row is reported below
        off_by = np.abs(t @ np.ones(t.shape[1]) - 1.0)
    if t.min(initial=0.0) >= 0 and off_by.max(initial=0.0) <= _SUM_TOLERANCE:
        return t
    _check_entries(t, name)
    off = np.flatnonzero(off_by > _SUM_TOLERANCE)
    if off.size:
        raise ValueError(f"{name}[{off[0]}] sums to {float(t[off[0]].sum())!r}; expected one-hot or "
                         f"probability rows, each summing to 1")
    return t


def _check_entries(t: np.ndarray, name: str) -> None:
    if not np.isfinite(t).all() or (t < 0).any():
        row = int(np.flatnonzero((~np.isfinite(t) | (t < 0)).any(axis=1))[0])
        raise ValueError(f"{name}[{row}] has an entry that is negative or not finite; expected "
                         f"one-hot or probability rows (entries >= 0, each row summing to 1)")


def loss_and_cotangent(kind: str, y: np.ndarray, target, single: bool) -> Tuple[float, np.ndarray]:
    """(loss summed over the batch, dL/dy) for "mse" or "xent" (SPEC §4), in float64."""
    y = y.astype(np.float64)
    t = check_target(kind, target, len(y), y.shape[1], single)
    if kind == "mse":
        diff = y - t
        # NOTE: huge outputs overflow to inf quietly: the caller (train) reports a non-finite loss itself.
        with np.errstate(over="ignore", invalid="ignore"):
            return 0.5 * float(np.sum(diff * diff)), diff
    if t.ndim == 1:
        t = np.eye(y.shape[1])[t] if len(t) else np.zeros_like(y)
    # NOTE: log-sum-exp after subtracting the row maximum: no overflow even
    # for logits of +-1e4, and softmax = exp(y - lse) never divides by 0.
    top = y.max(axis=1, keepdims=True) if y.shape[1] else np.zeros((len(y), 1))
    lse = top + np.log(np.sum(np.exp(y - top), axis=1, keepdims=True))
    value = float(np.sum(t * (lse - y)))
    return value, np.exp(y - lse) * t.sum(axis=1, keepdims=True) - t

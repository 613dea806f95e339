"""Losses over a batch of outputs: (y, target) -> (loss, dL/dy), in float64 (SPEC §4)."""

import numpy as np

from .native.checks import real_array

LOSSES = ("mse", "xent")


def loss_and_cotangent(kind: str, y: np.ndarray, target, single: bool):
    """(loss summed over the batch, dL/dy) for "mse" or "xent" (SPEC §4), in float64."""
    y = y.astype(np.float64)
    if kind == "mse":
        t = real_array(target, "target", np.float64)
        t = _target_shape(t, y, single)
        diff = y - t
        return 0.5 * float(np.sum(diff * diff)), diff
    if kind != "xent":
        raise ValueError(f"loss={kind!r}; expected 'mse' or 'xent'")
    raw = np.asarray(target)
    if raw.dtype.kind in "biu" and raw.dtype.kind != "b":
        classes = raw.reshape(1) if single and raw.ndim == 0 else raw
        if classes.shape != (len(y),):
            expected = "a 0-d class index" if single else f"({len(y)},) class indices"
            raise ValueError(f"target has shape {raw.shape}; expected {expected} or one-hot {y.shape}")
        if len(classes) and (classes.min() < 0 or classes.max() >= y.shape[1]):
            raise ValueError(f"target class out of range 0..{y.shape[1] - 1}")
        t = np.zeros_like(y)
        t[np.arange(len(y)), classes] = 1.0
    else:
        t = _target_shape(real_array(raw, "target", np.float64), y, single)
    # NOTE: log-sum-exp after subtracting the row maximum: no overflow even
    # for logits of +-1e4, and softmax = exp(y - lse) never divides by 0.
    top = y.max(axis=1, keepdims=True) if y.shape[1] else np.zeros((len(y), 1))
    lse = top + np.log(np.sum(np.exp(y - top), axis=1, keepdims=True))
    value = float(np.sum(t * (lse - y)))
    return value, np.exp(y - lse) * t.sum(axis=1, keepdims=True) - t


def _target_shape(t, y, single):
    expected = y.shape[1:] if single else y.shape
    if t.shape != expected:
        raise ValueError(f"target has shape {t.shape}; expected {expected}, shaped like y")
    return t.reshape(y.shape)

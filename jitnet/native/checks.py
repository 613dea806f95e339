"""Argument checks at the call boundary: array-likes -> C-ordered arrays of the right dtype (SPEC §4).

Every native call is preceded by these, so native code never reads or writes
outside a buffer.
"""

from typing import Tuple

import numpy as np


def real_array(value, name: str, dtype: np.dtype) -> np.ndarray:
    """`value` as a C-ordered array of `dtype`; a TypeError for anything not real and numeric."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a real numeric array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def check_out(out, shape: tuple, dtype: np.dtype, name: str = "out") -> None:
    """`out=` (`name` in errors) must be a writable C-ordered ndarray of the right dtype and shape."""
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise TypeError(f"{name} must be a numpy array of dtype {dtype}, got "
                        f"{getattr(out, 'dtype', type(out).__name__)}")
    if out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} has shape {out.shape}; expected a writable C-ordered {shape}")


def as_array(value, name: str, dtype: np.dtype) -> np.ndarray:
    """`value` as a C-ordered array of `dtype`: itself, with no cost, when it already is one."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous:
        return value
    return real_array(value, name, dtype)


def samples(x, n_inputs: int, dtype: np.dtype) -> Tuple[np.ndarray, bool]:
    """(x as (batch, n_inputs), whether it was one sample of shape (n_inputs,))."""
    x = as_array(x, "x", dtype)
    if x.ndim == 1 and x.shape[0] == n_inputs:
        return x.reshape(1, n_inputs), True
    if x.ndim == 2 and x.shape[1] == n_inputs:
        return x, False
    raise ValueError(f"x has shape {x.shape}; expected ({n_inputs},) or (batch, {n_inputs})")


def cotangent(dy, batch: int, single: bool, n_outputs: int, dtype: np.dtype) -> np.ndarray:
    """dy as (batch, n_outputs); it must be shaped like forward's y."""
    dy = real_array(dy, "dy", dtype)
    expected = (n_outputs,) if single else (batch, n_outputs)
    if dy.shape != expected:
        raise ValueError(f"dy has shape {dy.shape}; expected {expected}, shaped like forward's y")
    return dy.reshape(batch, n_outputs)


def parameters(w, b, n_weights: int, n_biases: int, dtype: np.dtype, tied: Tuple[bool, bool] = (False, False),
               rows: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """w (n_weights,) and b (n_biases,) as arrays of `dtype`; with `rows`, w may also be
    (S, n_weights) and b (S, n_biases) beside it."""
    w = as_array(w, "w", dtype)
    per_w = "weight parameter" if tied[0] else "edge"
    per_b = "bias parameter" if tied[1] else "neuron"
    if w.shape != (n_weights,) and not (rows and w.ndim == 2 and w.shape[1] == n_weights):
        extra = f" or (S, {n_weights})" if rows else ""
        raise ValueError(f"w has shape {w.shape}; expected ({n_weights},){extra}, one per {per_w}")
    b = as_array(b, "b", dtype)
    if b.shape != (n_biases,) and not (w.ndim == 2 and b.shape == (len(w), n_biases)):
        extra = f" or ({len(w)}, {n_biases})" if w.ndim == 2 else ""
        raise ValueError(f"b has shape {b.shape}; expected ({n_biases},){extra}, one per {per_b}")
    return w, b


def gradient_buffers(out, dx_shape: tuple, n_weights: int, n_biases: int, dtype: np.dtype) -> tuple:
    """`backward`'s `out=` as (dx, dw, db), each buffer checked (and named in the error)."""
    try:
        dx, dw, db = out
    except (TypeError, ValueError):
        raise TypeError(f"out must be three arrays (dx, dw, db), got {type(out).__name__}") from None
    check_out(dx, dx_shape, dtype, "out.dx")
    check_out(dw, (n_weights,), dtype, "out.dw")
    check_out(db, (n_biases,), dtype, "out.db")
    return dx, dw, db

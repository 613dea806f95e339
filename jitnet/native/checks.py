"""Argument checks at the call boundary: array-likes -> C-ordered arrays of the right dtype (SPEC §4).

Every native call is preceded by these, so native code never reads or writes
outside a buffer.
"""

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


def check_out(out, shape, dtype, name: str = "out") -> None:
    """`out=` (`name` in errors) must be a writable C-ordered ndarray of the right dtype and shape."""
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise TypeError(f"{name} must be a numpy array of dtype {dtype}, got "
                        f"{getattr(out, 'dtype', type(out).__name__)}")
    if out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} has shape {out.shape}; expected a writable C-ordered {shape}")

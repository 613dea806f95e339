"""`Gradients`, the result of a VJP, one type for the compiled code and the float64 oracle."""

from typing import NamedTuple

import numpy as np


class Gradients(NamedTuple):
    """The VJP of a forward pass: `dx` per sample (batch, n_inputs); `dw` and `db` summed over the
    batch, one per weight and bias parameter."""

    dx: np.ndarray
    dw: np.ndarray
    db: np.ndarray

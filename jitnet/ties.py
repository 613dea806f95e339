"""Shared parameters (SPEC §10): tie lists checked, parameters expanded to edges and gradients folded back.

A tied net keeps its edges as they are; `weight_ties[e]` names the weight
parameter edge e uses and `bias_ties[j]` neuron j's bias parameter (-1: none).
Compiled code always works per edge and per neuron, so a call expands the
parameters (`w[weight_ties]`, a gather) and folds the per-edge gradients back
into per-parameter sums, in ascending canonical edge (or neuron) order, which
fixes their bits.
"""

from typing import Optional, Tuple

import numpy as np

_INDEX = np.int64


def weight_tie_array(ties, n_edges: int, n_weights: Optional[int]) -> Tuple[np.ndarray, int]:
    """(one parameter index per edge, P): P is `n_weights` when given, else max + 1."""
    t = _int_array(ties, n_edges, "weight_ties", "edge")
    low = int(t.min()) if t.size else 0
    if low < 0:
        raise ValueError(f"weight_ties[{int(np.argmax(t < 0))}] is {low}; expected a parameter index >= 0")
    return t, _count(t, n_weights, "n_weights", "weight_ties")


def bias_tie_array(ties, n_neurons: int, is_input: np.ndarray, n_biases: Optional[int]) -> Tuple[np.ndarray, int]:
    """(one bias parameter per neuron, -1 for none; Q): inputs must have -1."""
    u = _int_array(ties, n_neurons, "bias_ties", "neuron")
    if u.size and u.min() < -1:
        raise ValueError(f"bias_ties[{int(np.argmax(u < -1))}] is {int(u.min())}; expected -1 (no bias) "
                         f"or a parameter index >= 0")
    biased_inputs = np.flatnonzero(is_input & (u != -1))
    if biased_inputs.size:
        j = int(biased_inputs[0])
        raise ValueError(f"bias_ties[{j}] is {int(u[j])} for an input neuron; expected -1 (inputs have no bias)")
    return u, _count(u, n_biases, "n_biases", "bias_ties")


def _int_array(values, length: int, what: str, per: str) -> np.ndarray:
    a = np.asarray(values)
    if a.size == 0:
        a = a.astype(_INDEX)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got dtype {a.dtype}")
    if a.shape != (length,):
        raise ValueError(f"{what} has shape {a.shape}; expected ({length},), one per {per}")
    return a.astype(_INDEX)


def _count(ties: np.ndarray, given: Optional[int], what: str, source: str) -> int:
    needed = int(ties.max()) + 1 if ties.size else 0
    if given is None:
        return max(needed, 0)
    if isinstance(given, bool) or not isinstance(given, (int, np.integer)) or given < 0:
        raise ValueError(f"{what}={given!r}; expected a count >= 0")
    if given < needed:
        raise ValueError(f"{what}={given} but {source} names parameter {needed - 1}; expected {what} >= {needed}")
    return int(given)


def expand(values, ties: Optional[np.ndarray], out_dtype=np.float64):
    """Per-parameter `values` as one value per edge (or neuron; -1 gives 0): a C-ordered gather.
    Untied (`ties` None) or no values (None): `values` as they are."""
    if ties is None or values is None:
        return values
    padded = np.concatenate([values.astype(out_dtype, copy=False), np.zeros(1, out_dtype)])
    return padded[ties]   # NOTE: -1 reads the appended zero


def fold(per_edge: np.ndarray, ties: Optional[np.ndarray], count: int,
         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-edge (or per-neuron) gradients summed per parameter, in ascending edge order; -1 dropped."""
    if ties is None:
        if out is not None and out is not per_edge:
            out[...] = per_edge
            return out
        return per_edge
    result = np.zeros(count, per_edge.dtype) if out is None else out
    result.fill(0)
    used = ties >= 0
    # NOTE: np.add.at adds unbuffered in index order, so each sum runs in ascending edge order.
    np.add.at(result, ties[used], per_edge[used])
    return result


def largest_fan_in(ties: np.ndarray, count: int, fan_in_per_edge: np.ndarray) -> np.ndarray:
    """F_p: the largest fan-in among the neurons parameter p's edges feed (1 for an unused one)."""
    largest = np.ones(count, dtype=np.int64)
    np.maximum.at(largest, ties, fan_in_per_edge)
    return largest


def collapse(per_edge: Optional[np.ndarray], ties: np.ndarray, count: int) -> Optional[np.ndarray]:
    """Per-edge values as per-parameter ones when every parameter's edges agree bitwise (and
    those with no parameter, -1, are 0), else None."""
    if per_edge is None:
        return None
    used = ties >= 0
    if (per_edge[~used] != 0).any():
        return None
    values = np.zeros(count)
    values[ties[used]] = per_edge[used]
    if not np.array_equal(values[ties[used]].view(np.uint64), per_edge[used].view(np.uint64)):
        return None
    return values

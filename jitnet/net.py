"""The graph model: edges (any order) -> an immutable, checked `Net` (SPEC §1, §4).

Everything about a net's structure lives here and only here: the canonical
edge order (by target, then source), the CSC arrays the forward pass walks,
their CSR transpose for the backward pass, inputs, outputs, each neuron's
depth, and the topological schedules. Every other stage reads these arrays,
so the sum order the SPEC fixes cannot drift between them.

All arrays are numpy and read-only; nothing is ever N x N and nothing holds a
Python object per edge, so a net of millions of edges costs a few arrays.

NOTE: over 400 lines on purpose: every rule about a net's structure (the
graph checks, the schedules, ties and outputs included) is here so that no
other stage can disagree with it.
"""

import heapq
import math
from typing import Optional, Sequence

import numpy as np

from .activations import ACTIVATIONS, activation_code
from .errors import GraphError
from .ties import bias_tie_array, collapse, expand, weight_tie_array

_INDEX = np.int64
_PAIR_KEY_LIMIT = math.isqrt(2**63 - 1)  # the largest n with n * n < 2**63


def name_width(n_neurons: int) -> int:
    """ncc's name width K: max(2, hex digits of N-1) (SPEC §5)."""
    return max(2, len(f"{max(n_neurons - 1, 0):x}"))


def neuron_name(j: int, n_neurons: int) -> str:
    """ncc's name of neuron j, e.g. `n0c` (lowercase hex, zero-padded to K digits)."""
    return f"n{j:0{name_width(n_neurons)}x}"


def ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of arange(start, stop) for each pair, without a Python loop."""
    counts = stops - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=_INDEX)
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(total, dtype=_INDEX)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class Net:
    """A feed-forward net: N neurons, weighted edges i -> j, one activation per neuron.

    Built by the parsers and generators, or directly::

        >>> net = Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 3, 0, 1])
        >>> net.inputs.tolist(), net.outputs.tolist()
        ([0, 1, 3], [4])

    Args:
        n_neurons: N >= 1.
        edges: pairs (i, j), any order, no repeats, no cycles.
        activations: one code or name per neuron; a single code or name for
            every non-input neuron; or None for identity everywhere.
        weights: one float per edge, in the order of `edges` (stored in
            canonical order), or None.
        biases: one float per neuron, or None.
        outputs: the readout neurons in order (repeats allowed), or None for
            SPEC §1's (the non-inputs without out-edges, ascending).
        weight_ties: one weight parameter index per edge (in the order of
            `edges`), or None for one weight per edge; `weights` then holds
            P = `n_weights` (default: the largest index + 1) values.
        bias_ties: one bias parameter index per neuron, -1 for none (inputs
            must be -1), or None; `biases` then holds Q = `n_biases` values.

    Raises:
        ValueError: for a bad index, a repeated edge, a cycle (named), a
            non-identity input, or arrays of the wrong length.
    """

    __slots__ = ("n_neurons", "edges", "activations", "weights", "biases", "in_ptr", "out_ptr",
                 "out_dst", "out_edge", "inputs", "outputs", "default_outputs", "depth", "level_order",
                 "_schedule", "weight_ties", "bias_ties", "_n_weights", "_n_biases")
    n_neurons: int
    edges: np.ndarray           # (W, 2) pairs (i, j), canonical order
    activations: np.ndarray     # one uint8 code per neuron
    weights: Optional[np.ndarray]
    biases: Optional[np.ndarray]
    in_ptr: np.ndarray          # CSC: neuron j's in-edges are in_ptr[j]:in_ptr[j+1]
    out_ptr: np.ndarray         # CSR: neuron i's out-edges are out_edge[out_ptr[i]:out_ptr[i+1]]
    out_dst: np.ndarray
    out_edge: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    default_outputs: np.ndarray
    depth: np.ndarray
    level_order: np.ndarray
    _schedule: Optional[np.ndarray]
    weight_ties: Optional[np.ndarray]   # one weight parameter per edge, canonical order
    bias_ties: Optional[np.ndarray]     # one bias parameter per neuron, -1 for none
    _n_weights: int
    _n_biases: int

    def __init__(self, n_neurons: int, edges, activations=None, weights=None, biases=None,
                 outputs=None, weight_ties=None, bias_ties=None, n_weights=None, n_biases=None) -> None:
        n = _count(n_neurons)
        src, dst = _edge_arrays(edges, n)
        order = _pair_order(dst, src, n)
        src, dst = src[order], dst[order]
        _check_repeats(src, dst, order, n)

        in_ptr = np.zeros(n + 1, dtype=_INDEX)
        np.cumsum(np.bincount(dst, minlength=n), out=in_ptr[1:])
        # NOTE: dst ascends within each src already, so a stable sort by src
        # gives the (src, dst) order.
        out_edge = np.argsort(src, kind="stable").astype(_INDEX, copy=False)
        out_ptr = np.zeros(n + 1, dtype=_INDEX)
        np.cumsum(np.bincount(src, minlength=n), out=out_ptr[1:])
        out_dst = dst[out_edge]
        depth = _depths(n, in_ptr, out_ptr, out_dst, src, dst, order)

        is_input = in_ptr[1:] == in_ptr[:-1]
        has_out = out_ptr[1:] != out_ptr[:-1]
        codes = _activation_codes(activations, n, is_input)
        if weight_ties is None:
            if n_weights is not None:
                raise ValueError("n_weights= is for a tied net; pass weight_ties= too")
            w_ties, n_w = None, len(src)
        else:
            w_ties, n_w = weight_tie_array(weight_ties, len(src), n_weights)
            w_ties = w_ties[order]
        if bias_ties is None:
            if n_biases is not None:
                raise ValueError("n_biases= is for a tied net; pass bias_ties= too")
            b_ties, n_b = None, n
        else:
            b_ties, n_b = bias_tie_array(bias_ties, n, is_input, n_biases)

        put = object.__setattr__
        put(self, "n_neurons", n)
        put(self, "edges", _read_only(np.stack([src, dst], axis=1)))
        put(self, "activations", _read_only(codes))
        if weights is not None:
            weights = (float_array(weights, len(src), "weights", "edge")[order] if w_ties is None
                       else float_array(weights, n_w, "weights", "weight parameter"))
        put(self, "weights", None if weights is None else _read_only(weights))
        put(self, "biases", None if biases is None else _read_only(
            float_array(biases, n_b, "biases", "neuron" if b_ties is None else "bias parameter")))
        put(self, "weight_ties", None if w_ties is None else _read_only(w_ties))
        put(self, "bias_ties", None if b_ties is None else _read_only(b_ties))
        put(self, "_n_weights", n_w)
        put(self, "_n_biases", n_b)
        put(self, "in_ptr", _read_only(in_ptr))
        put(self, "out_ptr", _read_only(out_ptr))
        put(self, "out_dst", _read_only(out_dst))
        put(self, "out_edge", _read_only(out_edge))
        put(self, "inputs", _read_only(np.flatnonzero(is_input).astype(_INDEX)))
        default_outputs = _read_only(np.flatnonzero(~is_input & ~has_out).astype(_INDEX))
        put(self, "default_outputs", default_outputs)
        put(self, "outputs", default_outputs if outputs is None else
            _read_only(as_index_list(outputs, n, "outputs", allow_empty=False)))
        put(self, "depth", _read_only(depth))
        put(self, "level_order", _read_only(np.lexsort((np.arange(n), depth)).astype(_INDEX)))
        put(self, "_schedule", None)

    def __setattr__(self, name, value):
        raise AttributeError("a Net is immutable")

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def n_weights(self) -> int:
        """The length of the `w` this net takes: P parameters if tied, else one per edge."""
        return self._n_weights

    @property
    def n_biases(self) -> int:
        """The length of the `b` this net takes: Q parameters if tied, else one per neuron."""
        return self._n_biases

    @property
    def is_tied(self) -> bool:
        """True when some edges or neurons share parameters (`weight_ties` or `bias_ties`)."""
        return self.weight_ties is not None or self.bias_ties is not None

    @property
    def explicit_outputs(self) -> bool:
        """True when the readout list differs from SPEC §1's (a NEL then writes an `out` line)."""
        return not np.array_equal(self.outputs, self.default_outputs)

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    @property
    def in_src(self) -> np.ndarray:
        """Sources of the in-edges, canonical order: neuron j's are in_src[in_ptr[j]:in_ptr[j+1]]."""
        return self.edges[:, 0]

    @property
    def fan_in(self) -> np.ndarray:
        return np.diff(self.in_ptr)

    @property
    def fan_out(self) -> np.ndarray:
        return np.diff(self.out_ptr)

    @property
    def schedule(self) -> np.ndarray:
        """The topological order that always takes the smallest ready index (SPEC §5)."""
        if self._schedule is None:
            object.__setattr__(self, "_schedule", _read_only(_smallest_ready_order(self)))
        assert self._schedule is not None
        return self._schedule

    def name(self, j: int) -> str:
        """ncc's name of neuron j (`n04`)."""
        return neuron_name(j, self.n_neurons)

    def with_weights(self, weights, biases=None) -> "Net":
        """The same net (ties included) carrying `weights` (canonical order, or per parameter) and `biases`."""
        n, edges, activations, _, _, *rest = self.__reduce__()[1]
        return Net(n, edges, activations, weights, biases, *rest)

    def tied(self, weight_ties=None, bias_ties=None) -> "Net":
        """A copy whose edges (in `self.edges` order) and neurons share the given parameters.

        None leaves that side as it is. The weights (biases) are kept when every
        parameter's edges (neurons) carry one value, else dropped. A
        weight-agnostic net: `net.tied(weight_ties=np.zeros(net.n_edges, int))`.
        """
        weights, w_ties, n_w = self.weights, self.weight_ties, self.n_weights
        if weight_ties is not None:
            w_ties, n_w = weight_tie_array(weight_ties, self.n_edges, None)
            weights = collapse(expand(self.weights, self.weight_ties), w_ties, n_w)
        biases, b_ties, n_b = self.biases, self.bias_ties, self.n_biases
        if bias_ties is not None:
            b_ties, n_b = bias_tie_array(bias_ties, self.n_neurons, self.fan_in == 0, None)
            biases = collapse(expand(self.biases, self.bias_ties), b_ties, n_b)
        return Net(self.n_neurons, self.edges, self.activations, weights, biases,
                   outputs=self.outputs if self.explicit_outputs else None, weight_ties=w_ties, bias_ties=b_ties,
                   n_weights=None if w_ties is None else n_w, n_biases=None if b_ties is None else n_b)

    def __reduce__(self):
        # NOTE: the constructor's arguments only; the derived arrays are rebuilt on load.
        return (Net, (self.n_neurons, self.edges, self.activations, self.weights, self.biases,
                      self.outputs if self.explicit_outputs else None, self.weight_ties, self.bias_ties,
                      None if self.weight_ties is None else self.n_weights,
                      None if self.bias_ties is None else self.n_biases))

    def __eq__(self, other):
        if not isinstance(other, Net):
            return NotImplemented
        return (self.n_neurons == other.n_neurons
                and np.array_equal(self.edges, other.edges)
                and np.array_equal(self.activations, other.activations)
                and np.array_equal(self.outputs, other.outputs)
                and _same_floats(self.weights, other.weights)
                and _same_floats(self.biases, other.biases)
                and _same_ties(self.weight_ties, other.weight_ties, self.n_weights, other.n_weights)
                and _same_ties(self.bias_ties, other.bias_ties, self.n_biases, other.n_biases))

    def __hash__(self):
        # NOTE: weights and biases are left out (== compares them bitwise, so equal nets
        # still hash equal); a net's structure and readout tell most nets apart.
        return hash((self.n_neurons, self.edges.tobytes(), self.activations.tobytes(), self.outputs.tobytes()))

    def __repr__(self):
        return (f"Net(n_neurons={self.n_neurons}, n_weights={self.n_weights}, "
                f"n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, "
                f"weights={'yes' if self.weights is not None else 'no'})")


def _count(n_neurons) -> int:
    if isinstance(n_neurons, (bool, np.bool_)) or not isinstance(n_neurons, (int, np.integer)):
        raise TypeError(f"n_neurons must be an int, got {type(n_neurons).__name__}")
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be at least 1, got {n_neurons}")
    return int(n_neurons)


def _edge_arrays(edges, n):
    pairs = np.asarray(edges)
    if pairs.size == 0:
        return np.zeros(0, _INDEX), np.zeros(0, _INDEX)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"edges has shape {pairs.shape}; expected (n_edges, 2) pairs (i, j)")
    if not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"edges must be integer neuron indices, got dtype {pairs.dtype}")
    src = pairs[:, 0].astype(_INDEX, copy=False)  # never written: the caller's array is safe
    dst = pairs[:, 1].astype(_INDEX, copy=False)
    bad = np.flatnonzero((src < 0) | (src >= n) | (dst < 0) | (dst >= n))
    if bad.size:
        k = int(bad[0])
        raise GraphError(f"edge ({src[k]}, {dst[k]}) names a neuron outside 0..{n - 1}", edge=k)
    loops = np.flatnonzero(src == dst)
    if loops.size:
        k = int(loops[0])
        name = neuron_name(int(src[k]), n)
        raise GraphError(f"cycle: {name} -> {name}", edge=k)
    return src, dst


def _pair_order(major, minor, n):
    """The stable order of the pairs by (major, minor), as `np.lexsort((minor, major))` gives.

    NOTE: one stable argsort of the int64 key major * n + minor (timsort, about
    linear on the nearly sorted edges a parsed file lists) takes 0.4 s for 1e7
    edges where lexsort's two passes take 3.7 s; the key fits while n*n < 2**63.
    """
    if n <= _PAIR_KEY_LIMIT:
        return np.argsort(major * n + minor, kind="stable")
    return np.lexsort((minor, major))


def _check_repeats(src, dst, order, n):
    same = np.flatnonzero((src[1:] == src[:-1]) & (dst[1:] == dst[:-1]))
    if same.size:
        # NOTE: report the later of the two occurrences, where the repeat shows.
        c = int(same[0])
        k = int(max(order[c], order[c + 1]))
        raise GraphError(f"duplicate edge {neuron_name(int(src[c]), n)} -> "
                         f"{neuron_name(int(dst[c]), n)}", edge=k)


def _depths(n, in_ptr, out_ptr, out_dst, src, dst, order):
    """Longest chain from an input to each neuron (level-synchronous Kahn); names a cycle if any."""
    waiting = np.diff(in_ptr).copy()
    depth = np.full(n, -1, dtype=_INDEX)
    frontier = np.flatnonzero(waiting == 0)
    level = 0
    while frontier.size:
        depth[frontier] = level
        targets = out_dst[ranges(out_ptr[frontier], out_ptr[frontier + 1])]
        np.subtract.at(waiting, targets, 1)
        frontier = np.unique(targets[waiting[targets] == 0])
        level += 1
    if (depth < 0).any():
        _raise_cycle(n, depth < 0, in_ptr, src, dst, order)
    return depth


def _raise_cycle(n, stuck, in_ptr, src, dst, order):
    """Every stuck neuron has a stuck predecessor: walk back until a neuron repeats."""
    seen = {}
    path = []
    j = int(np.flatnonzero(stuck)[0])
    while j not in seen:
        seen[j] = len(path)
        path.append(j)
        preds = src[in_ptr[j]:in_ptr[j + 1]]
        j = int(preds[stuck[preds]][0])
    cycle = path[seen[j]:][::-1]
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    names = " -> ".join(neuron_name(k, n) for k in cycle + [cycle[0]])
    closing = np.flatnonzero((src == cycle[-1]) & (dst == cycle[0]))[0]
    raise GraphError(f"cycle: {names}", edge=int(order[closing]))


def _activation_codes(activations, n, is_input) -> np.ndarray:
    if activations is None:
        return np.zeros(n, dtype=np.uint8)
    if isinstance(activations, (str, int, np.integer)):
        codes = np.zeros(n, dtype=np.uint8)
        codes[~is_input] = activation_code(activations)
        return codes
    values = list(activations) if not isinstance(activations, np.ndarray) else activations
    if len(values) != n:
        raise ValueError(f"activations has {len(values)} entries; expected one per neuron ({n})")
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.integer):
        top = len(ACTIVATIONS) - 1
        if values.size and (values.min() < 0 or values.max() > top):
            j = int(np.flatnonzero((values < 0) | (values > top))[0])
            raise GraphError(f"unknown activation code {int(values[j])} for {neuron_name(j, n)}",
                             neuron=j)
        codes = values.astype(np.uint8)
    else:
        codes = np.array([activation_code(v) for v in values], dtype=np.uint8)
    bad = np.flatnonzero(is_input & (codes != 0))
    if bad.size:
        j = int(bad[0])
        raise GraphError(f"input neuron {neuron_name(j, n)} must have identity activation (00), "
                         f"got {int(codes[j]):02x}", neuron=j)
    return codes


def float_array(values, length: int, what: str, per: str) -> np.ndarray:
    """`values` as `length` finite float64s; TypeError/ValueError naming `what` otherwise."""
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.shape != (length,):
        raise ValueError(f"{what} has shape {a.shape}; expected ({length},), one per {per}")
    if not np.isfinite(a).all():
        k = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{what}[{k}] is {a[k]}; expected a finite number")
    return a


def _same_ties(a: Optional[np.ndarray], b: Optional[np.ndarray], count_a: int, count_b: int) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return count_a == count_b and np.array_equal(a, b)


def _same_floats(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.view(np.uint64).tobytes() == b.view(np.uint64).tobytes()


def _smallest_ready_order(net: Net) -> np.ndarray:
    waiting = net.fan_in.copy()
    ready = net.inputs.tolist()
    heapq.heapify(ready)
    order = np.empty(net.n_neurons, dtype=_INDEX)
    for k in range(net.n_neurons):
        j = heapq.heappop(ready)
        order[k] = j
        targets = net.out_dst[net.out_ptr[j]:net.out_ptr[j + 1]]
        waiting[targets] -= 1
        for t in targets[waiting[targets] == 0].tolist():
            heapq.heappush(ready, t)
    return order


def as_index_list(values: Sequence[int], n: int, what: str, allow_empty: bool = True) -> np.ndarray:
    """Neuron indices given by a user (e.g. `outputs=`), checked against 0..n-1."""
    a = np.asarray(values)
    if not allow_empty and a.size == 0:
        raise ValueError(f"{what} is empty; expected at least one neuron index")
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{what} must be a 1-D list of neuron indices, got {values!r}")
    a = a.astype(_INDEX)
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(f"{what} names neuron {int(a[(a < 0) | (a >= n)][0])}; expected 0..{n - 1}")
    return a

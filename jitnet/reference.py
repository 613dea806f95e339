"""The float64 oracle: Net, arrays -> arrays (forward, VJP, JVP), straight from SPEC §1.

The tests trust this module to say what every compiled function must return,
so it shares no code with the lowering: it reads only the graph arrays of
`Net` and the numpy `f`/`df` of `activations`, and it is written for being
obviously right, not fast. It does follow the SPEC's summation orders (z_j
from b_j over the in-edges in canonical order; Dn_i from its seed over the
out-edges in ascending target), so it rounds like the compiled code except
for `fma` (numpy has none): agreement is to rounding, not bit for bit.

It vectorizes over the batch and, within one depth level, over neurons: the
k-th term of every neuron's sum is added in one numpy step, so each sum is
still accumulated term by term in the SPEC's order.
"""

from typing import Iterator, List, NamedTuple, Optional, Tuple

import numpy as np

from .activations import apply_df, apply_f
from .gradients import Gradients
from .net import Net, as_index_list, ranges


class Forward(NamedTuple):
    """`y` (batch, n_outputs); `z` and `n`, pre-activations and values, (batch, N) (z is 0 at the inputs)."""

    y: np.ndarray
    z: np.ndarray
    n: np.ndarray


class Tangents(NamedTuple):
    """The JVP: `y` and its tangent `dy`, both (batch, n_outputs)."""

    y: np.ndarray
    dy: np.ndarray


def forward(net: Net, x, w=None, b=None, outputs=None) -> Forward:
    """Evaluate the net: z_j = b_j + SUM n_i w_ij (canonical order), n_j = f_j(z_j) (SPEC §1).

        >>> net = Net(3, [(0, 2), (1, 2)], activations="relu")
        >>> forward(net, [[1.0, -3.0]], [2.0, 1.0]).y.tolist()
        [[0.0]]

    Args:
        net: the net.
        x: (n_inputs,) or (batch, n_inputs).
        w: one weight per edge, canonical order; None for the net's own (then
            `b=None` also means the net's own biases, or zeros).
        b: one bias per neuron (inputs' ignored); None for zeros.
        outputs: the neurons read out, in order; None for `net.outputs`.

    Returns:
        `Forward(y, z, n)`, float64; for a 1-D `x`, without the batch axis.
    """
    w, b = _parameters(net, w, b)
    x, single = _batch(x, net.n_inputs, "x")
    outputs = _outputs(net, outputs)
    z, n = _evaluate(net, x, w, b)
    y = n[:, outputs]
    return Forward(y[0], z[0], n[0]) if single else Forward(y, z, n)


def vjp(net: Net, x, w, b, dy, outputs=None) -> Gradients:
    """The vector-Jacobian product of `forward` with the cotangent `dy` (reverse mode, SPEC §1).

    Dn_i starts at its seed (`dy` for an output, summed if it is read out
    twice), then adds w_ij Dz_j over its out-edges in ascending j; Dz_j =
    Dn_j f_j'(z_j); dw_ij = SUM n_i Dz_j and db_j = SUM Dz_j over the batch
    (db is 0 at the inputs); dx = Dn at the inputs.

    Args:
        net, x, w, b, outputs: as for `forward`.
        dy: (n_outputs,) or (batch, n_outputs), shaped like `forward`'s `y`.

    Returns:
        `Gradients(dx, dw, db)`, float64; `dx` without the batch axis for a 1-D `x`.
    """
    w, b = _parameters(net, w, b)
    x, single = _batch(x, net.n_inputs, "x")
    outputs = _outputs(net, outputs)
    dy, _ = _batch(dy, len(outputs), "dy")
    if len(dy) != len(x):
        raise ValueError(f"dy has {len(dy)} samples; expected {len(x)}, one per sample of x")
    z, n = _evaluate(net, x, w, b)

    src = net.edges[:, 0]
    codes = net.activations
    dn = np.zeros_like(n)
    dz = np.zeros_like(n)
    np.add.at(dn, (slice(None), outputs), dy)  # type: ignore[arg-type]
    dw = np.zeros(net.n_edges)
    db = np.zeros(net.n_neurons)
    for level in reversed(_levels(net)):
        for sources, pos in _kth_terms(level, net.out_ptr):
            dn[:, sources] += w[net.out_edge[pos]] * dz[:, net.out_dst[pos]]
        if net.depth[level[0]] == 0:
            continue
        dz[:, level] = dn[:, level] * apply_df(codes[level], z[:, level])
        db[level] = dz[:, level].sum(axis=0)
        edges = ranges(net.in_ptr[level], net.in_ptr[level + 1])
        dw[edges] = (n[:, src[edges]] * dz[:, net.edges[edges, 1]]).sum(axis=0)
    dx = dn[:, net.inputs]
    return Gradients(dx[0] if single else dx, _per_parameter(dw, net.weight_ties, net.n_weights),
                     _per_parameter(db, net.bias_ties, net.n_biases))


def jvp(net: Net, x, w, b, tx, tw, tb=None, outputs=None) -> Tangents:
    """The Jacobian-vector product of `forward` along tangents (tx, tw, tb) (forward mode).

    Tz_j = Tb_j + SUM (Tn_i w_ij + n_i Tw_ij) in canonical order; Tn_j =
    f_j'(z_j) Tz_j; Tn = tx at the inputs. Used to check `vjp` by the identity
    <dy, J t> = <J^T dy, t>.

    Returns:
        `Tangents(y, dy)`: the outputs and their tangent, float64.
    """
    w, b = _parameters(net, w, b)
    x, single = _batch(x, net.n_inputs, "x")
    tx, _ = _batch(tx, net.n_inputs, "tx")
    tw = _per_edge(_vector(tw, net.n_weights, "tw"), net.weight_ties)
    tb = np.zeros(net.n_neurons) if tb is None else _per_edge(_vector(tb, net.n_biases, "tb"), net.bias_ties)
    outputs = _outputs(net, outputs)
    z, n = _evaluate(net, x, w, b)

    src = net.edges[:, 0]
    tn = np.zeros_like(n)
    tz = np.zeros_like(n)
    tn[:, net.inputs] = tx
    for level in _levels(net)[1:]:
        tz[:, level] = tb[level]
        for targets, e in _kth_terms(level, net.in_ptr):
            tz[:, targets] += tn[:, src[e]] * w[e] + n[:, src[e]] * tw[e]
        tn[:, level] = apply_df(net.activations[level], z[:, level]) * tz[:, level]
    y, ty = n[:, outputs], tn[:, outputs]
    return Tangents(y[0], ty[0]) if single else Tangents(y, ty)


def _evaluate(net: Net, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """z and n, (batch, N): inputs take x; then level by level, z_j from b_j term by term."""
    src = net.edges[:, 0]
    z = np.zeros((len(x), net.n_neurons))
    n = np.zeros((len(x), net.n_neurons))
    n[:, net.inputs] = x
    for level in _levels(net)[1:]:
        z[:, level] = b[level]
        for targets, e in _kth_terms(level, net.in_ptr):
            z[:, targets] += n[:, src[e]] * w[e]
        n[:, level] = apply_f(net.activations[level], z[:, level])
    return z, n


def _levels(net: Net) -> List[np.ndarray]:
    """Neurons grouped by depth, each group ascending; level 0 is the inputs.

    A neuron reads only from lower levels, so evaluating level after level
    is a topological order.
    """
    sizes = np.bincount(net.depth)
    return np.split(net.level_order, np.cumsum(sizes)[:-1])


def _kth_terms(neurons: np.ndarray, ptr: np.ndarray) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """For k = 0, 1, ...: the neurons that have a k-th entry in `ptr`'s lists, and that entry.

    With `in_ptr` the entries are in-edges in canonical order; with `out_ptr`,
    positions in the out-edge lists (ascending target). Adding the k-th terms
    for k = 0, 1, ... accumulates every sum in the SPEC's order.
    """
    starts = ptr[neurons]
    counts = ptr[neurons + 1] - starts
    for k in range(int(counts.max(initial=0))):
        has = counts > k
        yield neurons[has], starts[has] + k


def _parameters(net: Net, w, b) -> Tuple[np.ndarray, np.ndarray]:
    if w is None:
        if net.weights is None:
            raise TypeError("this net carries no weights: pass w (one per edge, canonical order)")
        w, b = net.weights, net.biases if b is None else b
    w = _per_edge(_vector(w, net.n_weights, "w"), net.weight_ties)
    b = np.zeros(net.n_neurons) if b is None else _per_edge(_vector(b, net.n_biases, "b"), net.bias_ties)
    return w, b


def _per_edge(values: np.ndarray, ties: Optional[np.ndarray]) -> np.ndarray:
    """Parameter values as one per edge (or neuron) through `ties` (SPEC §10); -1 is 0."""
    if ties is None:
        return values
    return np.array([values[t] if t >= 0 else 0.0 for t in ties.tolist()])


def _per_parameter(per_edge: np.ndarray, ties: Optional[np.ndarray], count: int) -> np.ndarray:
    """Per-edge gradients summed per parameter, edge by edge in ascending order (SPEC §10)."""
    if ties is None:
        return per_edge
    sums = np.zeros(count)
    for e, t in enumerate(ties.tolist()):
        if t >= 0:
            sums[t] += per_edge[e]
    return sums


def _vector(values, length: int, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.shape != (length,):
        raise ValueError(f"{what} has shape {a.shape}; expected ({length},)")
    return a


def _batch(values, width: int, what: str) -> Tuple[np.ndarray, bool]:
    """(width,) or (batch, width) as float64 (batch, width), and whether it was 1-D."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1 and a.shape == (width,):
        return a[None, :], True
    if a.ndim == 2 and a.shape[1] == width:
        return a, False
    raise ValueError(f"{what} has shape {a.shape}; expected ({width},) or (batch, {width})")


def _outputs(net: Net, outputs: Optional[object]) -> np.ndarray:
    return net.outputs if outputs is None else as_index_list(outputs, net.n_neurons, "outputs")  # type: ignore[arg-type]

"""The same net in other libraries, for the benchmarks: Net, w, b -> forward and forward+backward.

Each baseline computes what `CompiledNet.forward` and `backward` compute
(outputs; dx, dw, db for a cotangent dy), so timing them against jitnet is
meaningful; tests/test_bench.py checks that they agree with jitnet.

- numpy: level by level (neurons of one depth at once), one matmul per level
  with a dense weight matrix, zero where the net has no edge (for a dense
  layered net that is exactly one matmul per layer), and hand-written
  backprop. Skipped where those matrices exceed DENSE_MAX_ENTRIES.
- scipy: the same levels with a CSR matrix per level. scipy has no sampled
  dense-dense product for the backward's dw: a level at least 1/64 dense
  (where a GEMM beats a gather per edge, measured) gets dw from a dense
  product read at its edges, a sparser one a dot product over the batch per
  edge, gathered in blocks of SDDMM_BLOCK elements.
- torch: the same levels, dense masked, or torch.sparse (COO) where the dense
  matrices would exceed DENSE_MAX_ENTRIES (dense measured faster on the 1e4
  and 1e5-edge random DAGs: 8 vs 20 ms and 0.35 vs 0.49 s forward+backward at
  batch 1024); autograd for the backward.
- neat: neat-python's `FeedForwardNetwork` built from node evals, one sample
  at a time in pure Python; forward only, and only for activations it can
  compute exactly as SPEC §2 (NEAT_CODES).

Every baseline handles every activation code (jitnet.activations' table) but neat. numpy and scipy
values are neuron-major (n_neurons, batch) in level order, so each level's
outputs are one contiguous block of rows.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..activations import ACTIVATIONS
from ..net import Net, ranges

# NOTE: 2^23 float32 entries = 32 MB: the dense masked form of the conv net
# and of the 1e6-edge DAG (50-300x their edge counts) would take seconds per
# call and gigabytes; real dense nets (1024x4: 3.1M) stay under it.
DENSE_MAX_ENTRIES = 1 << 23
NEAT_MAX_EDGES = 25_000
# The codes whose neat-python function (or math's) is exactly SPEC §2's f: neat's own sigmoid,
# tanh, sin, gauss and exp scale or clamp their argument, and its selu forms e^x - 1 (which
# cancels near 0), so they are not used.
NEAT_CODES = {0x0: ("identity_activation", None), 0x2: (None, math.tanh),
              0x3: ("relu_activation", None), 0xB: (None, math.sin), 0xD: ("abs_activation", None),
              0xE: (None, math.cos), 0xF: ("square_activation", None), 0x10: ("clamped_activation", None),
              0x11: ("hat_activation", None), 0x12: ("cube_activation", None), 0x13: (None, math.exp)}
SDDMM_BLOCK = 1 << 21  # elements of the temporaries of scipy's dw: 8 MB in float32
# NOTE: BLAS does ~30G multiply-adds/s on one core here, a gathered dot product
# per edge ~0.3G: a dense product over a level wins from ~1/100 dense on.
SDDMM_MIN_DENSITY = 1 / 64


@dataclass(frozen=True)
class Level:
    """Neurons of one depth: their positions start:stop in `net.level_order`, and in-edges.

    `edges` are canonical edge indices grouped by target; `src` is each
    edge's source as a level-order position, `col` its target counted from
    `start`.
    """

    start: int
    stop: int
    edges: np.ndarray
    src: np.ndarray
    col: np.ndarray
    codes: np.ndarray


def levels(net: Net):
    """The net's levels (depth 1, 2, ...) and the level-order positions of its outputs."""
    order = net.level_order
    position = np.empty(net.n_neurons, dtype=np.int64)
    position[order] = np.arange(net.n_neurons)
    bounds = np.searchsorted(net.depth[order], np.arange(int(net.depth.max(initial=0)) + 2))
    out = []
    for start, stop in zip(bounds[1:-1], bounds[2:]):
        neurons = order[start:stop]
        edges = ranges(net.in_ptr[neurons], net.in_ptr[neurons + 1])
        out.append(Level(int(start), int(stop), edges, position[net.edges[edges, 0]],
                         position[net.edges[edges, 1]] - start, net.activations[neurons]))
    return out, position[net.outputs]


def dense_entries(net: Net) -> int:
    """Entries of numpy's masked level matrices (unique sources x level neurons)."""
    return sum(len(np.unique(lv.src)) * (lv.stop - lv.start) for lv in levels(net)[0])


def _as_rows(index: np.ndarray):
    """A slice for a contiguous run of rows (a view, no gather), else the index array."""
    return slice(int(index[0]), int(index[-1]) + 1) if index[-1] - index[0] + 1 == len(index) else index


class LevelBaseline:
    """numpy (dense masked) or scipy.sparse (CSR) levels with hand-written backprop.

    Per level: `mat` (level x sources: dense over the unique sources, or CSR
    over every position before the level), the `rows` of values it reads,
    and for the weight gradient the rows and each edge's place among them
    (`dw_index`; None where scipy's dw is computed per edge).
    """

    def __init__(self, net: Net, w: np.ndarray, b: np.ndarray, dtype="float32", sparse=False):
        self.net, self.dtype, self.sparse = net, np.dtype(dtype), sparse
        self.levels, self.out_pos = levels(net)
        self.products = []
        for lv in self.levels:
            weights = np.asarray(w)[lv.edges].astype(self.dtype)
            sources = np.unique(lv.src)
            dw_index = np.searchsorted(sources, lv.src)
            if sparse:
                import scipy.sparse
                # NOTE: columns are all positions before the level, so the
                # product reads values[:start], a view: no gather.
                mat = scipy.sparse.csr_matrix((weights, (lv.col, lv.src)),
                                              shape=(lv.stop - lv.start, lv.start))
                entries = len(sources) * (lv.stop - lv.start)
                if entries > min(len(lv.edges) / SDDMM_MIN_DENSITY, DENSE_MAX_ENTRIES):
                    dw_index = None
                rows = slice(0, lv.start)
            else:
                mat = np.zeros((lv.stop - lv.start, len(sources)), dtype=self.dtype)
                mat[lv.col, dw_index] = weights
                rows = _as_rows(sources)
            self.products.append((mat, rows, _as_rows(sources), dw_index))
        order = net.level_order
        self.biases = [np.asarray(b)[order[lv.start:lv.stop], None].astype(self.dtype)
                       for lv in self.levels]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The outputs, (batch, n_outputs)."""
        values, _ = self._forward(x, keep=False)
        return values[self.out_pos].T

    def forward_backward(self, x: np.ndarray, dy: np.ndarray):
        """Forward, then the VJP: dx and per level dw (numpy: level x sources; scipy: per edge), db."""
        values, zs = self._forward(x, keep=True)
        dvalues = np.zeros_like(values)
        dvalues[self.out_pos] = dy.T
        dws, dbs = [], []
        for lv, (mat, rows, dw_rows, dw_index), z in zip(self.levels[::-1], self.products[::-1],
                                                         zs[::-1]):
            dz = dvalues[lv.start:lv.stop]
            if (lv.codes != 0).any():
                dz = dz * _apply(lv.codes, "df", z)
            dbs.append(dz.sum(axis=1))
            if not self.sparse:
                dws.append(dz @ values[dw_rows].T)
            elif dw_index is not None:
                dws.append((dz @ values[dw_rows].T)[lv.col, dw_index])
            else:
                dws.append(_sampled_product(dz, values, lv.col, lv.src))
            dvalues[rows] += mat.T @ dz
        return dvalues[:self.net.n_inputs].T, dws[::-1], dbs[::-1]

    def edge_gradients(self, result):
        """`forward_backward`'s result as jitnet's (dx, dw, db): canonical edge order, by neuron."""
        dx, dws, dbs = result
        dw = np.zeros(self.net.n_weights, dtype=self.dtype)
        db = np.zeros(self.net.n_neurons, dtype=self.dtype)
        for lv, (_, _, _, dw_index), dwl, dbl in zip(self.levels, self.products, dws, dbs):
            dw[lv.edges] = dwl if self.sparse else dwl[lv.col, dw_index]
            db[self.net.level_order[lv.start:lv.stop]] = dbl
        return dx, dw, db

    def _forward(self, x, keep):
        values = np.empty((self.net.n_neurons, len(x)), dtype=self.dtype)
        values[:self.net.n_inputs] = x.T
        zs = []
        for lv, (mat, rows, _, _), bias in zip(self.levels, self.products, self.biases):
            z = mat @ values[rows]
            z += bias
            if keep:
                zs.append(z)
            if (lv.codes == 3).all():
                np.maximum(z, 0, out=values[lv.start:lv.stop])
            else:
                values[lv.start:lv.stop] = _apply(lv.codes, "f", z)
        return values, zs


def _apply(codes: np.ndarray, which: str, z: np.ndarray) -> np.ndarray:
    """f or df of every row of z (neuron-major), in z's dtype; one call per code present."""
    if (codes == codes[0]).all():
        if which == "df" and codes[0] == 3:
            return z > 0  # NOTE: relu'(0) = 0 (SPEC §2); a bool mask multiplies as 0/1
        return getattr(ACTIVATIONS[codes[0]], which)(z).astype(z.dtype, copy=False)
    out = np.empty_like(z)
    for code in np.unique(codes):
        rows = codes == code
        out[rows] = getattr(ACTIVATIONS[code], which)(z[rows])
    return out


def _sampled_product(dz, values, col, src):
    """dw of each edge, the sum over the batch of dz[col] * values[src], in blocks of edges."""
    out = np.empty(len(col), dtype=dz.dtype)
    step = max(1, SDDMM_BLOCK // max(1, dz.shape[1]))
    for k in range(0, len(col), step):
        out[k:k + step] = np.einsum("eb,eb->e", dz[col[k:k + step]], values[src[k:k + step]])
    return out


class TorchBaseline:
    """torch levels (dense masked, or torch.sparse COO when too large), autograd backward."""

    def __init__(self, net: Net, w: np.ndarray, b: np.ndarray, dtype="float32", sparse=None):
        import torch
        self.torch, self.net = torch, net
        self.levels, self.out_pos = levels(net)
        self.dtype = np.dtype(dtype)
        if sparse is None:
            sparse = sum((lv.stop - lv.start) * (lv.start - lv.src.min())
                         for lv in self.levels) > DENSE_MAX_ENTRIES
        self.sparse = sparse
        order = net.level_order
        self.weights, self.biases, self.lows = [], [], []
        for lv in self.levels:
            weights = np.asarray(w)[lv.edges].astype(self.dtype)
            low = int(lv.src.min())
            shape = (lv.stop - lv.start, lv.start - low)
            if sparse:
                indices = torch.as_tensor(np.stack([lv.col, lv.src - low]))
                mat = torch.sparse_coo_tensor(indices, torch.as_tensor(weights), shape,
                                              check_invariants=True).coalesce()
            else:
                dense = np.zeros(shape[::-1], dtype=self.dtype)
                dense[lv.src - low, lv.col] = weights
                mat = torch.as_tensor(dense)
            self.weights.append(mat)
            self.lows.append(low)
            self.biases.append(torch.as_tensor(np.asarray(b)[order[lv.start:lv.stop]].astype(self.dtype)))
        self.activations = [_torch_activation(torch, lv.codes) for lv in self.levels]

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self._run(self.torch.as_tensor(x)).numpy()

    def forward_backward(self, x: np.ndarray, dy: np.ndarray):
        """Forward, then autograd's backward: (dx, weight gradients, bias gradients)."""
        params = self.weights + self.biases
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        xt = self.torch.as_tensor(x).requires_grad_(True)
        self._run(xt).backward(self.torch.as_tensor(dy))
        return xt.grad, [p.grad for p in self.weights], [p.grad for p in self.biases]

    def edge_gradients(self, result):
        """`forward_backward`'s result as jitnet's (dx, dw, db) numpy arrays."""
        dx, dmats, dbs = result
        dw = np.zeros(self.net.n_weights, dtype=self.dtype)
        db = np.zeros(self.net.n_neurons, dtype=self.dtype)
        for lv, low, dmat, dbl in zip(self.levels, self.lows, dmats, dbs):
            dense = dmat.to_dense().numpy().T if self.sparse else dmat.numpy()
            dw[lv.edges] = dense[lv.src - low, lv.col]
            db[self.net.level_order[lv.start:lv.stop]] = dbl.numpy()
        return dx.numpy(), dw, db

    def _run(self, x):
        torch = self.torch
        parts, bounds = [x], [0, self.net.n_inputs]
        for lv, mat, low, bias, f in zip(self.levels, self.weights, self.lows, self.biases,
                                         self.activations):
            sources = _columns(torch, parts, bounds, low, lv.start)
            z = (torch.sparse.mm(mat, sources.T).T if self.sparse else sources @ mat) + bias
            parts.append(f(z))
            bounds.append(lv.stop)
        last = parts[-1].shape[1]
        if np.array_equal(self.out_pos, np.arange(bounds[-1] - last, bounds[-1])):
            return parts[-1]  # NOTE: the usual case: the outputs are the last level
        return _columns(torch, parts, bounds, 0, bounds[-1])[:, torch.as_tensor(self.out_pos)]


def _columns(torch, parts, bounds, lo, hi):
    """Columns lo:hi of the level-order values held in `parts` (bounds[k]:bounds[k+1] each)."""
    pieces = [p[:, max(lo, a) - a:min(hi, e) - a]
              for p, a, e in zip(parts, bounds, bounds[1:]) if a < hi and e > lo]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


def _torch_activation(torch, codes):
    """f for a level's columns: one function, or per-code groups put back in column order."""
    functions = _TORCH_F(torch)
    if (codes == codes[0]).all():
        return functions[codes[0]]
    groups = [(torch.as_tensor(np.flatnonzero(codes == c)), functions[c]) for c in np.unique(codes)]
    inverse = torch.as_tensor(np.argsort(np.concatenate([g.numpy() for g, _ in groups])))
    return lambda z: torch.cat([f(z[:, g]) for g, f in groups], dim=1)[:, inverse]


def _TORCH_F(torch):
    """Code -> f in torch for every row of the activation table; autograd's derivatives are SPEC
    §2's df, kinks included (hardtanh' and relu' are 0 at their kinks, as clamped' and hat' must be).

    Keyed by the table's names, so a row added to jitnet.activations without a torch form fails
    here (KeyError naming it) instead of being skipped.
    """
    F = torch.nn.functional
    by_name = {
        "identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
        "silu": F.silu, "gelu": F.gelu, "swish": F.silu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "step": lambda z: (z > 0).to(z.dtype), "softplus": F.softplus, "elu": F.elu, "sin": torch.sin,
        "gauss": lambda z: torch.exp(-0.5 * z * z), "abs": torch.abs, "cos": torch.cos,
        "square": lambda z: z * z, "clamped": F.hardtanh, "hat": lambda z: torch.relu(1 - z.abs()),
        "cube": lambda z: z * z * z, "exp": torch.exp, "selu": F.selu,
    }
    return {a.code: by_name[a.name] for a in ACTIVATIONS}


class NeatBaseline:
    """neat-python's FeedForwardNetwork of the same net: one sample per `activate` call.

    Raises:
        ValueError: if the net has an activation outside NEAT_CODES.
    """

    def __init__(self, net: Net, w: np.ndarray, b: np.ndarray):
        import neat
        missing = sorted({int(c) for c in net.activations[net.fan_in > 0]} - set(NEAT_CODES))
        if missing:
            raise ValueError(f"neat-python has no exact form of activation codes {missing}")
        functions = {code: getattr(neat.activations, name) if name else fn
                     for code, (name, fn) in NEAT_CODES.items()}
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        evals = []
        for j in net.level_order[net.n_inputs:].tolist():
            edges = range(net.in_ptr[j], net.in_ptr[j + 1])
            links = [(int(net.edges[e, 0]), float(w[e])) for e in edges]
            evals.append((j, functions[int(net.activations[j])], neat.aggregations.sum_aggregation,
                          float(b[j]), 1.0, links))
        self.network = neat.nn.FeedForwardNetwork(net.inputs.tolist(), net.outputs.tolist(), evals)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs of each row of x (float64), one `activate` call per sample."""
        return np.array([self.network.activate(row) for row in x.tolist()])

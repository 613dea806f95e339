"""Pictures of nets: `Net` -> `graphviz.Digraph` (SPEC §11).

A net is drawn neuron by neuron, left to right by depth (inputs first, the
readout neurons together in the last rank), each neuron coloured by its
activation; with weights, an edge's colour is its sign and its width its
magnitude. Above `max_edges` edges a picture of every neuron is unreadable
and slow to lay out, so the net is drawn as its summary instead: one node per
(depth, activation) group and one edge per pair of groups, with counts.
The `graphviz` package builds the source; Graphviz's `dot` program renders it
(a `.dot` file needs only the package).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ACTIVATIONS
from .net import Net
from .ties import expand

if TYPE_CHECKING:
    import graphviz

RENDERED = ("svg", "png", "pdf")
_POSITIVE, _NEGATIVE, _UNWEIGHTED = "#2b6cb0", "#c53030", "#4a5568"
_MIN_PEN, _MAX_PEN = 0.5, 4.0
# One fill colour per activation code (light, so labels stay readable), cycled past the end.
_FILLS = ("#edf2f7", "#fefcbf", "#c6f6d5", "#fed7d7", "#e9d8fd", "#bee3f8", "#fbd38d", "#b2f5ea",
          "#feebc8", "#c3dafe", "#fbb6ce", "#e2e8f0", "#faf089", "#9ae6b4", "#feb2b2", "#d6bcfa",
          "#90cdf4", "#f6ad55", "#81e6d9", "#a3bffa", "#f687b3")


def draw(net: Net, path: str | Path | None = None, weights: Any = None,
         max_edges: int = 2000) -> graphviz.Digraph:
    """The picture of `net`, rendered to `path` when given (format from its extension).

    Args:
        net: the net to draw.
        path: `.svg`, `.png`, `.pdf` (rendered by Graphviz's `dot`) or `.dot`
            (the source only; no Graphviz program needed).
        weights: one weight per edge in canonical order; None uses the net's own, if any.
        max_edges: above this many edges the net is drawn as its summary.

    Raises:
        ImportError: the `graphviz` package is missing (extra `draw`).
        RuntimeError: rendering needs the `dot` program and it is missing.
        ValueError: an unknown extension, or `weights` of the wrong length.

    Example:
        >>> import jitnet
        >>> g = jitnet.draw(jitnet.nets.dense([2, 2, 1]))
        >>> "n04" in g.source
        True
    """
    kind = _kind(path)
    gv = _graphviz()
    w = _weights(net, weights)
    graph = gv.Digraph(name="net", graph_attr={"rankdir": "LR", "splines": "spline", "nodesep": "0.15",
                                               "ranksep": "0.9", "fontname": "Helvetica",
                                               "ordering": "out"},
                       node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled",
                                  "penwidth": "0.8"},
                       edge_attr={"arrowsize": "0.5"})
    if net.n_edges > max_edges:
        _summary(graph, net)
    else:
        _neurons(graph, net, w)
    if path is not None:
        _save(graph, Path(path), kind or "")
    return graph


def _kind(path) -> str | None:
    if path is None:
        return None
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in RENDERED + ("dot",):
        raise ValueError(f"{path}: cannot tell the picture's format from the extension; "
                         f"expected .svg, .png, .pdf or .dot")
    return kind


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError("jitnet.draw needs the graphviz package: "
                          "python -m pip install 'jitnet[draw]'") from None
    return graphviz


def _weights(net: Net, weights) -> np.ndarray | None:
    """One weight per edge to draw: the given or the net's own, through the ties if tied."""
    if weights is None:
        return None if net.weights is None else expand(np.asarray(net.weights, dtype=np.float64), net.weight_ties)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (net.n_weights,):
        per = "edge" if net.weight_ties is None else "weight parameter"
        raise ValueError(f"weights has shape {w.shape}; expected ({net.n_weights},), one per {per}")
    return expand(w, net.weight_ties)


def _ranks(net: Net) -> np.ndarray:
    """Each neuron's column: its depth, with every readout neuron in the last column."""
    rank = np.asarray(net.depth, dtype=np.int64).copy()
    outputs = np.unique(net.outputs)
    rank[outputs] = int(rank.max()) + (0 if np.all(rank[outputs] == rank.max()) else 1)
    return rank


def _fill(code: int) -> str:
    return _FILLS[code % len(_FILLS)]


def _neurons(graph, net: Net, w: np.ndarray | None) -> None:
    rank = _ranks(net)
    codes = net.activations
    inputs = set(net.inputs.tolist())
    outputs = set(net.outputs.tolist())
    for r in range(int(rank.max()) + 1):
        with graph.subgraph(name=f"rank{r}") as column:
            column.attr(rank="min" if r == 0 else "max" if r == rank.max() else "same")
            members = np.flatnonzero(rank == r).tolist()
            for j in members:
                name = ACTIVATIONS[int(codes[j])].name
                label = net.name(j) if j in inputs else f"{net.name(j)}\\n{name}"
                shape = "box" if j in inputs else "doubleoctagon" if j in outputs else "ellipse"
                column.node(net.name(j), label=label, shape=shape,
                            fillcolor="#ffffff" if j in inputs else _fill(int(codes[j])))
            # NOTE: invisible edges inside a column keep its neurons in index order, top to bottom.
            for upper, lower in zip(members, members[1:]):
                column.edge(net.name(upper), net.name(lower), style="invis")
    top = float(np.max(np.abs(w))) if w is not None and len(w) else 0.0
    for e, (i, j) in enumerate(net.edges.tolist()):
        if w is None:
            graph.edge(net.name(i), net.name(j), color=_UNWEIGHTED, penwidth="0.8")
            continue
        share = abs(w[e]) / top if top > 0 else 0.0
        graph.edge(net.name(i), net.name(j), color=_POSITIVE if w[e] >= 0 else _NEGATIVE,
                   penwidth=f"{_MIN_PEN + (_MAX_PEN - _MIN_PEN) * share:.2f}",
                   tooltip=f"w{net.name(i)[1:]}{net.name(j)[1:]} = {w[e]:.6g}")


def summary_groups(net: Net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group of each neuron, (rank, code) of each group, edge count per ordered pair of groups).

    A group is the neurons of one rank (depth, the readout neurons last) and
    one activation; inputs are their own group per rank.
    """
    rank = _ranks(net)
    code = np.where(net.fan_in > 0, net.activations.astype(np.int64), -1)
    keys, group = np.unique(np.stack([rank, code], axis=1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    pairs = group[net.edges[:, 0]] * len(keys) + group[net.edges[:, 1]]
    counts = np.bincount(pairs, minlength=len(keys) * len(keys)).reshape(len(keys), len(keys))
    return group, keys, counts


def _summary(graph, net: Net) -> None:
    group, keys, counts = summary_groups(net)
    sizes = np.bincount(group, minlength=len(keys))
    top = max(int(counts.max()), 1)
    for r in np.unique(keys[:, 0]).tolist():
        with graph.subgraph(name=f"rank{r}") as column:
            column.attr(rank="same")
            for g in np.flatnonzero(keys[:, 0] == r).tolist():
                c = int(keys[g, 1])
                what = "inputs" if c < 0 else ACTIVATIONS[c].name
                label = f"{what}\\n{_plural(int(sizes[g]), 'neuron')}"
                column.node(f"g{g}", label=label, shape="box3d" if c < 0 else "box",
                            fillcolor="#ffffff" if c < 0 else _fill(c))
    for a, b in zip(*np.nonzero(counts)):
        n = int(counts[a, b])
        graph.edge(f"g{a}", f"g{b}", label=_plural(n, "edge"), color=_UNWEIGHTED, fontsize="9",
                   penwidth=f"{_MIN_PEN + (_MAX_PEN - _MIN_PEN) * n / top:.2f}")


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _save(graph, path: Path, kind: str) -> None:
    if kind == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return
    if shutil.which("dot") is None:
        raise RuntimeError(f"{path}: rendering .{kind} needs Graphviz's dot program: "
                           "install Graphviz (e.g. apt-get install graphviz), or write a .dot file")
    path.write_bytes(graph.pipe(format=kind))


def repr_svg(net: Net) -> str | None:
    """The net's picture as SVG text for notebooks, or None when it cannot be rendered."""
    try:
        return draw(net).pipe(format="svg", encoding="utf-8")
    except (ImportError, RuntimeError, OSError, subprocess.CalledProcessError):
        return None

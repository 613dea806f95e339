"""The NEL reader (SPEC §3.3): an edge list's parse tree -> a checked `Net`.

Edge lines `i j [w]` come as runs, each run one token that `fields` splits
with numpy; the other lines (`act j f`, `bias j b`, `out j ...`) are small
trees read one by one. Each kind of setting line is one entry of `_SETTINGS`,
so a new kind (the tie lines `w @P`, `b @Q` of SPEC §3.3) is a grammar rule
and one reader here.
"""

from typing import List, NamedTuple, Optional

import numpy as np
from lark import Token, Tree

from ..net import Net
from .fields import BLANKS, first_out_of_range, hex_values, token_fields
from .located import (
    EOL,
    Source,
    at,
    build,
    code,
    count,
    fail,
    finite_float,
    hex_name,
    index_range,
    leaves,
    loc,
    neuron,
)


class _Edges(NamedTuple):
    """The edge lines of a NEL, in file order."""

    i: np.ndarray
    j: np.ndarray
    at: np.ndarray          # offset of each edge line's i
    end: np.ndarray         # offset just past each edge's j
    weight_at: np.ndarray   # offset of each weight, -1 where there is none
    weights: list           # the text of each weight there is


class _Setting(NamedTuple):
    """An `act` or `bias` line."""

    kind: str
    j: int
    at: int                 # offset of the neuron index
    value_at: int
    value: float            # the code for `act`


class _Lines(NamedTuple):
    """The non-edge lines read so far: settings in file order, and the `out` line's neurons."""

    settings: List[_Setting]
    outputs: Optional[List[int]]


def read(src: Source, tree: Tree, default: int) -> Net:
    """NEL: after `N`, edge lines `i j [w]`, `act j f`, `bias j b` and one `out` line in any order.

    Checks go line by line in file order, then over the whole net: weights on
    every edge or none, their values, settings on inputs, then `Net`'s own.
    """
    count_line, *lines = tree.children
    n = count(src, count_line)
    edges, bad = _edge_lines([line for line in lines if isinstance(line, Token)], n)
    read_lines = _other_lines(src, [line for line in lines if isinstance(line, Tree)], n, bad)
    if bad is not None:
        fail(src, bad, index_range(n))
    weights = _weights(src, edges)
    has_in = np.zeros(n, dtype=bool)
    has_in[edges.j] = True
    codes = np.where(has_in, default, 0).astype(np.uint8)
    biases = np.zeros(n) if any(s.kind == "bias" for s in read_lines.settings) else None
    for setting in read_lines.settings:
        _apply(src, setting, has_in, codes, biases)
    return build(src, lambda k: (int(edges.at[k]), src.text[edges.at[k]:edges.end[k]]),
                 n, np.stack([edges.i, edges.j], axis=1), codes, weights, biases,
                 outputs=read_lines.outputs)


def _edge_lines(tokens: list, n: int) -> tuple:
    """Split all runs of edge lines (EDGES tokens) with numpy.

    Returns the edges and the offset of the first index out of range (None if none is).
    """
    fields = token_fields(tokens, BLANKS)
    line = np.searchsorted(np.flatnonzero(fields.buf == ord("\n")), fields.starts)
    first = np.flatnonzero(np.diff(line, prepend=-1))  # each line's first field: i
    weighted = np.diff(first, append=len(fields.starts)) == 3
    (i, i_big), (j, j_big) = (hex_values(fields.buf, fields.starts[first + k], fields.ends[first + k])
                              for k in (0, 1))
    bad = [first[k] + field for field, k in enumerate((first_out_of_range(i, i_big, n),
                                                       first_out_of_range(j, j_big, n)))
           if k is not None]
    w_fields = first[weighted] + 2
    weight_at = np.full(len(first), -1, dtype=np.int64)
    weight_at[weighted] = fields.at[w_fields]
    weights = [fields.text[a:b] for a, b in zip(fields.starts[w_fields].tolist(),
                                                fields.ends[w_fields].tolist())]
    end = fields.at[first + 1] + fields.ends[first + 1] - fields.starts[first + 1]
    edges = _Edges(i, j, fields.at[first], end, weight_at, weights)
    return edges, (int(fields.at[min(bad)]) if bad else None)


def _other_lines(src: Source, trees: list, n: int, stop: Optional[int]) -> _Lines:
    """The `act`, `bias` and `out` lines before offset `stop` (None: all), each checked."""
    settings: List[_Setting] = []
    outputs: Optional[List[int]] = None
    seen: dict = {}
    for tree in trees:
        if stop is not None and at(leaves(tree)[0]) > stop:
            break
        if tree.data == "out":
            outputs = _out(src, tree, n, seen)
        else:
            settings.append(_setting(src, tree, n, seen))
    return _Lines(settings, outputs)


def _setting(src: Source, tree: Tree, n: int, seen: dict) -> _Setting:
    """An `act j f` or `bias j b` line; one of each per neuron (SPEC §3.3)."""
    index, value = leaves(tree)
    j = neuron(src, index, n)
    if (tree.data, j) in seen:
        first = loc(src, seen[tree.data, j]).line
        fail(src, at(index), f"one {tree.data} line per neuron ({hex_name(j, n)} has one on line {first})")
    seen[tree.data, j] = at(index)
    read = code(src, value) if tree.data == "act" else finite_float(src, str(value), at(value), "bias")
    return _Setting(str(tree.data), j, at(index), at(value), read)


def _out(src: Source, tree: Tree, n: int, seen: dict) -> List[int]:
    """`out j j ...`: the readout neurons in order, repeats allowed; one such line per file."""
    keyword, *indices = leaves(tree)
    if "out" in seen:
        fail(src, at(keyword), f"at most one out line (line {loc(src, seen['out']).line} is one)")
    seen["out"] = at(keyword)
    return [neuron(src, index, n) for index in indices]


def _apply(src: Source, s: _Setting, has_in: np.ndarray, codes: np.ndarray, biases) -> None:
    """Put a setting into the codes or biases; an input takes neither (SPEC §3.3, §3.4)."""
    if s.kind == "act":
        if s.value != 0 and not has_in[s.j]:
            fail(src, s.value_at, "identity (00) on an input neuron")
        codes[s.j] = s.value
    else:
        if not has_in[s.j]:
            fail(src, s.at, "a neuron with in-edges (an input takes no bias)")
        biases[s.j] = s.value


def _weights(src: Source, edges: _Edges) -> Optional[np.ndarray]:
    """The weights in file order when every edge has one; None when none has (SPEC §3.3)."""
    has = edges.weight_at >= 0
    if not has.any():
        return None
    if not has.all():
        k = int(np.flatnonzero(has != has[0])[0])
        if has[0]:
            fail(src, int(edges.end[k]), "a weight (the first edge has one)", EOL)
        fail(src, int(edges.weight_at[k]), "no weight (the first edge has none)")
    values = _floats(edges.weights)
    if values is not None:
        return values
    return np.array([finite_float(src, t, int(p), "weight") for t, p in zip(edges.weights, edges.weight_at)])


def _floats(texts: list) -> Optional[np.ndarray]:
    """The fast path: every text a decimal, or every text a hex float; None if any is not, or
    any is not finite (then `finite_float` reads them one by one and fails at the first bad one).

    NOTE: one map of float() or float.fromhex() over 1M weights is ~10x quicker
    than one check each. float() fails at once on a hex float. Once fromhex()
    has read every text, each holds at most one x and one p, and x only in a
    `0x` prefix: so as many x's and p's as texts means every text has both.
    """
    try:
        values = list(map(float, texts))
    except ValueError:
        try:
            values = list(map(float.fromhex, texts))
        except (ValueError, OverflowError):
            return None
        letters = "".join(texts).lower()
        if letters.count("x") != len(texts) or letters.count("p") != len(texts):
            return None
    array = np.array(values, dtype=np.float64)
    return array if np.isfinite(array).all() else None

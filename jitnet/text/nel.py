"""The NEL reader (SPEC §3.3): an edge list's parse tree -> a checked `Net`.

Edge lines `i j [w | @P]` come as runs, each run one token that `fields`
splits with numpy; the other lines (`act j f`, `bias j b | @Q`, `out j ...`,
and the parameter values `w @P v`, `b @Q v` of a tied net) are small trees
read one by one.
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

# A parameter index is below this (2**32 parameters of 8 bytes are 32 GiB already).
_MAX_PARAMETERS = 2**32


class _Edges(NamedTuple):
    """The edge lines of a NEL, in file order."""

    i: np.ndarray
    j: np.ndarray
    at: np.ndarray          # offset of each edge line's i
    end: np.ndarray         # offset just past each edge's j
    weight_at: np.ndarray   # offset of each weight or @P, -1 where there is none
    weights: list           # the text of each weight or @P there is


class _Setting(NamedTuple):
    """An `act`, `bias j value` or `bias j @Q` line."""

    kind: str               # "act", "bias" or "bias_tie"
    j: int
    at: int                 # offset of the neuron index
    value_at: int
    value: float            # the code for `act`, the parameter for `bias_tie`


class _Lines(NamedTuple):
    """The non-edge lines read so far: settings in file order, the `out` line's neurons, and
    the parameter value lines: kind ("weight_value" / "bias_value") -> {parameter: (value, offset)}."""

    settings: List[_Setting]
    outputs: Optional[List[int]]
    values: dict


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
    weights, weight_ties = _weights(src, edges)
    has_in = np.zeros(n, dtype=bool)
    has_in[edges.j] = True
    codes = np.where(has_in, default, 0).astype(np.uint8)
    kinds = [s.kind for s in read_lines.settings]
    _no_mix(src, read_lines.settings)
    biases = np.zeros(n) if "bias" in kinds else None
    bias_ties = np.full(n, -1, dtype=np.int64) if "bias_tie" in kinds else None
    for setting in read_lines.settings:
        _apply(src, setting, has_in, codes, biases if setting.kind == "bias" else bias_ties)
    if weight_ties is not None:
        weights = _parameter_values(src, read_lines.values, "weight_value", weight_ties)
    if bias_ties is not None:
        biases = _parameter_values(src, read_lines.values, "bias_value", bias_ties)
    for kind, tied in (("weight_value", weight_ties), ("bias_value", bias_ties)):
        if tied is None and read_lines.values.get(kind):
            first = min(offset for _, offset in read_lines.values[kind].values())
            what = "edges with @P" if kind == "weight_value" else "bias lines with @Q"
            fail(src, first, f"no {kind[0]} value line in a net without {what}")
    tie_counts = {"n_weights": _count(weight_ties, read_lines.values, "weight_value"),
                  "n_biases": _count(bias_ties, read_lines.values, "bias_value")}
    return build(src, lambda k: (int(edges.at[k]), src.text[edges.at[k]:edges.end[k]]),
                 n, np.stack([edges.i, edges.j], axis=1), codes, weights, biases,
                 outputs=read_lines.outputs, weight_ties=weight_ties, bias_ties=bias_ties, **tie_counts)


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
    values: dict = {"weight_value": {}, "bias_value": {}}
    seen: dict = {}
    for tree in trees:
        if stop is not None and at(leaves(tree)[0]) > stop:
            break
        if tree.data == "out":
            outputs = _out(src, tree, n, seen)
        elif tree.data in values:
            _value_line(src, tree, values[tree.data])
        else:
            settings.append(_setting(src, tree, n, seen))
    return _Lines(settings, outputs, values)


def _parameter(src: Source, text: str, offset: int) -> int:
    """`@P` at `offset` -> P, checked against the largest parameter count jitnet takes."""
    p = int(text[1:], 16)
    if p >= _MAX_PARAMETERS:
        fail(src, offset, f"a parameter index below @{_MAX_PARAMETERS:x}")
    return p


def _value_line(src: Source, tree: Tree, values: dict) -> None:
    """`w @P v` / `b @Q v`: one value line per parameter (SPEC §3.3)."""
    tie, number = leaves(tree)
    p = _parameter(src, str(tie), at(tie))
    if p in values:
        first = loc(src, values[p][1]).line
        fail(src, at(tie), f"one value line per parameter ({tie} has one on line {first})")
    values[p] = (finite_float(src, str(number), at(number), "weight" if tree.data == "weight_value" else "bias"),
                 at(tie))


def _parameter_values(src: Source, values: dict, kind: str, ties: np.ndarray) -> Optional[np.ndarray]:
    """The parameters' values in order when every parameter 0..P-1 has a line; None when none has."""
    lines = values[kind]
    if not lines:
        return None
    size = _size(ties, lines)
    missing = sorted(set(range(size)) - set(lines))
    if missing:
        first = min(offset for _, offset in lines.values())
        fail(src, first, f"a value line for every parameter @00..@{size - 1:02x} or for none "
                         f"(@{missing[0]:02x} has none)", "a partial set")
    return np.array([lines[p][0] for p in range(size)])


def _count(ties: Optional[np.ndarray], values: dict, kind: str) -> Optional[int]:
    """P (or Q) of a tied side; None for an untied one."""
    return None if ties is None else _size(ties, values[kind])


def _size(ties: np.ndarray, lines: dict) -> int:
    """One more than the largest parameter any line names: a tie or a value line."""
    return max([int(ties.max()) if ties.size else -1] + list(lines)) + 1


def _no_mix(src: Source, settings: List[_Setting]) -> None:
    """`bias j value` and `bias j @Q` lines do not mix in one file."""
    kinds = [s for s in settings if s.kind in ("bias", "bias_tie")]
    odd = next((s for s in kinds if s.kind != kinds[0].kind), None)
    if odd is not None:
        first = loc(src, kinds[0].at).line
        shown = "values" if kinds[0].kind == "bias" else "@Q parameters"
        fail(src, odd.value_at, f"a bias like line {first}'s (bias lines take {shown} throughout a file)")


def _setting(src: Source, tree: Tree, n: int, seen: dict) -> _Setting:
    """An `act j f` or `bias j b` line; one of each per neuron (SPEC §3.3)."""
    index, value = leaves(tree)
    j = neuron(src, index, n)
    if (tree.data, j) in seen:  # NOTE: `bias j v` and `bias j @Q` are both the tree "bias"
        first = loc(src, seen[tree.data, j]).line
        fail(src, at(index), f"one {tree.data} line per neuron ({hex_name(j, n)} has one on line {first})")
    seen[tree.data, j] = at(index)
    if tree.data == "act":
        return _Setting("act", j, at(index), at(value), code(src, value))
    if value.type == "TIE":
        return _Setting("bias_tie", j, at(index), at(value), _parameter(src, str(value), at(value)))
    return _Setting("bias", j, at(index), at(value), finite_float(src, str(value), at(value), "bias"))


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


def _weights(src: Source, edges: _Edges) -> tuple:
    """(weights, weight ties) in file order: weights when every edge has one, ties when every
    edge has `@P`; None for what no edge has (SPEC §3.3)."""
    has = edges.weight_at >= 0
    if not has.any():
        return None, None
    tied = np.array([t.startswith("@") for t in edges.weights], dtype=bool)
    what = "a weight" if not tied[0] else "a parameter @P"
    if not has.all():
        k = int(np.flatnonzero(has != has[0])[0])
        if has[0]:
            fail(src, int(edges.end[k]), f"{what} (the first edge has one)", EOL)
        fail(src, int(edges.weight_at[k]), "no weight (the first edge has none)")
    if tied.any():
        if not tied.all():
            k = int(np.flatnonzero(tied != tied[0])[0])
            fail(src, int(edges.weight_at[k]), f"{what}, as the first edge has (@P on every edge or on none)")
        ties = np.array([_parameter(src, t, int(p)) for t, p in zip(edges.weights, edges.weight_at)],
                        dtype=np.int64)
        return None, ties
    values = _floats(edges.weights)
    if values is not None:
        return values, None
    return np.array([finite_float(src, t, int(p), "weight")
                     for t, p in zip(edges.weights, edges.weight_at)]), None





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

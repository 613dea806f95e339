"""The NAL reader (SPEC §3.1): a NAL's parse tree -> a checked `Net`.

After `N`, one line per neuron in index order, each naming its own code. The
grammar lexes a whole in-index list as one token; `fields` splits all of
them at once with numpy, so Python loops per line, never per index.
"""

from typing import Optional

import numpy as np
from lark import Tree

from ..net import Net
from .fields import LIST_SEPARATORS, first_out_of_range, hex_values, token_fields
from .located import EOF, Source, build, code, count, fail, hex_name, index_range, word_at


def read(src: Source, tree: Tree, default: int) -> Net:
    """NAL: after `N`, one line per neuron in index order, each naming its own code.

    `default` (parse's `activation=`) is unused: every line names its code.
    """
    n, sources, targets, codes, edge_at = _arrays(src, tree.children)
    # NOTE: the tree (~1.5 kB a line) and the split fields are dropped before
    # the edge array is made and the Net built (1e7 edges: peak RSS 1.9 -> 1.1 GB).
    del tree
    edges = np.stack([sources, targets], axis=1)
    del sources, targets
    return build(src, edge_at, n, edges, codes)


def _arrays(src: Source, children: list) -> tuple:
    """(N, each edge's i, its j, the codes, `edge_at` for `build`) of a NAL's tree, all checked."""
    count_line, *lines = children
    n = count(src, count_line)
    with_inputs = [k for k, line in enumerate(lines) if len(line.children) == 3]
    fields = token_fields([lines[k].children[2] for k in with_inputs], LIST_SEPARATORS)
    sources, big = hex_values(fields.buf, fields.starts, fields.ends)
    at = fields.at
    bad = first_out_of_range(sources, big, n)
    # NOTE: lines are checked up to the first bad in-index, so whichever error
    # comes first in the file is the one reported.
    codes = _codes(src, lines, n, None if bad is None else int(at[bad]))
    if bad is not None:
        fail(src, int(at[bad]), index_range(n))
    targets = np.asarray(with_inputs, dtype=np.int64)[fields.owner]
    # NOTE: an in-index is a field of hex digits, so the word at its offset is its text.
    return n, sources, targets, codes, lambda k: (int(at[k]), word_at(src.text, int(at[k])))


def _codes(src: Source, lines: list, n: int, stop: Optional[int]) -> np.ndarray:
    """Each line's code, checking the lines are 0..N-1 in order.

    With a `stop` offset, only the lines that start before it are checked.
    """
    codes = []
    for j, line in enumerate(lines):
        index, *rest = line.children
        if stop is not None and index.start_pos > stop:
            break
        if j >= n:
            fail(src, index.start_pos, f"{EOF} after neuron {hex_name(n - 1, n)} (N is {hex_name(n, n)})")
        if int(index, 16) != j:
            fail(src, index.start_pos, f"the line of neuron {hex_name(j, n)}")
        codes.append(_line_code(src, rest))
    if stop is None and len(codes) < n:
        fail(src, None, f"the line of neuron {hex_name(len(codes), n)}")
    return np.array(codes, dtype=np.uint8)


def _line_code(src: Source, fields: list) -> int:
    """The code on a NAL line: none for `j`; identity for an input `j fj` (SPEC §3.1)."""
    if not fields:
        return 0
    found = code(src, fields[0])
    if len(fields) == 1 and found != 0:
        fail(src, fields[0].start_pos, "identity (00) on an input neuron")
    return found

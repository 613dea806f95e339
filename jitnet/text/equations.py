"""Print ncc's text for a net: Net -> str (SPEC §5).

Three texts, all names in ncc's form (`n04`, `w0004`: lowercase hex
zero-padded to K = max(2, hex digits of N-1), `Net.name`):

- `"fwd"`: ncc's forward equations, `n04 = f04( +n00*w0004 +n01*w0104)`, one
  per non-input neuron in ascending index (so not always in an evaluable
  order: use the schedule to evaluate them).
- `"matrix"`: ncc's weight block table, one cell per (source, target) pair:
  N x N cells, so N^2 (3K+5) bytes of text (N = 10,000: 1.7 GB), built a
  band of rows at a time.
- `"bwd"`: the complete backward pass (VJP) that ncc's notes leave unfinished,
  in an order that can be evaluated line by line.

Every line, the last included, ends with "\\n"; a net with nothing to print
(no edges) gives "". The text is built with whole-array byte operations
(`rowtext`), so a net of a million edges prints in about a second.
"""

import numpy as np

from ..net import Net, name_width
from .rowtext import assemble, decimal_digits, hex_digits, rows, strip_pad

KINDS = ("fwd", "bwd", "matrix")
_MATRIX_BAND_BYTES = 1 << 24  # the weight table is built about 16 MB of cells at a time


def equations(net: Net, kind: str = "fwd", include_inputs: bool = False) -> str:
    """ncc's text for `net`: `"fwd"`, `"bwd"` or `"matrix"` (SPEC §5).

        >>> from jitnet import Net
        >>> print(equations(Net(3, [(0, 2), (1, 2)])), end="")
        n02 = f02( +n00*w0002 +n01*w0102)

    Args:
        net: the net.
        kind: `"fwd"` (ncc's forward equations), `"bwd"` (the backward pass)
            or `"matrix"` (ncc's weight block table).
        include_inputs: `"fwd"` only: print `n00 = f00()` for every input
            neuron, before the other lines, as ncc does for a NAM.

    Returns:
        The text; every line ends with "\\n".

    Raises:
        ValueError: for an unknown `kind`, or `include_inputs` with a kind
            other than `"fwd"` (the other texts always show every neuron).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    if include_inputs and kind != "fwd":
        raise ValueError(f"include_inputs applies to kind 'fwd' only, got kind {kind!r}")
    if kind == "fwd":
        return _forward(net, include_inputs)
    if kind == "bwd":
        return _backward(net)
    return _matrix(net)


def _hex_names(net: Net) -> np.ndarray:
    """The hex part of every neuron's name (`04` of `n04`): (N, K) uint8."""
    return hex_digits(np.arange(net.n_neurons), name_width(net.n_neurons))


def _forward(net: Net, include_inputs: bool) -> str:
    """ncc's fwd lines: inputs first when asked, then every other neuron in ascending index."""
    hx = _hex_names(net)
    src, dst = net.edges[:, 0], net.edges[:, 1]
    js = np.flatnonzero(net.fan_in)  # the non-input neurons
    inputs = net.inputs if include_inputs else net.inputs[:0]
    # Sort keys: (0 for an input line, 1 otherwise; neuron; part of its line; edge).
    return assemble([
        ((0, inputs, 0, 0), rows(len(inputs), b"n", hx[inputs], b" = f", hx[inputs], b"()\n")),
        ((1, js, 0, 0), rows(len(js), b"n", hx[js], b" = f", hx[js], b"(")),
        ((1, dst, 1, np.arange(len(src))),
         rows(len(src), b" +n", hx[src], b"*w", hx[src], hx[dst])),
        ((1, js, 2, 0), rows(len(js), b")\n")),
    ])


def _backward(net: Net) -> str:
    """The reverse-mode lines (SPEC §5): per non-input neuron, in reverse schedule,
    its Dn, Dz, Db and Dw lines; then the Dn line of every input that has out-edges
    or is read out.

    A Dn line sums the neuron's seeds (`DLY_nXX`, then `DLY_nXX_1`, ... for each
    further reading of `net.outputs`) and its out-edge terms in ascending target.
    A non-input neuron with neither (not read out, no out-edges) prints
    `DnXX = 0`, so its Dz, Db and Dw lines still evaluate.
    """
    n = net.n_neurons
    hx = _hex_names(net)
    src, dst = net.edges[:, 0], net.edges[:, 1]
    js = np.flatnonzero(net.fan_in)  # the non-input neurons
    outputs = net.outputs

    # A neuron's block position: non-inputs in reverse schedule, then inputs in ascending index.
    rank = np.empty(n, dtype=np.int64)
    backwards = net.schedule[::-1]
    backwards = backwards[net.fan_in[backwards] > 0]
    rank[backwards] = np.arange(len(backwards))
    rank[net.inputs] = len(backwards) + np.arange(len(net.inputs))

    # Each reading's number among the readings of its neuron: 0 for the first, 1, 2, ...
    by_neuron = np.argsort(outputs, kind="stable")
    sorted_outputs = outputs[by_neuron]
    group_start = np.flatnonzero(np.diff(sorted_outputs, prepend=-1))
    reading = np.empty(len(outputs), dtype=np.int64)
    group_sizes = np.diff(group_start, append=len(outputs))
    reading[by_neuron] = np.arange(len(outputs)) - np.repeat(group_start, group_sizes)
    first, more = reading == 0, reading > 0
    seeded = np.zeros(n, dtype=bool)
    seeded[outputs] = True
    heads = np.flatnonzero((net.fan_in > 0) | (net.fan_out > 0) | seeded)
    idle = np.flatnonzero((net.fan_in > 0) & (net.fan_out == 0) & ~seeded)

    # Dn of a neuron with out-edges: one term per out-edge, in ascending target (CSR order).
    out_src = src[net.out_edge]
    out_dst = net.out_dst
    later = outputs[more]
    digits = max(1, len(str(int(reading.max())))) if len(reading) else 1
    # Sort keys: (block; line of the block: Dn head, seeds, Dn terms, Dn end, Dz, Db, Dw; term).
    return assemble([
        ((rank[heads], 0, 0), rows(len(heads), b"Dn", hx[heads], b" =")),
        ((rank[outputs[first]], 1, 0), rows(int(first.sum()), b" DLY_n", hx[outputs[first]])),
        ((rank[later], 1, reading[more]),
         rows(len(later), b" +DLY_n", hx[later], b"_", decimal_digits(reading[more], digits))),
        ((rank[out_src], 2, np.arange(len(out_src))),
         rows(len(out_src), b" +Dz", hx[out_dst], b"*w", hx[out_src], hx[out_dst])),
        ((rank[idle], 2, 0), rows(len(idle), b" 0")),
        ((rank[heads], 3, 0), rows(len(heads), b"\n")),
        ((rank[js], 4, 0),
         rows(len(js), b"Dz", hx[js], b" = Dn", hx[js], b"*df", hx[js], b"(z", hx[js], b")\n")),
        ((rank[js], 5, 0), rows(len(js), b"Db", hx[js], b" = Dz", hx[js], b"\n")),
        ((rank[dst], 6, np.arange(len(src))),
         rows(len(src), b"Dw", hx[src], hx[dst], b" = n", hx[src], b"*Dz", hx[dst], b"\n")),
    ])


def _matrix(net: Net) -> str:
    """ncc's weight block table: a header of names, then one row per source neuron i
    with one cell per target j: `+nII*wIIJJ` for an edge, else underscores as wide.

    NOTE: N x N cells: built a band of rows at a time (about `_MATRIX_BAND_BYTES`
    each), never the whole N x N x (3K+5) byte table, so the peak memory is the
    text itself plus one band.
    """
    n = net.n_neurons
    hx = _hex_names(net)
    # NOTE: names joined by single spaces: the header is not aligned with the cells (as in ncc).
    header = strip_pad(rows(n, b" n", hx))[1:] + "\n"
    cell_width = 3 * hx.shape[1] + 4
    band = max(1, _MATRIX_BAND_BYTES // (n * (cell_width + 1)))
    return header + "".join(_matrix_rows(net, hx, lo, min(lo + band, n)) for lo in range(0, n, band))


def _matrix_rows(net: Net, hx: np.ndarray, lo: int, hi: int) -> str:
    """Rows lo..hi-1 of the weight block table."""
    n = net.n_neurons
    cell_width = 3 * hx.shape[1] + 4
    # NOTE: the edges leaving rows lo..hi-1 are the CSR slice out_ptr[lo]:out_ptr[hi].
    out = net.out_edge[net.out_ptr[lo]:net.out_ptr[hi]]
    src, dst = net.edges[out, 0], net.edges[out, 1]
    cells = np.full((hi - lo, n, cell_width + 1), ord("_"), dtype=np.uint8)
    cells[:, :, 0] = ord(" ")
    cells[src - lo, dst] = rows(len(src), b" +n", hx[src], b"*w", hx[src], hx[dst])
    table = rows(hi - lo, b"n", hx[lo:hi], cells.reshape(hi - lo, -1), b"\n")
    return strip_pad(table)

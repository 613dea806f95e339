"""Build big texts from numpy byte rows: uint8 rows -> str.

`equations` and `write` print one short line (or line fragment) per edge, and
a net can have millions of edges: an f-string per edge costs about a
microsecond, and this machine's budget is a second or two per million edges.
So every fragment of one kind is built at once as a row of a `uint8` matrix
(names are fixed-width hex), fragments of all kinds are put in order by sort
keys, and the text is their concatenation.

A fragment whose width varies (a float, an optional comma) pads with the byte
`PAD` (NUL), which never occurs in the text and is dropped at the end.
"""

from typing import Sequence, Tuple, Union

import numpy as np

PAD = 0
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

Part = Union[bytes, np.ndarray]
Key = Union[int, np.ndarray]


def hex_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Lowercase hex of non-negative ints, zero-padded to `width`: (M,) -> (M, width) uint8."""
    shifts = 4 * np.arange(width - 1, -1, -1, dtype=np.int64)
    nibbles = (np.asarray(values, dtype=np.int64)[:, None] >> shifts) & 15
    return _HEX[nibbles]


def decimal_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative ints, right-aligned in `width` columns, PAD before them."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = np.asarray(values, dtype=np.int64)[:, None] // powers % 10
    leading = np.asarray(values)[:, None] < powers
    leading[:, -1] = False  # 0 is written "0"
    return np.where(leading, PAD, ord("0") + digits).astype(np.uint8)


def rows(count: int, *parts: Part) -> np.ndarray:
    """`count` rows, each the concatenation of `parts`: bytes (the same in every row) or (count, k) uint8."""
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in parts]
    out = np.empty((count, sum(widths)), dtype=np.uint8)
    at = 0
    for part, width in zip(parts, widths):
        out[:, at:at + width] = np.frombuffer(part, dtype=np.uint8) if isinstance(part, bytes) else part
        at += width
    return out


def assemble(pieces: Sequence[Tuple[Tuple[Key, ...], np.ndarray]]) -> str:
    """Concatenate the rows of every piece in the order of their sort keys, as text.

    Each piece is `(keys, rows)`: a tuple of sort keys (ints or arrays, one
    entry per row; every piece has the same number of keys, most significant
    first) and a uint8 row matrix. `PAD` bytes are dropped.
    """
    pieces = [(keys, block) for keys, block in pieces if len(block)]
    if not pieces:
        return ""
    n_rows = sum(len(block) for _, block in pieces)
    width = max(block.shape[1] for _, block in pieces)
    table = np.full((n_rows, width), PAD, dtype=np.uint8)
    columns = [np.empty(n_rows, dtype=np.int64) for _ in pieces[0][0]]
    at = 0
    for keys, block in pieces:
        stop = at + len(block)
        table[at:stop, :block.shape[1]] = block
        for column, key in zip(columns, keys):
            column[at:stop] = key
        at = stop
    order = np.lexsort(columns[::-1])
    return strip_pad(table[order])


def strip_pad(table: np.ndarray) -> str:
    """The bytes of a row matrix, row after row, without `PAD`, as text."""
    flat = table.ravel()
    return flat[flat != PAD].tobytes().decode("ascii")

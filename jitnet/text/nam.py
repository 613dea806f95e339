"""The NAM reader (SPEC §3.2): a NAM's parse tree -> a checked `Net`.

A square 0/1 matrix in one of three layouts; labels are lexed, never checked.
Each row is one token, and numpy reads (and checks) all the digits at once.
"""

import numpy as np
from lark import Token, Tree

from ..net import Net
from .located import EOF, EOL, TERMINALS, Source, build, fail, leaves, quote


def read(src: Source, tree: Tree, default: int) -> Net:
    """NAM: entry ij = edge i -> j; every non-input neuron gets the code `default`."""
    layout = tree.children[0]
    assert isinstance(layout, Tree)
    rows = [_row_digits(token) for token in leaves(layout) if token.type.endswith("ROW")]
    n = len(rows[0][1])
    if n == 0:
        fail(src, rows[0][0], TERMINALS["ROW"])
    digits = _matrix_digits(src, rows, n)
    i, j = np.nonzero(digits.reshape(n, n))
    row_at = np.array([at for at, _ in rows[:n]], dtype=np.int64)
    return build(src, lambda k: (int(row_at[i[k]] + j[k]), "1"), n, np.stack([i, j], axis=1), default)


def _row_digits(token: Token) -> tuple:
    """(offset of the first digit, the digits) of a row token, its label cut off."""
    if token.type == "LETTER_ROW":
        digits = token.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    elif token.type == "HEX_ROW":
        digits = token.partition("|")[2]
    else:
        digits = str(token)
    assert token.end_pos is not None
    return token.end_pos - len(digits), digits


def _matrix_digits(src: Source, rows: list, n: int) -> np.ndarray:
    """The N*N digits as bools, after checking them in file order: N rows of N digits 0 or 1.

    NOTE: the first row's length is N; a later row of another length is short or long.
    """
    checked = [digits for _, digits in rows[:n]]
    lengths = np.array([len(d) for d in checked], dtype=np.int64)
    buf = np.frombuffer("".join(checked).encode("ascii"), dtype=np.uint8)  # ASCII by the grammar
    offsets = np.cumsum(lengths) - lengths
    bad_digit = np.flatnonzero((buf - np.uint8(48)) > 1)
    bad_length = np.flatnonzero(lengths != n)
    if bad_digit.size:
        r = int(np.searchsorted(offsets, bad_digit[0], side="right") - 1)
        col = int(bad_digit[0] - offsets[r])
        if not bad_length.size or r < bad_length[0] or (r == bad_length[0] and col < n):
            fail(src, rows[r][0] + col, "a digit 0 or 1", quote(chr(buf[bad_digit[0]])))
    if bad_length.size:
        r = int(bad_length[0])
        at, digits = rows[r]
        expected = f"{n} digits (as many as the first row)"
        if len(digits) < n:
            fail(src, at + len(digits), expected, EOL)
        fail(src, at + n, expected)
    if len(rows) > n:
        fail(src, rows[n][0], f"{EOF} after {n} rows (a square matrix)")
    if len(rows) < n:
        fail(src, None, f"{n} rows (a square matrix)")
    return buf == ord("1")

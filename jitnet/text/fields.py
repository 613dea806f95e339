"""Split and read ASCII fields with numpy: text tokens -> field offsets and hex values.

The parser's bulk work: a whole in-index list, matrix row or run of edge
lines arrives as one token, and these functions split it and read its hex
digits without a Python loop per field or digit (so a 1M-edge file parses in
seconds). They know bytes and offsets, not grammars or errors.
"""

from typing import NamedTuple, Optional

import numpy as np


def byte_table(members: bytes) -> np.ndarray:
    """A 256-entry lookup: which byte values are in `members`."""
    table = np.zeros(256, dtype=bool)
    table[list(members)] = True
    return table


HEX_DIGIT = np.zeros(256, dtype=np.int64)
HEX_DIGIT[list(b"0123456789")] = range(10)
HEX_DIGIT[list(b"abcdef")] = range(10, 16)
HEX_DIGIT[list(b"ABCDEF")] = range(10, 16)
LIST_SEPARATORS = byte_table(b" \t,\n")
BLANKS = byte_table(b" \t\r\n")
# NOTE: 15 hex places keep every value below 2**60 in int64; a nonzero digit
# before them makes a number no net can index, flagged `big`, never overflowing.
PLACES = 15
INDEX_LIMIT = 1 << 62
CHUNK = 1 << 20  # fields `hex_values` reads at once


def fields(buf: np.ndarray, separator: np.ndarray) -> tuple:
    """Start and end offsets of the runs of non-separator bytes in `buf`."""
    inside = ~separator[buf]
    change = np.diff(inside.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(change == 1), np.flatnonzero(change == -1)


def hex_values(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple:
    """The hex numbers buf[starts[k]:ends[k]] (digits only), and which are too `big` to be indices.

    NOTE: read CHUNK fields at a time, so the temporaries stay a few tens of
    MB whatever the file (a whole 1e7-edge file at once took ~500 MB more).
    """
    values = np.zeros(len(starts), dtype=np.int64)
    big = np.zeros(len(starts), dtype=bool)
    for lo in range(0, len(starts), CHUNK):
        part = slice(lo, lo + CHUNK)
        values[part], big[part] = _hex_chunk(buf, starts[part], ends[part])
    return values, big


def _hex_chunk(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple:
    """`hex_values` of a few fields.

    NOTE: fields of one width are read together, one digit column at a time
    (Horner: value * 16 + digit), so the temporaries hold one number per
    field, not one per digit. Files hold few widths (ncc pads indices), so the
    outer loop runs a few times.
    """
    values = np.zeros(len(starts), dtype=np.int64)
    big = np.zeros(len(starts), dtype=bool)
    lengths = ends - starts
    order = np.argsort(lengths, kind="stable")
    widths, first = np.unique(lengths[order], return_index=True)
    for width, group in zip(widths.tolist(), np.split(order, first[1:])):
        low = min(width, PLACES)
        at = ends[group] - low
        value = np.zeros(len(group), dtype=np.int64)
        for _ in range(low):
            value <<= 4
            value += HEX_DIGIT[buf[at]]
            at += 1
        values[group] = value
        if width > PLACES:
            high = buf[starts[group][:, None] + np.arange(width - PLACES)]
            big[group] = (high != ord("0")).any(axis=1)
    return values, big


def first_out_of_range(values: np.ndarray, big: np.ndarray, n: int) -> Optional[int]:
    bad = np.flatnonzero(big | (values >= min(n, INDEX_LIMIT)))
    return int(bad[0]) if bad.size else None


class Fields(NamedTuple):
    """The fields (runs of non-separator bytes) of many tokens, split at once by numpy."""

    text: str               # the tokens joined with "\n"
    buf: np.ndarray         # its bytes
    starts: np.ndarray      # each field's start and end in `buf`
    ends: np.ndarray
    at: np.ndarray          # each field's offset in the source text
    owner: np.ndarray       # each field's token


def token_fields(tokens: list, separator: np.ndarray) -> Fields:
    """Split many tokens in one numpy pass.

    NOTE: joined with "\n" (a separator), so no field spans two tokens and a
    token's last line stays a line. The tokens are ASCII (their terminals
    admit nothing else), so byte offsets are character offsets.
    """
    text = "\n".join(tokens)
    buf = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    starts, ends = fields(buf, separator)
    offsets = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]]).astype(np.int64)
    owner = np.searchsorted(offsets, starts, side="right") - 1
    token_at = np.array([t.start_pos for t in tokens], dtype=np.int64)
    at = token_at[owner]  # NOTE: in place: each temporary is one int64 per field
    at -= offsets[owner]
    at += starts
    return Fields(text, buf, starts, ends, at, owner)

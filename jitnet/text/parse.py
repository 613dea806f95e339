"""Parse ncc net text: path or text -> Net.

The only module that knows Lark. Each format's syntax lives in its grammar
(`grammar/{nal,nam,nel}.lark`); this module reads the tree, checks what a
grammar cannot (indices, counts, codes, floats, a square matrix) and builds
the `Net` last, so a failed parse leaves nothing half-built (SPEC §3.5).

Built so for two reasons:
- Speed. The grammars lex a whole in-index list, a whole matrix row and a
  whole run of edge lines as ONE token; numpy splits those tokens and reads
  their digits. Python loops per line (NAL, NAM), never per index or digit;
  only NEL weights go through float() one by one.
- One error form. Every check knows the character offset of what it rejects;
  `_fail` turns it into FILE:LINE:COL, and `_raise_at` is the one place a
  `NetFormatError` is made. Lark's exceptions are translated in `_tree`. The
  tree is read by plain functions, not a Lark visitor, so there is no
  VisitError to unwrap.
"""

import functools
import importlib.resources
import math
import os
from pathlib import Path
from typing import Callable, NamedTuple, NoReturn, Optional

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..activations import ACTIVATIONS, ActivationLike, activation_code
from ..errors import GraphError, Loc, NetFormatError
from ..net import Net, name_width
from .fields import BLANKS, LIST_SEPARATORS, first_out_of_range, hex_values, token_fields

__all__ = ["FORMATS", "parse"]

FORMATS = ("nal", "nam", "nel")
_EXTENSIONS = {".nal": "nal", ".nam": "nam", ".nel": "nel"}
_TEXT_FILE = "<text>"
_EOF = "end of file"
_EOL = "end of line"
_SHOWN = 20  # characters of the offending text a message quotes

# What each terminal is, in words, in the order a message lists them.
_TERMINALS = {
    "_N": "the count line 'N <hex>'",
    "COUNT": "a hex neuron count",
    "INDEX": "a hex neuron index",
    "NEURON": "a hex neuron index",
    "ACTIVATION": "an activation code or name",
    "INDICES": "hex in-indices",
    "EDGES": "an edge line 'i j [weight]'",
    "_ACT": "'act'",
    "_BIAS": "'bias'",
    "NUMBER": "a float",
    "ROW": "a row of 0s and 1s",
    "HEADER": "a header of labels",
    "LETTER_ROW": "a labelled row like 'a0110'",
    "I_LABELS": "an 'i:' label line",
    "J_LABELS": "a 'j:' label line",
    "DASHES": "a line of '-'",
    "HEX_ROW": "a labelled row like 'n00|0110'",
    "_NL": _EOL,
    "$END": _EOF,
}

_MAX_COUNT = np.iinfo(np.int64).max


def parse(source=None, *, text: Optional[str] = None, format: Optional[str] = None,
          activation: Optional[ActivationLike] = None) -> Net:
    """Read a net written in an ncc text format (SPEC §3).

        >>> net = parse(text="N 03\\n00\\n01\\n02 relu 00,01\\n", format="nal")
        >>> net.edges.tolist(), net.activations.tolist()
        ([[0, 2], [1, 2]], [0, 0, 3])

    Args:
        source: a path (str or os.PathLike); messages name it as given.
        text: the net's text instead of a path; messages name it `<text>`.
        format: "nal", "nam" or "nel" (any case). Without it a path's
            extension decides; any other path, and `text=`, must be a NAM.
        activation: a code, hex string or name for every non-input neuron of
            a NAM and NEL neurons without an `act` line (default identity).
            NAL lines name their own codes, so NAL ignores it.

    Raises:
        NetFormatError: malformed text, located `FILE:LINE:COL:` (SPEC §3.5).
        FileNotFoundError: no file at `source`.
        TypeError: not exactly one of `source` and `text`.
        ValueError: an unknown `format=` or `activation=`.
    """
    default = 0 if activation is None else activation_code(activation)
    file, body = _read(source, text)
    src = _Source(file, body)
    fmt = _format(src, format, source)
    return _READERS[fmt](src, _tree(src, fmt), default)


# --- source, format, grammar ---------------------------------------------------------

class _Source(NamedTuple):
    file: str
    text: str


def _read(source, text) -> tuple:
    """The name messages show (the path as given, or `<text>`) and the text."""
    if (source is None) == (text is None):
        raise TypeError("parse() takes exactly one of a path or text=")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text= must be a str, got {type(text).__name__}")
        return _TEXT_FILE, text
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path (str or os.PathLike), got {type(source).__name__}")
    file = str(source)
    with open(source, "rb") as stream:
        data = stream.read()
    try:
        return file, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        error = exc
    _not_utf8(file, data, error)


def _format(src: _Source, format: Optional[str], source) -> str:
    """`format=`, else the path's extension, else NAM (SPEC §3.4)."""
    if format is not None:
        if not isinstance(format, str) or format.lower() not in FORMATS:
            raise ValueError(f"format must be one of 'nal', 'nam', 'nel', got {format!r}")
        return format.lower()
    if source is not None:
        extension = os.path.splitext(os.fsdecode(source))[1].lower()
        if extension in _EXTENSIONS:
            return _EXTENSIONS[extension]
    opening = _count_line_at(src.text)
    if opening is not None:
        _fail(src, opening, "format='nal' or format='nel' (only a NAM is read without one)")
    return "nam"


def _count_line_at(text: str) -> Optional[int]:
    """Where the text opens with an `N <hex>` line (as NAL and NEL do), else None.

    NOTE: the NAL grammar decides, one token at a time; NEL opens with the same
    line. Lexing stops at the token after the count, so this costs one line.
    """
    kinds, start = [], None
    try:
        for token in _parser("nal").parse_interactive(text).iter_parse():
            if token.type == "_NL" and not kinds:
                continue  # blank and comment lines before the first line
            kinds.append(token.type)
            start = token.start_pos if start is None else start
            if len(kinds) == 3:
                break
    except UnexpectedInput:
        return None
    return start if kinds in (["_N", "COUNT"], ["_N", "COUNT", "_NL"]) else None


def _grammar_text(fmt: str) -> str:
    """A grammar from the wheel (jitnet/grammar), else from a checkout's top-level grammar/."""
    packaged = importlib.resources.files("jitnet") / "grammar"
    folder = packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "grammar"
    return (folder / f"{fmt}.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _parser(fmt: str) -> Lark:
    """One LALR parser per format, built on first use (SPEC §3)."""
    return Lark(_grammar_text(fmt), parser="lalr", lexer="contextual")


def _tree(src: _Source, fmt: str) -> Tree:
    """The parse tree, or Lark's syntax error as a NetFormatError."""
    try:
        return _parser(fmt).parse(src.text)
    except UnexpectedInput as exc:
        error = exc
    _syntax_error(src, error)


# --- errors ----------------------------------------------------------------------------

def _raise_at(loc: Loc, expected: str, found: str) -> NoReturn:
    """The one place a NetFormatError is made: `FILE:LINE:COL: expected X, got Y` (SPEC §3.5)."""
    raise NetFormatError(loc, f"expected {expected}, got {found}")


def _fail(src: _Source, pos: Optional[int], expected: str, found: Optional[str] = None) -> NoReturn:
    """Raise at character offset `pos` (None: end of file).

    `found` is what is there, in words or `_quote`d; by default the text at `pos`.
    """
    _raise_at(_loc(src, pos), expected, _found_at(src.text, pos) if found is None else found)


def _loc(src: _Source, pos: Optional[int]) -> Loc:
    """1-based physical line and column of `pos`; end of file is one line past the last, column 1."""
    text = src.text
    if pos is None:
        lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        return Loc(src.file, lines + 1, 1)
    line_start = text.rfind("\n", 0, pos) + 1
    return Loc(src.file, text.count("\n", 0, pos) + 1, pos - line_start + 1)


def _found_at(text: str, pos: Optional[int]) -> str:
    """The word at `pos` (up to a blank, comma or line end), quoted; or end of line / file."""
    if pos is None or pos >= len(text):
        return _EOF
    if text.startswith("\n", pos) or text.startswith("\r\n", pos):
        return _EOL
    return _quote(_word_at(text, pos))


def _word_at(text: str, pos: int) -> str:
    """The text at `pos` up to a blank, comma or line end: as much as `_quote` shows."""
    word = text[pos:pos + _SHOWN + 1]
    for k in range(1, len(word)):
        if word[k] in " \t\r\n,":
            return word[:k]
    return word


def _quote(text: str) -> str:
    """'text', cut to _SHOWN characters, non-printables escaped so the message stays one line."""
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown) + "'"


def _syntax_error(src: _Source, error: UnexpectedInput) -> NoReturn:
    """Lark's error, with the terminals it expected said in words."""
    if isinstance(error, UnexpectedCharacters):
        pos, names = error.pos_in_stream, error.allowed
    elif isinstance(error, UnexpectedToken) and error.token.type != "$END":
        pos, names = error.token.start_pos, error.expected
    else:  # the input ended too soon
        pos, names = None, error.expected
    words = [words for name, words in _TERMINALS.items() if name in names]
    _fail(src, pos, " or ".join(dict.fromkeys(words)))


def _not_utf8(file: str, data: bytes, error: UnicodeDecodeError) -> NoReturn:
    """Locate the first byte that is not UTF-8 (everything before it decodes)."""
    line_start = data.rfind(b"\n", 0, error.start) + 1
    col = len(data[line_start:error.start].decode("utf-8")) + 1
    line = data.count(b"\n", 0, error.start) + 1
    bad = "".join(f"\\x{b:02x}" for b in data[error.start:error.end])
    _raise_at(Loc(file, line, col), "UTF-8 text", _quote(bad))


def _build(src: _Source, edge_at: Callable[[int], tuple], *args, **kwargs) -> Net:
    """`Net(...)`, its graph errors (a repeated edge, a cycle) located at the edge (SPEC §1).

    `edge_at(k)` gives the offset and the text of the k-th edge given to Net.
    """
    try:
        return Net(*args, **kwargs)
    except GraphError as exc:
        error = exc
    # NOTE: the readers check every neuron rule themselves, so what is left names an edge.
    assert error.edge is not None, error
    pos, shown = edge_at(error.edge)
    _fail(src, pos, f"a valid net ({error})", _quote(shown))


# --- shared readers --------------------------------------------------------------------

def _hex(j: int, n: int) -> str:
    """Index j as ncc writes it (zero-padded lowercase hex, SPEC §5)."""
    return f"{j:0{name_width(n)}x}"


def _index_range(n: int) -> str:
    return f"a neuron index {_hex(0, n)}..{_hex(n - 1, n)}"


def _count(src: _Source, tree: Tree) -> int:
    """N from the `N <hex>` line: at least one neuron, and indices that fit Net's int64."""
    token = tree.children[0]
    n = int(token, 16)
    if not 1 <= n <= _MAX_COUNT:
        _fail(src, token.start_pos, f"a neuron count from 1 to {_MAX_COUNT:x}")
    return n


def _neuron(src: _Source, token: Token, n: int) -> int:
    """A neuron index token, checked against N."""
    j = int(token, 16)
    if j >= n:
        _fail(src, token.start_pos, _index_range(n))
    return j


def _code(src: _Source, token: Token) -> int:
    """An activation code or name (SPEC §2)."""
    try:
        return activation_code(str(token))
    except ValueError:
        pass
    _fail(src, token.start_pos, f"an activation code 00-{len(ACTIVATIONS) - 1:02x} or name")


# --- NAL (SPEC §3.1) -------------------------------------------------------------------

def _read_nal(src: _Source, tree: Tree, default: int) -> Net:
    """NAL: after `N`, one line per neuron in index order, each naming its own code."""
    n, sources, targets, codes, edge_at = _nal_arrays(src, tree.children)
    # NOTE: the tree (~1.5 kB a line) and the split fields are dropped before
    # the edge array is made and the Net built (1e7 edges: peak RSS 1.9 -> 1.1 GB).
    del tree
    edges = np.stack([sources, targets], axis=1)
    del sources, targets
    return _build(src, edge_at, n, edges, codes)


def _nal_arrays(src: _Source, children: list) -> tuple:
    """(N, each edge's i, its j, the codes, `edge_at` for `_build`) of a NAL's tree, all checked."""
    count, *lines = children
    n = _count(src, count)
    with_inputs = [k for k, line in enumerate(lines) if len(line.children) == 3]
    fields = token_fields([lines[k].children[2] for k in with_inputs], LIST_SEPARATORS)
    sources, big = hex_values(fields.buf, fields.starts, fields.ends)
    at = fields.at
    bad = first_out_of_range(sources, big, n)
    # NOTE: lines are checked up to the first bad in-index, so whichever error
    # comes first in the file is the one reported.
    codes = _nal_codes(src, lines, n, None if bad is None else int(at[bad]))
    if bad is not None:
        _fail(src, int(at[bad]), _index_range(n))
    targets = np.asarray(with_inputs, dtype=np.int64)[fields.owner]
    # NOTE: an in-index is a field of hex digits, so the word at its offset is its text.
    return n, sources, targets, codes, lambda k: (int(at[k]), _word_at(src.text, int(at[k])))


def _nal_codes(src: _Source, lines: list, n: int, stop: Optional[int]) -> np.ndarray:
    """Each line's code, checking the lines are 0..N-1 in order.

    With a `stop` offset, only the lines that start before it are checked.
    """
    codes = []
    for j, line in enumerate(lines):
        index, *rest = line.children
        if stop is not None and index.start_pos > stop:
            break
        if j >= n:
            _fail(src, index.start_pos, f"{_EOF} after neuron {_hex(n - 1, n)} (N is {_hex(n, n)})")
        if int(index, 16) != j:
            _fail(src, index.start_pos, f"the line of neuron {_hex(j, n)}")
        codes.append(_nal_code(src, rest))
    if stop is None and len(codes) < n:
        _fail(src, None, f"the line of neuron {_hex(len(codes), n)}")
    return np.array(codes, dtype=np.uint8)


def _nal_code(src: _Source, fields: list) -> int:
    """The code on a NAL line: none for `j`; identity for an input `j fj` (SPEC §3.1)."""
    if not fields:
        return 0
    code = _code(src, fields[0])
    if len(fields) == 1 and code != 0:
        _fail(src, fields[0].start_pos, "identity (00) on an input neuron")
    return code


# --- NAM (SPEC §3.2) -------------------------------------------------------------------

def _read_nam(src: _Source, tree: Tree, default: int) -> Net:
    """NAM: a square 0/1 matrix, entry ij = edge i -> j; labels are not checked."""
    rows = [_row_digits(token) for token in tree.children[0].children if token.type.endswith("ROW")]
    n = len(rows[0][1])
    if n == 0:
        _fail(src, rows[0][0], _TERMINALS["ROW"])
    digits = _matrix_digits(src, rows, n)
    i, j = np.nonzero(digits.reshape(n, n))
    row_at = np.array([at for at, _ in rows[:n]], dtype=np.int64)
    return _build(src, lambda k: (int(row_at[i[k]] + j[k]), "1"), n, np.stack([i, j], axis=1), default)


def _row_digits(token: Token) -> tuple:
    """(offset of the first digit, the digits) of a row token, its label cut off."""
    if token.type == "LETTER_ROW":
        digits = token.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    elif token.type == "HEX_ROW":
        digits = token.partition("|")[2]
    else:
        digits = str(token)
    return token.end_pos - len(digits), digits


def _matrix_digits(src: _Source, rows: list, n: int) -> np.ndarray:
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
            _fail(src, rows[r][0] + col, "a digit 0 or 1", _quote(chr(buf[bad_digit[0]])))
    if bad_length.size:
        r = int(bad_length[0])
        at, digits = rows[r]
        expected = f"{n} digits (as many as the first row)"
        if len(digits) < n:
            _fail(src, at + len(digits), expected, _EOL)
        _fail(src, at + n, expected)
    if len(rows) > n:
        _fail(src, rows[n][0], f"{_EOF} after {n} rows (a square matrix)")
    if len(rows) < n:
        _fail(src, None, f"{n} rows (a square matrix)")
    return buf == ord("1")


# --- NEL (SPEC §3.3) -------------------------------------------------------------------

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


def _read_nel(src: _Source, tree: Tree, default: int) -> Net:
    """NEL: after `N`, edge lines `i j [w]`, `act j f` and `bias j b` in any order.

    Checks go line by line in file order, then over the whole net: weights on
    every edge or none, their values, settings on inputs, then `Net`'s own.
    """
    count, *lines = tree.children
    n = _count(src, count)
    edges, bad = _edge_lines([line for line in lines if isinstance(line, Token)], n)
    settings = _settings(src, [line for line in lines if isinstance(line, Tree)], n, bad)
    if bad is not None:
        _fail(src, bad, _index_range(n))
    weights = _nel_weights(src, edges)
    has_in = np.zeros(n, dtype=bool)
    has_in[edges.j] = True
    codes = np.where(has_in, default, 0).astype(np.uint8)
    biases = np.zeros(n) if any(s.kind == "bias" for s in settings) else None
    for setting in settings:
        _apply(src, setting, has_in, codes, biases)
    return _build(src, lambda k: (int(edges.at[k]), src.text[edges.at[k]:edges.end[k]]),
                  n, np.stack([edges.i, edges.j], axis=1), codes, weights, biases)


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


def _settings(src: _Source, trees: list, n: int, stop: Optional[int]) -> list:
    """The `act` and `bias` lines before offset `stop` (None: all), each checked."""
    settings, seen = [], {}
    for tree in trees:
        if stop is not None and tree.children[0].start_pos > stop:
            break
        settings.append(_setting(src, tree, n, seen))
    return settings


def _setting(src: _Source, tree: Tree, n: int, seen: dict) -> _Setting:
    """An `act j f` or `bias j b` line; one of each per neuron (SPEC §3.3)."""
    neuron, value = tree.children
    j = _neuron(src, neuron, n)
    if (tree.data, j) in seen:
        first = _loc(src, seen[tree.data, j]).line
        _fail(src, neuron.start_pos, f"one {tree.data} line per neuron ({_hex(j, n)} has one on line {first})")
    seen[tree.data, j] = neuron.start_pos
    read = _code(src, value) if tree.data == "act" else _float(src, str(value), value.start_pos, "bias")
    return _Setting(str(tree.data), j, neuron.start_pos, value.start_pos, read)


def _apply(src: _Source, s: _Setting, has_in: np.ndarray, codes: np.ndarray, biases) -> None:
    """Put a setting into the codes or biases; an input takes neither (SPEC §3.3, §3.4)."""
    if s.kind == "act":
        if s.value != 0 and not has_in[s.j]:
            _fail(src, s.value_at, "identity (00) on an input neuron")
        codes[s.j] = s.value
    else:
        if not has_in[s.j]:
            _fail(src, s.at, "a neuron with in-edges (an input takes no bias)")
        biases[s.j] = s.value


def _nel_weights(src: _Source, edges: _Edges) -> Optional[np.ndarray]:
    """The weights in file order when every edge has one; None when none has (SPEC §3.3)."""
    has = edges.weight_at >= 0
    if not has.any():
        return None
    if not has.all():
        k = int(np.flatnonzero(has != has[0])[0])
        if has[0]:
            _fail(src, int(edges.end[k]), "a weight (the first edge has one)", _EOL)
        _fail(src, int(edges.weight_at[k]), "no weight (the first edge has none)")
    values = _floats(edges.weights)
    if values is not None:
        return values
    return np.array([_float(src, t, int(p), "weight") for t, p in zip(edges.weights, edges.weight_at)])


def _floats(texts: list) -> Optional[np.ndarray]:
    """The fast path: every text a decimal, or every text a hex float; None if any is not, or
    any is not finite (then `_float` reads them one by one and fails at the first bad one).

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


def _is_hex_float(text: str) -> bool:
    """Written as float.hex() writes a float: `[+-]0x...p...` (so `0x10` is not one)."""
    body = text.lstrip("+-").lower()
    return body.startswith("0x") and "p" in body


def _float(src: _Source, text: str, pos: int, what: str) -> float:
    """A finite decimal float, or a hex float as float.hex() writes it (`-0x1.8p-3`); not `0x10`."""
    try:
        value = float.fromhex(text) if _is_hex_float(text) else float(text)
    except OverflowError:
        value = math.inf
    except ValueError:
        value = None  # float() rejects hex integers such as 0x10 (SPEC §3.3)
    if value is None:
        _fail(src, pos, f"a decimal or hex float {what} (like 0.25 or -0x1.8p-3)")
    if not math.isfinite(value):
        _fail(src, pos, f"a finite {what}")
    return value


_READERS = {"nal": _read_nal, "nam": _read_nam, "nel": _read_nel}

"""Located errors: a character offset in a net's text -> `NetFormatError` at FILE:LINE:COL.

Every reader (`nal`, `nam`, `nel`, `fann`) knows the offset of what it
rejects and calls `fail`; `raise_at` is the one place a `NetFormatError` is
made (SPEC §3.5). Lark's syntax errors are translated here too
(`syntax_tree`), with the terminals the grammar expected said in words. The
trees are read by plain functions, not a Lark visitor, so there is no
VisitError to unwrap.

The small field checks every reader shares (a count, an index, an
activation code, a float) live here as well, since each one is a check that
raises at the field's offset.
"""

import math
from typing import Callable, List, NamedTuple, NoReturn, Optional

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..activations import ACTIVATIONS, activation_code
from ..errors import GraphError, Loc, NetFormatError
from ..net import Net, name_width

EOF = "end of file"
EOL = "end of line"
SHOWN = 20  # characters of the offending text a message quotes
MAX_COUNT = np.iinfo(np.int64).max

# What each named terminal is, in words, in the order a message lists them.
# A terminal not listed here that is a literal string (FANN's `key=` names)
# is shown as that string, quoted.
TERMINALS = {
    "_N": "the count line 'N <hex>'",
    "COUNT": "a hex neuron count",
    "INDEX": "a hex neuron index",
    "NEURON": "a hex neuron index",
    "ACTIVATION": "an activation code or name",
    "INDICES": "hex in-indices",
    "EDGES": "an edge line 'i j [weight]'",
    "_ACT": "'act'",
    "_BIAS": "'bias'",
    "OUT": "'out'",
    "NUMBER": "a float",
    "ROW": "a row of 0s and 1s",
    "HEADER": "a header of labels",
    "LETTER_ROW": "a labelled row like 'a0110'",
    "I_LABELS": "an 'i:' label line",
    "J_LABELS": "a 'j:' label line",
    "DASHES": "a line of '-'",
    "HEX_ROW": "a labelled row like 'n00|0110'",
    "VERSION": "'FANN_FLO_2.0' or 'FANN_FLO_2.1' (a floating-point FANN file)",
    "VALUE": "a value",
    "UINT": "a decimal count",
    "NEURONS": "neurons like '(2, 5, 0.5)'",
    "CONNECTIONS": "connections like '(0, 0.25)'",
    "_NL": EOL,
    "$END": EOF,
}


class Source(NamedTuple):
    """A net's text and the name messages show for it (the path as given, or `<text>`)."""

    file: str
    text: str


def raise_at(loc: Loc, expected: str, found: str) -> NoReturn:
    """The one place a NetFormatError is made: `FILE:LINE:COL: expected X, got Y` (SPEC §3.5)."""
    raise NetFormatError(loc, f"expected {expected}, got {found}")


def fail(src: Source, pos: Optional[int], expected: str, found: Optional[str] = None) -> NoReturn:
    """Raise at character offset `pos` (None: end of file).

    `found` is what is there, in words or `quote`d; by default the text at `pos`.
    """
    raise_at(loc(src, pos), expected, found_at(src.text, pos) if found is None else found)


def loc(src: Source, pos: Optional[int]) -> Loc:
    """1-based physical line and column of `pos`; end of file is one line past the last, column 1."""
    text = src.text
    if pos is None:
        lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        return Loc(src.file, lines + 1, 1)
    line_start = text.rfind("\n", 0, pos) + 1
    return Loc(src.file, text.count("\n", 0, pos) + 1, pos - line_start + 1)


def found_at(text: str, pos: Optional[int]) -> str:
    """The word at `pos` (up to a blank, comma or line end), quoted; or end of line / file."""
    if pos is None or pos >= len(text):
        return EOF
    if text.startswith("\n", pos) or text.startswith("\r\n", pos):
        return EOL
    return quote(word_at(text, pos))


def word_at(text: str, pos: int) -> str:
    """The text at `pos` up to a blank, comma or line end: as much as `quote` shows."""
    word = text[pos:pos + SHOWN + 1]
    for k in range(1, len(word)):
        if word[k] in " \t\r\n,":
            return word[:k]
    return word


def quote(text: str) -> str:
    """'text', cut to SHOWN characters, non-printables escaped so the message stays one line."""
    shown = text if len(text) <= SHOWN else text[:SHOWN] + "..."
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown) + "'"


def at(token: Token) -> int:
    """A token's character offset (Lark sets it on every token it lexes)."""
    assert token.start_pos is not None
    return token.start_pos


def leaves(tree: Tree) -> List[Token]:
    """The children of a rule whose children are all tokens (`act`, `out`, `layer_sizes`, ...)."""
    children = [child for child in tree.children if isinstance(child, Token)]
    assert len(children) == len(tree.children), tree
    return children


def syntax_tree(src: Source, parser: Lark) -> Tree:
    """The parse tree, or Lark's syntax error as a NetFormatError."""
    try:
        return parser.parse(src.text)
    except UnexpectedInput as exc:
        error = exc
    _syntax_error(src, parser, error)


def _syntax_error(src: Source, parser: Lark, error: UnexpectedInput) -> NoReturn:
    """Lark's error, with the terminals it expected said in words."""
    if isinstance(error, UnexpectedCharacters):
        pos, names = error.pos_in_stream, error.allowed
    elif isinstance(error, UnexpectedToken) and error.token.type != "$END":
        pos, names = error.token.start_pos, error.expected
    else:  # the input ended too soon
        pos, names = None, getattr(error, "expected", set())
    words = [words for name, words in TERMINALS.items() if name in names]
    words += sorted(_literal(parser, name) for name in names if name not in TERMINALS)
    fail(src, pos, " or ".join(dict.fromkeys(words)))


def _literal(parser: Lark, name: str) -> str:
    """A terminal's literal string, quoted (FANN's `num_layers=`); its name if it is a pattern."""
    for terminal in parser.terminals:
        if terminal.name == name:
            return quote(terminal.pattern.value) if terminal.pattern.type == "str" else name
    return name


def not_utf8(file: str, data: bytes, error: UnicodeDecodeError) -> NoReturn:
    """Locate the first byte that is not UTF-8 (everything before it decodes)."""
    line_start = data.rfind(b"\n", 0, error.start) + 1
    col = len(data[line_start:error.start].decode("utf-8")) + 1
    line = data.count(b"\n", 0, error.start) + 1
    bad = "".join(f"\\x{b:02x}" for b in data[error.start:error.end])
    raise_at(Loc(file, line, col), "UTF-8 text", quote(bad))


def build(src: Source, edge_at: Callable[[int], tuple], *args, **kwargs) -> Net:
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
    fail(src, pos, f"a valid net ({error})", quote(shown))


# --- fields every reader shares ------------------------------------------------------

def hex_name(j: int, n: int) -> str:
    """Index j as ncc writes it (zero-padded lowercase hex, SPEC §5)."""
    return f"{j:0{name_width(n)}x}"


def index_range(n: int) -> str:
    return f"a neuron index {hex_name(0, n)}..{hex_name(n - 1, n)}"


def count(src: Source, tree: Tree) -> int:
    """N from the `N <hex>` line: at least one neuron, and indices that fit Net's int64."""
    token = leaves(tree)[0]
    n = int(token, 16)
    if not 1 <= n <= MAX_COUNT:
        fail(src, at(token), f"a neuron count from 1 to {MAX_COUNT:x}")
    return n


def neuron(src: Source, token: Token, n: int) -> int:
    """A neuron index token, checked against N."""
    j = int(token, 16)
    if j >= n:
        fail(src, at(token), index_range(n))
    return j


def code(src: Source, token: Token) -> int:
    """An activation code or name (SPEC §2)."""
    try:
        return activation_code(str(token))
    except ValueError:
        pass
    fail(src, at(token), f"an activation code 00-{len(ACTIVATIONS) - 1:02x} or name")


def _is_hex_float(text: str) -> bool:
    """Written as float.hex() writes a float: `[+-]0x...p...` (so `0x10` is not one)."""
    body = text.lstrip("+-").lower()
    return body.startswith("0x") and "p" in body


def finite_float(src: Source, text: str, pos: int, what: str) -> float:
    """A finite decimal float, or a hex float as float.hex() writes it (`-0x1.8p-3`); not `0x10`."""
    try:
        value: Optional[float] = float.fromhex(text) if _is_hex_float(text) else float(text)
    except OverflowError:
        value = math.inf
    except ValueError:
        value = None  # float() rejects hex integers such as 0x10 (SPEC §3.3)
    if value is None:
        fail(src, pos, f"a decimal or hex float {what} (like 0.25 or -0x1.8p-3)")
    if not math.isfinite(value):
        fail(src, pos, f"a finite {what}")
    return value

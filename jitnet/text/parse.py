"""Parse net text: path or text -> Net. The front door of the text front end.

This module picks the format (`format=`, else the path's extension, else
what the text opens with), loads the format's Lark grammar
(`grammar/{nal,nam,nel,fann}.lark`) and hands the tree to that format's
reader (`nal`, `nam`, `nel`, `fann`). Each reader checks what a grammar
cannot (indices, counts, codes, floats) and builds the `Net` last, so a
failed parse leaves nothing half-built (SPEC §3.5); `located` turns every
rejected offset, and Lark's own errors, into FILE:LINE:COL.

Built so for speed: the grammars lex a whole in-index list, a whole matrix
row, a whole run of edge lines and a whole FANN connection list as ONE
token, which numpy (or one regex pass) splits; Python loops per line, never
per index or digit.
"""

import functools
import importlib.resources
import os
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

from lark import Lark, Tree
from lark.exceptions import UnexpectedInput

from ..activations import ActivationLike, activation_code
from ..net import Net
from . import fann, nal, nam, nel
from .located import Source, fail, not_utf8, syntax_tree

__all__ = ["FORMATS", "GRAMMAR_FORMATS", "parse"]

# The formats `parse` reads, in the order messages and the CLI list them (the one definition).
# The formats read through a Lark grammar (grammar/<format>.lark), then every format `parse` reads.
GRAMMAR_FORMATS = ("nal", "nam", "nel", "fann")
FORMATS = GRAMMAR_FORMATS + ("onnx",)
_EXTENSIONS = {".nal": "nal", ".nam": "nam", ".nel": "nel", ".net": "fann"}
_READERS: Dict[str, Callable[[Source, Tree, int], Net]] = {
    "nal": nal.read, "nam": nam.read, "nel": nel.read, "fann": fann.read}
_TEXT_FILE = "<text>"
_FANN_OPENING = "FANN_"

PathLike = Union[str, "os.PathLike[str]"]


def parse(source: Optional[PathLike] = None, *, text: Optional[str] = None, format: Optional[str] = None,
          activation: Optional[ActivationLike] = None) -> Net:
    """Read a net written in an ncc text format (SPEC §3) or a FANN `.net` file (SPEC §8).

        >>> net = parse(text="N 03\\n00\\n01\\n02 relu 00,01\\n", format="nal")
        >>> net.edges.tolist(), net.activations.tolist()
        ([[0, 2], [1, 2]], [0, 0, 3])

    Args:
        source: a path (str or os.PathLike); messages name it as given. A `.onnx`
            path or `bytes` is an ONNX model, read by `jitnet.from_onnx`.
        text: the net's text instead of a path; messages name it `<text>`.
        format: "nal", "nam", "nel", "fann" or "onnx" (any case). Without it a path's
            extension decides (`.net` is FANN); any other path, and `text=`,
            must be a NAM, or FANN text (its first line starts `FANN_`).
        activation: a code, hex string or name for every non-input neuron of
            a NAM and NEL neurons without an `act` line (default identity).
            NAL lines name their own codes and FANN neurons their functions,
            so NAL and FANN ignore it.

    Raises:
        NetFormatError: malformed text, located `FILE:LINE:COL:` (SPEC §3.5).
        FileNotFoundError: no file at `source`.
        TypeError: not exactly one of `source` and `text`.
        ValueError: an unknown `format=` or `activation=`.
    """
    default = 0 if activation is None else activation_code(activation)
    if _is_onnx(source, format):
        from ..importers.onnx import from_onnx  # NOTE: onnx is optional, loaded only here
        return from_onnx(source if isinstance(source, bytes) else os.fspath(source))  # type: ignore[arg-type]
    file, body = _read(source, text)
    src = Source(file, body)
    fmt = _format(src, format, source)
    return _READERS[fmt](src, syntax_tree(src, _parser(fmt)), default)


# --- source and format -----------------------------------------------------------------

def _is_onnx(source, format: Optional[str]) -> bool:
    """An ONNX model: `format="onnx"`, a `.onnx` path, or bytes (SPEC §8)."""
    if isinstance(format, str) and format.lower() == "onnx":
        if source is None:
            raise TypeError("format='onnx' reads a path or bytes, not text=")
        return True
    if isinstance(source, bytes):
        return True
    return (format is None and isinstance(source, (str, os.PathLike))
            and os.fsdecode(source).lower().endswith(".onnx"))


def _read(source: Optional[PathLike], text: Optional[str]) -> Tuple[str, str]:
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
    not_utf8(file, data, error)


def _format(src: Source, format: Optional[str], source: Optional[PathLike]) -> str:
    """`format=`, else the path's extension, else FANN or NAM by the opening (SPEC §3.4, §8)."""
    if format is not None:
        if not isinstance(format, str) or format.lower() not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, got {format!r}")
        return format.lower()
    if source is not None:
        extension = os.path.splitext(os.fsdecode(source))[1].lower()
        if extension in _EXTENSIONS:
            return _EXTENSIONS[extension]
    if src.text.startswith(_FANN_OPENING):
        return "fann"
    opening = _count_line_at(src.text)
    if opening is not None:
        fail(src, opening, "format='nal' or format='nel' (only a NAM is read without one)")
    return "nam"


def _count_line_at(text: str) -> Optional[int]:
    """Where the text opens with an `N <hex>` line (as NAL and NEL do), else None.

    NOTE: the NAL grammar decides, one token at a time; NEL opens with the same
    line. Lexing stops at the token after the count, so this costs one line.
    """
    kinds: list = []
    start = None
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


# --- grammars --------------------------------------------------------------------------

def _grammar_text(fmt: str) -> str:
    """A grammar from the wheel (jitnet/grammar), else from a checkout's top-level grammar/."""
    packaged = importlib.resources.files("jitnet") / "grammar"
    folder = packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "grammar"
    return (folder / f"{fmt}.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _parser(fmt: str) -> Lark:
    """One LALR parser per format, built on first use (SPEC §3)."""
    return Lark(_grammar_text(fmt), parser="lalr", lexer="contextual")

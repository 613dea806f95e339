"""Errors: where in a net's text something went wrong (`Loc`), and the two error types.

`NetFormatError` is what users see for malformed text (SPEC §3.5).
`GraphError` is raised by the graph checks in `net.py`, which know edges and
neurons but not lines; the parser turns it into a `NetFormatError` located at
the edge or neuron it names, and `Net(...)` lets it through as a `ValueError`.
"""

from typing import NamedTuple, Optional


class Loc(NamedTuple):
    """A 1-based physical line and column in a named file (or `<text>`)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class NetFormatError(ValueError):
    """Malformed net text: one line, `FILE:LINE:COL: what was expected, what was found`."""

    def __init__(self, loc: Loc, message: str):
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.detail = message


class GraphError(ValueError):
    """A net that breaks a graph rule (SPEC §1, §3.4).

    `edge` is the position of the offending edge in the order the edges were
    given, `neuron` the offending neuron; at most one of them is set.
    """

    def __init__(self, message: str, *, edge: Optional[int] = None, neuron: Optional[int] = None):
        super().__init__(message)
        self.edge = edge
        self.neuron = neuron

"""Write a net in an ncc text format: Net -> str (SPEC §7), the inverse of `parse`.

`parse(text=write(net, fmt), format=fmt)` gives back the same edges and
activations (a NAM carries no activations), and for `"nel"` bit-identical
weights and biases. The writer always picks one spelling: N and indices in
lowercase hex zero-padded to K = max(2, hex digits of N-1), activation codes
as two hex digits, input lines as the bare index, the plain NAM layout.

Floats are written as hex floats, exactly as Python's `float.hex()` writes
them (`-0x1.8000000000000p-3`), which `float.fromhex` reads back to the same
bits, -0.0 and subnormals included. They are formatted from the float's bits
with whole-array operations (`rowtext`), as is every other line, so a net of
a million edges writes in about a second.
"""

from typing import List, Optional, Tuple

import numpy as np

from ..net import Net, float_array, name_width
from .rowtext import PAD, Key, Part, assemble, decimal_digits, hex_digits, rows, strip_pad

# The formats `write` writes (a FANN file is only read; `parse.FORMATS` lists what is read).
FORMATS = ("nal", "nam", "nel")

_MANTISSA_DIGITS = 13
_EXPONENT_DIGITS = 4


def write(net: Net, fmt: str, weights=None, biases=None) -> str:
    """The text of `net` in format `fmt`: `"nal"`, `"nam"` or `"nel"`.

        >>> from jitnet import Net
        >>> print(write(Net(3, [(0, 2), (1, 2)], activations="relu"), "nal"), end="")
        N 03
        00
        01
        02 03 00,01

    Args:
        net: the net.
        fmt: `"nal"` (adjacency list with activation codes), `"nam"` (plain
            adjacency matrix: edges only) or `"nel"` (edge list with `act`
            lines, weights and `bias` lines when there are any, and an `out`
            line when the net's outputs are not SPEC §1's).
        weights: `"nel"` only: one float per edge in canonical order (per
            weight parameter for a tied net: `w @P v` lines); default
            `net.weights` (None: edges without weights).
        biases: `"nel"` only: one float per neuron (per bias parameter for
            tied biases: `b @Q v` lines); default `net.biases`
            (None: no `bias` lines). Input neurons get no `bias` line (a NEL
            cannot carry one, and SPEC §1 ignores them), so their entries are
            not written.

    Returns:
        The text; every line ends with "\\n".

    Raises:
        ValueError: for an unknown format, `weights`/`biases` with `"nal"` or
            `"nam"` (they carry no weights), or arrays of the wrong length or
            with a non-finite entry.
        TypeError: for weights or biases that are not real numbers.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt != "nel" and (weights is not None or biases is not None):
        raise ValueError(f"format {fmt!r} carries no weights or biases; "
                         f"write them with format 'nel'")
    if fmt == "nal":
        return _nal(net)
    if fmt == "nam":
        return _nam(net)
    weights = net.weights if weights is None else float_array(
        weights, net.n_weights, "weights", "edge" if net.weight_ties is None else "weight parameter")
    biases = net.biases if biases is None else float_array(
        biases, net.n_biases, "biases", "neuron" if net.bias_ties is None else "bias parameter")
    return _nel(net, weights, biases)


def _count_line(net: Net) -> str:
    return f"N {net.n_neurons:0{name_width(net.n_neurons)}x}\n"


def _hex_indices(net: Net) -> np.ndarray:
    return hex_digits(np.arange(net.n_neurons), name_width(net.n_neurons))


def _codes(net: Net, neurons: np.ndarray) -> np.ndarray:
    return hex_digits(net.activations[neurons], 2)


def _nal(net: Net) -> str:
    """`N` line, then per neuron `j` (an input) or `j fj i,i,...` (in-indices ascending)."""
    hx = _hex_indices(net)
    src, dst = net.edges[:, 0], net.edges[:, 1]
    js = np.flatnonzero(net.fan_in)  # the non-input neurons
    first = np.zeros(len(src), dtype=bool)
    first[net.in_ptr[js]] = True
    comma = np.where(first, PAD, ord(","))[:, None].astype(np.uint8)
    # Sort keys: (neuron; part of its line; edge).
    return _count_line(net) + assemble([
        ((net.inputs, 0, 0), rows(len(net.inputs), hx[net.inputs], b"\n")),
        ((js, 0, 0), rows(len(js), hx[js], b" ", _codes(net, js), b" ")),
        ((dst, 1, np.arange(len(src))), rows(len(src), comma, hx[src])),
        ((js, 2, 0), rows(len(js), b"\n")),
    ])


def _nam(net: Net) -> str:
    """N rows of N digits: row i, column j is 1 for an edge i -> j."""
    n = net.n_neurons
    table = np.full((n, n + 1), ord("0"), dtype=np.uint8)
    table[net.edges[:, 0], net.edges[:, 1]] = ord("1")
    table[:, n] = ord("\n")
    return strip_pad(table)


def _nel(net: Net, weights: Optional[np.ndarray], biases: Optional[np.ndarray]) -> str:
    """`N` line, then per non-input neuron: its in-edges `i j [w]`, `act j fj`, `bias j b`;
    last, `out j ...` when the outputs are explicit (SPEC §3.3)."""
    hx = _hex_indices(net)
    src, dst = net.edges[:, 0], net.edges[:, 1]
    js = np.flatnonzero(net.fan_in)  # the non-input neurons
    weight: Tuple[Part, ...] = ()
    if net.weight_ties is not None:
        weight = (b" @", _parameter_digits(net.weight_ties, net.n_weights))
    elif weights is not None:
        weight = (b" ", _hex_floats(weights))
    pieces: List[Tuple[Tuple[Key, ...], np.ndarray]] = [
        ((dst, 0, np.arange(len(src))), rows(len(src), hx[src], b" ", hx[dst], *weight, b"\n")),
        ((js, 1, 0), rows(len(js), b"act ", hx[js], b" ", _codes(net, js), b"\n")),
    ]
    if net.bias_ties is not None:
        biased = js[net.bias_ties[js] >= 0]
        pieces.append(((biased, 2, 0), rows(len(biased), b"bias ", hx[biased], b" @",
                                            _parameter_digits(net.bias_ties[biased], net.n_biases), b"\n")))
    elif biases is not None:
        pieces.append(((js, 2, 0), rows(len(js), b"bias ", hx[js], b" ", _hex_floats(biases[js]), b"\n")))
    # Sort keys: (target neuron; edge, act or bias line; edge).
    text = _count_line(net) + assemble(pieces)
    if net.weight_ties is not None and weights is not None:
        text += _value_lines(b"w @", weights)
    if net.bias_ties is not None and biases is not None:
        text += _value_lines(b"b @", biases)
    return text + _out_line(net, hx)


def _parameter_digits(ties: np.ndarray, count: int) -> np.ndarray:
    """Parameter indices as hex, zero-padded to the width of the largest (at least 2)."""
    return hex_digits(ties, name_width(max(count, 1)))


def _value_lines(head: bytes, values: np.ndarray) -> str:
    """`w @P v` (or `b @Q v`) for every parameter in order."""
    digits = _parameter_digits(np.arange(len(values)), len(values))
    return strip_pad(rows(len(values), head, digits, b" ", _hex_floats(values), b"\n"))


def _out_line(net: Net, hx: np.ndarray) -> str:
    """`out j j ...`: the readout list in order, repeats kept; "" for SPEC §1's outputs."""
    if not net.explicit_outputs:
        return ""
    return "out" + strip_pad(rows(net.n_outputs, b" ", hx[net.outputs])) + "\n"


def _hex_floats(values: np.ndarray) -> np.ndarray:
    """`float.hex()` of every value, from its IEEE bits: (M,) float64 -> (M, width) uint8, PAD-filled.

    float.hex writes [-]0x1.<13 hex digits>p<sign><decimal exponent> for a
    normal number, 0x0.<13 digits>p-1022 for a subnormal and 0x0.0p+0 for zero.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    biased = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    mantissa = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
    zero = (biased == 0) & (mantissa == 0)
    normal = biased > 0
    power = np.where(normal, biased - 1023, np.where(zero, 0, -1022))

    sign = np.where(negative, ord("-"), PAD).astype(np.uint8)[:, None]
    lead = np.where(normal, ord("1"), ord("0")).astype(np.uint8)[:, None]
    digits = hex_digits(mantissa, _MANTISSA_DIGITS)
    digits[zero, 1:] = PAD
    exponent_sign = np.where(power < 0, ord("-"), ord("+")).astype(np.uint8)[:, None]
    return rows(len(bits), sign, b"0x", lead, b".", digits, b"p", exponent_sign,
                decimal_digits(np.abs(power), _EXPONENT_DIGITS))

"""The FANN reader (SPEC §8, §3.5): a FANN 2.x `.net` file's parse tree -> a `Net` with weights.

FANN computes, layer by layer, `v_k = A_k(s_k * sum_i w_ik v_i)` with a
steepness `s_k` and one of its activation functions `A_k`; bias neurons (and
any non-input neuron without connections) are the constant 1. jitnet's
neuron is `f(b + sum w x)` with one of its codes, so each supported FANN
function is written `A(v) = a * f(p * v + q) + c` (`_FUNCTIONS`): the
pre-scale `p` and steepness fold into the neuron's weights and bias, the
pre-shift `q` into its bias, and the output scale `a` and shift `c` into the
next neurons' weights and biases (or, for an output, an extra identity
neuron `a * n + c`). Constants (bias neurons, and neurons fed by constants
only) fold into the biases they feed; a constant output keeps one
zero-weight edge from input 0, so it stays a computed neuron.

Neurons are numbered as SPEC §8 says: the inputs, then FANN's computed
neurons in file order (less the folded constants), then the extra identity
neurons in output order. Only `network_type`, `layer_sizes`, `neurons` and
`connections` matter; the grammar reads every other key line and this
module ignores it.
"""

import math
import re
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
from lark import Token, Tree

from ..activations import ACTIVATIONS, activation_code
from ..net import Net
from .located import EOL, Source, at, build, fail, leaves, quote, word_at

_LAYERED, _SHORTCUT = 0, 1
# FANN clamps s * sum to +-_CLAMP / s before every activation (fann_run).
_CLAMP = 150.0


class _Function(NamedTuple):
    """FANN's A(v) = out_scale * f(pre_scale * v + pre_shift) + out_shift, f a jitnet activation."""

    name: str
    pre_scale: float
    pre_shift: float
    out_scale: float
    out_shift: float


# FANN 2.2's activation functions by number (fann_activationfunc_enum), as jitnet codes.
# NOTE: THRESHOLD is 1 when v >= 0 (FANN's `v < 0 ? 0 : 1`), so it is
# 1 - step(-v), exact at v = 0; LINEAR_PIECE clamps v to [0, 1]: (clamped(2v - 1) + 1) / 2.
_FUNCTIONS: Dict[int, _Function] = {
    0: _Function("identity", 1.0, 0.0, 1.0, 0.0),           # LINEAR: v
    1: _Function("step", -1.0, 0.0, -1.0, 1.0),             # THRESHOLD: 1 - step(-v)
    2: _Function("step", -1.0, 0.0, -2.0, 1.0),             # THRESHOLD_SYMMETRIC: 1 - 2 step(-v)
    3: _Function("sigmoid", 2.0, 0.0, 1.0, 0.0),            # SIGMOID: 1 / (1 + e^-2v)
    5: _Function("tanh", 1.0, 0.0, 1.0, 0.0),               # SIGMOID_SYMMETRIC: tanh v
    7: _Function("gauss", math.sqrt(2.0), 0.0, 1.0, 0.0),   # GAUSSIAN: e^(-v^2)
    8: _Function("gauss", math.sqrt(2.0), 0.0, 2.0, -1.0),  # GAUSSIAN_SYMMETRIC: 2 e^(-v^2) - 1
    12: _Function("clamped", 2.0, -1.0, 0.5, 0.5),          # LINEAR_PIECE: v clamped to [0, 1]
    13: _Function("clamped", 1.0, 0.0, 1.0, 0.0),           # LINEAR_PIECE_SYMMETRIC: v clamped to [-1, 1]
    14: _Function("sin", 1.0, 0.0, 1.0, 0.0),               # SIN_SYMMETRIC: sin v
    15: _Function("cos", 1.0, 0.0, 1.0, 0.0),               # COS_SYMMETRIC: cos v
    16: _Function("sin", 1.0, 0.0, 0.5, 0.5),               # SIN: sin(v) / 2 + 1/2
    17: _Function("cos", 1.0, 0.0, 0.5, 0.5),               # COS: cos(v) / 2 + 1/2
}
_SUPPORTED = "a FANN activation function 0-17 other than 4, 6, 9 (stepwise) and 10, 11 (Elliot)"

# One group of the neurons and of the connections line, and the blanks after it.
_NEURON = re.compile(r"\([ \t]*(\d+)[ \t]*,[ \t]*(\d+)[ \t]*,[ \t]*([^ \t\r\n,()]+)[ \t]*\)[ \t]*")
_CONNECTION = re.compile(r"\([ \t]*(\d+)[ \t]*,[ \t]*([^ \t\r\n,()]+)[ \t]*\)[ \t]*")
_CONNECTIONS_LINE = re.compile(r"(?:\([ \t]*\d+[ \t]*,[ \t]*[^ \t\r\n,()]+[ \t]*\)[ \t]*)*")
_GROUP_TEXT = re.compile(r"[^)]*\)?")


class _Unit(NamedTuple):
    """What a FANN neuron became: jitnet neuron `neuron` with FANN value `scale * n + shift`,
    or (neuron None) the constant `shift`."""

    neuron: Optional[int]
    scale: float
    shift: float


def read(src: Source, tree: Tree, default: int) -> Net:
    """A FANN `.net` file: the net FANN's `fann_run` computes, with weights, biases and outputs.

    `default` (parse's `activation=`) is unused: FANN names every neuron's function.
    """
    # NOTE: the grammar admits the headers FANN_FLO_2.0 and FANN_FLO_2.1 only.
    parts = {child.data: child for child in tree.children[1:] if isinstance(child, Tree)}
    shortcut = _network_type(src, leaves(parts["network_type"])[0])
    layers = _layer_sizes(src, leaves(parts["layer_sizes"]), shortcut)
    starts = np.cumsum([0] + layers)
    neurons = _neurons(src, leaves(parts["neurons"])[0], int(starts[-1]))
    n_inputs = layers[0] - 1
    for k in range(layers[0]):
        if neurons[k][0] != 0:
            fail(src, neurons[k][3], "0 connections for a neuron of the input layer", quote(str(neurons[k][0])))
    sources, weights, offsets = _connections(src, leaves(parts["connections"])[0], neurons)
    outputs = list(range(int(starts[-2]), int(starts[-1]) - (0 if shortcut else 1)))
    return _fold(src, layers, starts, neurons, sources, weights, offsets, n_inputs, outputs)


def _network_type(src: Source, token: Token) -> bool:
    """True for a shortcut net (1), False for a layered one (0)."""
    if int(token) not in (_LAYERED, _SHORTCUT):
        fail(src, at(token), "a network type 0 (layered) or 1 (shortcut)")
    return int(token) == _SHORTCUT


def _layer_sizes(src: Source, tokens: list, shortcut: bool) -> List[int]:
    """The neurons of each layer, bias neurons included, each layer big enough to hold one."""
    sizes = [int(token) for token in tokens]
    for k, (size, token) in enumerate(zip(sizes, tokens)):
        least = 1 if shortcut and k > 0 else 2
        if size < least:
            what = "a neuron" if least == 1 else "a neuron and the bias neuron"
            fail(src, at(token), f"a layer size of at least {least} ({what})")
    return sizes


def _neurons(src: Source, token: Token, total: int) -> List[Tuple[int, int, float, int, int]]:
    """Each neuron's (connections, function, steepness, offset of the count, offset of the function)."""
    neurons: List[Tuple[int, int, float, int, int]] = []
    for match in _groups(src, token, _NEURON, "a neuron '(num_inputs, function, steepness)'"):
        start = at(token) + match.start()
        if len(neurons) == total:
            fail(src, start, f"{EOL} after {total} neurons (the sum of layer_sizes)", _group_at(match))
        function_at = at(token) + match.start(2)
        function = int(match.group(2))
        if function not in _FUNCTIONS:
            fail(src, function_at, _SUPPORTED)
        steepness = _float(src, match.group(3), at(token) + match.start(3), "steepness")
        neurons.append((int(match.group(1)), function, steepness, at(token) + match.start(1), function_at))
    if len(neurons) < total:
        fail(src, _end(token), f"{total} neurons (the sum of layer_sizes)", EOL)
    return neurons


def _connections(src: Source, token: Token, neurons: list) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every connection's source neuron, weight and offset, neuron after neuron, as many as they say.

    NOTE: the fast path checks the whole line with one regex and reads it with
    one findall (266k connections: 0.15 s, where a match per group takes 0.9 s);
    anything it does not accept is read group by group, which finds and
    locates the first problem. Its offsets are each group's `(` + 1 (the
    index follows, maybe after blanks: `_index_at` skips them).
    """
    total = sum(neuron[0] for neuron in neurons)
    text = str(token)
    if text.isascii() and _CONNECTIONS_LINE.fullmatch(text):
        pairs = _CONNECTION.findall(text)
        try:
            weights = np.array(list(map(float, (w for _, w in pairs))), dtype=np.float64)
        except ValueError:
            weights = None
        if len(pairs) == total and weights is not None and np.isfinite(weights).all():
            sources = np.array(list(map(int, (i for i, _ in pairs))), dtype=np.int64)
            paren = np.flatnonzero(np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("("))
            return sources, weights, at(token) + paren + 1
    matches = list(_groups(src, token, _CONNECTION, "a connection '(connected_to_neuron, weight)'"))
    if len(matches) > total:
        fail(src, at(token) + matches[total].start(),
             f"{EOL} after {total} connections (the neurons' num_inputs)", _group_at(matches[total]))
    if len(matches) < total:
        fail(src, _end(token), f"{total} connections (the neurons' num_inputs)", EOL)
    offsets = np.array([at(token) + m.start(1) for m in matches], dtype=np.int64)
    sources = np.array([int(m.group(1)) for m in matches], dtype=np.int64)
    weights = np.array([_float(src, m.group(2), at(token) + m.start(2), "weight") for m in matches])
    return sources, weights, offsets


def _index_at(text: str, pos: int) -> int:
    """The offset of a connection's index: `pos`, or past the blanks there."""
    while text[pos] in " \t":
        pos += 1
    return pos


def _groups(src: Source, token: Token, pattern: "re.Pattern[str]", what: str) -> Iterator["re.Match[str]"]:
    """The groups `(...)` of a neurons or connections line, one after the other; the first
    text that is not one is an error at its column."""
    pos = 0
    while pos < len(token):
        match = pattern.match(token, pos)
        if match is None:
            found = _GROUP_TEXT.match(token, pos)
            assert found is not None  # the pattern matches any text
            fail(src, at(token) + pos, what, quote(found.group(0).rstrip()))
        yield match
        pos = match.end()


def _end(token: Token) -> int:
    assert token.end_pos is not None
    return token.end_pos


def _group_at(match: "re.Match[str]") -> str:
    return quote(match.group(0).rstrip())


def _float(src: Source, text: str, pos: int, what: str) -> float:
    """A finite decimal float, as FANN's printf writes it."""
    try:
        value: Optional[float] = float(text)
    except ValueError:
        value = None  # raised outside the except block, so the message has no context
    if value is None:
        fail(src, pos, f"a decimal float {what}", quote(text))
    if not math.isfinite(value):
        fail(src, pos, f"a finite {what}", quote(text))
    return value


def _fold(src: Source, layers: List[int], starts: np.ndarray, neurons: list, sources: np.ndarray,
          weights: np.ndarray, offsets: np.ndarray, n_inputs: int, outputs: List[int]) -> Net:
    """FANN's neurons in order -> jitnet's edges, weights, biases, codes and outputs (module docstring)."""
    units: List[_Unit] = [_Unit(k, 1.0, 0.0) for k in range(n_inputs)] + [_Unit(None, 1.0, 1.0)]
    edges: List[Tuple[int, int]] = []
    edge_weights: List[float] = []
    edge_at: List[int] = []
    biases: List[float] = [0.0] * n_inputs
    codes: List[int] = [0] * n_inputs
    is_output = set(outputs)
    first_con = 0
    for layer in range(1, len(layers)):
        for k in range(int(starts[layer]), int(starts[layer + 1])):
            count, function, steepness, count_at, function_at = neurons[k]
            cons = slice(first_con, first_con + count)
            first_con += count
            if count == 0:  # a bias neuron, or any neuron fed by nothing: FANN's constant 1
                units.append(_constant_output(k, 1.0, codes, biases, edges, edge_weights, edge_at)
                             if k in is_output else _Unit(None, 1.0, 1.0))
                continue
            _check_sources(src, k, sources[cons], offsets[cons], int(starts[layer]))
            fn = _FUNCTIONS[function]
            code = activation_code(fn.name)
            total = 0.0  # FANN's sum over the constants, and the shifts of the non-constants
            fed = []
            for i, w, pos in zip(sources[cons].tolist(), weights[cons].tolist(), offsets[cons].tolist()):
                unit = units[i]
                total += w * unit.shift
                if unit.neuron is not None:
                    fed.append((unit.neuron, w * unit.scale, pos))
            scale = fn.pre_scale * steepness
            if not fed and k not in is_output:
                units.append(_Unit(None, 1.0, _fann_value(fn, code, steepness, total)))
                continue
            j = len(codes)
            codes.append(code)
            biases.append(scale * total + fn.pre_shift)
            for i, w, pos in fed:
                edges.append((i, j))
                edge_weights.append(scale * w)
                edge_at.append(pos)
            if not all(map(math.isfinite, [biases[-1]] + edge_weights[len(edge_weights) - len(fed):])):
                fail(src, count_at, f"a neuron whose folded weights and bias are finite (neuron {k}'s "
                                    f"steepness {steepness!r} times its weights overflows)", quote(str(count)))
            if not fed:
                _zero_edge(j, edges, edge_weights, edge_at)
            units.append(_Unit(j, fn.out_scale, fn.out_shift))
    readout = []
    for k in outputs:
        unit = units[k]
        assert unit.neuron is not None  # outputs are never folded
        if (unit.scale, unit.shift) == (1.0, 0.0):
            readout.append(unit.neuron)
            continue
        j = len(codes)
        codes.append(0)
        biases.append(unit.shift)
        edges.append((unit.neuron, j))
        edge_weights.append(unit.scale)
        edge_at.append(-1)
        readout.append(j)
    def connection(e: int) -> Tuple[int, str]:
        pos = _index_at(src.text, edge_at[e])
        return pos, word_at(src.text, pos)

    return build(src, connection,
                 len(codes), np.array(edges, dtype=np.int64).reshape(-1, 2), codes, edge_weights, biases,
                 outputs=readout)


def _constant_output(k: int, value: float, codes: list, biases: list, edges: list, edge_weights: list,
                     edge_at: list) -> _Unit:
    """An output FANN holds at a constant: an identity neuron of that bias, fed by input 0 with weight 0."""
    j = len(codes)
    codes.append(0)
    biases.append(value)
    _zero_edge(j, edges, edge_weights, edge_at)
    return _Unit(j, 1.0, 0.0)


def _zero_edge(j: int, edges: list, edge_weights: list, edge_at: list) -> None:
    edges.append((0, j))
    edge_weights.append(0.0)
    edge_at.append(-1)


def _check_sources(src: Source, k: int, sources: np.ndarray, offsets: np.ndarray, layer_start: int) -> None:
    """Neuron k's connections come from earlier layers, at most one from each neuron."""
    bad = np.flatnonzero(sources >= layer_start)
    if bad.size:
        pos = _index_at(src.text, int(offsets[bad[0]]))
        fail(src, pos, f"a neuron of an earlier layer (0..{layer_start - 1})")
    seen = set()
    for i, pos in zip(sources.tolist(), offsets.tolist()):
        if i in seen:
            fail(src, _index_at(src.text, pos),
                 f"one connection of neuron {k} from each neuron (it has one from {i})")
        seen.add(i)


def _fann_value(fn: _Function, code: int, steepness: float, total: float) -> float:
    """What FANN computes for a neuron fed by constants only: its clamp, then A (SPEC §8)."""
    with np.errstate(divide="ignore"):
        limit = np.float64(_CLAMP) / np.float64(steepness)
    v = steepness * total
    v = float(limit) if v > limit else -float(limit) if v < -limit else v
    z = np.array([fn.pre_scale * v + fn.pre_shift])
    return float(fn.out_scale * ACTIVATIONS[code].f(z)[0] + fn.out_shift)

"""Generate nets: sizes -> Net (SPEC §7): dense, rnn, conv2d and random_dag.

Every generator numbers its neurons layer by layer, inputs first, as the ncc
notes do, so `dense([4, 4, 4, 2])`, `dense([8, 8, 8, 2])` and `rnn(2, 3, 4, 2)`
have exactly the edges of the notes' matrices, and `conv2d(4, 4, (1, 2, 2),
kernel=3, padding=1, groups=(1, 2), n_outputs=3)` those of its conv matrix.
Edges are built as whole numpy arrays (never one Python object per edge), so
nets of millions of edges build in about a second.
"""

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .activations import ActivationLike, activation_code
from .net import Net

PerLayer = Union[int, Sequence[int]]
# An int (square), a pair (height, width), or one of those per conv layer.
PerLayerPair = Union[int, Sequence[Union[int, Sequence[int]]]]


def dense(sizes: Sequence[int], activation: ActivationLike = "relu",
          output_activation: ActivationLike = "identity") -> Net:
    """A fully connected net: every neuron of a layer feeds every neuron of the next.

        >>> dense([4, 4, 4, 2]).n_weights
        40

    Args:
        sizes: neurons per layer, inputs first and outputs last (at least two layers).
        activation: of the hidden layers.
        output_activation: of the last layer.
    """
    sizes = [_positive(s, "a layer size") for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output layer, got {sizes!r}")
    layers = _consecutive(sizes)
    edges = [complete_edges(a, b) for a, b in zip(layers, layers[1:])]
    return _net(layers, edges, activation, output_activation)


def rnn(n_inputs: int, n_steps: int, n_hidden: int, n_outputs: int, n_layers: int = 1,
        activation: ActivationLike = "tanh", output_activation: ActivationLike = "identity",
        tied: bool = False) -> Net:
    """An unrolled recurrent encoder, read out after its last step (SPEC §7).

    Neurons: the inputs step by step (step t's features together), then the
    hidden state of layer 0 step 0, layer 0 step 1, ..., layer 1 step 0, ...,
    then the outputs. Layer l at step t reads layer l-1 at step t (layer 0:
    the inputs of step t) and itself at step t-1; the outputs read the last
    layer at the last step.

    With `tied`, every step shares its layer's weights and biases, numbered as
    PyTorch's `nn.RNN` then a `Linear` head (SPEC §10): weights
    `weight_ih_l0`, `weight_hh_l0`, `weight_ih_l1`, ... then the head's, each
    flattened in C order; biases per layer (`bias_ih + bias_hh`), then the head's.

        >>> rnn(2, 3, 4, 2).n_neurons
        20
        >>> rnn(2, 3, 4, 2, tied=True).n_weights   # 4*2 + 4*4 + 2*4
        32
    """
    for value, what in ((n_inputs, "n_inputs"), (n_steps, "n_steps"), (n_hidden, "n_hidden"),
                        (n_outputs, "n_outputs"), (n_layers, "n_layers")):
        _positive(value, what)
    inputs = [np.arange(t * n_inputs, (t + 1) * n_inputs) for t in range(n_steps)]
    first = n_inputs * n_steps
    state = [[np.arange(first + (l * n_steps + t) * n_hidden, first + (l * n_steps + t + 1) * n_hidden)
              for t in range(n_steps)] for l in range(n_layers)]
    last = first + n_layers * n_steps * n_hidden
    outputs = np.arange(last, last + n_outputs)

    edges, weight_ties = [], []
    params = _Parameters()
    for l in range(n_layers):
        width = n_inputs if l == 0 else n_hidden
        w_ih, w_hh = params.weights(n_hidden * width), params.weights(n_hidden * n_hidden)
        for t in range(n_steps):
            below = inputs[t] if l == 0 else state[l - 1][t]
            edges.append(complete_edges(below, state[l][t]))
            weight_ties.append(w_ih + complete_order(width, n_hidden))
            if t > 0:
                edges.append(complete_edges(state[l][t - 1], state[l][t]))
                weight_ties.append(w_hh + complete_order(n_hidden, n_hidden))
    edges.append(complete_edges(state[-1][-1], outputs))
    weight_ties.append(params.weights(n_outputs * n_hidden) + complete_order(n_hidden, n_outputs))
    layers = [np.arange(first)] + [np.concatenate(s) for s in state] + [outputs]
    bias_ties = np.full(last + n_outputs, -1, dtype=np.int64)
    for l in range(n_layers):
        bias_ties[np.concatenate(state[l])] = np.tile(params.biases(n_hidden) + np.arange(n_hidden), n_steps)
    bias_ties[outputs] = params.biases(n_outputs) + np.arange(n_outputs)
    ties = {"weight_ties": np.concatenate(weight_ties), "bias_ties": bias_ties} if tied else {}
    return _net(layers, edges, activation, output_activation, **ties)


def conv2d(height: int, width: int, channels: Sequence[int] = (1, 1), kernel: PerLayerPair = 3,
           stride: PerLayerPair = 1, padding: PerLayerPair = 0, groups: PerLayer = 1,
           n_outputs: Optional[int] = None, activation: ActivationLike = "relu",
           output_activation: ActivationLike = "identity", tied: bool = False) -> Net:
    """A 2-D convolutional net: one neuron per output pixel and channel, as PyTorch's Conv2d.

    Neurons are numbered layer by layer, each layer channel by channel and
    each channel row by row (the input image first). An output pixel (r, c)
    of channel o reads, in every input channel of o's group, the pixels
    (r*stride_h - padding_h + a, c*stride_w - padding_w + b) for a in
    0..kernel_h-1 and b in 0..kernel_w-1 that lie inside the image (zero
    padding adds no edge).

    With `tied`, each kernel is one set of weight parameters used at every
    position and each output channel has one bias parameter, numbered as
    PyTorch's `Conv2d` layers then a `Linear` head (SPEC §10): all weights
    first, layer by layer, each `(out, in/groups, kh, kw)` in C order (the
    head `(out, in)`, `in` in `Flatten`'s (C, H, W) order), then all biases.

        >>> conv2d(4, 4, (1, 2, 2), kernel=3, padding=1, groups=(1, 2), n_outputs=3).n_neurons
        83

    Args:
        height, width: the input image.
        channels: input channels, then the channels of each conv layer.
        kernel, stride, padding: an int (the same along both axes) or a
            pair (along the height, along the width) for every conv layer, or
            a sequence of those with one per layer (a sequence as long as
            the number of conv layers is read per layer); `padding < kernel`
            along each axis, so every output pixel sees the image.
        groups: an int for every conv layer, or one per layer; it divides
            both channel counts (groups = channels is a depthwise conv).
        tied: share each kernel across positions (a true convolution).
        n_outputs: if given, a dense layer of this many outputs reads every
            neuron of the last conv layer; else the last conv layer is the output.
        activation: of the conv layers (but the last one when `n_outputs` is None).
        output_activation: of the output layer.
    """
    channels = [_positive(c, "a channel count") for c in channels]
    if len(channels) < 2:
        raise ValueError(f"channels needs the input channels and at least one conv layer, "
                         f"got {channels!r}")
    n_conv = len(channels) - 1
    settings = zip(_per_layer_pairs(kernel, n_conv, "kernel"), _per_layer_pairs(stride, n_conv, "stride"),
                   _per_layer_pairs(padding, n_conv, "padding", minimum=0),
                   _per_layer(groups, n_conv, "groups"))
    shape = (channels[0], _positive(height, "height"), _positive(width, "width"))
    layers = [np.arange(int(np.prod(shape)))]
    edges, weight_ties, channel_of = [], [], []
    params = _Parameters()
    for out_channels, (k, s, p, g) in zip(channels[1:], settings):
        first_w = params.weights(out_channels * (shape[0] // max(g, 1)) * k[0] * k[1])
        layer_edges, layer_ties, shape = conv_layer(layers[-1][0], shape, out_channels, k, s, p, g)
        layers.append(np.arange(layers[-1][-1] + 1, layers[-1][-1] + 1 + int(np.prod(shape))))
        edges.append(layer_edges)
        weight_ties.append(first_w + layer_ties)
        channel_of.append(np.repeat(np.arange(out_channels), shape[1] * shape[2]))
    if n_outputs is not None:
        start = layers[-1][-1] + 1
        layers.append(np.arange(start, start + _positive(n_outputs, "n_outputs")))
        edges.append(complete_edges(layers[-2], layers[-1]))
        weight_ties.append(params.weights(n_outputs * len(layers[-2])) +
                           complete_order(len(layers[-2]), n_outputs))
        channel_of.append(np.arange(n_outputs))
    bias_ties = np.full(int(layers[-1][-1]) + 1, -1, dtype=np.int64)
    for layer, channel in zip(layers[1:], channel_of):
        bias_ties[layer] = params.biases(int(channel.max()) + 1) + channel
    ties = {"weight_ties": np.concatenate(weight_ties), "bias_ties": bias_ties} if tied else {}
    return _net(layers, edges, activation, output_activation, **ties)


def random_dag(n_inputs: int, n_outputs: int, n_hidden: int, fan_in: Union[int, Tuple[int, int]] = (1, 4),
               n_layers: Optional[int] = None,
               activation: Union[ActivationLike, Sequence[ActivationLike]] = "relu",
               output_activation: ActivationLike = "identity", seed: int = 0) -> Net:
    """A random layered DAG with skip connections, the same for the same arguments and seed.

    Neurons: the inputs, `n_hidden` hidden neurons split as evenly as possible
    into `n_layers` layers, then the outputs. Each non-input neuron draws a
    fan-in k uniformly from `fan_in` (capped at the number of neurons below
    its layer, which only the upper bound can reach: the lower bound must be
    at most `n_inputs`, else a ValueError): one source from the layer just below, so its depth is its
    layer's, and k-1 more from any lower layer (skip connections). Then every
    input or hidden neuron left without a reader gets one in the next layer,
    so the outputs are exactly the last `n_outputs` neurons; that can push a
    neuron's fan-in above `fan_in`'s upper bound.

        >>> net = random_dag(4, 2, 10, fan_in=(2, 3), n_layers=2, seed=1)
        >>> net.n_inputs, net.n_outputs, int(net.depth.max())
        (4, 2, 3)

    Args:
        n_inputs, n_outputs: at least 1 each; `n_hidden` at least 0.
        fan_in: (lo, hi) with 1 <= lo <= hi, or one int for both.
        n_layers: hidden layers, 1..n_hidden (0 when there are no hidden
            neurons); None for one (or 0).
        activation: of the hidden neurons: a code or name, or a sequence of
            them from which each hidden neuron draws one.
        output_activation: of the outputs.
        seed: for `numpy.random.default_rng`.
    """
    rng = np.random.default_rng(seed)
    lo, hi = (fan_in, fan_in) if isinstance(fan_in, (int, np.integer)) else fan_in
    if not 1 <= lo <= hi:
        raise ValueError(f"fan_in must be (lo, hi) with 1 <= lo <= hi, got {fan_in!r}")
    if isinstance(n_inputs, (int, np.integer)) and lo > n_inputs:
        raise ValueError(f"fan_in={fan_in!r} cannot be met: the first layer above the inputs has only "
                         f"n_inputs={n_inputs} neurons below it; expected a lower bound <= {n_inputs}")
    n_hidden = _positive(n_hidden, "n_hidden", minimum=0)
    n_layers = min(n_hidden, 1) if n_layers is None else _positive(n_layers, "n_layers", minimum=0)
    if (n_hidden == 0) != (n_layers == 0) or n_layers > n_hidden:
        raise ValueError(f"n_layers must be 1..n_hidden (0 when n_hidden is 0), got n_layers="
                         f"{n_layers} for n_hidden={n_hidden}")
    hidden_sizes = [len(part) for part in np.array_split(np.arange(n_hidden), n_layers)] if n_layers else []
    layers = _consecutive([_positive(n_inputs, "n_inputs")] + hidden_sizes
                          + [_positive(n_outputs, "n_outputs")])
    edges = [_random_layer_edges(rng, layers[:k], layers[k], lo, hi) for k in range(1, len(layers))]
    edges.append(_readers(rng, layers, np.concatenate(edges)))
    codes = _random_codes(rng, activation, n_hidden)
    return _net_with_codes(layers, edges, codes, output_activation)


def _positive(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}")
    return int(value)


def _per_layer(value: PerLayer, n_layers: int, what: str, minimum: int = 1) -> List[int]:
    """One setting per conv layer from an int (the same for all) or a sequence."""
    values = [value] * n_layers if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != n_layers:
        raise ValueError(f"{what} has {len(values)} entries; expected one per conv layer ({n_layers})")
    return [_positive(v, what, minimum) for v in values]


def _consecutive(sizes: Sequence[int]) -> List[np.ndarray]:
    """Neuron indices of each layer, numbered layer after layer."""
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def complete_edges(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Every edge from `sources` to `targets`: (len(sources) * len(targets), 2)."""
    return np.stack([np.repeat(sources, len(targets)), np.tile(targets, len(sources))], axis=1)


def _net(layers: List[np.ndarray], edges: List[np.ndarray], activation: ActivationLike,
         output_activation: ActivationLike, **ties) -> Net:
    """The Net of layered `edges`: inputs identity, the hidden neurons `activation`,
    the last layer `output_activation`; `ties` as `Net` takes them."""
    return _net_with_codes(layers, edges, activation_code(activation), output_activation, **ties)


def _net_with_codes(layers: List[np.ndarray], edges: List[np.ndarray], hidden_codes,
                    output_activation: ActivationLike, **ties) -> Net:
    """As `_net`, with a code for every hidden neuron (or one for all)."""
    n = int(layers[-1][-1]) + 1
    codes = np.zeros(n, dtype=np.uint8)
    codes[len(layers[0]):int(layers[-1][0])] = hidden_codes
    codes[layers[-1]] = activation_code(output_activation)
    return Net(n, np.concatenate(edges), activations=codes, **ties)


class _Parameters:
    """Hands out consecutive weight and bias parameter numbers, block by block (SPEC §10's order)."""

    def __init__(self) -> None:
        self.n_weights = 0
        self.n_biases = 0

    def weights(self, count: int) -> int:
        """The first of `count` new weight parameters."""
        self.n_weights += count
        return self.n_weights - count

    def biases(self, count: int) -> int:
        """The first of `count` new bias parameters."""
        self.n_biases += count
        return self.n_biases - count


def complete_order(n_sources: int, n_targets: int) -> np.ndarray:
    """For `complete_edges`'s edges, the C-order index into a PyTorch weight `(n_targets, n_sources)`."""
    return np.tile(np.arange(n_targets), n_sources) * n_sources + np.repeat(np.arange(n_sources), n_targets)


def _per_layer_pairs(value: PerLayerPair, n_layers: int, what: str, minimum: int = 1) -> List[Tuple[int, int]]:
    """One (height, width) setting per conv layer from an int, a pair, or one of those per layer."""
    if isinstance(value, (int, np.integer)):
        values: list = [value] * n_layers
    else:
        values = list(value)
        if len(values) != n_layers:
            if len(values) == 2 and all(isinstance(v, (int, np.integer)) for v in values):
                values = [tuple(values)] * n_layers
            else:
                raise ValueError(f"{what} has {len(values)} entries; expected an int, a pair, "
                                 f"or one per conv layer ({n_layers})")
    pairs = []
    for v in values:
        pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
        if len(pair) != 2:
            raise ValueError(f"{what} {v!r}; expected an int or a pair (height, width)")
        pairs.append((_positive(pair[0], what, minimum), _positive(pair[1], what, minimum)))
    return pairs


def conv_layer(first: int, shape: Tuple[int, int, int], out_channels: int, kernel: Tuple[int, int],
                stride: Tuple[int, int], padding: Tuple[int, int], groups: int):
    """Edges of one conv layer whose input neurons start at `first`, each edge's index into
    the layer's `(out, in/groups, kh, kw)` kernel (C order), and the layer's output shape."""
    in_channels, height, width = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if ph >= kh or pw >= kw:
        raise ValueError(f"padding {padding} must be less than kernel {kernel} along each axis: "
                         f"a pixel reading only padding would have no input")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups {groups} must divide the channels {in_channels} -> {out_channels}")
    out_h = (height + 2 * ph - kh) // sh + 1
    out_w = (width + 2 * pw - kw) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"kernel {kernel} with padding {padding} does not fit a {height}x{width} image")
    per_group = in_channels // groups
    o, r, c, ci, a, b = np.meshgrid(np.arange(out_channels), np.arange(out_h), np.arange(out_w),
                                    np.arange(per_group), np.arange(kh), np.arange(kw),
                                    indexing="ij", sparse=True)
    row = r * sh - ph + a
    col = c * sw - pw + b
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    channel = o // (out_channels // groups) * per_group + ci
    src = first + (channel * height + row) * width + col
    dst = first + in_channels * height * width + (o * out_h + r) * out_w + c
    tie = ((o * per_group + ci) * kh + a) * kw + b
    # NOTE: sparse grids broadcast; only the kept (src, dst) pairs are ever materialised.
    inside = np.broadcast_to(inside, src.shape)
    return (np.stack([src[inside], np.broadcast_to(dst, src.shape)[inside]], axis=1),
            np.broadcast_to(tie, src.shape)[inside], (out_channels, out_h, out_w))


def _random_layer_edges(rng: np.random.Generator, below: List[np.ndarray], layer: np.ndarray,
                        lo: int, hi: int) -> np.ndarray:
    """In-edges of one layer: one source from the layer below, the rest distinct from any lower layer."""
    pool = int(layer[0])
    fan_in = np.minimum(rng.integers(lo, hi + 1, len(layer)), pool)
    first = rng.integers(below[-1][0], below[-1][-1] + 1, len(layer))
    src, dst = first, layer
    # NOTE: draw with replacement, drop repeats, draw again for the neurons
    # still short: vectorized sampling without replacement, deterministic for a seed.
    missing = fan_in - 1
    while missing.any():
        more_dst = np.repeat(layer, missing)
        src = np.concatenate([src, rng.integers(0, pool, len(more_dst))])
        dst = np.concatenate([dst, more_dst])
        _, keep = np.unique(dst * pool + src, return_index=True)
        keep.sort()
        src, dst = src[keep], dst[keep]
        missing = fan_in - np.bincount(dst - pool, minlength=len(layer))
    return np.stack([src, dst], axis=1)


def _readers(rng: np.random.Generator, layers: List[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """One edge into the next layer for every input or hidden neuron that feeds nothing."""
    n = int(layers[-1][-1]) + 1
    feeds = np.bincount(edges[:, 0], minlength=n) > 0
    extra = []
    for layer, above in zip(layers, layers[1:]):
        idle = layer[~feeds[layer]]
        extra.append(np.stack([idle, rng.integers(above[0], above[-1] + 1, len(idle))], axis=1))
    return np.concatenate(extra)


def _random_codes(rng: np.random.Generator, activation, n_hidden: int) -> np.ndarray:
    """One code per hidden neuron: `activation`, or drawn from a sequence of them."""
    if isinstance(activation, (str, int, np.integer)):
        return np.full(n_hidden, activation_code(activation), dtype=np.uint8)
    choices = np.array([activation_code(a) for a in activation], dtype=np.uint8)
    if not len(choices):
        raise ValueError("activation is an empty sequence; expected a code, a name or a sequence of them")
    return rng.choice(choices, n_hidden)

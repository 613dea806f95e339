"""Import a PyTorch conv model as a tied net: Conv2d layers (then Linear ones) -> `Net` (SPEC §10).

Each Conv2d becomes one neuron per output pixel and channel, its kernel one
set of shared weight parameters and its bias one parameter per channel,
numbered exactly as `nets.conv2d(..., tied=True)` numbers them (the edges are
built by the same function), so the model's tensors flattened in order are
the net's `w` and `b`. Linear layers after the convolutions read the feature
map in `Flatten`'s (C, H, W) order; each of their weights is its own
parameter. Nothing is pruned: a tied parameter is shared by all its edges.
"""

import math
from typing import Any, List, Optional, Sequence

import numpy as np

from ..net import Net
from ..nets import complete_edges, complete_order, conv_layer


def conv_net(layers: List[Any], input_shape: Optional[Sequence[int]], threshold: float) -> Net:
    """The tied net of `torch._layers`' list (Conv2d entries carry their settings)."""
    if threshold > 0:
        raise ValueError(f"threshold={threshold} prunes edges, but a Conv2d's weights are shared by "
                         f"all positions; import conv models with threshold=0")
    path, w0 = layers[0][0], layers[0][1]
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(f"a model starting with Conv2d ({path}) needs input_shape=(C, H, W), got {input_shape!r}")
    shape: tuple = tuple(int(d) for d in input_shape)
    if shape[0] != w0.shape[1] * layers[0][4][2]:
        raise ValueError(f"input_shape {shape} has {shape[0]} channels; {path} expects "
                         f"{w0.shape[1] * layers[0][4][2]}")
    n = math.prod(shape)
    edges, weight_ties, bias_ties, codes = [], [], [np.full(n, -1, dtype=np.int64)], [np.zeros(n, np.uint8)]
    weights, biases = [], []
    first = 0
    n_params = n_bias = 0
    for path, w, b, code, conv in layers:
        if conv is not None:
            stride, padding, groups = conv
            layer_edges, ties, out_shape = conv_layer(first, shape, w.shape[0], tuple(w.shape[2:]), stride,
                                                       padding, groups)
            channel = np.repeat(np.arange(w.shape[0]), out_shape[1] * out_shape[2])
        else:
            width = math.prod(shape)
            if w.shape[1] != width:
                raise ValueError(f"torch module {path} (Linear): in_features {w.shape[1]} does not match "
                                 f"the {width} values of the feature map {shape} before it")
            out_shape = (w.shape[0],)
            layer_edges = complete_edges(np.arange(first, first + width), np.arange(n, n + w.shape[0]))
            ties = complete_order(width, w.shape[0])
            channel = np.arange(w.shape[0])
        edges.append(layer_edges)
        weight_ties.append(n_params + ties)
        bias_ties.append(n_bias + channel)
        codes.append(np.full(len(channel), code, dtype=np.uint8))
        weights.append(w.reshape(-1))
        biases.append(b)
        n_params, n_bias = n_params + w.size, n_bias + len(b)
        first, shape = n, out_shape
        n += len(channel)
    return Net(n, np.concatenate(edges), np.concatenate(codes), np.concatenate(weights), np.concatenate(biases),
               outputs=np.arange(first, n), weight_ties=np.concatenate(weight_ties),
               bias_ties=np.concatenate(bias_ties), n_weights=n_params, n_biases=n_bias)

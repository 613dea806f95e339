"""Import a PyTorch model: a `torch.nn.Module` (Sequential, nested too) -> `Net` (SPEC §8).

The model is read as a chain of weighted layers (`Linear`, and `Conv2d` before
any `Linear`), each followed by at most one elementwise activation;
`Flatten(start_dim=1)` may come first or after the last `Conv2d`, and
`Identity` and `Dropout` (a no-op in `eval()`) anywhere. A model with `Conv2d`
becomes a tied net (`conv.py`), numbered as `nets.conv2d(..., tied=True)`. Neurons are the
inputs, then each layer's units in order; a weight equal to 0 (or with
`|w| <= threshold`) is no edge, so a pruned model becomes a sparse net, and a
unit left with no in-edge is folded into the biases it feeds (`fold.py`).
Parameters are read as float64 on the CPU.
"""

import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..activations import activation_code
from ..net import Net
from .fold import build_net


def from_torch(module: Any, input_shape: Optional[Sequence[int]] = None, threshold: float = 0.0) -> Net:
    """The `Net` computing `module(x)` for a batch `x` of shape `(batch, *input_shape)`, with weights.

        >>> net = jitnet.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))  # doctest: +SKIP

    Args:
        module: a `torch.nn.Sequential` (nested Sequentials are flattened) or one layer.
        input_shape: the shape of one sample; `(in_features,)` by default, any
            shape of as many elements when the model starts with `Flatten`.
        threshold: weights with `|w| <= threshold` are dropped (0 drops exact zeros only).

    Raises:
        ValueError: naming the module path, for an unsupported layer, an
            activation with no weighted layer before it or two in a row, a
            layer whose width does not match, or a `Conv2d` setting jitnet has
            no form for (padding_mode other than zeros, dilation, padding not
            smaller than the kernel), or `threshold > 0` with a `Conv2d`.
    """
    import torch  # NOTE: optional dependency, loaded only when the importer is used (SPEC §8).

    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    layers = _layers(torch, module)
    if not layers:
        raise ValueError("the torch model has no Linear or Conv2d layer: nothing to import")
    if any(layer[4] is not None for layer in layers):
        from .conv import conv_net
        return conv_net(layers, input_shape, threshold)
    n_inputs = layers[0][1].shape[1]
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if math.prod(shape) != n_inputs or (len(shape) != 1 and not _starts_with_flatten(torch, module)):
            raise ValueError(f"input_shape {shape} does not fit the first Linear's in_features {n_inputs}; "
                             f"expected ({n_inputs},), or any shape of {n_inputs} elements before a Flatten")

    codes: List[int] = [0] * n_inputs
    biases: List[np.ndarray] = [np.zeros(n_inputs)]
    src, dst, weights = [], [], []
    first = 0  # neuron index of the previous layer's first unit
    width = n_inputs
    for _, w, b, code, _ in layers:
        offset = len(codes)
        rows, cols = np.nonzero(np.abs(w) > threshold)
        src.append(first + cols)
        dst.append(offset + rows)
        weights.append(w[rows, cols])
        codes.extend([code] * w.shape[0])
        biases.append(b)
        first, width = offset, w.shape[0]
    outputs = np.arange(first, first + width)
    return build_net(n_inputs, codes, np.concatenate(biases), np.concatenate(src), np.concatenate(dst),
                     np.concatenate(weights), outputs, source="torch model")


def _leaves(torch, module, path="") -> List[Tuple[str, Any]]:
    if isinstance(module, torch.nn.Sequential):
        out: List[Tuple[str, Any]] = []
        for name, child in module.named_children():
            out.extend(_leaves(torch, child, f"{path}.{name}" if path else name))
        return out
    return [(path or type(module).__name__, module)]


def _starts_with_flatten(torch, module) -> bool:
    leaves = [m for _, m in _leaves(torch, module) if not isinstance(m, (torch.nn.Identity, torch.nn.Dropout))]
    return bool(leaves) and isinstance(leaves[0], torch.nn.Flatten)


def _layers(torch, module) -> List[Tuple[str, np.ndarray, np.ndarray, int, Any]]:
    """(path, W, b (out,), activation code, conv settings) per Linear (W (out, in), settings None)
    or Conv2d (W (out, in/groups, kh, kw), settings (stride, padding, groups)), checked in order."""
    nn = torch.nn
    layers: List[Tuple[str, np.ndarray, np.ndarray, int, Any]] = []
    activated = True  # no weighted layer yet: an activation here has nothing to apply to
    for path, m in _leaves(torch, module):
        kind = type(m).__name__
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if type(m) is nn.Flatten:
            linear_before = any(layer[4] is None for layer in layers)
            if linear_before or m.start_dim != 1 or m.end_dim != -1:
                raise ValueError(f"torch module {path} ({kind}(start_dim={m.start_dim}, end_dim={m.end_dim})): "
                                 f"only Flatten(start_dim=1) before the first Linear is supported")
            continue
        if type(m) is nn.Linear:
            w = _array(torch, m.weight)
            b = np.zeros(w.shape[0]) if m.bias is None else _array(torch, m.bias)
            if layers and layers[-1][4] is None and layers[-1][1].shape[0] != w.shape[1]:
                raise ValueError(f"torch module {path} (Linear): in_features {w.shape[1]} does not match "
                                 f"the {layers[-1][1].shape[0]} units of {layers[-1][0]}")
            layers.append((path, w, b, 0, None))
            activated = False
            continue
        if type(m) is nn.Conv2d:
            if any(layer[4] is None for layer in layers):
                raise ValueError(f"torch module {path} (Conv2d): a Conv2d after a Linear is not supported")
            w = _array(torch, m.weight)
            b = np.zeros(w.shape[0]) if m.bias is None else _array(torch, m.bias)
            layers.append((path, w, b, 0, _conv_settings(m, path)))
            activated = False
            continue
        name = _activation_name(nn, m, path)
        if name is None:
            raise ValueError(f"torch module {path} ({kind}) is not supported: expected Linear, Flatten, "
                             f"Identity, Dropout or one of the listed elementwise activations")
        if activated:
            where = "two activations in a row" if layers else "an activation before any Linear"
            raise ValueError(f"torch module {path} ({kind}): {where}; an activation applies to the "
                             f"units of the Linear just before it")
        prev_path, w, b, _, conv = layers[-1]
        layers[-1] = (prev_path, w, b, activation_code(name), conv)
        activated = True
    return layers


def _conv_settings(m, path: str) -> tuple:
    """(stride, padding, groups) of a Conv2d that jitnet's conv neurons compute exactly."""
    padding = m.padding
    if isinstance(padding, str):
        if padding != "valid":
            raise ValueError(f"torch module {path} (Conv2d): padding={padding!r} is not supported; "
                             f"give the padding as numbers")
        padding = (0, 0)
    if m.padding_mode != "zeros" or tuple(m.dilation) != (1, 1):
        raise ValueError(f"torch module {path} (Conv2d): expected padding_mode='zeros' and dilation 1, "
                         f"got padding_mode={m.padding_mode!r}, dilation={tuple(m.dilation)}")
    if padding[0] >= m.kernel_size[0] or padding[1] >= m.kernel_size[1]:
        raise ValueError(f"torch module {path} (Conv2d): padding {tuple(padding)} must be smaller than "
                         f"the kernel {tuple(m.kernel_size)} along each axis")
    return tuple(m.stride), tuple(padding), m.groups


def _activation_name(nn, m, path) -> Optional[str]:
    """The jitnet activation an elementwise torch module is exactly, or None; ValueError for bad parameters."""
    exact = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu", nn.SELU: "selu"}
    kind = type(m)
    if kind in exact:
        return exact[kind]
    checks = {
        nn.GELU: ("gelu", lambda: m.approximate == "none", "approximate='none'"),
        nn.LeakyReLU: ("leaky_relu", lambda: m.negative_slope == 0.01, "negative_slope=0.01"),
        nn.Softplus: ("softplus", lambda: m.beta == 1 and m.threshold >= 20, "beta=1, threshold >= 20"),
        nn.ELU: ("elu", lambda: m.alpha == 1, "alpha=1"),
        nn.Hardtanh: ("clamped", lambda: m.min_val == -1 and m.max_val == 1, "min_val=-1, max_val=1"),
    }
    if kind not in checks:
        return None
    name, ok, needs = checks[kind]
    if not ok():
        raise ValueError(f"torch module {path} ({m!r}) has no exact form in jitnet: "
                         f"{kind.__name__} needs {needs}")
    return name


def _array(torch, tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy().copy()

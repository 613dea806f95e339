"""jitnet: an LLVM JIT compiler for neural-net graphs written in the ncc text formats.

    >>> import numpy as np, jitnet
    >>> net = jitnet.Net(3, [(0, 2), (1, 2)], activations="relu")
    >>> cn = jitnet.compile(net, dtype="float64")
    >>> cn.forward([1.0, 2.0], [0.5, -1.0], None).tolist()
    [0.0]
    >>> print(jitnet.equations(net, "fwd"), end="")
    n02 = f02( +n00*w0002 +n01*w0102)
"""

from . import dask, nets, optim
from .activations import ACTIVATIONS, activation_code
from .compiler import compile
from .draw import draw
from .errors import NetFormatError
from .export import export
from .importers import from_neat, from_onnx, from_torch
from .native.jit import CacheInfo, cache_info
from .native.runtime import CompiledNet, Gradients
from .net import Net
from .plot import plot_history
from .population import Population, compile_population, evaluate_neat
from .text.equations import equations
from .text.parse import parse
from .text.write import write
from .train import train

__all__ = ["ACTIVATIONS", "CacheInfo", "CompiledNet", "Gradients", "Net", "NetFormatError", "Population",
           "activation_code", "cache_info", "compile", "compile_population", "dask", "draw", "equations",
           "evaluate_neat", "export", "from_neat", "from_onnx", "from_torch", "nets", "optim", "parse",
           "plot_history", "train", "write"]
__version__ = "0.1.0"

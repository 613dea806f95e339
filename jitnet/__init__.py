"""jitnet: an LLVM JIT compiler for neural-net graphs written in the ncc text formats.

    >>> import jitnet
    >>> net = jitnet.Net(3, [(0, 2), (1, 2)], activations="relu")
    >>> net.outputs.tolist()
    [2]
"""

from .activations import ACTIVATIONS, activation_code
from .errors import NetFormatError
from .net import Net

__all__ = ["ACTIVATIONS", "Net", "NetFormatError", "activation_code"]
__version__ = "0.1.0"

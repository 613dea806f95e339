"""The front door: path, text or Net -> `CompiledNet` (parse, lower, jit, wrap; SPEC §4)."""

import collections
import functools
import hashlib
import os
import pickle
import threading
from pathlib import Path

import numpy as np

from .lower.abi import PRECISIONS
from .lower.csr import lower_csr, lower_csr_backward
from .lower.ssa import SSA_MAX_EDGES, lower_ssa, lower_ssa_backward
from .native.jit import Jitted, vector_registers
from .native.runtime import CompiledNet
from .net import Net, as_index_list

# The choice lists, defined here once (the CLI's options import them).
STRATEGIES = ("auto", "ssa", "csr")
DTYPES = tuple(PRECISIONS)


def compile(source=None, *, text=None, format=None, activation=None, dtype="float32",
            outputs=None, strategy="auto", threads=None, cache=True) -> CompiledNet:
    """Compile a net to native code for this CPU.

    Args:
        source: a path (str or Path) to a .nal/.nam/.nel file, or a `Net`.
        text, format, activation: as for `jitnet.parse` (not with a `Net`).
        dtype: "float32" (default) or "float64".
        outputs: neuron indices to read out, in this order (default: the net's outputs).
        strategy: "auto", "ssa" or "csr"; every strategy gives the same bits.
        threads: threads for large batches; None = all cores.
        cache: look up and store the machine code in the on-disk cache.

    Example:
        >>> import jitnet, numpy as np
        >>> cn = jitnet.compile(text="0011\\n0011\\n0000\\n0000\\n", activation="relu")
        >>> w, b = cn.init(seed=0)
        >>> cn.forward(np.ones(2), w, b).shape
        (2,)
    """
    # NOTE: every argument is checked before anything is parsed, lowered or compiled.
    dtype = _dtype(dtype)
    strategy = _choice(strategy, STRATEGIES, "strategy")
    n_threads = (os.cpu_count() or 1) if threads is None else _positive(threads, "threads")
    net = _net(source, text, format, activation)
    chosen = _auto_strategy(net) if strategy == "auto" else strategy
    picked = (net.outputs if outputs is None
              else as_index_list(outputs, net.n_neurons, "outputs", allow_empty=False))
    codes = sorted({int(c) for c in net.activations[net.fan_in > 0]})
    registers = vector_registers()
    if chosen == "ssa":
        jitted = Jitted(lower_ssa(net, dtype), codegen_opt=0, optimize=False, use_cache=cache)
    else:
        jitted = Jitted(lambda: lower_csr(codes, dtype, registers), codegen_opt=3, optimize=True,
                        use_cache=cache, recipe=_recipe("csr forward", dtype, codes, registers))

    def make_grad() -> Jitted:
        if chosen == "ssa":
            return Jitted(lower_ssa_backward(net, dtype, picked), codegen_opt=0, optimize=False,
                          use_cache=cache)
        return Jitted(lambda: lower_csr_backward(codes, dtype, registers), codegen_opt=3,
                      optimize=True, use_cache=cache,
                      recipe=_recipe("csr backward", dtype, codes, registers))

    def make_narrow() -> Jitted:
        return Jitted(lambda: lower_csr(codes, dtype, registers, narrow=True), codegen_opt=3,
                      optimize=True, use_cache=cache,
                      recipe=_recipe("csr narrow forward", dtype, codes, registers))

    rebuild = functools.partial(_pickled, net, dtype, picked, chosen, threads, cache)
    return CompiledNet(net, jitted, make_grad, make_narrow if chosen == "csr" else None, dtype,
                       picked, chosen, n_threads, rebuild)


# NOTE: CompiledNets loaded from pickles in this process, by the digest of what was pickled, so a
# Dask worker that receives the same net in every task builds its plan once (oldest out past 32).
_LOADED: "collections.OrderedDict[str, CompiledNet]" = collections.OrderedDict()
_LOADED_LOCK = threading.Lock()


def _pickled(net: Net, dtype: str, outputs, strategy: str, threads, cache: bool) -> tuple:
    """The pickle of a CompiledNet: the net's constructor arguments and the settings as given, and
    their digest (no machine code)."""
    settings = (net.__reduce__()[1], dtype, np.asarray(outputs), strategy, threads, cache)
    digest = hashlib.sha256(pickle.dumps(settings, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    return _unpickled, (digest, *settings)


def _unpickled(digest: str, net_args: tuple, dtype: str, outputs, strategy: str, threads, cache: bool):
    """A pickled CompiledNet: the one already loaded in this process under `digest`, else compiled again
    from the settings it was made with (the machine code reused where this process built it)."""
    with _LOADED_LOCK:
        loaded = _LOADED.get(digest)
    if loaded is not None:
        return loaded
    loaded = compile(Net(*net_args), dtype=dtype, outputs=outputs, strategy=strategy, threads=threads, cache=cache)
    with _LOADED_LOCK:
        _LOADED[digest] = loaded
        while len(_LOADED) > 32:
            _LOADED.popitem(last=False)
    return loaded


def _recipe(what: str, dtype: str, codes, registers: tuple) -> str:
    """Everything the CSR tier's IR text depends on: a cache key that needs no lowering."""
    return f"{what} {dtype} codes={codes} registers={registers[0]}x{registers[1]} lowering={_lowering_digest()}"


@functools.lru_cache(maxsize=None)
def _lowering_digest() -> str:
    """A digest of the lowering's source code: any change to it changes every recipe."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    # NOTE: every file that shapes the IR text: the whole lower/ tree (recursively)
    # and the activation table it reads.
    sources = sorted(package.joinpath("lower").rglob("*.py")) + [package / "activations.py"]
    for path in sources:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _net(source, text, format, activation) -> Net:
    if isinstance(source, Net):
        if activation is not None:
            raise TypeError("compile(net, activation=...): a Net keeps the activations it was "
                            "built with; pass activation= with a path or text= instead")
        if text is not None or format is not None:
            raise TypeError("compile(net, ...) takes no text= or format=")
        return source
    from .text.parse import parse
    return parse(source, text=text, format=format, activation=activation)


def _auto_strategy(net: Net) -> str:
    """SSA only where it was measured faster than CSR (see README, 'Choosing a tier')."""
    return "ssa" if net.n_edges <= SSA_MAX_EDGES else "csr"


def _dtype(value) -> str:
    """The dtype's name among DTYPES; None is not a dtype here (numpy would read it as float64)."""
    if value is None:
        raise ValueError(f"dtype=None; expected one of {', '.join(DTYPES)}")
    try:
        name = np.dtype(value).name
    except TypeError:
        name = str(value)
    return _choice(name, DTYPES, "dtype")


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what}={value!r}; expected one of {', '.join(allowed)}")
    return value


def _positive(value, what) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}={value!r}; expected a positive int or None")
    return int(value)

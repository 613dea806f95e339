"""Export a net ahead of time: Net -> `NAME.o` (or `NAME.so`) and `NAME.h` for C programs (SPEC §9).

Export always uses the CSR tier: its machine code depends only on the dtype,
the activation codes and the CPU's registers, and the net itself becomes
constant data (`lower/aot.py`). Every argument is checked before LLVM runs,
so a bad CPU name, name or path costs nothing and cannot abort the process.
"""

import os
import re
from typing import List, Optional

from .compiler import DTYPES
from .files import write_atomically
from .lower.aot import scratch_layout, wrapper_module
from .lower.csr import lower_csr, lower_csr_backward
from .native import aot
from .native.plan import Plan
from .net import Net, float_array

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def export(net_or_path, out, *, weights=None, biases=None, dtype: str = "float32", name: Optional[str] = None,
           cpu: str = "host", backward: bool = False, shared: bool = False) -> List[str]:
    """Write `OUT.o` (or `OUT.so` with `shared`) and `OUT.h`; returns the paths written.

    Args:
        net_or_path: a `Net`, or a net file's path (any format `parse` reads).
        out: the output path without extension (a trailing .o, .so or .h is dropped).
        weights, biases: the values to embed (`NAME_forward`); default the net's own.
        dtype: "float32" or "float64".
        name: the C prefix of every symbol; default from the file name.
        cpu: "host" or a name of `jitnet.native.aot.CPUS`.
        backward: also export `NAME_backward`.
        shared: link a shared library with the system's C compiler instead of an object.

    Raises:
        ValueError: a bad dtype, cpu, name, weights, or an output folder that does not exist.
        RuntimeError: `shared` without a C compiler.
    """
    stem, name, registers = check_request(out, dtype, name, cpu, shared)
    net = net_or_path if isinstance(net_or_path, Net) else _parse(net_or_path)
    weights = net.weights if weights is None else float_array(weights, net.n_weights, "weights", "weight")
    biases = net.biases if biases is None else float_array(biases, net.n_biases, "biases", "bias")
    if weights is None and biases is not None:
        raise ValueError("biases without weights: embedding needs the weights too")

    plan = Plan(net, net.outputs)
    codes = sorted({int(c) for c in net.activations[net.fan_in > 0]})
    modules = [lower_csr(codes, dtype, registers), lower_csr(codes, dtype, registers, narrow=True)]
    if backward:
        modules.append(lower_csr_backward(codes, dtype, registers))
    wrapper = wrapper_module(net, plan, dtype, name, weights, biases, backward, aot.host()[0])
    public = [f"{name}_scratch_bytes", f"{name}_forward_with"]
    public += [f"{name}_forward"] * (weights is not None) + [f"{name}_backward"] * backward
    binary = stem + (".so" if shared else ".o")
    aot.emit([str(wrapper)] + modules, public, cpu, binary, shared)
    header = stem + ".h"
    write_atomically(header, _header(net, name, dtype, cpu, weights is not None, backward,
                                    scratch_layout(net, plan, dtype, backward).size))
    return [binary, header]


def check_request(out, dtype: str, name: Optional[str], cpu: str, shared: bool):
    """(output stem, C name, registers) of a valid request; ValueError / RuntimeError otherwise."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    _, _, registers = aot.target(cpu)
    stem = _stem(out)
    name = _name(stem, name)
    folder = os.path.dirname(stem) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"{stem}: expected an existing folder, got no folder {folder}")
    if shared:
        aot.c_compiler()
    return stem, name, registers


def _parse(path):
    from .text.parse import parse
    return parse(path)


def _stem(out) -> str:
    text = os.fspath(out)
    for suffix in (".o", ".so", ".h"):
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _name(stem: str, name: Optional[str]) -> str:
    if name is not None:
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"name {name!r} is not a C identifier (letters, digits and _, not starting "
                             f"with a digit)")
        return name
    base = re.sub(r"[^A-Za-z0-9_]", "_", os.path.basename(stem)) or "net"
    return base if _IDENTIFIER.fullmatch(base) else "net_" + base


def _header(net: Net, name: str, dtype: str, cpu: str, embedded: bool, backward: bool, scratch: int) -> str:
    from . import __version__  # NOTE: here, not at import: the package imports this module
    t = "float" if dtype == "float32" else "double"
    macro = name.upper()
    guard = f"{macro}_H"
    lines = [
        f"/* {name}: a neural net exported by jitnet {__version__} ({net.n_neurons} neurons, {net.n_edges} edges,",
        f"   {dtype}, cpu {cpu}; weights {'embedded' if embedded else 'passed in'}). Arrays are row-major",
        "   (batch, n); dw and db are sums over the batch. Returns 0 on success, 1 for a negative batch,",
        "   2 when scratch cannot be allocated. scratch may be NULL; b may be NULL (zeros). */",
        f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "#include <stdint.h>", "",
        f"#define {macro}_N_INPUTS {net.n_inputs}", f"#define {macro}_N_OUTPUTS {net.n_outputs}",
        f"#define {macro}_N_WEIGHTS {net.n_weights}", f"#define {macro}_N_BIASES {net.n_biases}",
        f"#define {macro}_SCRATCH_BYTES {scratch}",
    ]
    if embedded:
        lines.append(f"#define {macro}_HAS_FORWARD 1")
    lines += ["", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
              f"size_t {name}_scratch_bytes(int64_t batch);"]
    if embedded:
        lines.append(f"int {name}_forward(const {t} *x, {t} *y, int64_t batch, void *scratch);")
    lines.append(f"int {name}_forward_with(const {t} *x, const {t} *w, const {t} *b, {t} *y, int64_t batch, "
                 f"void *scratch);")
    if backward:
        lines.append(f"int {name}_backward(const {t} *x, const {t} *w, const {t} *b, const {t} *dy, {t} *dx, "
                     f"{t} *dw, {t} *db, int64_t batch, void *scratch);")
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


__all__ = ["export"]

"""Ahead-of-time code: IR modules -> an ELF object (or a shared library) for a named CPU (SPEC §9).

Beside `jit.py` the other module that drives `llvmlite.binding`. The CPU
table is jitnet's own: LLVM aborts the process on a CPU name it does not
know, so a name is looked up here before LLVM sees it, and each entry also
gives the register file the CSR tier's blocking is chosen for. The tier's
modules and the wrapper module are linked into one; every symbol but the
wrappers' `NAME_*` is made internal, so objects of different names link
into one program. A shared library is linked by the system's C compiler.
"""

import os
import shutil
import subprocess
import tempfile
from typing import Dict, List, Tuple

import llvmlite.binding as llvm

from ..files import write_atomically
from .jit import _initialise, _parse, _run_passes, host, vector_registers

# CPU name -> (count, bytes) of its vector registers.
CPUS: Dict[str, Tuple[int, int]] = {
    "x86-64": (16, 16), "x86-64-v2": (16, 16), "x86-64-v3": (16, 32), "x86-64-v4": (32, 64),
    "haswell": (16, 32), "skylake-avx512": (32, 64), "icelake-server": (32, 64),
    "sapphirerapids": (32, 64), "znver2": (16, 32), "znver3": (16, 32), "znver4": (32, 64),
}


def target(cpu: str) -> Tuple[str, str, Tuple[int, int]]:
    """(LLVM CPU name, feature string, registers) for `cpu` ("host" or a name of CPUS)."""
    if cpu == "host":
        _, name, features = host()
        return name, features, vector_registers()
    if cpu not in CPUS:
        raise ValueError(f"unknown cpu {cpu!r}; expected host or one of {', '.join(CPUS)}")
    return cpu, "", CPUS[cpu]


def c_compiler() -> str:
    """The system's C compiler ($CC, cc, gcc or clang); RuntimeError naming what to install."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    raise RuntimeError("--shared needs a C compiler to link the library: install gcc (apt-get install gcc) "
                       "or set CC")


def emit(modules: List[str], public: List[str], cpu: str, path: str, shared: bool) -> None:
    """Link the IR texts, keep only `public` symbols external, optimise for `cpu`, write `path`."""
    _initialise()
    name, features, _ = target(cpu)
    triple = host()[0]
    tm = llvm.Target.from_triple(triple).create_target_machine(cpu=name, features=features, opt=3,
                                                               reloc="pic", codemodel="default")
    linked = _parse(modules[0])
    for text in modules[1:]:
        linked.link_in(_parse(text))
    for symbol in list(linked.functions) + list(linked.global_variables):
        if not symbol.is_declaration and symbol.name not in public:
            symbol.linkage = llvm.Linkage.internal
    _run_passes(linked, tm)
    code = tm.emit_object(linked)
    if not shared:
        write_atomically(path, code)
        return
    compiler = c_compiler()
    with tempfile.TemporaryDirectory() as folder:
        obj = os.path.join(folder, "net.o")
        write_atomically(obj, code)
        done = subprocess.run([compiler, "-shared", "-o", path, obj, "-lm"], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{compiler} could not link {path}: {done.stderr.strip().splitlines()[-1:]}")


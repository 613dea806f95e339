"""JIT-compile IR for the host CPU: llvmlite.ir.Module -> `Jitted` (machine code + its engine).

With `aot.py`, the only module that imports `llvmlite.binding`. The target machine is built
from the host CPU's name and features, so `llvm.fma` becomes `vfmadd` and the
vectors use the widest registers the CPU has. Modules are verified, then
optimised with the new pass manager (O3) unless the tier asks for none (the
SSA tier: LLVM's pipeline is super-linear on long straight-line code), and
MCJIT compiles them. Object code is cached on disk (`cache.py`) under a key
made of everything that changes it: the IR text, llvmlite's and LLVM's
versions, the CPU name and features, and the optimisation settings.
"""

import collections
import functools
import threading
from typing import NamedTuple, Optional

import llvmlite
import llvmlite.binding as llvm

from . import cache

_LOCK = threading.Lock()
# NOTE: machine code built in this process with the cache on, by key, so a net compiled again
# (a new population, an unpickled CompiledNet, a Dask task) reuses it; the
# oldest entries go first past _KEEP (their users keep their own engines).
_KEEP = 256
_BUILT: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()
_COUNTS = {"compiles": 0, "cache_hits": 0, "reuses": 0}


class CacheInfo(NamedTuple):
    """This process's counts: LLVM compiles, disk-cache hits and in-memory reuses of machine code."""

    compiles: int
    cache_hits: int
    reuses: int


def cache_info() -> CacheInfo:
    """How often machine code was compiled, loaded from the disk cache, or reused in memory."""
    with _LOCK:
        return CacheInfo(**_COUNTS)


def _remember(key: str, built: tuple) -> None:
    _BUILT[key] = built
    while len(_BUILT) > _KEEP:
        _BUILT.popitem(last=False)


@functools.lru_cache(maxsize=None)
def _initialise() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.lru_cache(maxsize=None)
def host() -> tuple:
    """(triple, cpu name, cpu features) of this machine."""
    _initialise()
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def vector_registers() -> tuple:
    """(count, bytes each) of the host's vector registers: 32 x 64 with AVX-512, 16 x 32 with AVX."""
    features = host()[2].split(",")
    if "+avx512f" in features:
        return 32, 64
    return (16, 32) if "+avx" in features else (16, 16)


def _target_machine(codegen_opt: int):
    triple, cpu, features = host()
    target = llvm.Target.from_triple(triple)
    return target.create_target_machine(cpu=cpu, features=features, opt=codegen_opt,
                                        reloc="default", codemodel="jitdefault", jit=True)


class Jitted:
    """Machine code for one module; keeps its execution engine alive as long as it lives.

    Args:
        ir: the module's IR text, or a function that builds it.
        recipe: when given, a string that determines the IR text completely
            (the tier, dtype, codes and a digest of the lowering's source);
            the cache is then keyed by it and stores the IR text beside the
            object code, so a hit builds no IR at all. Else the key is the IR.

    `ir_unoptimized` is the module as lowered; `ir` and `asm` are produced on
    first use, so a cache hit costs no optimisation. With `use_cache`, machine
    code already built in this process under the same key is shared, not rebuilt.
    """

    def __init__(self, ir, codegen_opt: int, optimize: bool, use_cache: bool, recipe: Optional[str] = None):
        _initialise()
        self._codegen_opt = codegen_opt
        self._optimize = optimize
        self._ir: Optional[str] = None
        self._asm: Optional[str] = None
        if recipe is None:
            ir = ir() if callable(ir) else ir
        key = cache.cache_key(ir if recipe is None else recipe, llvmlite.__version__,
                              ".".join(map(str, llvm.llvm_version_info)), *host(),
                              f"O{self._codegen_opt}", f"passes={self._optimize}")
        with _LOCK:
            built = _BUILT.get(key) if use_cache else None
            if built is None:
                built = self._build(ir, key, use_cache)
                if use_cache:
                    _remember(key, built)
            else:
                _COUNTS["reuses"] += 1
        self._engine, self.ir_unoptimized, self._ir = built

    def _build(self, ir, key: str, use_cache: bool) -> tuple:
        """(engine, IR as lowered, optimised IR or None) for `key`: from the disk cache or compiled."""
        cached = _unpack(cache.load(key)) if use_cache else None
        if cached is not None:
            ir_unoptimized, code = cached
            _COUNTS["cache_hits"] += 1
        else:
            ir_unoptimized, code = (ir() if callable(ir) else ir), None
            _COUNTS["compiles"] += 1
        tm = _target_machine(self._codegen_opt)
        module = _parse(ir_unoptimized)
        optimized = None
        if code is None and self._optimize:
            _run_passes(module, tm)
            optimized = str(module)
        engine = llvm.create_mcjit_compiler(module, tm)
        if use_cache:
            def notify(_module, data):
                if code is None:
                    cache.store(key, _pack(ir_unoptimized, data))
            engine.set_object_cache(notify_func=notify, getbuffer_func=lambda _module: code)
        engine.finalize_object()
        return engine, ir_unoptimized, optimized

    def address(self, name: str) -> int:
        """The address of a compiled function; valid while this object lives."""
        return self._engine.get_function_address(name)

    @property
    def ir(self) -> str:
        """The optimised IR text (the unoptimised one for a tier that runs no passes)."""
        if self._ir is None:
            module = _parse(self.ir_unoptimized)
            if self._optimize:
                _run_passes(module, _target_machine(self._codegen_opt))
            self._ir = str(module)
        return self._ir

    @property
    def asm(self) -> str:
        """The machine code as assembly text."""
        if self._asm is None:
            module = _parse(self.ir)
            self._asm = _target_machine(self._codegen_opt).emit_assembly(module)
        return self._asm


def _pack(ir_text: str, code: bytes) -> bytes:
    """A cache entry: the IR text's length, the IR text, then the object code."""
    text = ir_text.encode()
    return len(text).to_bytes(8, "little") + text + code


def _unpack(entry):
    """(IR text, object code) from `_pack`'s bytes, or None for no entry or a malformed one."""
    if entry is None or len(entry) < 8:
        return None
    size = int.from_bytes(entry[:8], "little")
    if size > len(entry) - 8:
        return None
    return entry[8:8 + size].decode(), entry[8 + size:]


def _parse(ir_text: str):
    module = llvm.parse_assembly(ir_text)
    module.verify()
    return module


def _run_passes(module, tm) -> None:
    # NOTE: the lowering writes its vectors itself; LLVM's loop and SLP
    # vectorizers and loop unrolling found nothing to speed up here and cost
    # about 40% of compile time (measured: 0.38 s -> 0.23 s for a CSR module).
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = False
    pto.slp_vectorization = False
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)

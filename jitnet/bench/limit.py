"""The machine's limits for a net: (tile size, dtype) -> GFLOP/s that a forward pass could reach here.

Two microbenchmarks, each a small JIT kernel:

- `fma_peak`: independent FMA chains on registers, no memory: the limit of
  a dense block, which reuses each loaded row across many neurons.
- `edge_limit`: what one sparse edge of the CSR tier does and nothing else:
  read a row index, load that row of the tile (`lanes` x itemsize bytes: 128 B
  in both dtypes), broadcast the edge's weight, one FMA into a chain; two
  chains in flight, as the CSR tier's pair path runs. The rows are a buffer of
  the net's tile size (n_neurons x lanes) and the indices a uniform random
  stream over it, so the kernel meets the same cache level the net's gathers
  meet: L1 for ~1e3 edges, L2 for 1e4-1e5, L3 for 1e6.

`net_limit` combines them for one net: its dense-block edges at the peak and
the rest at the edge limit of its tile. The suite's `% limit` column is
jitnet's share of it. The kernels emit their loads, broadcasts and FMAs with
the CSR tier's own helpers (`lower/tile.py`), so they cost what the tier's do.
"""

import ctypes
import functools

import numpy as np
from llvmlite import ir

from ..lower import abi
from ..lower.tile import I64, PTR, TileContext, counted_loop, entry_alloca, load_i32, scalar_type
from ..native.jit import Jitted
from ..native.plan import dense_share, forward_segments
from ..native.runtime import aligned_empty
from .timing import median_time

# NOTE: the CSR tier's pair path keeps two neurons' chains in flight (csr._emit_pairs).
CSR_CHAINS = 2
# The suite DAGs' mean fan-in: U[16, 64], plus the readers `nets.random_dag` adds.
FAN_IN = 40
# Edges per timed call: ~5-50 ms here, long enough for a stable median.
EDGES_PER_CALL = 1 << 24


def fma_peak(iterations: int = 10_000_000) -> float:
    """This core's float32 FMA peak in GFLOP/s: the best of a few numbers of independent chains.

    NOTE: the best count depends on the register file (16 ymm on AVX2, 32 zmm
    on AVX-512): too few chains leave FMA latency exposed, too many spill.
    """
    return max(_fma_rate(chains, iterations) for chains in (4, 6, 8, 12))


def _fma_rate(chains: int, iterations: int) -> float:
    """GFLOP/s of `chains` independent <16 x float> FMA chains in a loop."""
    i64, vector = ir.IntType(64), ir.VectorType(ir.FloatType(), 16)
    module = ir.Module(name="jitnet_peak")
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), name="llvm.fma.v16f32")
    fn = ir.Function(module, ir.FunctionType(ir.FloatType(), [i64, ir.FloatType()]), name="peak")
    count, scale = fn.args
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    bld = ir.IRBuilder(entry)
    one = bld.insert_element(ir.Constant(vector, None), scale, ir.IntType(32)(0))
    splat = bld.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))
    bld.branch(loop)
    bld.position_at_end(loop)
    k = bld.phi(i64)
    k.add_incoming(i64(0), entry)
    accs = [bld.phi(vector) for _ in range(chains)]
    nexts = [bld.call(fma, [acc, splat, acc]) for acc in accs]
    for acc, nxt in zip(accs, nexts):
        acc.add_incoming(splat, entry)
        acc.add_incoming(nxt, loop)
    k_next = bld.add(k, i64(1))
    k.add_incoming(k_next, loop)
    bld.cbranch(bld.icmp_signed("<", k_next, count), loop, done)
    bld.position_at_end(done)
    total = nexts[0]
    for nxt in nexts[1:]:
        total = bld.fadd(total, nxt)
    bld.ret(bld.extract_element(total, ir.IntType(32)(0)))
    jitted = Jitted(str(module), codegen_opt=3, optimize=True, use_cache=False)
    kernel = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64, ctypes.c_float)(jitted.address("peak"))
    seconds = median_time(lambda: kernel(iterations, 0.9999999), repeats=3, min_time=0.0)
    return 2.0 * 16 * chains * iterations / seconds / 1e9


def edge_kernel_ir(dtype: str, lanes: int, chains: int) -> str:
    """IR text of `edges(rows, index, w, n_edges, passes, out)`.

    `passes` times over the edge stream: chain c = e % `chains` gets
    acc_c = fma(rows[index[e]], w[e], acc_c) (a row is `lanes` wide), from 0;
    then out[c] = acc_c. `n_edges` is a multiple of `chains`.
    """
    module = ir.Module(name="jitnet_edge_limit")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I64, PTR]), name="edges")
    rows, index, w, n_edges, passes, out = fn.args
    for arg in (rows, index, w, out):
        arg.add_attribute("noalias")
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    scalar = scalar_type(dtype)
    ctx = TileContext(bld, dtype, lanes, scalar, ir.VectorType(scalar, lanes), w, None, rows, None)
    accs = [entry_alloca(bld, ctx.vector, f"acc{c}") for c in range(chains)]
    for acc in accs:
        bld.store(ir.Constant(ctx.vector, None), acc)
    with counted_loop(bld, I64(0), passes, "pass"):
        with counted_loop(bld, I64(0), bld.udiv(n_edges, I64(chains)), "step") as step:
            for c, acc in enumerate(accs):
                # NOTE: the body of csr._emit_edge: index, row gather, broadcast weight, one FMA.
                e = bld.add(bld.mul(step, I64(chains)), I64(c))
                row = ctx.load_row(bld.sext(load_i32(bld, index, e), I64), "row")
                weight = ctx.splat(ctx.load_scalar(w, e, "w"))
                bld.store(ctx.fma(row, weight, bld.load(acc, typ=ctx.vector)), acc)
    for c, acc in enumerate(accs):
        ctx.store_row(bld.load(acc, typ=ctx.vector), I64(c), base=out)
    bld.ret_void()
    return str(module)


@functools.lru_cache(maxsize=None)
def _edge_kernel(dtype: str, lanes: int, chains: int):
    """(the Jitted module, keeping it alive; its `edges` entry as a ctypes function)."""
    jitted = Jitted(edge_kernel_ir(dtype, lanes, chains), codegen_opt=3, optimize=True, use_cache=False)
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.c_int64, ctypes.c_void_p)
    return jitted, prototype(jitted.address("edges"))


def run_edges(rows: np.ndarray, index: np.ndarray, w: np.ndarray, chains: int = CSR_CHAINS,
              passes: int = 1) -> np.ndarray:
    """The kernel's chains, (chains, lanes): chain c sums rows[index[e]] * w[e] over e = c mod `chains`.

    `rows` is (n_rows, lanes) and 64-byte aligned (use `aligned_rows`), `index`
    int32 and `w` of the rows' dtype, their length a multiple of `chains`.
    """
    dtype = rows.dtype.name
    assert rows.ctypes.data % abi.TILE_ALIGN == 0 and len(index) % chains == 0
    index = np.ascontiguousarray(index, dtype=np.int32)
    w = np.ascontiguousarray(w, dtype=dtype)
    out = aligned_rows(chains, rows.shape[1], dtype)
    _, kernel = _edge_kernel(dtype, rows.shape[1], chains)
    kernel(rows.ctypes.data, index.ctypes.data, w.ctypes.data, len(index), passes, out.ctypes.data)
    return out


def aligned_rows(n_rows: int, lanes: int, dtype) -> np.ndarray:
    """A zeroed (n_rows, lanes) array aligned as the runtime's scratch tile is."""
    rows = aligned_empty(n_rows * lanes * np.dtype(dtype).itemsize).view(dtype).reshape(n_rows, lanes)
    rows[:] = 0
    return rows


def edge_limit(n_rows: int, dtype="float32", lanes=None, chains: int = CSR_CHAINS,
               edges_per_call: int = EDGES_PER_CALL, repeats: int = 5, seed: int = 0) -> float:
    """GFLOP/s (2 flops per edge and lane) of sparse edges gathering from `n_rows` tile rows.

    The index stream is what a net of `n_rows` neurons with the suite DAGs'
    mean fan-in reads: `n_rows` lists (at least 128) of FAN_IN sources drawn
    uniformly, each list ascending (a neuron's in-edges in canonical order),
    walked as often as makes `edges_per_call`, the way the tiles of a batch
    walk a net's edges. `lanes` defaults to the dtype's tile lanes.
    """
    p = abi.precision(dtype)
    lanes = lanes or p.lanes
    rng = np.random.default_rng(seed)
    rows = aligned_rows(n_rows, lanes, p.dtype)
    rows[:] = rng.uniform(-1, 1, size=rows.shape)
    lists = rng.integers(0, n_rows, size=(max(128, n_rows), FAN_IN), dtype=np.int32)
    index = np.sort(lists, axis=1).ravel()
    index = index[:len(index) // chains * chains]
    # NOTE: weights in (-1/64, 1/64), so that the sums stay far from overflow and subnormals.
    w = (rng.uniform(-1, 1, size=len(index)) / 64).astype(p.dtype)
    passes = max(1, edges_per_call // len(index))
    run_edges(rows, index, w, chains, passes)   # compiles the kernel, warms the caches
    seconds = median_time(lambda: run_edges(rows, index, w, chains, passes), repeats, min_time=0.0)
    return 2.0 * lanes * len(index) * passes / seconds / 1e9


def net_limit(net, peak: float, dtype="float32", **edge_options) -> float:
    """GFLOP/s a net's forward could reach here: `peak` (of `dtype`) for the edges of dense blocks
    (segments with a shared in-set), `edge_limit` of its tile for the others; times per edge add.
    """
    order, segments = forward_segments(net)
    dense = dense_share(net, order, segments)
    if dense >= 1.0:
        return peak
    sparse = edge_limit(net.n_neurons, dtype, **edge_options)
    return 1.0 / (dense / peak + (1.0 - dense) / sparse)

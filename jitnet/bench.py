"""Time jitnet against numpy and scipy.sparse on the same net and batch: Net -> a table (text).

The baselines evaluate the net level by level (neurons of one depth at once):
numpy multiplies the values of the level's sources by a dense, zero-masked
weight matrix (for a dense layered net that is exactly one matmul per layer),
and scipy.sparse, when installed, multiplies by the level's sparse CSR matrix.
All run in this process on the same inputs; times are medians of repeats, and
GFLOP/s count two flops per edge and sample.
"""

import ctypes
import time

import numpy as np
from llvmlite import ir

from .activations import apply_f
from .compiler import compile
from .jit import Jitted
from .net import Net

SUITE_BATCHES = (1, 4096)


def median_time(call, repeats: int = 5, min_time: float = 0.02) -> float:
    """Median seconds per call over `repeats` rounds, each round at least `min_time` long."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-9)
    inner = max(1, int(min_time / once))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        rounds.append((time.perf_counter() - start) / inner)
    return float(np.median(rounds))


def fma_peak() -> float:
    """This core's float32 FMA peak in GFLOP/s: the best of a few numbers of independent chains.

    NOTE: the best count depends on the register file (16 ymm on AVX2, 32 zmm
    on AVX-512): too few chains leave FMA latency exposed, too many spill.
    """
    return max(_fma_rate(chains) for chains in (4, 6, 8, 12))


def _fma_rate(chains: int, iterations: int = 10_000_000) -> float:
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


class LevelBaseline:
    """A net evaluated level by level with numpy (dense masked) or scipy (sparse) matrices."""

    def __init__(self, net: Net, w: np.ndarray, b: np.ndarray, dtype, sparse: bool):
        self.net, self.dtype, self.sparse = net, np.dtype(dtype), sparse
        self.levels = []
        order = net.level_order
        depth = net.depth[order]
        for d in range(1, int(depth.max(initial=0)) + 1):
            level = order[depth == d]
            edges = np.concatenate([np.arange(net.in_ptr[j], net.in_ptr[j + 1]) for j in level])
            src, dst = net.edges[edges, 0], net.edges[edges, 1]
            col = np.searchsorted(level, dst)
            codes = net.activations[level]
            bias = b[level].astype(self.dtype)
            if sparse:
                import scipy.sparse
                matrix = scipy.sparse.csr_matrix((w[edges].astype(self.dtype), (col, src)),
                                                 shape=(len(level), net.n_neurons))
                self.levels.append((level, matrix, None, bias, codes))
            else:
                rows = np.unique(src)
                matrix = np.zeros((len(rows), len(level)), dtype=self.dtype)
                matrix[np.searchsorted(rows, src), col] = w[edges]
                span = slice(rows[0], rows[-1] + 1) if rows[-1] - rows[0] + 1 == len(rows) else rows
                self.levels.append((level, matrix, span, bias, codes))

    def forward(self, x: np.ndarray) -> np.ndarray:
        net = self.net
        if self.sparse:
            values = np.zeros((net.n_neurons, len(x)), dtype=self.dtype)
            values[net.inputs] = x.T
            for level, matrix, _, bias, codes in self.levels:
                values[level] = _activate(codes, (matrix @ values).T + bias).T
            return values[net.outputs].T
        values = np.zeros((len(x), net.n_neurons), dtype=self.dtype)
        values[:, net.inputs] = x
        for level, matrix, rows, bias, codes in self.levels:
            sources = np.ascontiguousarray(values[:, rows])
            values[:, level] = _activate(codes, sources @ matrix + bias)
        return values[:, net.outputs]


def _activate(codes: np.ndarray, z: np.ndarray) -> np.ndarray:
    if (codes == 3).all():
        return np.maximum(z, 0, out=z)
    if (codes == 0).all():
        return z
    return apply_f(codes, z).astype(z.dtype)


def measure(net: Net, batch: int, threads=1, dtype="float32", strategy="auto", seed=0) -> dict:
    """One row of the table: compile time, jitnet's forward time and the baselines'."""
    start = time.perf_counter()
    cn = compile(net, dtype=dtype, strategy=strategy, threads=threads, cache=False)
    compile_s = time.perf_counter() - start
    w, b = cn.init(seed)
    x = np.random.default_rng(seed).normal(size=(batch, net.n_inputs)).astype(dtype)
    row = {"edges": net.n_weights, "batch": batch, "tier": cn.strategy, "compile_s": compile_s,
           "jitnet_s": median_time(lambda: cn.forward(x, w, b))}
    row["numpy_s"] = median_time(_bound(LevelBaseline(net, w, b, dtype, sparse=False), x))
    try:
        row["scipy_s"] = median_time(_bound(LevelBaseline(net, w, b, dtype, sparse=True), x))
    except ImportError:
        row["scipy_s"] = None
    return row


def _bound(baseline: LevelBaseline, x):
    return lambda: baseline.forward(x)


def format_table(rows, peak=None) -> str:
    """A plain-text table with GFLOP/s and speed-up ratios (x numpy = numpy time / jitnet time).

    With `peak` (GFLOP/s), a column gives jitnet's share of it.
    """
    head = ("net", "edges", "batch", "tier", "compile s", "jitnet ms", "GFLOP/s", "% peak",
            "samples/s", "numpy ms", "x numpy", "scipy ms", "x scipy")
    lines = []
    for r in rows:
        flops = 2.0 * r["edges"] * r["batch"]
        rate = flops / r["jitnet_s"] / 1e9
        scipy_s = r.get("scipy_s")
        lines.append((r["name"], str(r["edges"]), str(r["batch"]), r["tier"], f"{r['compile_s']:.3f}",
                      f"{r['jitnet_s'] * 1e3:.3f}", f"{rate:.1f}",
                      "-" if peak is None else f"{100 * rate / peak:.0f}",
                      f"{r['batch'] / r['jitnet_s']:.3g}", f"{r['numpy_s'] * 1e3:.3f}",
                      f"{r['numpy_s'] / r['jitnet_s']:.2f}",
                      "-" if scipy_s is None else f"{scipy_s * 1e3:.3f}",
                      "-" if scipy_s is None else f"{scipy_s / r['jitnet_s']:.2f}"))
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    out = ["  ".join(h.rjust(wd) for h, wd in zip(head, widths)),
           "  ".join("-" * wd for wd in widths)]
    out += ["  ".join(c.rjust(wd) for c, wd in zip(line, widths)) for line in lines]
    return "\n".join(out)


def compare(net: Net, batch=4096, threads=None, dtype="float32", strategy="auto", name="net") -> str:
    """The table for one net (what `jitnet bench NET` prints); threads default to 1."""
    row = measure(net, batch, threads=1 if threads is None else threads, dtype=dtype,
                  strategy=strategy)
    row["name"] = name
    return format_table([row])


def suite_nets():
    """(name, Net) pairs of the standard suite: the ncc seed net, dense MLPs, random sparse DAGs."""
    from . import nets
    yield "ncc seed (14)", Net(14, _SEED_EDGES, activations="relu")
    yield "64-32-10", nets.dense([64, 32, 10])
    yield "784-16-10", nets.dense([784, 16, 10])
    yield "784-128-128-10", nets.dense([784, 128, 128, 10])
    # NOTE: PERF-NOTES' random DAGs: 64 inputs, 10 outputs, 6 layers, fan-in U[16, 64].
    for hidden, label in ((15, "1e3"), (240, "1e4"), (2490, "1e5")):
        yield f"random DAG {label}", nets.random_dag(64, 10, hidden, fan_in=(16, 64), n_layers=6,
                                                     seed=0)


# The ncc notes' 14-neuron example (SPEC §4, examples/seed.nal).
_SEED_EDGES = [(0, 4), (1, 4), (0, 5), (1, 5), (2, 5), (1, 6), (2, 6), (3, 6), (2, 7), (3, 7),
               (4, 8), (5, 8), (4, 9), (5, 9), (6, 9), (5, 10), (6, 10), (7, 10), (6, 11), (7, 11)] \
    + [(i, j) for j in (12, 13) for i in (8, 9, 10, 11)]


def suite(batch=None, threads=None, dtype="float32") -> int:
    """Print the whole suite's table (`jitnet bench` with no NET); returns 0.

    Runs each net at `batch` (default: 1 and 4096) on `threads` threads
    (default 1), after measuring this core's FMA peak.
    """
    batches = SUITE_BATCHES if batch is None else (batch,)
    peak = fma_peak()
    print(f"float32 FMA peak of one core: {peak:.0f} GFLOP/s", flush=True)
    rows = []
    for name, net in suite_nets():
        for size in batches:
            row = measure(net, size, threads=1 if threads is None else threads, dtype=dtype)
            row["name"] = name
            rows.append(row)
            print(format_table(rows[-1:], peak).splitlines()[-1], flush=True)
    print()
    print(format_table(rows, peak))
    return 0

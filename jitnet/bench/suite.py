"""Time jitnet against numpy, scipy.sparse, torch and neat-python: nets -> one table (text), a plot.

NOTE: about 400 lines: the suite's nets, the timing, the table and the
plot read as one report; the baselines live in `baselines.py`, the limits in `limit.py`.

For each net and batch the table has three rows: `fwd` (forward), `f+b`
(forward + backward: jitnet's `backward` runs its own forward, so it is
compared with the other libraries' forward + backward) and `l+g`
(`loss_and_grad`, mse, the loss fused into the backward pass: its pass cell
reads `l+g=R`, R its time over f+b's; no baselines). Columns: cold compile
time; jitnet's samples/s, GFLOP/s, share of this core's float32 FMA peak
(measured by `limit.fma_peak`) and share of the net's limit (`limit.net_limit`:
the peak for dense-block edges, the measured gathered-edge rate of the net's
tile size for the others), all on one thread; its speed-up on 2 (`threads`)
threads; and the ratio other's time / jitnet's one-thread time for every
other library (> 1: jitnet is faster), each of them on one thread. GFLOP/s count 2 flops
per edge and sample forward and 6 forward + backward (forward, dn, dw).
Everything runs in this process on the same inputs; times are medians of
repeats. The other libraries' forms of a net are in `baselines.py`.
"""

import contextlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

from ..compiler import compile
from ..native.jit import host
from ..net import Net
from . import baselines
from .limit import fma_peak, net_limit
from .timing import median_time

SUITE_BATCH = 4096
FLOPS_PER_EDGE = {"fwd": 2, "f+b": 6, "l+g": 6}
BASELINES = ("numpy", "scipy", "torch", "neat")
_DISTRIBUTIONS = {"numpy": "numpy", "scipy": "scipy", "torch": "torch", "neat": "neat-python"}
NEAT_SAMPLES = 16  # neat runs one sample at a time: time this many, scale to the batch
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class SuiteNet:
    """One net of the suite, the batches it runs at, and the repeats of each timing."""

    name: str
    net: Net
    batches: Tuple[int, ...] = (SUITE_BATCH,)
    repeats: int = 5


def suite_nets(quick: bool = False):
    """The standard suite (float32): dense MLPs, random sparse DAGs ~1e3-1e6 edges, a conv net, an RNN.

    NOTE: to keep the run under ~10 minutes on a 2-core machine, nets of 1e5
    edges or more take 3 repeats instead of 5, and the 1024x4 MLP, the conv
    net and the 1e6-edge DAG batch 1024 (their baselines' forward + backward
    take seconds per call at 4096). `quick`: tiny nets of every kind, for tests.
    """
    from .. import nets
    if quick:
        return [SuiteNet("8-4-2", nets.dense([8, 4, 2]), (64,), 1),
                SuiteNet("random DAG 1e2", nets.random_dag(8, 2, 12, fan_in=(2, 6), n_layers=3, seed=0),
                         (64,), 1),
                SuiteNet("conv 6x6 1-2-2", nets.conv2d(6, 6, (1, 2, 2), kernel=3, n_outputs=2), (64,), 1),
                SuiteNet("rnn 2x3 h4", nets.rnn(2, 3, 4, 2), (64,), 1)]
    small = (1, SUITE_BATCH)
    entries = [("64-32-10", nets.dense([64, 32, 10]), small),
               ("784-16-10", nets.dense([784, 16, 10]), small),
               ("784-128-128-10", nets.dense([784, 128, 128, 10]), small),
               ("784-512-512-10", nets.dense([784, 512, 512, 10]), (SUITE_BATCH,)),
               ("1024x4", nets.dense([1024] * 4), (1024,))]
    # NOTE: PERF-NOTES' random DAGs: 64 inputs, 10 outputs, 6 layers, fan-in U[16, 64].
    for hidden, label in ((15, "1e3"), (240, "1e4"), (2490, "1e5"), (25_000, "1e6")):
        entries.append((f"random DAG {label}",
                        nets.random_dag(64, 10, hidden, fan_in=(16, 64), n_layers=6, seed=0),
                        (1024,) if label == "1e6" else (SUITE_BATCH,)))
    # A 28x28 image, 3x3 kernels, 8 then 16 channels (the second with stride 2), 10 outputs.
    entries.append(("conv 28x28 1-8-16", nets.conv2d(28, 28, (1, 8, 16), kernel=3, stride=(1, 2),
                                                     n_outputs=10), (1024,)))
    entries.append(("rnn 16 steps h32", nets.rnn(16, 16, 32, 10), (SUITE_BATCH,)))
    return [SuiteNet(name, net, batches, 3 if net.n_edges >= 100_000 else 5)
            for name, net, batches in entries]


def available(name: str) -> bool:
    """Whether baseline library `name` (a BASELINES entry) can be imported, without importing it."""
    return importlib.util.find_spec(name) is not None


def make_baseline(name: str, net: Net, w, b, dtype):
    """The baseline `name` of this net, or None where it is not installed or not run.

    Not run: numpy where its masked matrices would exceed
    `baselines.DENSE_MAX_ENTRIES`; neat-python above `baselines.NEAT_MAX_EDGES`
    edges or with an activation it lacks.
    """
    if not available(name):
        return None
    if name == "numpy":
        if baselines.dense_entries(net) > baselines.DENSE_MAX_ENTRIES:
            return None
        return baselines.LevelBaseline(net, w, b, dtype, sparse=False)
    if name == "scipy":
        return baselines.LevelBaseline(net, w, b, dtype, sparse=True)
    if name == "torch":
        return baselines.TorchBaseline(net, w, b, dtype)
    if net.n_edges > baselines.NEAT_MAX_EDGES:
        return None
    try:
        return baselines.NeatBaseline(net, w, b)
    except ValueError:
        return None


def measure(net: Net, batch: int = SUITE_BATCH, name: str = "net", threads: int = 2,
            dtype="float32", strategy="auto", repeats: int = 5, min_time: float = 0.02,
            seed: int = 0, libraries=BASELINES, cache: bool = False) -> list:
    """Three rows of the table, `fwd`, `f+b` and `l+g`, for one net and batch.

    Each row: name, edges, batch, pass, compile_s, and `times`: seconds per
    call of "jitnet" (1 thread), "jitnet2" (`threads` threads; absent for
    threads=1) and every baseline that ran (neat: forward only, scaled to
    the batch from NEAT_SAMPLES samples). Compile times are cold unless `cache`.
    """
    start = time.perf_counter()
    cn = compile(net, dtype=dtype, strategy=strategy, threads=1, cache=cache)
    compile_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    w, b = cn.init(seed)
    b = (0.1 * rng.normal(size=b.shape)).astype(dtype)
    x = rng.normal(size=(batch, net.n_inputs)).astype(dtype)
    dy = rng.normal(size=(batch, net.n_outputs)).astype(dtype)
    target = rng.normal(size=(batch, net.n_outputs))
    start = time.perf_counter()
    cn.backward(x[:1], w, b, dy[:1])  # compiles the gradient module
    grad_s = time.perf_counter() - start

    def timed(call):
        return median_time(call, repeats, min_time)

    fwd = {"jitnet": timed(lambda: cn.forward(x, w, b))}
    fb = {"jitnet": timed(lambda: cn.backward(x, w, b, dy))}
    lg = {"jitnet": timed(lambda: cn.loss_and_grad(x, w, b, target))}
    if threads > 1:
        cn2 = compile(net, dtype=dtype, strategy=strategy, threads=threads, cache=cache)
        _check_same_bits(cn, cn2, x, w, b, dy, threads)
        fwd["jitnet2"] = timed(lambda: cn2.forward(x, w, b))
        fb["jitnet2"] = timed(lambda: cn2.backward(x, w, b, dy))
        lg["jitnet2"] = timed(lambda: cn2.loss_and_grad(x, w, b, target))
        del cn2
    with _one_thread(libraries):
        for lib in libraries:
            other = make_baseline(lib, net, w, b, dtype)
            if other is None:
                continue
            if lib == "neat":
                some = x[:NEAT_SAMPLES]
                fwd[lib] = timed(lambda: other.forward(some)) * batch / len(some)
            else:
                fwd[lib] = timed(lambda: other.forward(x))
                fb[lib] = timed(lambda: other.forward_backward(x, dy))
            other = None  # NOTE: free its matrices before the next one is built
    common = {"name": name, "edges": net.n_edges, "batch": batch, "dtype": str(np.dtype(dtype))}
    return [{**common, "pass": "fwd", "compile_s": compile_s, "times": fwd},
            {**common, "pass": "f+b", "compile_s": compile_s + grad_s, "times": fb},
            {**common, "pass": "l+g", "compile_s": compile_s + grad_s, "times": lg, "f+b": fb["jitnet"]}]


def _check_same_bits(cn, cn2, x, w, b, dy, threads: int) -> None:
    """A speed-up is only worth printing if the threaded calls compute the same thing: forward and dx
    bit for bit (every sample alone), dw and db up to the order of the per-thread sums (SPEC §4)."""
    g1, g2 = cn.backward(x, w, b, dy), cn2.backward(x, w, b, dy)
    tolerance = 1e-4 if cn.dtype == np.float32 else 1e-10
    checks = [("forward", cn.forward(x, w, b).tobytes() == cn2.forward(x, w, b).tobytes()),
              ("backward dx", g1.dx.tobytes() == g2.dx.tobytes())]
    checks += [(f"backward {name}", np.allclose(one, two, rtol=tolerance, atol=tolerance * np.abs(one).max()))
               for name, one, two in (("dw", g1.dw, g2.dw), ("db", g1.db, g2.db))]
    for what, same in checks:
        if not same:
            raise RuntimeError(f"jitnet's {threads}-thread {what} differs from its 1-thread one: "
                               f"the threading path is broken")


@contextlib.contextmanager
def _one_thread(libraries):
    """BLAS, OpenMP and torch limited to one thread (threadpoolctl, when installed)."""
    torch_threads = None
    if "torch" in libraries and available("torch"):
        import torch
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
    limits = contextlib.nullcontext()
    if available("threadpoolctl"):
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(1)
    try:
        with limits:
            yield
    finally:
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)


def limit_of(net: Net, peak: float, dtype="float32", quick: bool = False) -> float:
    """The "limit" of `net`'s rows, both passes: `limit.net_limit` in GFLOP/s (`peak`: float32's).

    NOTE: f+b rows are held to the forward's limit too: each of its three
    passes over the edges gathers a row per edge and FMAs into it, so the
    gathered-edge rate bounds them as well (the dw pass also streams a
    partial sum per edge, which makes it an optimistic bound there).
    """
    options = {"edges_per_call": 1 << 18, "repeats": 1} if quick else {}
    return net_limit(net, dtype_peak(peak, dtype), str(np.dtype(dtype)), **options)


def dtype_peak(peak: float, dtype) -> float:
    """The FMA peak of `dtype` from the float32 `peak`: half of it for float64."""
    return peak / 2 if str(np.dtype(dtype)) == "float64" else peak


def format_table(rows, peak=None, threads: int = 2) -> str:
    """A plain-text table of `measure` rows: x LIB = LIB's time / jitnet's 1-thread time.

    GFLOP/s count FLOPS_PER_EDGE flops per edge and sample (2 fwd, 6 f+b and l+g);
    `% peak` is jitnet's one-thread share of `peak` (the float32 GFLOP/s of
    one core; half of it for float64), `% limit` its share of the row's
    "limit" (`limit_of`); "-" marks what did not run.
    """
    head = ("net", "edges", "batch", "pass", "compile s", "samples/s", "GFLOP/s", "% peak", "% limit",
            f"x {threads} thr") + tuple(f"x {lib}" for lib in BASELINES)
    lines = [_cells(row, peak) for row in rows]
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    rules = tuple("-" * wd for wd in widths)
    return "\n".join(_aligned(line, widths) for line in [head, rules] + lines)


def _aligned(cells, widths) -> str:
    """The net's name left-aligned, numbers right-aligned."""
    return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(wd) for c, wd in zip(cells[1:], widths[1:])])


def _cells(row, peak):
    times = row["times"]
    seconds = times["jitnet"]
    rate = FLOPS_PER_EDGE[row["pass"]] * row["edges"] * row["batch"] / seconds / 1e9
    ratios = [_ratio(times.get(lib), seconds) for lib in BASELINES]
    kind = row["pass"] + (f"={seconds / row['f+b']:.2f}" if "f+b" in row else "")
    return (row["name"], str(row["edges"]), str(row["batch"]), kind, f"{row['compile_s']:.2f}",
            _count(row["batch"] / seconds), f"{rate:.1f}", _share(rate, peak, row.get("dtype")),
            _share(rate, row.get("limit")), _ratio(seconds, times.get("jitnet2")), *ratios)


def _share(rate: float, limit, dtype=None) -> str:
    """`rate` in % of `limit` (for a peak: of `dtype_peak`), "-" without one."""
    if limit is None:
        return "-"
    return f"{100 * rate / (limit if dtype is None else dtype_peak(limit, dtype)):.0f}"


def _ratio(numerator, denominator) -> str:
    if numerator is None or denominator is None:
        return "-"
    value = numerator / denominator
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _count(value: float) -> str:
    """3 significant digits with a k/M/G suffix: 6.12M, 170k, 950."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def describe(peak: float, threads: int, cold: bool = True) -> str:
    """The lines above the table: machine, peak, what the columns mean, library versions."""
    from importlib.metadata import PackageNotFoundError, version
    ran, missing = [], []
    for lib in BASELINES:
        try:
            ran.append(f"{_DISTRIBUTIONS[lib]} {version(_DISTRIBUTIONS[lib])}")
        except PackageNotFoundError:
            missing.append(_DISTRIBUTIONS[lib])
    _, cpu, _ = host()
    lines = [f"CPU {cpu}, float32 FMA peak of one core (measured): {peak:.0f} GFLOP/s",
             "fwd: forward; f+b: forward + backward (dx, dw, db); l+g=R: loss_and_grad (mse, fused; dw, db),",
             "  R = its time / f+b's time",
             "GFLOP/s: 2 flops per edge and sample for fwd, 6 for f+b",
             "samples/s, GFLOP/s, % peak and % limit (of one core): jitnet on 1 thread",
             "% limit: of the net's measured limit: the FMA peak for dense-block edges, for the others",
             "  a microbenchmark of gathered edges (one tile-row load, a broadcast weight, one FMA,",
             "  two chains) over a buffer of the net's tile size (bench/limit.py)",
             f"x {threads} thr: jitnet's 1-thread time / its {threads}-thread time",
             "x LIB: LIB's time / jitnet's 1-thread time (> 1: jitnet is faster); LIB on 1 thread",
             "compile s: " + ("cold (cache off)" if cold else "the code cache on (quick)")
             + "; for f+b with the gradient module",
             "numpy: a dense masked matmul per depth level, hand backprop; scipy: a CSR matrix per",
             "  level, hand backprop; torch: dense masked levels (torch.sparse over the same limit),",
             "  autograd; neat-python: FeedForwardNetwork.activate, one sample at a time",
             f"  ({NEAT_SAMPLES} timed, scaled to the batch)",
             f"-: not installed or not run: numpy over {baselines.DENSE_MAX_ENTRIES:,} matrix entries; "
             f"neat-python over {baselines.NEAT_MAX_EDGES:,}",
             "  edges, with an activation it lacks, and for f+b (it has no backward)",
             "libraries: " + ", ".join(ran) + (f"; not installed: {', '.join(missing)}" if missing else "")]
    if not available("threadpoolctl") and not all(os.environ.get(v) == "1" for v in THREAD_VARIABLES):
        lines.append("WARNING: numpy's BLAS may use several threads: install threadpoolctl "
                     "or set OPENBLAS_NUM_THREADS=1")
    return "\n".join(lines)


def check_plot(path) -> None:
    """Raise ValueError (no matplotlib) or FileNotFoundError (no such folder) before a long run."""
    if not available("matplotlib"):
        raise ValueError("--plot needs matplotlib: pip install 'jitnet[bench]'")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise FileNotFoundError(2, "no such folder", str(folder))


def plot(rows, path, threads: int = 2) -> None:
    """Write a PNG: GFLOP/s against edges (log-log), forward and forward + backward side by side.

    One line for jitnet on 1 and on `threads` threads and one per baseline;
    each net's largest batch only.
    """
    from matplotlib.figure import Figure
    largest: dict = {}
    for row in rows:
        largest[row["name"]] = max(largest.get(row["name"], 0), row["batch"])
    figure = Figure(figsize=(12, 5), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    keys = ("jitnet", "jitnet2") + BASELINES
    labels = {"jitnet": "jitnet, 1 thread", "jitnet2": f"jitnet, {threads} threads", **_DISTRIBUTIONS}
    for ax, kind, title in zip(axes, ("fwd", "f+b"), ("forward", "forward + backward")):
        picked = sorted((r for r in rows if r["pass"] == kind and r["batch"] == largest[r["name"]]),
                        key=lambda r: r["edges"])
        for k, key in enumerate(keys):
            points = [(r["edges"], FLOPS_PER_EDGE[kind] * r["edges"] * r["batch"] / r["times"][key] / 1e9)
                      for r in picked if key in r["times"]]
            if points:
                ax.plot(*zip(*points), marker="o", color=f"C{k}", label=labels[key])
        for r in picked:
            rate = FLOPS_PER_EDGE[kind] * r["edges"] * r["batch"] / r["times"]["jitnet"] / 1e9
            ax.annotate(r["name"], (r["edges"], rate), fontsize=6, rotation=30)
        ax.set(xscale="log", yscale="log", xlabel="edges", title=title)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("GFLOP/s (2 flops per edge and sample; 6 for forward + backward)")
    axes[0].legend(fontsize=8)
    figure.savefig(path, dpi=120)


def compare(net: Net, batch: int = SUITE_BATCH, threads: int = 2, dtype="float32", strategy="auto",
            name="net", quick: bool = False, plot_path=None) -> str:
    """The header and table for one net (what `jitnet bench NET` prints)."""
    repeats, min_time = (1, 0.0) if quick else (5, 0.02)
    peak = fma_peak(1_000_000 if quick else 10_000_000)
    limit = limit_of(net, peak, dtype, quick)
    rows = [{**row, "limit": limit} for row in measure(net, batch, name=name, threads=threads, dtype=dtype,
                                                        strategy=strategy, repeats=repeats,
                                                        min_time=min_time, cache=quick)]
    if plot_path is not None:
        plot(rows, plot_path, threads)
    return describe(peak, threads, cold=not quick) + "\n\n" + format_table(rows, peak, threads)


def suite(batch=None, threads: int = 2, quick: bool = False, plot_path=None, dtype="float32",
          strategy="auto", out=None, progress=None) -> list:
    """Run the whole suite: print its header and table on `out` (stdout), progress on `progress`.

    `batch` replaces every net's batches; `quick` runs the tiny suite with one
    repeat and the code cache on. Returns the rows.
    """
    out = sys.stdout if out is None else out
    progress = sys.stderr if progress is None else progress
    peak = fma_peak(1_000_000 if quick else 10_000_000)
    rows = []
    entries = suite_nets(quick)
    for k, entry in enumerate(entries):
        limit = limit_of(entry.net, peak, dtype, quick)
        for size in entry.batches if batch is None else (batch,):
            start = time.perf_counter()
            rows += [{**row, "limit": limit}
                     for row in measure(entry.net, size, name=entry.name, threads=threads, dtype=dtype,
                                        strategy=strategy, repeats=entry.repeats,
                                        min_time=0.0 if quick else 0.02, cache=quick)]
            print(f"[{k + 1}/{len(entries)}] {entry.name} ({entry.net.n_edges} edges), batch {size}: "
                  f"{time.perf_counter() - start:.1f} s", file=progress, flush=True)
    print(describe(peak, threads, cold=not quick), file=out)
    print(file=out)
    print(format_table(rows, peak, threads), file=out, flush=True)
    if plot_path is not None:
        plot(rows, plot_path, threads)
    return rows

"""Benchmark vmath: per-activation throughput (Gelem/s) and worst-ulp table, float32 and float64.

    python benchmarks/vmath.py            # throughput and accuracy tables
    python benchmarks/vmath.py --no-ulp   # throughput only (~20 s)

Throughput: one JIT kernel per (activation, f/df, dtype) maps out[i] = f(in[i])
over a 64 Ki-element buffer (L2-resident) in chunks of L lanes (default 32 float /
16 double, the width of jitnet's activation tiles; --lanes to change); inputs are
N(0, 3) pre-activations; best of 3 interleaved passes x 5 runs x 20 calls, one
thread. The numpy
column times jitnet.activations (the float64 oracle) on the same input.
Accuracy: the worst |y - exact| in ulps over the test sweep (tests/vmath_harness.py),
in ulps of 1/8 near the zeros of silu'/swish'/gelu'.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import llvmlite.binding as llvm  # noqa: E402
from vmath_harness import Kernel, pad, reference, sweep, ulp_error  # noqa: E402

from jitnet.activations import ACTIVATIONS  # noqa: E402
from jitnet.lower import vmath  # noqa: E402

FLOOR = {(4, "df"): 0.125, (6, "df"): 0.125, (5, "df"): 0.125}
N = 1 << 16


def _best(fn, reps=15, inner=20):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t) / inner)
    return best


def throughput(dtype, lanes, rounds=3):
    """{(code, which): (vmath Gelem/s, numpy Gelem/s)}; `rounds` interleaved passes, best of each."""
    x = np.random.default_rng(0).normal(0.0, 3.0, N).astype(dtype)
    out = np.empty_like(x)
    kernels = {(c, w): Kernel(c, dtype, w, lanes) for c in range(len(ACTIVATIONS)) for w in ("f", "df")}
    best = dict.fromkeys(kernels, 0.0)
    for _ in range(rounds):  # NOTE: interleaved passes ride out a noisy neighbour on a shared host
        for key, k in kernels.items():
            best[key] = max(best[key], N / _best(lambda: k(x, out), reps=5) / 1e9)
    rows = {}
    for (code, which), gel in best.items():
        oracle = ACTIVATIONS[code].f if which == "f" else ACTIVATIONS[code].df
        with np.errstate(all="ignore"):
            t_np = _best(lambda: oracle(x), reps=3, inner=2)
        rows[code, which] = (gel, N / t_np / 1e9)
    return lanes, rows


def worst_ulps(dtype):
    x = pad(sweep(dtype), 16)
    out = {}
    for code in range(len(ACTIVATIONS)):
        for which in ("f", "df"):
            y = Kernel(code, dtype, which, 16)(x)
            err = ulp_error(y, reference(code, which, x), dtype, FLOOR.get((code, which), 0.0))
            out[code, which] = float(err.max())
    return x.size, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-ulp", action="store_true", help="skip the accuracy sweep")
    ap.add_argument("--lanes", type=int, default=0, help="vector width (default 32 float32, 16 float64)")
    args = ap.parse_args(argv)
    llvm.initialize_native_target()
    print(f"host: {llvm.get_host_cpu_name()}, llvm {'.'.join(map(str, llvm.llvm_version_info))}")
    widths = {"float32": args.lanes or 32, "float64": args.lanes or 16}
    tp = {dt: throughput(dt, widths[dt]) for dt in ("float32", "float64")}
    print("\nthroughput, Gelem/s (jitnet vmath | numpy float64 oracle)")
    head = "".join(f" | {dt} L={tp[dt][0]:<3d} f   df  " for dt in tp)
    print(f"{'activation':12s}{head}")
    for code in range(len(ACTIVATIONS)):
        cells = ""
        for dt in tp:
            r = tp[dt][1]
            f, df = r[code, "f"], r[code, "df"]
            cells += f" | {f[0]:5.2f} {df[0]:5.2f} ({f[1]:.2f} {df[1]:.2f})"
        print(f"{vmath.NAMES[code]:12s}{cells}")
    if args.no_ulp:
        return 0
    wu = {dt: worst_ulps(dt) for dt in ("float32", "float64")}
    sizes = ", ".join(f"{dt}: {n} inputs" for dt, (n, _) in wu.items())
    print(f"\nworst ulp vs the exact value ({sizes})")
    print(f"{'activation':12s} | f32 f  | f32 df | f64 f  | f64 df")
    for code in range(len(ACTIVATIONS)):
        cells = " | ".join(f"{wu[dt][1][code, w]:6.3f}" for dt in wu for w in ("f", "df"))
        print(f"{vmath.NAMES[code]:12s} | {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

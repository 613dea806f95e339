"""Where a backward pass's time goes: the CSR gradient module rebuilt with passes switched off.

    python benchmarks/backward_parts.py [--batch 4096] [--rounds 3] [--nets NAME ...]

For each suite net it times, on one thread, the plain forward and three
builds of the backward entry: everything; without the dw pass; the forward
part alone (per-tile forward keeping z, seeds, dx transposition; no reverse
pass, no dw). Differences give each part's cost as a multiple of the plain
forward (the ideal backward is 3x: one FMA per edge and sample in each of
forward, reverse and dw). The results of the cut builds are wrong by design:
only their times mean anything. CPU time of the calling thread (medians),
so other processes on this 2-core machine disturb it less than wall time.
"""

import argparse
import time

import numpy as np

import jitnet
from jitnet.bench.suite import suite_nets
from jitnet.lower import csr

NETS = ("64-32-10", "784-128-128-10", "random DAG 1e4", "random DAG 1e5", "conv 28x28 1-8-16",
        "rnn 16 steps h32")
BUILDS = ("full", "no dw", "forward part")


def _median_cpu(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        call()
        times.append(time.thread_time() - start)
    return float(np.median(times))


def _cut_backward(build: str):
    """`grad.backward_function` with the reverse body and/or the dw pass replaced by nothing."""
    real = csr.grad.backward_function

    def cut(module, dtype, emit_forward, emit_reverse, emit_weights=None, *args, **kwargs):
        if build == "forward part":
            emit_reverse = lambda ctx: None  # noqa: E731
        if build != "full":
            emit_weights = lambda ctx, tiles: None  # noqa: E731
        return real(module, dtype, emit_forward, emit_reverse, emit_weights, *args, **kwargs)

    return real, cut


def measure(net, batch: int, rounds: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, net.n_inputs)).astype(np.float32)
    dy = rng.normal(size=(batch, net.n_outputs)).astype(np.float32)
    compiled = {}
    for build in BUILDS:
        real, cut = _cut_backward(build)
        csr.grad.backward_function = cut
        csr._lower_csr_backward.cache_clear()
        try:
            cn = jitnet.compile(net, threads=1, cache=False)
            w, b = cn.init(0)
            cn.backward(x[:1], w, b, dy[:1])
        finally:
            csr.grad.backward_function = real
            csr._lower_csr_backward.cache_clear()
        compiled[build] = cn
    times: dict = {k: [] for k in ("forward",) + BUILDS}
    for _ in range(rounds):
        times["forward"].append(_median_cpu(lambda: compiled["full"].forward(x, w, b), 5))
        for build in BUILDS:
            times[build].append(_median_cpu(lambda: compiled[build].backward(x, w, b, dy), 3))
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nets", nargs="+", default=NETS, choices=NETS, metavar="NAME",
                        help="suite nets to measure (default: all of %(choices)s)")
    args = parser.parse_args(argv)
    nets = {s.name: s.net for s in suite_nets()}
    print(f"{'net':<20} {'fwd ms':>8} {'bwd/fwd':>8} {'fwd part':>9} {'reverse':>8} {'dw':>6}")
    for name in args.nets:
        t = measure(nets[name], args.batch, args.rounds)
        f = t["forward"]
        print(f"{name:<20} {f * 1e3:8.2f} {t['full'] / f:8.2f} {t['forward part'] / f:9.2f} "
              f"{(t['no dw'] - t['forward part']) / f:8.2f} {(t['full'] - t['no dw']) / f:6.2f}", flush=True)


if __name__ == "__main__":
    main()

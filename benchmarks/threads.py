"""Threading crossover: from how much work per call do two threads beat one?

A script, not a test: `python benchmarks/threads.py` times, for a few nets and
a ladder of batch sizes, `forward` and `backward` on one thread and on two
threads with the split forced (the runtime's threshold set to 0 for the
measurement), and prints the work per call (batch x (edges + neurons)
multiply-adds; backward counts 3x) and the speed-up. The runtime splits a
call only above `runtime._MIN_WORK_PER_THREAD` per thread; this table is
where that number comes from.
"""

import argparse
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet import compile, nets  # noqa: E402
from jitnet.bench.suite import median_time  # noqa: E402
from jitnet.native import runtime  # noqa: E402

NETS = {
    "64-32-10": lambda: nets.dense([64, 32, 10]),
    "784-128-128-10": lambda: nets.dense([784, 128, 128, 10]),
    "random DAG 1e4": lambda: nets.random_dag(64, 10, 240, fan_in=(16, 64), n_layers=6, seed=0),
}
BATCHES = (64, 128, 256, 512, 1024, 2048, 4096)


def crossover_rows(name, net, batches):
    """(net, pass, batch, work, 1-thread ms, 2-thread ms) for each batch, split forced."""
    one, two = compile(net, threads=1), compile(net, threads=2)
    w, b = one.init(0)
    rows = []
    for batch in batches:
        x = np.random.default_rng(batch).normal(size=(batch, net.n_inputs)).astype(np.float32)
        dy = np.ones((batch, one.n_outputs), np.float32)
        work = batch * (net.n_weights + net.n_neurons)
        for label, factor, call in (("fwd", 1, lambda cn: cn.forward(x, w, b)),
                                    ("bwd", 3, lambda cn: cn.backward(x, w, b, dy))):
            t1 = median_time(lambda: call(one))
            t2 = median_time(lambda: call(two))
            rows.append((name, label, batch, factor * work, t1 * 1e3, t2 * 1e3))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    args = parser.parse_args()
    saved = runtime._MIN_WORK_PER_THREAD
    runtime._MIN_WORK_PER_THREAD = 1     # force the split: the measurement, not the rule
    try:
        rows = [r for name, make in NETS.items() for r in crossover_rows(name, make(), args.batches)]
    finally:
        runtime._MIN_WORK_PER_THREAD = saved
    print(f"{'net':16s} {'pass':4s} {'batch':>6s} {'work (M FMA)':>12s} {'1 thr ms':>9s} "
          f"{'2 thr ms':>9s} {'speed-up':>8s}")
    for name, label, batch, work, t1, t2 in rows:
        print(f"{name:16s} {label:4s} {batch:6d} {work / 1e6:12.2f} {t1:9.3f} {t2:9.3f} {t1 / t2:8.2f}")
    print(f"\nthe runtime splits above {saved / 1e6:g}M multiply-adds per thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sparse-edge limit per DAG size, and the share of it jitnet's forward reaches.

A script, not a test: `python benchmarks/limit.py` builds the suite's random
DAGs (1e3-1e6 edges), measures for each the gathered-edge limit of its tile
size (`jitnet.bench.limit.edge_limit`: a tile-row load at a random index, a
broadcast weight, one FMA, two chains in flight) and jitnet's one-thread
forward at the suite's batch, and prints both and their ratio. Each number is
the median over `--rounds` rounds, the measurements of a round interleaved,
because this shared machine drifts by tens of percent between runs.
`--lanes 16 32 64 --chains 2 4` adds the limit for other tile widths and
numbers of chains in flight (the experiment behind a tile width per net).
"""

import argparse
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet import compile  # noqa: E402
from jitnet.bench import limit, suite  # noqa: E402
from jitnet.bench.timing import median_time  # noqa: E402


def forward_rate(cn, batch: int) -> float:
    """jitnet's one-thread forward in GFLOP/s at `batch` (2 flops per edge and sample)."""
    rng = np.random.default_rng(0)
    w, b = cn.init(0)
    x = rng.normal(size=(batch, cn.n_inputs)).astype(np.float32)
    return 2 * cn.net.n_edges * batch / median_time(lambda: cn.forward(x, w, b), repeats=5) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lanes", type=int, nargs="*", default=[], help="more tile widths to time")
    parser.add_argument("--chains", type=int, nargs="*", default=[], help="more chain counts to time")
    args = parser.parse_args(argv)
    dags = [entry for entry in suite.suite_nets() if entry.name.startswith("random DAG")]
    compiled = {entry.name: compile(entry.net, threads=1) for entry in dags}
    variants = [(None, limit.CSR_CHAINS)] + [(lanes, limit.CSR_CHAINS) for lanes in args.lanes] \
        + [(None, chains) for chains in args.chains]
    samples: dict = {}
    for _ in range(args.rounds):
        for entry in dags:
            for lanes, chains in variants:
                rate = limit.edge_limit(entry.net.n_neurons, lanes=lanes, chains=chains)
                samples.setdefault((entry.name, lanes, chains), []).append(rate)
            rate = forward_rate(compiled[entry.name], entry.batches[-1])
            samples.setdefault((entry.name, "jitnet"), []).append(rate)
    median = {key: float(np.median(values)) for key, values in samples.items()}
    extra = [f"{lanes} lanes" for lanes in args.lanes] + [f"{chains} chains" for chains in args.chains]
    head = ["net", "edges", "rows", "tile KB", "limit", *extra, "jitnet fwd", "% limit"]
    print("GFLOP/s, one thread, float32; limit: 32 lanes, 2 chains; medians of", args.rounds, "rounds")
    print("  ".join(f"{h:>10}" for h in head))
    for entry in dags:
        n_rows = entry.net.n_neurons
        edge = median[entry.name, None, limit.CSR_CHAINS]
        ours = median[entry.name, "jitnet"]
        cells = [entry.name.replace("random DAG ", "DAG "), entry.net.n_edges, n_rows, n_rows * 128 // 1024,
                 f"{edge:.1f}"] + [f"{median[key]:.1f}" for key in
                                   [(entry.name, lanes, c) for lanes, c in variants[1:]]] \
            + [f"{ours:.1f}", f"{100 * ours / edge:.0f}"]
        print("  ".join(f"{c:>10}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())

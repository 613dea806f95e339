"""Forward-pass benchmark: jitnet against numpy and scipy.sparse on the standard suite.

A script, not a test: `python benchmarks/forward.py [--batch B] [--threads T]`
prints one row per net and batch (default batches 1 and 4096, 1 thread,
float32): compile time, forward time, GFLOP/s, share of this core's measured
FMA peak, samples/s, and the time ratios to numpy (one matmul per level, dense
zero-masked for DAGs) and scipy.sparse (CSR per level), all in this process.

NOTE: numpy's BLAS is limited to one thread here (OPENBLAS_NUM_THREADS and
friends are set before numpy loads) so the one-thread comparison is fair.
"""

import argparse
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet import bench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="one batch size (default: 1 and 4096)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    return bench.suite(batch=args.batch, threads=args.threads)


if __name__ == "__main__":
    sys.exit(main())

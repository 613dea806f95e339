"""The benchmark suite: jitnet's forward and forward + backward against numpy, scipy, torch, neat-python.

A script, not a test: `python benchmarks/forward.py [--batch B] [--threads T]
[--quick] [--plot OUT.png]` prints one table (the same as `jitnet bench` with
no NET; `jitnet/bench/suite.py` says what each column means): for every net of the
suite and batch, a `fwd` and an `f+b` row with cold compile time, jitnet's
samples/s, GFLOP/s (2 flops per edge and sample forward, 6 forward +
backward) and share of this core's measured float32 FMA peak on one thread,
its speed-up on T (default 2) threads, and other's time / jitnet's time for
each library installed (`pip install -e ".[bench,torch]"`). Progress goes to
stderr. The full suite takes several minutes; `--quick` runs tiny nets.

NOTE: the other libraries run on one thread. OPENBLAS_NUM_THREADS and
friends are set here before numpy loads, and `jitnet.bench` also limits BLAS
and OpenMP with threadpoolctl when installed (as it must under `jitnet bench`,
where numpy is already loaded) and torch with `torch.set_num_threads(1)`.
"""

import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

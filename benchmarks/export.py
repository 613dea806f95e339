"""Exported code against the in-process forward, from C, and the export itself.

    python benchmarks/export.py       (needs a C compiler)

Rows (float32, one thread, medians): the suite's 784-128-128-10 and a 1e4-edge
random DAG at batch 4096, `cn.forward` in Python against the exported
`NAME_forward` timed inside a C program built here; a batch-1 call of
64-32-10 from C (no Python in the way); then the export of a 1e6-edge DAG
(seconds, object bytes per edge).
"""

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import jitnet
from jitnet import nets
from jitnet.bench.suite import median_time

TIMER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "net.h"
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
int main(int argc, char **argv) {
    long batch = atol(argv[1]), inner = atol(argv[2]);
    float *x = calloc(batch * NET_N_INPUTS, sizeof(float)), *y = calloc(batch * NET_N_OUTPUTS, sizeof(float));
    for (long k = 0; k < batch * NET_N_INPUTS; k++) x[k] = (float)((k * 7919) % 1000) / 1000.0f - 0.5f;
    void *scratch = malloc(net_scratch_bytes(batch));
    double best[7];
    for (int r = 0; r < 7; r++) {
        double start = now();
        for (long k = 0; k < inner; k++) net_forward(x, y, batch, scratch);
        best[r] = (now() - start) / inner;
    }
    for (int r = 0; r < 7; r++) printf("%.9f\n", best[r]);
    return 0;
}
"""



def c_seconds(net, batch, inner, folder):
    jitnet.export(net, Path(folder) / "net", name="net")
    (Path(folder) / "timer.c").write_text(TIMER)
    subprocess.run(["cc", "-O2", "timer.c", "net.o", "-lm", "-o", "timer"], cwd=folder, check=True)
    out = subprocess.run(["./timer", str(batch), str(inner)], cwd=folder, capture_output=True, text=True,
                         check=True)
    return statistics.median(float(v) for v in out.stdout.split())


def with_weights(net, seed=0):
    rng = np.random.default_rng(seed)
    return net.with_weights(rng.uniform(-0.1, 0.1, net.n_weights), rng.uniform(-0.1, 0.1, net.n_neurons))


def main():
    rows = []
    cases = [("784-128-128-10, batch 4096", nets.dense([784, 128, 128, 10]), 4096, 20),
             ("1e4-edge DAG, batch 4096",
              nets.random_dag(64, 10, 2500, fan_in=(1, 7), n_layers=8, seed=1), 4096, 50),
             ("64-32-10, batch 1", nets.dense([64, 32, 10]), 1, 200000)]
    for label, net, batch, inner in cases:
        net = with_weights(net)
        cn = jitnet.compile(net, threads=1)
        x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(batch, net.n_inputs)).astype(np.float32)
        python = median_time(lambda: cn.forward(x))
        with tempfile.TemporaryDirectory() as folder:
            exported = c_seconds(net, batch, inner, folder)
        rows.append((label, net.n_edges, python, exported))
    print(f"{'case':28s} {'edges':>8s} {'python (us)':>12s} {'C export (us)':>14s} {'C / python':>10s}")
    for label, edges, python, exported in rows:
        print(f"{label:28s} {edges:8d} {python * 1e6:12.2f} {exported * 1e6:14.2f} {exported / python:10.2f}")
    big = with_weights(nets.random_dag(256, 16, 120_000, fan_in=(4, 12), n_layers=12, seed=2))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        jitnet.export(big, Path(folder) / "big", backward=False)
        seconds = time.perf_counter() - start
        size = os.path.getsize(Path(folder) / "big.o")
    print(f"export of a {big.n_edges}-edge DAG: {seconds:.2f} s, object {size} bytes "
          f"({size / big.n_edges:.1f} bytes per edge)")


if __name__ == "__main__":
    main()

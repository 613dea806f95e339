"""jitnet.dask on a LocalCluster of 2 worker processes against one in-process thread.

    python -m pip install -e ".[dask]" && python benchmarks/dask_cluster.py

Rows (float32; medians of 3 after a warm-up run that compiles on every
worker): `jitnet.dask.forward` of a 1e5-edge DAG over 1M samples in chunks of
65,536 against `cn.forward` on one thread; the per-task overhead (a tiny
chunk's round trip); `evaluate_population` of 1,000 nets against
`compile_population(nets).forward(x)` in process, for small and for larger
members, to show where the two workers start to pay.
"""


import numpy as np

import jitnet
import jitnet.dask as jdask
from jitnet import nets
from jitnet.bench.suite import median_time


def population(count, hidden, seed=0):
    rng = np.random.default_rng(seed)
    members = []
    for p in range(count):
        net = nets.random_dag(8, 2, hidden, fan_in=(2, 6), n_layers=3, activation=["tanh", "relu"], seed=p)
        members.append(net.with_weights(rng.normal(size=net.n_weights), rng.normal(size=net.n_neurons)))
    return members


def main():
    import dask.array as da
    from distributed import Client, LocalCluster

    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        net = nets.random_dag(64, 16, 12_000, fan_in=(4, 12), n_layers=8, seed=1)
        cn = jitnet.compile(net, threads=1)
        w, b = cn.init(seed=0)
        x = np.random.default_rng(0).normal(size=(1 << 20, 64)).astype(np.float32)
        X = da.from_array(x, chunks=(65536, 64))
        X = client.persist(X)
        local = median_time(lambda: cn.forward(x, w, b), repeats=3)
        spread = median_time(lambda: jdask.forward(cn, X, w, b).compute(), repeats=3)
        rows.append((f"forward, {net.n_edges}-edge DAG, 1M samples", local, spread))
        tiny = client.persist(da.from_array(x[:64], chunks=(64, 64)))
        overhead = median_time(lambda: jdask.forward(cn, tiny, w, b).compute(), repeats=9)
        for hidden in (20, 200):
            members = population(1000, hidden)
            xs = np.random.default_rng(1).normal(size=(1000, 8))
            local = median_time(lambda: jitnet.compile_population(members).forward(xs), repeats=3)
            spread = median_time(lambda: jdask.evaluate_population(members, xs, client=client), repeats=3)
            edges = sum(m.n_edges for m in members)
            rows.append((f"evaluate_population, 1000 nets, {edges} edges", local, spread))
    print(f"{'case':48s} {'in process (s)':>15s} {'2 workers (s)':>14s} {'speed-up':>9s}")
    for case, local, spread in rows:
        print(f"{case:48s} {local:15.3f} {spread:14.3f} {local / spread:8.2f}x")
    print(f"per-task overhead (one 64-sample chunk, round trip): {overhead * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

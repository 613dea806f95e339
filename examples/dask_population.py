"""A NEAT-style population evaluated across a Dask cluster, one generation after another.

Each generation is 200 random-topology nets (jitnet.nets.random_dag, 8 inputs,
2 outputs, mixed tanh/relu/sigmoid) mutated from the best of the previous one
by perturbing weights; `jitnet.dask.evaluate_population` spreads the nets over
the workers (the samples are sent once per worker) and returns (P, batch,
n_outputs), bit-identical to `compile_population(nets).forward(x)` in this
process. The fitness is the negative mean squared error against a target
function; the script prints the best fitness per generation.

By default it starts a LocalCluster of 2 worker processes on this machine; to
use a real cluster, pass the scheduler's address:

    pip install -e '.[dask]'
    python examples/dask_population.py                          # a local cluster
    python examples/dask_population.py tcp://scheduler:8786     # a real one
"""

import sys

import numpy as np

import jitnet
import jitnet.dask
from jitnet import nets

POPULATION, GENERATIONS, SAMPLES = 200, 5, 2000


def target(x):
    return np.stack([np.sin(x[:, 0]) * x[:, 1], np.tanh(x[:, 2] - x[:, 3])], axis=1)


def first_generation(rng):
    members = []
    for _ in range(POPULATION):
        net = nets.random_dag(8, 2, int(rng.integers(10, 40)), fan_in=(1, 5), n_layers=3,
                              activation=["tanh", "relu", "sigmoid"], seed=int(rng.integers(2**31)))
        members.append(net.with_weights(rng.normal(scale=0.5, size=net.n_weights), np.zeros(net.n_neurons)))
    return members


def next_generation(members, fitness, rng):
    """The best fifth survive; each child is a survivor with perturbed weights and biases."""
    best = [members[k] for k in np.argsort(fitness)[::-1][: POPULATION // 5]]
    children = []
    for p in range(POPULATION):
        parent = best[p % len(best)]
        children.append(parent.with_weights(parent.weights + rng.normal(scale=0.1, size=parent.n_weights),
                                            parent.biases + rng.normal(scale=0.05, size=parent.n_neurons)))
    return children


def evolve(client, generations=GENERATIONS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(SAMPLES, 8))
    t = target(x)
    members, best = first_generation(rng), []
    for g in range(generations):
        y = jitnet.dask.evaluate_population(members, x, client=client, dtype="float64")
        fitness = -((y - t) ** 2).mean(axis=(1, 2))
        best.append(float(fitness.max()))
        print(f"generation {g}: best fitness {best[-1]:.5f}")
        members = next_generation(members, fitness, rng)
    return best


def main(address=None):
    from distributed import Client, LocalCluster
    if address is None:
        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
            with Client(cluster) as client:
                return evolve(client)
    with Client(address) as client:
        return evolve(client)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

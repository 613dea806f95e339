"""Evolve XOR with neat-python, every generation evaluated by jitnet in one call.

    python -m pip install -e ".[neat]" && python examples/neat_xor.py [GENERATIONS]

Each generation's 150 genomes become one population (`jitnet.evaluate_neat`):
no LLVM compile after the first generation, since the CSR code depends only on
the activation codes. The script also times neat-python's own evaluation
(`FeedForwardNetwork.create` + `activate` per sample) of the same genomes and
prints both per generation.
"""

import sys
import time
from pathlib import Path

import neat
import numpy as np

import jitnet

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
T = np.array([0.0, 1.0, 1.0, 0.0])
TIMES = {"jitnet": [], "neat": []}


def fitness_by_neat(genomes, config):
    """neat-python's own evaluation, timed for comparison (its results are not used)."""
    start = time.perf_counter()
    for _, genome in genomes:
        network = neat.nn.FeedForwardNetwork.create(genome, config)
        [network.activate(sample) for sample in X.tolist()]
    TIMES["neat"].append(time.perf_counter() - start)


def eval_genomes(genomes, config):
    start = time.perf_counter()
    y = jitnet.evaluate_neat(genomes, config, X)        # (P, 4, 1), float64
    TIMES["jitnet"].append(time.perf_counter() - start)
    for (_, genome), outputs in zip(genomes, y):
        genome.fitness = 4.0 - float(np.sum((outputs[:, 0] - T) ** 2))
    fitness_by_neat(genomes, config)


def main(generations: int = 50) -> None:
    config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                         neat.DefaultStagnation, str(Path(__file__).with_name("neat_xor.cfg")))
    population = neat.Population(config)
    winner = population.run(eval_genomes, generations)
    y = jitnet.compile(jitnet.from_neat(winner, config), dtype="float64").forward(X)[:, 0]
    print(f"winner: {len(winner.nodes)} nodes, {sum(c.enabled for c in winner.connections.values())} "
          f"connections, outputs {np.round(y, 3).tolist()} for targets {T.tolist()}")
    jit, own = np.median(TIMES["jitnet"][1:] or TIMES["jitnet"]), np.median(TIMES["neat"])
    print(f"{len(TIMES['jitnet'])} generations; median per generation: jitnet {jit * 1e3:.2f} ms "
          f"(conversion included), neat-python {own * 1e3:.2f} ms: {own / jit:.1f}x; "
          f"first generation (compiles) {TIMES['jitnet'][0] * 1e3:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

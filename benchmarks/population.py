"""A mid-run NEAT population through jitnet and through neat-python, side by side.

    python -m pip install -e ".[neat]" && python benchmarks/population.py

150 genomes of 8 inputs, 30 hidden and 2 outputs (about 40 nodes and 110-160
enabled connections each, mixed sigmoid/tanh/relu), evaluated on 1000
samples in float64. Rows: neat-python's `FeedForwardNetwork.create` +
`activate` per sample; `jitnet.evaluate_neat` (every genome converted, the
population built, evaluated); the population's `forward` alone (built once).
Medians of repeats; ratios against neat-python in the same run.
"""

import tempfile
from pathlib import Path

import neat
import numpy as np

import jitnet
from jitnet.bench.suite import median_time

GENOMES, SAMPLES, N_INPUTS, N_HIDDEN, N_OUTPUTS = 150, 1000, 8, 30, 2
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "neat_xor.cfg"


def population_config(folder: Path) -> neat.Config:
    text = CONFIG.read_text()
    for key, value in {"num_inputs": N_INPUTS, "num_outputs": N_OUTPUTS, "num_hidden": N_HIDDEN,
                       "initial_connection": "partial_direct 0.5", "pop_size": GENOMES,
                       "activation_options": "sigmoid tanh relu", "activation_mutate_rate": 0.3}.items():
        lines = [f"{key:<23} = {value}" if line.split("=")[0].strip() == key else line
                 for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    path = folder / "population.cfg"
    path.write_text(text)
    config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                         neat.DefaultStagnation, str(path))
    if hasattr(config.genome_config, "innovation_tracker"):
        config.genome_config.innovation_tracker = neat.innovation.InnovationTracker()
    return config


def genomes(config: neat.Config, seed: int = 0):
    import random
    random.seed(seed)
    result = []
    for key in range(GENOMES):
        genome = config.genome_type(key)
        genome.configure_new(config.genome_config)
        for _ in range(5):
            genome.mutate(config.genome_config)
        result.append((key, genome))
    return result


def by_neat(population, config, x):
    for _, genome in population:
        network = neat.nn.FeedForwardNetwork.create(genome, config)
        for sample in x:
            network.activate(sample)



def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = population_config(Path(folder))
    population = genomes(config)
    x = np.random.default_rng(0).uniform(-1, 1, (SAMPLES, N_INPUTS))
    rows = x.tolist()
    nodes = [len(g.nodes) + N_INPUTS for _, g in population]
    links = [sum(c.enabled for c in g.connections.values()) for _, g in population]
    jitnet.evaluate_neat(population, config, x)  # NOTE: the first call compiles the codes' CSR module
    t_neat = median_time(lambda: by_neat(population, config, rows), 3)
    t_all = median_time(lambda: jitnet.evaluate_neat(population, config, x), 7)
    t_convert = median_time(lambda: [jitnet.from_neat(g, config) for _, g in population], 7)
    pop = jitnet.compile_population([jitnet.from_neat(g, config) for _, g in population], dtype="float64")
    t_forward = median_time(lambda: pop.forward(x), 21)
    print(f"{GENOMES} genomes, {min(nodes)}-{max(nodes)} nodes, {min(links)}-{max(links)} enabled "
          f"connections, {SAMPLES} samples, float64")
    print(f"{'what':<42} {'ms':>9} {'x neat-python':>14}")
    for what, t in (("neat-python create + activate", t_neat),
                    ("jitnet.evaluate_neat (conversion included)", t_all),
                    ("  of which from_neat of every genome", t_convert),
                    ("population forward alone", t_forward)):
        print(f"{what:<42} {t * 1e3:9.2f} {t_neat / t:14.1f}")


if __name__ == "__main__":
    main()

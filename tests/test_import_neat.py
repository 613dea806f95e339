"""from_neat against neat-python's own FeedForwardNetwork.activate (SPEC §8), float64."""

import math
import random

import numpy as np
import pytest

import jitnet
from jitnet.activations import activation_code
from jitnet.importers import from_neat

neat = pytest.importorskip("neat")


OLD_FUNCTIONS = "sigmoid tanh sin gauss softplus relu elu identity abs square"
NEW_FUNCTIONS = "clamped hat cube exp selu"

CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 100.0
pop_size              = {pop_size}
reset_on_extinction   = True
no_fitness_termination = False

[DefaultGenome]
activation_default      = {default}
activation_mutate_rate  = 0.5
activation_options      = {functions}
aggregation_default     = sum
aggregation_mutate_rate = 0.3
aggregation_options     = sum mean
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 5.0
bias_min_value          = -5.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
bias_init_type          = gaussian
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = 0.6
conn_delete_prob        = 0.2
enabled_default         = True
enabled_mutate_rate     = 0.1
enabled_rate_to_true_add  = 0.0
enabled_rate_to_false_add = 0.0
single_structural_mutation = False
structural_mutation_surer  = default
feed_forward            = True
initial_connection      = {initial}
node_add_prob           = 0.4
node_delete_prob        = 0.1
num_hidden              = 0
num_inputs              = {n_inputs}
num_outputs             = {n_outputs}
response_init_mean      = 1.0
response_init_stdev     = 0.3
response_max_value      = 3.0
response_min_value      = -3.0
response_mutate_power   = 0.3
response_mutate_rate    = 0.3
response_replace_rate   = 0.0
response_init_type      = gaussian
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 3
weight_min_value        = -3
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1
weight_init_type        = gaussian

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20
species_elitism      = 2

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
min_species_size   = 1
"""

# (neat function, z at which neat clamps its argument)
CLAMPS = {neat.activations.sigmoid_activation: 12.0, neat.activations.tanh_activation: 24.0,
          neat.activations.sin_activation: 12.0, neat.activations.softplus_activation: 12.0,
          neat.activations.gauss_activation: 3.4, neat.activations.exp_activation: 60.0}


def make_config(tmp_path, functions=OLD_FUNCTIONS, default="sigmoid", n_inputs=3, n_outputs=2,
                pop_size=20, initial="partial_direct 0.5"):
    path = tmp_path / "neat.cfg"
    path.write_text(CONFIG.format(functions=functions, default=default, n_inputs=n_inputs,
                                  n_outputs=n_outputs, pop_size=pop_size, initial=initial))
    config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                         neat.DefaultStagnation, str(path))
    if hasattr(config.genome_config, "innovation_tracker"):
        # NOTE: neat 2.x numbers connection genes through a tracker that Population sets up.
        config.genome_config.innovation_tracker = neat.innovation.InnovationTracker()
    return config


def random_genomes(config, count, seed, mutations=12):
    random.seed(seed)
    genomes = []
    for key in range(count):
        genome = config.genome_type(key)
        genome.configure_new(config.genome_config)
        for _ in range(random.randrange(mutations)):
            genome.mutate(config.genome_config)
        genomes.append(genome)
    return genomes


def neat_outputs(genome, config, x):
    """neat's own outputs per sample, and whether any of neat's clamps was active in that sample."""
    network = neat.nn.FeedForwardNetwork.create(genome, config)
    ys, clamped = [], []
    for sample in x:
        ys.append(network.activate(sample.tolist()))
        values = dict(zip(config.genome_config.input_keys, sample.tolist()))
        hit = False
        for node, act, agg, bias, response, links in network.node_evals:
            z = bias + response * agg([values.get(i, 0.0) * w for i, w in links])
            hit |= act in CLAMPS and abs(z) >= CLAMPS[act]
            values[node] = act(z)
        clamped.append(hit)
    return np.array(ys, dtype=np.float64), np.array(clamped)


def check_genome(genome, config, x):
    net = from_neat(genome, config)
    assert net.n_inputs == len(config.genome_config.input_keys)
    assert net.n_outputs == len(config.genome_config.output_keys)
    expected, clamped = neat_outputs(genome, config, x)
    got = jitnet.compile(net, dtype="float64").forward(x)
    ok = ~clamped
    err = np.abs(got - expected).max(axis=1)
    tol = 1e-9 * (1 + np.abs(expected).max(axis=1))
    bad = np.flatnonzero(ok & ~(err <= tol))
    assert bad.size == 0, f"genome {genome.key}, sample {bad[0]}: {got[bad[0]]} != neat's {expected[bad[0]]}"
    return int(ok.sum())


def samples(n_inputs, seed, count=16):
    return np.random.default_rng(seed).uniform(-2, 2, (count, n_inputs))


def test_random_mutated_genomes_match_neat(tmp_path):
    config = make_config(tmp_path)
    checked = 0
    for genome in random_genomes(config, 60, seed=1):
        checked += check_genome(genome, config, samples(3, genome.key))
    assert checked > 60 * 16 // 2


def test_random_genomes_with_codes_10_14_match_neat(tmp_path):
    config = make_config(tmp_path, functions=OLD_FUNCTIONS + " " + NEW_FUNCTIONS)
    for genome in random_genomes(config, 60, seed=2):
        check_genome(genome, config, samples(3, genome.key))


@pytest.mark.parametrize("function", OLD_FUNCTIONS.split())
def test_each_activation_alone(tmp_path, function):
    """A single-function population, so each folded scaling (5z, 2.5z, sqrt10 z, 0.2) is seen."""
    config = make_config(tmp_path, functions=function, default=function)
    for genome in random_genomes(config, 8, seed=3):
        check_genome(genome, config, samples(3, genome.key))


@pytest.mark.parametrize("function", NEW_FUNCTIONS.split())
def test_each_new_activation_alone(tmp_path, function):
    config = make_config(tmp_path, functions=function, default=function)
    for genome in random_genomes(config, 8, seed=4):
        check_genome(genome, config, samples(3, genome.key))


def test_population_on_xor_every_genome(tmp_path):
    """A few generations of a real neat Population; every genome it evaluates is imported and checked."""
    config = make_config(tmp_path, n_inputs=2, n_outputs=1, pop_size=30, initial="full_direct")
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    seen = []

    def fitness(genomes, config):
        for _, genome in genomes:
            network = neat.nn.FeedForwardNetwork.create(genome, config)
            genome.fitness = 4.0 - sum((network.activate(s.tolist())[0] - (s[0] != s[1])) ** 2 for s in x)
            check_genome(genome, config, samples(2, len(seen)))
            seen.append(genome.key)

    random.seed(5)
    population = neat.Population(config)
    population.run(fitness, 5)
    assert len(seen) == 5 * 30


def test_softplus_output_reads_through_an_identity_neuron(tmp_path):
    config = make_config(tmp_path, functions="softplus", default="softplus", n_inputs=2, n_outputs=1,
                         initial="full_direct")
    genome = random_genomes(config, 1, seed=6, mutations=1)[0]
    net = from_neat(genome, config)
    out = int(net.outputs[0])
    assert net.activations[out] == 0 and out == net.n_neurons - 1
    (src,) = net.edges[net.edges[:, 1] == out][:, 0]
    assert net.activations[src] == activation_code("softplus")
    assert net.weights[net.edges[:, 1] == out][0] == 0.2
    check_genome(genome, config, samples(2, 0))


def test_gauss_scale_folded(tmp_path):
    config = make_config(tmp_path, functions="gauss", default="gauss", n_inputs=1, n_outputs=1,
                         initial="full_direct")
    genome = random_genomes(config, 1, seed=7, mutations=1)[0]
    (cg,) = [c for c in genome.connections.values() if c.enabled]
    node = genome.nodes[0]
    net = from_neat(genome, config)
    assert net.weights[0] == pytest.approx(math.sqrt(10) * node.response * cg.weight, rel=1e-15)
    assert net.biases[1] == pytest.approx(math.sqrt(10) * node.bias, rel=1e-15)


def test_input_order_and_unused_inputs(tmp_path):
    config = make_config(tmp_path, n_inputs=4, n_outputs=1, initial="unconnected")
    genome = random_genomes(config, 1, seed=8, mutations=1)[0]
    genome.connections.clear()
    genome.add_connection(config.genome_config, -3, 0, 1.5, True)
    net = from_neat(genome, config)
    assert net.n_inputs == 4 and net.inputs.tolist() == [0, 1, 2, 3]
    # input key -3 is the third input: neuron 2
    assert net.edges.tolist() == [[2, 4]]
    check_genome(genome, config, samples(4, 1))


def test_output_without_links_is_constant_with_a_zero_edge(tmp_path):
    config = make_config(tmp_path, functions="tanh", default="tanh", n_inputs=2, n_outputs=2,
                         initial="unconnected")
    genome = random_genomes(config, 1, seed=9, mutations=1)[0]
    genome.connections.clear()
    genome.add_connection(config.genome_config, -1, 0, 0.7, True)
    net = from_neat(genome, config)
    const = int(net.outputs[1])
    assert net.edges[net.edges[:, 1] == const].tolist() == [[0, const]]
    assert net.weights[net.edges[:, 1] == const].tolist() == [0.0]
    check_genome(genome, config, samples(2, 2))


def test_constant_hidden_node_is_folded(tmp_path):
    config = make_config(tmp_path, functions="sigmoid", default="sigmoid", n_inputs=1, n_outputs=1,
                         initial="unconnected")
    genome = random_genomes(config, 1, seed=10, mutations=1)[0]
    genome.connections.clear()
    hidden = config.genome_type.create_node(config.genome_config, 7)
    genome.nodes[7] = hidden
    genome.add_connection(config.genome_config, 7, 0, 1.25, True)
    genome.add_connection(config.genome_config, -1, 0, -0.5, True)
    net = from_neat(genome, config)
    assert net.n_neurons == 2   # input, output: the constant hidden node is in the output's bias
    expected_bias = 5 * (genome.nodes[0].bias + genome.nodes[0].response * 1.25 / (1 + math.exp(-5 * hidden.bias)))
    assert net.biases[1] == pytest.approx(expected_bias, rel=1e-12)
    check_genome(genome, config, samples(1, 3))


@pytest.mark.parametrize("function", ["lelu", "inv", "log"])
def test_inexact_activations_name_the_node(tmp_path, function):
    config = make_config(tmp_path, functions=function, default=function, initial="full_direct")
    genome = random_genomes(config, 1, seed=11, mutations=1)[0]
    with pytest.raises(ValueError, match=rf"neat node \d+: activation {function}"):
        from_neat(genome, config)


def test_other_aggregation_names_the_node(tmp_path):
    config = make_config(tmp_path, initial="full_direct")
    genome = random_genomes(config, 1, seed=12, mutations=1)[0]
    genome.nodes[1].aggregation = "max"
    with pytest.raises(ValueError, match="neat node 1: aggregation 'max_aggregation'"):
        from_neat(genome, config)


def test_custom_function_of_a_neat_name_is_rejected(tmp_path):
    config = make_config(tmp_path, initial="full_direct")
    config.genome_config.activation_defs.add("sigmoid", lambda z: 1.0 / (1.0 + math.exp(-5.0 * z)))
    genome = random_genomes(config, 1, seed=13, mutations=1)[0]
    genome.nodes[0].activation = "sigmoid"
    with pytest.raises(ValueError, match="neat node 0: activation '<lambda>' is not one of neat's own"):
        from_neat(genome, config)

"""Hypothesis strategies shared by the tests: random DAG nets and seeds."""

import numpy as np
from hypothesis import strategies as st

from jitnet.activations import ACTIVATIONS
from jitnet.net import Net


@st.composite
def dags(draw, max_neurons=24, codes=tuple(a.code for a in ACTIVATIONS), max_fan_in=8):
    """A random net: 1-4 inputs first, every later neuron reads 1..max_fan_in earlier ones.

    NOTE: each net uses 1-3 of `codes` (a compiled module grows with the
    number of distinct codes); `test_every_code_in_one_net` covers them all at once.
    """
    n_inputs = draw(st.integers(1, 4))
    n = draw(st.integers(n_inputs + 1, max(n_inputs + 1, max_neurons)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    edges = []
    for j in range(n_inputs, n):
        k = int(rng.integers(1, min(j, max_fan_in) + 1))
        edges += [(int(i), j) for i in rng.choice(j, size=k, replace=False)]
    rng.shuffle(edges)
    chosen = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=3, unique=True))
    acts = [0] * n_inputs + [draw(st.sampled_from(chosen)) for _ in range(n - n_inputs)]
    return Net(n, edges, activations=acts)


@st.composite
def blocky_nets(draw, max_layers=3, codes=(0, 1, 3, 5)):
    """A layered net rich in dense blocks: each layer is dense on the one before, or groups of
    1-15 neurons that share a random in-set from all earlier neurons, or random in-sets.

    Shared in-sets make forward dense blocks; a dense layer makes its sources
    share one out-set (reverse blocks); group sizes around the block size
    leave remainders for the one-neuron path.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_inputs = draw(st.integers(1, 9))
    layers = [list(range(n_inputs))]
    edges = []
    n = n_inputs
    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(["dense", "groups", "random"]))
        layer = []
        for _ in range(draw(st.integers(1, 3))):
            size = draw(st.integers(1, 15))
            if kind == "dense":
                sources = layers[-1]
            else:
                sources = rng.choice(n, size=int(rng.integers(1, min(n, 12) + 1)), replace=False)
            for j in range(n, n + size):
                pick = sources if kind != "random" else rng.choice(
                    n, size=int(rng.integers(1, min(n, 12) + 1)), replace=False)
                edges += [(int(i), j) for i in pick]
            layer += list(range(n, n + size))
            n += size
        layers.append(layer)
    rng.shuffle(edges)
    acts = [0] * n_inputs + [int(rng.choice(codes)) for _ in range(n - n_inputs)]
    return Net(n, edges, activations=acts)

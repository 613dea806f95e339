"""Hypothesis strategies shared by the tests: random DAG nets and seeds."""

import numpy as np
from hypothesis import strategies as st

from jitnet.net import Net


@st.composite
def dags(draw, max_neurons=24, codes=tuple(range(16)), max_fan_in=8):
    """A random net: 1-4 inputs first, every later neuron reads 1..max_fan_in earlier ones.

    NOTE: each net uses 1-3 of `codes` (a compiled module grows with the
    number of distinct codes); `test_every_code_in_one_net` covers all 16 at once.
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

"""Populations (SPEC §8): P nets in one call, each member's slice bit-identical to compiling it alone."""

import pickle

import numpy as np
import pytest

import jitnet
from jitnet import nets
from jitnet.population import compile_population


def _members(count, seed, n_inputs=3, n_outputs=2):
    rng = np.random.default_rng(seed)
    members = []
    for p in range(count):
        net = nets.random_dag(n_inputs, n_outputs, int(rng.integers(1, 12)), fan_in=(1, 3),
                              activation=["relu", "tanh", "sigmoid", "sin"], seed=seed * 1000 + p)
        members.append(net.with_weights(rng.normal(size=net.n_weights), rng.normal(size=net.n_neurons)))
    return members


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 5, 37])
def test_each_slice_is_the_member_alone(dtype, batch):
    members = _members(7, seed=batch)
    x = np.random.default_rng(0).normal(size=(batch, 3))
    pop = compile_population(members, dtype=dtype)
    y = pop.forward(x)
    assert y.shape == (7, batch, 2) and y.dtype == np.dtype(dtype)
    for p, net in enumerate(members):
        alone = jitnet.compile(net, dtype=dtype).forward(x)
        assert np.array_equal(y[p], alone), f"member {p} differs"
    assert np.array_equal(pop.forward(x[0]), y[:, 0])


def test_shape_and_errors():
    members = _members(3, seed=1)
    pop = compile_population(members)
    assert (len(pop), pop.n_inputs, pop.n_outputs, pop.dtype) == (3, 3, 2, np.float32)
    assert pop.nets == tuple(members)
    with pytest.raises(ValueError, match="empty"):
        compile_population([])
    with pytest.raises(ValueError, match=r"nets\[1\] carries no weights"):
        compile_population([members[0], nets.dense([3, 2])])
    with pytest.raises(ValueError, match=r"nets\[2\] has 4 inputs and 2 outputs; expected 3 and 2"):
        compile_population(members[:2] + _members(1, seed=2, n_inputs=4))
    with pytest.raises(ValueError, match=r"expected \(3,\) or \(batch, 3\)"):
        pop.forward(np.zeros((2, 4)))


def test_pickle_round_trip():
    members = _members(4, seed=3)
    pop = compile_population(members, dtype="float64")
    x = np.random.default_rng(1).normal(size=(9, 3))
    again = pickle.loads(pickle.dumps(pop))
    assert np.array_equal(again.forward(x), pop.forward(x))

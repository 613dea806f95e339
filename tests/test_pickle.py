"""Pickling (SPEC §12): nets and compiled nets round-trip; unpickling reuses machine code already built."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

import jitnet
from jitnet import nets
from jitnet.population import compile_population


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=dags(max_neurons=16), seed=st.integers(0, 2**16), explicit=st.booleans())
def test_a_net_round_trips_with_everything_it_carries(net, seed, explicit):
    rng = np.random.default_rng(seed)
    outputs = rng.integers(0, net.n_neurons, size=3) if explicit else None
    net = jitnet.Net(net.n_neurons, net.edges, net.activations, rng.normal(size=net.n_weights),
                     rng.normal(size=net.n_neurons), outputs=outputs)
    again = pickle.loads(pickle.dumps(net))
    assert again == net
    assert again.explicit_outputs == net.explicit_outputs
    assert np.array_equal(again.outputs, net.outputs)
    assert again.weights.tobytes() == net.weights.tobytes()


def test_a_net_without_weights_round_trips():
    net = nets.dense([3, 4, 2], activation="tanh")
    again = pickle.loads(pickle.dumps(net))
    assert again == net and again.weights is None and again.biases is None


@pytest.mark.parametrize("strategy", ["ssa", "csr"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_compiled_net_keeps_its_settings_and_its_bits(strategy, dtype):
    net = nets.random_dag(3, 2, 9, activation=["tanh", "relu"], seed=5)
    cn = jitnet.compile(net, dtype=dtype, outputs=[8, 3, 8], strategy=strategy, threads=1, cache=False)
    again = pickle.loads(pickle.dumps(cn))
    assert again.net == net
    assert (again.dtype, again.strategy, again.threads) == (cn.dtype, strategy, 1)
    assert again.outputs.tolist() == [8, 3, 8]
    w, b = cn.init(seed=2)
    x = np.random.default_rng(0).normal(size=(37, 3))
    assert np.array_equal(again.forward(x, w, b), cn.forward(x, w, b))
    dy = np.random.default_rng(1).normal(size=(37, 3))
    for got, want in zip(again.backward(x, w, b, dy), cn.backward(x, w, b, dy)):
        assert np.array_equal(got, want)


def test_threads_none_stays_none_after_the_round_trip(monkeypatch):
    cn = jitnet.compile(nets.dense([2, 3, 1]), dtype="float64")
    monkeypatch.setattr("os.cpu_count", lambda: 7)
    assert pickle.loads(pickle.dumps(cn)).threads == 7


def test_unpickling_in_the_same_process_reuses_the_machine_code():
    cn = jitnet.compile(nets.dense([4, 5, 2], activation="selu"), strategy="csr")
    before = jitnet.cache_info()
    again = pickle.loads(pickle.dumps(cn))
    after = jitnet.cache_info()
    assert after.compiles == before.compiles and after.cache_hits == before.cache_hits
    assert after.reuses == before.reuses + 1
    x = np.ones((3, 4))
    w, b = cn.init()
    assert np.array_equal(again.forward(x, w, b), cn.forward(x, w, b))


def test_a_new_generation_costs_no_compile():
    def generation(seed):
        rng = np.random.default_rng(seed)
        members = [nets.random_dag(3, 2, int(rng.integers(2, 9)), activation=["cube", "hat"], seed=seed * 50 + p)
                   for p in range(6)]
        return [m.with_weights(rng.normal(size=m.n_weights), rng.normal(size=m.n_neurons)) for m in members]

    compile_population(generation(0), dtype="float64")
    before = jitnet.cache_info()
    pop = compile_population(generation(1), dtype="float64")
    after = jitnet.cache_info()
    assert (after.compiles, after.cache_hits) == (before.compiles, before.cache_hits)
    assert after.reuses > before.reuses
    assert pop.forward(np.zeros((2, 3))).shape == (6, 2, 2)


def test_cache_off_means_a_fresh_compile():
    net = nets.dense([2, 2], activation="exp")
    jitnet.compile(net, strategy="csr")
    before = jitnet.cache_info()
    jitnet.compile(net, strategy="csr", cache=False)
    assert jitnet.cache_info().compiles == before.compiles + 1


def test_a_pickle_loaded_again_is_the_object_loaded_before():
    net = nets.dense([3, 4, 2], activation="tanh")
    data = pickle.dumps(jitnet.compile(net, dtype="float64"))
    first = pickle.loads(data)
    assert pickle.loads(data) is first
    other = pickle.loads(pickle.dumps(jitnet.compile(net.with_weights(np.ones(20), None), dtype="float64")))
    assert other is not first and other.net.weights is not None

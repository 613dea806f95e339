"""The graph model (SPEC §1, §4): canonical order, the transpose, depth, ==/hash, immutability, outputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import dags

from jitnet.net import _PAIR_KEY_LIMIT, Net, _pair_order

# 0, 1 inputs; 2 = f(0, 1); 3 = f(2); 4 = f(0, 2); 5 isolated (an input).
EDGES = [(2, 4), (0, 2), (2, 3), (1, 2), (0, 4)]


def net(**kwargs):
    return Net(6, EDGES, **kwargs)


def test_edges_are_sorted_by_target_then_source():
    assert net().edges.tolist() == [[0, 2], [1, 2], [2, 3], [0, 4], [2, 4]]


def test_weights_follow_their_edges_into_canonical_order():
    w = [10.0, 11.0, 12.0, 13.0, 14.0]  # in the order of EDGES
    assert net(weights=w).weights.tolist() == [11.0, 13.0, 12.0, 14.0, 10.0]


def test_in_edges_csc():
    n = net()
    assert n.in_ptr.tolist() == [0, 0, 0, 2, 3, 5, 5]
    assert n.fan_in.tolist() == [0, 0, 2, 1, 2, 0]
    assert n.in_src.tolist() == [0, 1, 2, 0, 2]


def test_out_edges_are_the_transpose():
    n = net()
    assert n.out_ptr.tolist() == [0, 2, 3, 5, 5, 5, 5]
    # out_edge lists edge numbers (canonical) by source, then target; out_dst their targets.
    assert n.out_edge.tolist() == [0, 3, 1, 2, 4]
    assert n.out_dst.tolist() == [2, 4, 2, 3, 4]
    assert n.fan_out.tolist() == [2, 1, 2, 0, 0, 0]


@settings(max_examples=50, deadline=None, derandomize=True)
@given(net=dags(max_neurons=20))
def test_transpose_lists_every_edge_once_by_source(net):
    src, dst = net.edges[:, 0], net.edges[:, 1]
    assert sorted(net.out_edge.tolist()) == list(range(net.n_edges))
    for i in range(net.n_neurons):
        mine = net.out_edge[net.out_ptr[i]:net.out_ptr[i + 1]]
        assert (src[mine] == i).all()
        assert net.out_dst[net.out_ptr[i]:net.out_ptr[i + 1]].tolist() == sorted(dst[mine].tolist())
    order = np.lexsort((src, dst))
    assert (order == np.arange(net.n_edges)).all()  # canonical: by target, then source


def test_inputs_outputs_and_depth():
    n = net()
    assert n.inputs.tolist() == [0, 1, 5]
    assert n.outputs.tolist() == [3, 4] and n.default_outputs.tolist() == [3, 4]
    assert n.depth.tolist() == [0, 0, 1, 2, 2, 0]
    assert n.level_order.tolist() == [0, 1, 5, 2, 3, 4]
    assert n.schedule.tolist() == [0, 1, 2, 3, 4, 5]


@settings(max_examples=50, deadline=None, derandomize=True)
@given(net=dags(max_neurons=20))
def test_depth_is_the_longest_chain_from_an_input(net):
    for j in range(net.n_neurons):
        preds = net.in_src[net.in_ptr[j]:net.in_ptr[j + 1]]
        assert net.depth[j] == (0 if preds.size == 0 else 1 + net.depth[preds].max())
    position = np.empty(net.n_neurons, dtype=int)
    position[net.schedule] = np.arange(net.n_neurons)
    assert (position[net.edges[:, 0]] < position[net.edges[:, 1]]).all()


def test_equality_compares_everything_and_hash_agrees():
    a, b = net(weights=[1.0] * 5), net(weights=[1.0] * 5)
    assert a == b and hash(a) == hash(b)
    assert a != net(weights=[1.0] * 4 + [2.0])
    assert a != net()                                   # weights vs none
    assert net(weights=[0.0] * 5) != net(weights=[-0.0] * 5)  # bitwise
    assert net() != net(activations="relu")
    assert net() != net(biases=[0.0] * 6)
    assert net() != Net(6, EDGES[:-1])
    assert net(outputs=[4, 3]) != net() and hash(net(outputs=[4, 3])) != hash(net())
    assert net(outputs=[3, 4]) == net()                 # the effective list is compared
    assert net().__eq__("net") is NotImplemented


def test_outputs_are_carried_and_explicit():
    n = net(outputs=[4, 2, 4, 0])
    assert n.outputs.tolist() == [4, 2, 4, 0] and n.n_outputs == 4 and n.explicit_outputs
    assert not net(outputs=[3, 4]).explicit_outputs
    assert n.with_weights([0.5] * 5).outputs.tolist() == [4, 2, 4, 0]


@pytest.mark.parametrize("outputs, error", [
    ([], "outputs is empty"),
    ([6], "outputs names neuron 6; expected 0..5"),
    ([-1], "outputs names neuron -1"),
    ([[1, 2]], "1-D list"),
    ([1.5], "1-D list"),
])
def test_outputs_are_checked(outputs, error):
    with pytest.raises(ValueError, match=error.replace("(", r"\(")):
        net(outputs=outputs)


def test_a_net_is_immutable():
    n = net(weights=[1.0] * 5)
    with pytest.raises(AttributeError):
        n.n_neurons = 3
    for array in (n.edges, n.activations, n.weights, n.in_ptr, n.out_ptr, n.out_dst, n.out_edge,
                  n.inputs, n.outputs, n.depth, n.level_order, n.schedule):
        with pytest.raises(ValueError):
            array[0] = 1


def test_the_callers_arrays_are_not_shared():
    edges = np.array(EDGES)
    w = np.arange(5.0)
    n = Net(6, edges, weights=w)
    edges[0] = (5, 0)
    w[:] = -1
    assert n.edges.tolist() == net().edges.tolist() and n.weights.min() >= 0


@pytest.mark.parametrize("edges, error", [
    ([(0, 6)], r"edge \(0, 6\) names a neuron outside 0..5"),
    ([(0, 2), (0, 2)], "duplicate edge n00 -> n02"),
    ([(3, 3)], "cycle: n03 -> n03"),
    ([(0, 2), (2, 3), (3, 2)], "cycle: n02 -> n03 -> n02"),
])
def test_graph_errors(edges, error):
    with pytest.raises(ValueError, match=error):
        Net(6, edges)


def test_pair_order_matches_lexsort_on_both_paths():
    rng = np.random.default_rng(0)
    major, minor = rng.integers(0, 50, 1000), rng.integers(0, 50, 1000)
    assert (_pair_order(major, minor, 50) == np.lexsort((minor, major))).all()  # the int64 key
    # Past the limit the key major * n + minor overflows int64: the lexsort fallback.
    huge = _PAIR_KEY_LIMIT * 1000
    major = rng.choice(rng.integers(huge - 10**6, huge, 20), 1000)  # ties, near the top
    minor = rng.choice(rng.integers(0, huge, 20), 1000)
    assert np.iinfo(np.int64).max // huge < major.max()
    assert (_pair_order(major, minor, huge) == np.lexsort((minor, major))).all()


def test_counts():
    n = net()
    assert (n.n_neurons, n.n_edges, n.n_weights, n.n_biases, n.n_inputs, n.n_outputs) == (6, 5, 5, 6, 3, 2)
    assert n.name(4) == "n04" and Net(300, []).name(4) == "n004"

"""Net generators (SPEC §7): the ncc notes' matrices exactly, conv geometry, random DAG controls."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitnet.activations import activation_code
from jitnet.nets import conv2d, dense, random_dag, rnn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# A matrix row in any NAM layout: bare digits, a letter label, or `nXX|`.
ROW = re.compile(r"(?:[a-z]|n[0-9a-f]+\|)?([01]+)")

NOTES = {
    "dense_4_4_4_2.nam": lambda: dense([4, 4, 4, 2]),
    "dense_8_8_8_2.nam": lambda: dense([8, 8, 8, 2]),
    "rnn_2_3_4_2.nam": lambda: rnn(2, 3, 4, 2),
    "conv.nam": lambda: conv2d(4, 4, (1, 2, 2), kernel=3, padding=1, groups=(1, 2), n_outputs=3),
}


def _matrix_edges(path):
    """The (i, j) pairs of a NAM file's 1 entries, read without the parser."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    rows = [m.group(1) for line in lines if not line.startswith("%") and (m := ROW.fullmatch(line))]
    matrix = np.array([[c == "1" for c in row] for row in rows])
    assert matrix.shape == (len(rows), len(rows)), f"{path.name} is not square"
    return len(rows), np.argwhere(matrix)


@pytest.mark.parametrize("fixture", sorted(NOTES))
def test_generators_reproduce_the_ncc_matrices(fixture):
    n, edges = _matrix_edges(FIXTURES / fixture)
    net = NOTES[fixture]()
    assert net.n_neurons == n
    assert np.array_equal(net.edges, edges[np.lexsort((edges[:, 0], edges[:, 1]))])


@pytest.mark.parametrize("example, fixture", [
    ("dense_4_4_4_2.nam", "dense_4_4_4_2.nam"), ("dense_8_8_8_2.nam", "dense_8_8_8_2.nam"),
    ("rnn.nam", "rnn_2_3_4_2.nam"), ("conv.nam", "conv.nam")])
def test_examples_hold_the_notes_matrices(example, fixture):
    n, edges = _matrix_edges(EXAMPLES / example)
    m, expected = _matrix_edges(FIXTURES / fixture)
    assert n == m and np.array_equal(edges, expected)


def test_mlp_example_is_written_by_write():
    from jitnet.text.write import write
    assert (EXAMPLES / "mlp_784_16_10.nal").read_text() == write(dense([784, 16, 10]), "nal")


def test_dense_activations():
    net = dense([3, 4, 5, 2], activation="tanh", output_activation="sigmoid")
    assert net.activations.tolist() == [0] * 3 + [2] * 9 + [1] * 2
    assert net.inputs.tolist() == [0, 1, 2] and net.outputs.tolist() == [12, 13]
    with pytest.raises(ValueError):
        dense([3])
    with pytest.raises(ValueError):
        dense([3, 0, 2])


def test_rnn_layers_read_below_and_their_previous_step():
    net = rnn(2, 3, 4, 2, n_layers=2, activation="relu", output_activation="sigmoid")
    # 6 inputs; layer 0 steps 0-2: 6-9, 10-13, 14-17; layer 1: 18-21, 22-25, 26-29; outputs 30, 31.
    assert net.n_neurons == 32 and net.inputs.tolist() == list(range(6))
    assert net.outputs.tolist() == [30, 31]

    def sources(j):
        return net.edges[net.in_ptr[j]:net.in_ptr[j + 1], 0].tolist()

    assert sources(6) == [0, 1]
    assert sources(10) == [2, 3, 6, 7, 8, 9]
    assert sources(18) == [6, 7, 8, 9]
    assert sources(23) == [10, 11, 12, 13, 18, 19, 20, 21]
    assert sources(30) == sources(31) == [26, 27, 28, 29]
    assert net.n_weights == 3 * 8 + 2 * 16 + 3 * 16 + 2 * 16 + 8
    assert net.activations.tolist() == [0] * 6 + [3] * 24 + [1] * 2


def _conv_edges_by_loops(height, width, c_in, c_out, kernel, stride, padding, groups):
    """One conv layer's edges, pixel by pixel: the textbook definition, as plain loops."""
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    first_out = c_in * height * width
    edges = set()
    for o in range(c_out):
        group = o // (c_out // groups)
        for r in range(out_h):
            for c in range(out_w):
                j = first_out + (o * out_h + r) * out_w + c
                for ci in range(group * (c_in // groups), (group + 1) * (c_in // groups)):
                    for a in range(kernel):
                        for b in range(kernel):
                            row, col = r * stride - padding + a, c * stride - padding + b
                            if 0 <= row < height and 0 <= col < width:
                                edges.add(((ci * height + row) * width + col, j))
    return first_out + c_out * out_h * out_w, edges


@pytest.mark.parametrize("height, width, c_in, c_out, kernel, stride, padding, groups", [
    (5, 5, 1, 1, 3, 2, 0, 1), (6, 4, 2, 3, 3, 1, 1, 1), (7, 6, 4, 2, 2, 2, 1, 2),
    (4, 4, 3, 3, 3, 1, 2, 3), (3, 5, 2, 4, 1, 1, 0, 2)])
def test_conv_layer_matches_loops(height, width, c_in, c_out, kernel, stride, padding, groups):
    net = conv2d(height, width, (c_in, c_out), kernel=kernel, stride=stride, padding=padding,
                 groups=groups, output_activation="relu")
    n, edges = _conv_edges_by_loops(height, width, c_in, c_out, kernel, stride, padding, groups)
    assert net.n_neurons == n
    assert set(map(tuple, net.edges.tolist())) == edges
    assert net.outputs.tolist() == list(range(c_in * height * width, n))
    assert set(net.activations[net.outputs].tolist()) == {3}


def test_conv_rejects_bad_geometry():
    with pytest.raises(ValueError, match="padding"):
        conv2d(4, 4, (1, 1), kernel=3, padding=3)
    with pytest.raises(ValueError, match="groups"):
        conv2d(4, 4, (1, 2), groups=2)
    with pytest.raises(ValueError, match="fit"):
        conv2d(2, 2, (1, 1), kernel=3)
    with pytest.raises(ValueError, match="one per conv layer"):
        conv2d(4, 4, (1, 2, 2), kernel=(3, 3, 3))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n_inputs=st.integers(1, 6), n_outputs=st.integers(1, 4), n_hidden=st.integers(0, 30),
       lo=st.integers(1, 4), extra=st.integers(0, 4), n_layers=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_random_dag_controls(n_inputs, n_outputs, n_hidden, lo, extra, n_layers, seed):
    n_layers = min(n_layers, n_hidden)
    lo = min(lo, n_inputs)
    codes = ["relu", "tanh", "sin"]
    net = random_dag(n_inputs, n_outputs, n_hidden, fan_in=(lo, lo + extra), n_layers=n_layers,
                     activation=codes, output_activation="sigmoid", seed=seed)
    n = n_inputs + n_hidden + n_outputs
    assert net == random_dag(n_inputs, n_outputs, n_hidden, fan_in=(lo, lo + extra),
                             n_layers=n_layers, activation=codes, output_activation="sigmoid",
                             seed=seed)
    assert net.inputs.tolist() == list(range(n_inputs))
    assert net.outputs.tolist() == list(range(n - n_outputs, n))
    assert int(net.depth.max()) == n_layers + 1
    # Every non-input draws at least lo sources (never more than the neurons below its layer).
    hidden_sizes = [len(p) for p in np.array_split(np.arange(n_hidden), n_layers)] if n_layers else []
    sizes = [n_inputs] + hidden_sizes + [n_outputs]
    layer_start = np.repeat(np.cumsum(sizes)[:-1], sizes[1:])
    fan_in = net.fan_in[n_inputs:]
    assert np.all(fan_in >= lo) and np.all(net.fan_in[n_inputs:n - n_outputs] <= layer_start[:n_hidden])
    hidden_codes = set(net.activations[n_inputs:n - n_outputs].tolist())
    assert hidden_codes <= {activation_code(c) for c in codes}
    assert set(net.activations[n - n_outputs:].tolist()) == {1}


def test_random_dag_seed_and_fan_in_bound():
    a = random_dag(8, 3, 200, fan_in=(2, 5), n_layers=4, seed=1)
    assert a != random_dag(8, 3, 200, fan_in=(2, 5), n_layers=4, seed=2)
    # Only neurons that took on an idle reader may exceed the upper bound, by a few.
    assert np.mean(a.fan_in[8:] <= 5) > 0.9 and a.fan_in[8:].min() >= 2
    with pytest.raises(ValueError, match="fan_in"):
        random_dag(2, 1, 3, fan_in=(3, 2))
    with pytest.raises(ValueError, match="n_layers"):
        random_dag(2, 1, 3, n_layers=4)


def test_random_dag_refuses_a_fan_in_it_cannot_give():
    with pytest.raises(ValueError, match=r"fan_in=\(10, 20\) cannot be met: .* n_inputs=4"):
        random_dag(4, 1, 30, fan_in=(10, 20), n_layers=3)
    with pytest.raises(ValueError, match="cannot be met"):
        random_dag(2, 1, 3, fan_in=3)
    assert random_dag(4, 1, 3, fan_in=4).fan_in[4:].min() == 4

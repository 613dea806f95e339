"""Writing nets (SPEC §7): ncc's own texts exactly, hex floats bit for bit, and parse(write(net)) == net."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

from jitnet.net import Net
from jitnet.text.parse import parse
from jitnet.text.write import write

ROOT = Path(__file__).resolve().parent.parent

SEED_IN = {4: [0, 1], 5: [0, 1, 2], 6: [1, 2, 3], 7: [2, 3], 8: [4, 5], 9: [4, 5, 6],
           10: [5, 6, 7], 11: [6, 7], 12: [8, 9, 10, 11], 13: [8, 9, 10, 11]}
SEED = Net(14, [(i, j) for j, sources in SEED_IN.items() for i in sources], activations="relu")

# The ncc notes' NAL example without its comment line, and its NAM example.
SEED_NAL = """N 0e
00
01
02
03
04 03 00,01
05 03 00,01,02
06 03 01,02,03
07 03 02,03
08 03 04,05
09 03 04,05,06
0a 03 05,06,07
0b 03 06,07
0c 03 08,09,0a,0b
0d 03 08,09,0a,0b
"""
SEED_NAM = """00001100000000
00001110000000
00000111000000
00000011000000
00000000110000
00000000111000
00000000011100
00000000001100
00000000000011
00000000000011
00000000000011
00000000000011
00000000000000
00000000000000
"""

FINITE = st.floats(allow_nan=False, allow_infinity=False)
SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.0 ** -1022, 1.7976931348623157e308, -1e-310, 0.1, 10.0]


def test_seed_net_writes_the_notes_texts():
    assert write(SEED, "nal") == SEED_NAL
    assert write(SEED, "nam") == SEED_NAM


def test_nel_lines():
    net = Net(3, [(1, 2), (0, 2)], activations=[0, 0, "tanh"], weights=[0.5, -2.0], biases=[0, 0, 0.25])
    # Canonical order: (0, 2) carries -2.0, (1, 2) carries 0.5.
    assert write(net, "nel") == ("N 03\n00 02 -0x1.0000000000000p+1\n01 02 0x1.0000000000000p-1\n"
                                 "act 02 02\nbias 02 0x1.0000000000000p-2\n")
    assert write(Net(3, [(0, 2), (1, 2)]), "nel") == "N 03\n00 02\n01 02\nact 02 00\n"
    assert write(Net(1, []), "nel") == "N 01\n"


def test_wide_indices():
    chain = Net(300, [(j - 1, j) for j in range(1, 300)], activations="sigmoid")
    lines = write(chain, "nal").splitlines()
    assert lines[:3] == ["N 12c", "000", "001 01 000"] and lines[-1] == "12b 01 12a"
    assert write(Net(256, [(0, 255)]), "nal").splitlines()[0] == "N 100"


def _read_nel_floats(text):
    """Weights and biases of a NEL text, read with float.fromhex (no parser)."""
    weights, biases = [], {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if fields[0] == "bias":
            biases[int(fields[1], 16)] = float.fromhex(fields[2])
        elif fields[0] != "act":
            weights.append(float.fromhex(fields[2]))
    return np.array(weights), biases


@settings(max_examples=60, deadline=None, derandomize=True)
@given(net=dags(max_neurons=10), data=st.data())
def test_nel_floats_are_bit_identical(net, data):
    w = np.array(data.draw(st.lists(FINITE | st.sampled_from(SPECIAL),
                                    min_size=net.n_weights, max_size=net.n_weights)))
    b = np.array(data.draw(st.lists(FINITE | st.sampled_from(SPECIAL),
                                    min_size=net.n_neurons, max_size=net.n_neurons)))
    text = write(net, "nel", weights=w, biases=b)
    assert text == write(net.with_weights(w, b), "nel")
    got_w, got_b = _read_nel_floats(text)
    assert got_w.tobytes() == w.tobytes()
    hidden = np.flatnonzero(net.fan_in > 0)
    assert sorted(got_b) == hidden.tolist()
    assert np.array([got_b[j] for j in hidden]).tobytes() == b[hidden].tobytes()


def test_weights_are_refused_where_they_cannot_go():
    net = SEED.with_weights(np.ones(SEED.n_weights))
    assert "0x1.0000000000000p+0" not in write(net, "nal")
    for fmt in ("nal", "nam"):
        with pytest.raises(ValueError, match="nel"):
            write(SEED, fmt, weights=np.ones(SEED.n_weights))
        with pytest.raises(ValueError, match="nel"):
            write(SEED, fmt, biases=np.zeros(14))
    with pytest.raises(ValueError, match="format"):
        write(SEED, "csv")
    with pytest.raises(ValueError, match=r"\(28,\)"):
        write(SEED, "nel", weights=[1.0])
    with pytest.raises(ValueError, match="finite"):
        write(SEED, "nel", biases=[np.inf] * 14)
    with pytest.raises(TypeError):
        write(SEED, "nel", weights=["a"] * 28)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=dags(max_neurons=12), fmt=st.sampled_from(["nal", "nel"]))
def test_round_trip_nal_nel(net, fmt):
    assert parse(text=write(net, fmt), format=fmt) == net


@settings(max_examples=30, deadline=None, derandomize=True)
@given(net=dags(max_neurons=12), code=st.integers(0, 15))
def test_round_trip_nam(net, code):
    uniform = Net(net.n_neurons, net.edges, activations=code)
    assert parse(text=write(uniform, "nam"), format="nam", activation=code) == uniform


@settings(max_examples=60, deadline=None, derandomize=True)
@given(net=dags(max_neurons=10), data=st.data())
def test_round_trip_nel_weights_and_biases(net, data):
    w = data.draw(st.lists(FINITE | st.sampled_from(SPECIAL), min_size=net.n_weights, max_size=net.n_weights))
    b = np.array(data.draw(st.lists(FINITE | st.sampled_from(SPECIAL),
                                    min_size=net.n_neurons, max_size=net.n_neurons)))
    b[net.inputs] = 0.0  # a NEL has no bias line for an input (SPEC §3.3)
    trained = net.with_weights(w, b)
    back = parse(text=write(trained, "nel"), format="nel")
    assert back == trained
    assert back.weights.tobytes() == trained.weights.tobytes()
    assert back.biases.tobytes() == trained.biases.tobytes()
    untrained = parse(text=write(net, "nel", weights=w), format="nel")
    assert untrained.biases is None and untrained.weights.tobytes() == trained.weights.tobytes()


@pytest.mark.parametrize("fmt", ["nal", "nam", "nel"])
def test_round_trip_of_a_big_net(fmt):
    from jitnet.nets import dense
    net = dense([30, 20, 10], activation="gelu", output_activation="gelu")
    assert parse(text=write(net, fmt), format=fmt, activation="gelu") == net


# --- explicit outputs (SPEC §3.3, §4) ---------------------------------------------------------

def test_nel_writes_an_out_line_exactly_when_outputs_are_explicit():
    edges = [(0, 2), (1, 2), (2, 3), (2, 4)]
    assert "out" not in write(Net(5, edges), "nel")
    assert "out" not in write(Net(5, edges, outputs=[3, 4]), "nel")  # SPEC §1's list, given
    text = write(Net(5, edges, outputs=[4, 2, 4, 0]), "nel")
    assert text.endswith("act 04 00\nout 04 02 04 00\n")
    wide = write(Net(300, [(0, 299)], outputs=[299, 5]), "nel")
    assert wide.endswith("\nout 12b 005\n")


@pytest.mark.parametrize("fmt", ["nal", "nam"])
def test_nal_and_nam_leave_outputs_out(fmt):
    net = Net(5, [(0, 2), (1, 2), (2, 3), (2, 4)], outputs=[2])
    back = parse(text=write(net, fmt), format=fmt)
    assert back.outputs.tolist() == [3, 4] and not back.explicit_outputs


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=dags(max_neurons=12), data=st.data())
def test_round_trip_nel_outputs(net, data):
    outputs = data.draw(st.lists(st.integers(0, net.n_neurons - 1), min_size=1, max_size=5))
    read_out = Net(net.n_neurons, net.edges, activations=net.activations, outputs=outputs)
    back = parse(text=write(read_out, "nel"), format="nel")
    assert back == read_out and back.outputs.tolist() == outputs

"""ncc's texts (SPEC §5): exact fixtures from the ncc notes, and the fwd/bwd lines evaluated.

The evaluator runs each line as a Python assignment (the lines use only `=`,
`+`, `*`, names and calls, which read the same in Python), in a namespace
holding the forward values, the weights, `DLY_nXX` and one `fXX`/`dfXX` per
neuron, and compares the results with the float64 reference.
"""

from pathlib import Path

import numpy as np
import pytest
from helpers import namespace, random_values, split_lines
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

import jitnet
from jitnet import reference
from jitnet.net import Net
from jitnet.text import equations as equations_module
from jitnet.text.equations import equations

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The ncc notes' 14-neuron example: neuron j -> its in-indices.
SEED_IN = {4: [0, 1], 5: [0, 1, 2], 6: [1, 2, 3], 7: [2, 3], 8: [4, 5], 9: [4, 5, 6],
           10: [5, 6, 7], 11: [6, 7], 12: [8, 9, 10, 11], 13: [8, 9, 10, 11]}
SEED = Net(14, [(i, j) for j, sources in SEED_IN.items() for i in sources], activations="relu")
# The characters an evaluable line may use (SPEC §5): names, =, +, *, calls.


def _fixture(name):
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize("kind, include_inputs, fixture", [
    ("fwd", False, "seed.fwd.txt"),
    ("fwd", True, "seed.fwd_inputs.txt"),
    ("matrix", False, "seed.matrix.txt"),
    ("bwd", False, "seed.bwd.txt"),
])
def test_seed_net_prints_ncc_text(kind, include_inputs, fixture):
    assert equations(SEED, kind, include_inputs=include_inputs) == _fixture(fixture)


@pytest.mark.parametrize("fmt", ["nal", "nam"])
def test_parsed_seed_examples_print_ncc_text(fmt):
    from jitnet.text.parse import parse
    net = parse(ROOT / "examples" / f"seed.{fmt}")
    assert np.array_equal(net.edges, SEED.edges)
    assert equations(net, "fwd") == _fixture("seed.fwd.txt")
    assert equations(net, "fwd", include_inputs=True) == _fixture("seed.fwd_inputs.txt")
    assert equations(net, "bwd") == _fixture("seed.bwd.txt")


def test_names_widen_past_256_neurons():
    chain = Net(258, [(j - 1, j) for j in range(1, 258)])
    lines = equations(chain, "fwd").splitlines()
    assert lines[0] == "n001 = f001( +n000*w000001)"
    assert lines[-1] == "n101 = f101( +n100*w100101)"
    assert "Dw0ff100 = n0ff*Dz100" in equations(chain, "bwd").splitlines()
    assert equations(Net(256, [(254, 255)]), "fwd") == "nff = fff( +nfe*wfeff)\n"


def test_net_without_edges():
    net = Net(2, [])
    assert equations(net, "fwd") == ""
    assert equations(net, "fwd", include_inputs=True) == "n00 = f00()\nn01 = f01()\n"
    assert equations(net, "bwd") == ""
    assert equations(net, "matrix") == "n00 n01\nn00 __________ __________\nn01 __________ __________\n"


def test_unused_input_gets_no_bwd_line():
    net = Net(4, [(0, 3), (2, 3)])
    assert equations(net, "bwd") == ("Dn03 = DLY_n03\nDz03 = Dn03*df03(z03)\nDb03 = Dz03\n"
                                     "Dw0003 = n00*Dz03\nDw0203 = n02*Dz03\n"
                                     "Dn00 = +Dz03*w0003\nDn02 = +Dz03*w0203\n")


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        equations(SEED, "backward")
    with pytest.raises(ValueError, match="include_inputs"):
        equations(SEED, "bwd", include_inputs=True)


@st.composite
def scrambled_nets(draw):
    """A random net whose indices are shuffled, so index order is not a topological order."""
    net = draw(dags(max_neurons=14))
    label = np.array(draw(st.permutations(range(net.n_neurons))))
    codes = np.empty_like(net.activations)
    codes[label] = net.activations
    return Net(net.n_neurons, label[net.edges], activations=codes)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=scrambled_nets(), seed=st.integers(0, 2**16))
def test_fwd_lines_evaluate_to_the_reference(net, seed):
    x, w, _, _ = random_values(net, 5, np.float64, seed, net.n_outputs)
    space = namespace(net, w)
    for k, i in enumerate(net.inputs.tolist()):
        space["f" + net.name(i)[1:]] = lambda column=x[:, k]: column
    lines = split_lines(equations(net, "fwd", include_inputs=True))
    names = [lhs for lhs, _ in lines]
    inputs = [net.name(i) for i in net.inputs]
    hidden = [net.name(j) for j in range(net.n_neurons) if net.fan_in[j]]
    assert names == inputs + hidden
    assert [rhs for lhs, rhs in lines[:len(inputs)]] == [f"f{name[1:]}()" for name in inputs]

    # NOTE: the fwd lines carry no bias, and list neurons by index, which need
    # not be a topological order: evaluate them in the schedule's order.
    by_name = dict(lines)
    for j in net.schedule.tolist():
        space[net.name(j)] = eval(by_name[net.name(j)], space)
    n = reference.forward(net, x, w, np.zeros(net.n_neurons)).n
    for j in range(net.n_neurons):
        # Bit-identical: the same products added in the same order, from 0.
        assert np.array_equal(space[net.name(j)], n[:, j]), net.name(j)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(net=scrambled_nets(), seed=st.integers(0, 2**16))
def test_bwd_lines_evaluate_to_the_reference_vjp(net, seed):
    x, w, b, dy = random_values(net, 5, np.float64, seed, net.n_outputs)
    _, z, n = reference.forward(net, x, w, b)
    dx, dw, db = reference.vjp(net, x, w, b, dy)
    space = namespace(net, w)
    for j in range(net.n_neurons):
        space[net.name(j)] = n[:, j]
        space["z" + net.name(j)[1:]] = z[:, j]
    for k, j in enumerate(net.outputs.tolist()):
        space["DLY_" + net.name(j)] = dy[:, k]

    lines = split_lines(equations(net, "bwd"))
    for lhs, rhs in lines:
        assert lhs not in space, f"{lhs} assigned twice"
        space[lhs] = eval(rhs, space)

    names = [lhs for lhs, _ in lines]
    backwards = [j for j in net.schedule[::-1].tolist() if net.fan_in[j]]
    assert [name for name in names if name.startswith("Dz")] == ["Dz" + net.name(j)[1:] for j in backwards]
    readers = [net.name(i) for i in net.inputs if net.fan_out[i]]
    assert names[len(names) - len(readers):] == ["D" + name for name in readers]
    assert len(names) == 3 * len(backwards) + net.n_weights + len(readers)

    for e, (i, j) in enumerate(net.edges.tolist()):
        got = space["Dw" + net.name(i)[1:] + net.name(j)[1:]].sum()
        np.testing.assert_allclose(got, dw[e], rtol=1e-12, atol=1e-12, err_msg=f"edge {i} -> {j}")
    for j in backwards:
        np.testing.assert_allclose(space["Db" + net.name(j)[1:]].sum(), db[j], rtol=1e-12, atol=1e-12)
    for k, i in enumerate(net.inputs.tolist()):
        got = space.get("D" + net.name(i), np.zeros(len(x)))
        assert np.array_equal(got, dx[:, k]), net.name(i)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=scrambled_nets())
def test_matrix_has_one_cell_per_pair(net):
    lines = equations(net, "matrix").split("\n")
    assert lines.pop() == ""
    names = [net.name(j) for j in range(net.n_neurons)]
    assert lines[0] == " ".join(names)
    width = 3 * (len(names[0]) - 1) + 4
    cells = set()
    for i, line in enumerate(lines[1:]):
        row = line.split(" ")
        assert row[0] == names[i] and len(row) == net.n_neurons + 1
        for j, cell in enumerate(row[1:]):
            assert len(cell) == width
            if cell != "_" * width:
                assert cell == f"+{names[i]}*w{names[i][1:]}{names[j][1:]}"
                cells.add((i, j))
    assert cells == set(map(tuple, net.edges.tolist()))


# --- explicit outputs in the bwd text (SPEC §5) ---------------------------------------------

def test_bwd_seeds_follow_explicit_outputs():
    # 3 is read twice, 2 (which has out-edges) three times, input 0 once; 4 is not read.
    net = Net(5, [(0, 2), (1, 2), (2, 3), (2, 4), (0, 4)], outputs=[3, 2, 3, 0, 2, 2])
    assert equations(net, "bwd") == (
        "Dn04 = 0\nDz04 = Dn04*df04(z04)\nDb04 = Dz04\nDw0004 = n00*Dz04\nDw0204 = n02*Dz04\n"
        "Dn03 = DLY_n03 +DLY_n03_1\nDz03 = Dn03*df03(z03)\nDb03 = Dz03\nDw0203 = n02*Dz03\n"
        "Dn02 = DLY_n02 +DLY_n02_1 +DLY_n02_2 +Dz03*w0203 +Dz04*w0204\n"
        "Dz02 = Dn02*df02(z02)\nDb02 = Dz02\nDw0002 = n00*Dz02\nDw0102 = n01*Dz02\n"
        "Dn00 = DLY_n00 +Dz02*w0002 +Dz04*w0004\nDn01 = +Dz02*w0102\n")


def test_reading_numbers_widen_past_ten():
    net = Net(3, [(0, 2), (1, 2)], outputs=[2] * 12)
    line = equations(net, "bwd").splitlines()[0]
    assert line == "Dn02 = DLY_n02 " + " ".join(f"+DLY_n02_{k}" for k in range(1, 12))


@st.composite
def nets_with_outputs(draw):
    """A scrambled net read out at 1-6 neurons of any kind (inputs, hidden, outputs), repeats allowed."""
    net = draw(scrambled_nets())
    outputs = draw(st.lists(st.integers(0, net.n_neurons - 1), min_size=1, max_size=6))
    return Net(net.n_neurons, net.edges, activations=net.activations, outputs=outputs)


def _seed_names(net):
    """`DLY_nXX`, `DLY_nXX_1`, ...: one name per entry of net.outputs (SPEC §5)."""
    names, seen = [], {}
    for j in net.outputs.tolist():
        k = seen.get(j, 0)
        seen[j] = k + 1
        names.append("DLY_" + net.name(j) + (f"_{k}" if k else ""))
    return names


@settings(max_examples=30, deadline=None, derandomize=True)
@given(net=nets_with_outputs(), seed=st.integers(0, 2**16))
def test_bwd_lines_with_explicit_outputs_evaluate_to_compiled_backward(net, seed):
    x, w, b, dy = random_values(net, 5, np.float64, seed, net.n_outputs)
    _, z, n = reference.forward(net, x, w, b)
    space = namespace(net, w)
    for j in range(net.n_neurons):
        space[net.name(j)] = n[:, j]
        space["z" + net.name(j)[1:]] = z[:, j]
    for k, name in enumerate(_seed_names(net)):
        space[name] = dy[:, k]
    for lhs, rhs in split_lines(equations(net, "bwd")):
        assert lhs not in space, f"{lhs} assigned twice"
        space[lhs] = eval(rhs, space)

    # compile(net) reads net.outputs: its dy has one column per reading.
    dx, dw, db = jitnet.compile(net, dtype="float64", cache=False).backward(x, w, b, dy)
    for e, (i, j) in enumerate(net.edges.tolist()):
        got = np.sum(space["Dw" + net.name(i)[1:] + net.name(j)[1:]])
        np.testing.assert_allclose(got, dw[e], rtol=1e-9, atol=1e-9, err_msg=f"edge {i} -> {j}")
    for j in np.flatnonzero(net.fan_in).tolist():
        np.testing.assert_allclose(np.sum(space["Db" + net.name(j)[1:]]), db[j], rtol=1e-9, atol=1e-9)
    for k, i in enumerate(net.inputs.tolist()):
        got = space.get("D" + net.name(i), np.zeros(len(x)))
        np.testing.assert_allclose(got, dx[:, k], rtol=1e-9, atol=1e-9, err_msg=net.name(i))


# --- the weight block table in bands ----------------------------------------------------------

@pytest.mark.parametrize("band_bytes", [1, 200, 1000])
def test_matrix_built_in_bands_is_the_same_text(band_bytes, monkeypatch):
    whole = equations(SEED, "matrix")
    assert whole == _fixture("seed.matrix.txt")
    monkeypatch.setattr(equations_module, "_MATRIX_BAND_BYTES", band_bytes)
    assert equations(SEED, "matrix") == whole
    chain = Net(300, [(j - 1, j) for j in range(1, 300)] + [(0, 299)])
    banded = equations(chain, "matrix")
    monkeypatch.setattr(equations_module, "_MATRIX_BAND_BYTES", 1 << 40)
    assert banded == equations(chain, "matrix")

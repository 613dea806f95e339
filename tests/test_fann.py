"""FANN `.net` files (SPEC §8): jitnet's import against the real FANN library.

`tests/fann_driver.c`, built once per session with the system C compiler
against libfann, creates standard and shortcut nets with each supported
activation function, steepness and random weights, saves them with
`fann_save` and prints `fann_run`'s outputs (float32). jitnet reads the saved
file and must match per sample within SPEC §8's float32 bound
`1e-5 * (1 + max_k |y_fann_k|)`, where FANN's +-150/s clamp is inactive (the
weights are in [-1, 1], so it is) and no threshold's pre-activation is within
1e-4 of its jump. The malformed files are fixtures in tests/fixtures/bad
(checked by test_parse.py with the other formats).
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import jitnet
from jitnet import reference
from jitnet.activations import activation_code

TESTS = Path(__file__).resolve().parent
HEADER = Path("/usr/include/fann.h")

# FANN 2.2's functions that jitnet imports, by enum number (fann_activationfunc_enum).
SUPPORTED = {0: "LINEAR", 1: "THRESHOLD", 2: "THRESHOLD_SYMMETRIC", 3: "SIGMOID", 5: "SIGMOID_SYMMETRIC",
             7: "GAUSSIAN", 8: "GAUSSIAN_SYMMETRIC", 12: "LINEAR_PIECE", 13: "LINEAR_PIECE_SYMMETRIC",
             14: "SIN_SYMMETRIC", 15: "COS_SYMMETRIC", 16: "SIN", 17: "COS"}
UNSUPPORTED = {4: "SIGMOID_STEPWISE", 6: "SIGMOID_SYMMETRIC_STEPWISE", 9: "GAUSSIAN_STEPWISE",
               10: "ELLIOT", 11: "ELLIOT_SYMMETRIC"}
STEP = activation_code("step")


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    """The C driver, compiled once; a clear skip only when FANN's header is absent."""
    if not HEADER.exists():
        pytest.skip("FANN is not installed (no /usr/include/fann.h; apt-get install libfann-dev)")
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "fann.h is installed but no C compiler is"
    exe = tmp_path_factory.mktemp("fann") / "fann_driver"
    subprocess.run([compiler, "-O1", "-o", str(exe), str(TESTS / "fann_driver.c"), "-lfann", "-lm"],
                   check=True, capture_output=True, text=True)
    return exe


def run_fann(driver, path, kind, hidden, output, steepness, seed, layers, x):
    """Save a FANN net at `path` and return fann_run's outputs on the rows of x, as float64."""
    args = [str(driver), str(path), kind, str(hidden), str(output), repr(steepness[0]), repr(steepness[1]),
            str(seed)] + [str(size) for size in layers]
    rows = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in x) + "\n"
    done = subprocess.run(args, input=rows, check=True, capture_output=True, text=True)
    return np.array([[float(v) for v in line.split()] for line in done.stdout.splitlines()])


def near_a_jump(net, x):
    """Samples where a step neuron's pre-activation is within 1e-4 of 0 (SPEC §8 leaves them out)."""
    _, z, _ = reference.forward(net, x)
    steps = np.flatnonzero(net.activations == STEP)
    return (np.abs(z[:, steps]) < 1e-4).any(axis=1) if steps.size else np.zeros(len(x), dtype=bool)


def check_matches(driver, tmp_path, kind, hidden, output, steepness, seed, layers):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(64, layers[0])).astype(np.float32)
    path = tmp_path / f"{kind}_{hidden}_{output}_{seed}.net"
    want = run_fann(driver, path, kind, hidden, output, steepness, seed, layers, x)
    net = jitnet.parse(path)
    assert net.n_inputs == layers[0] and net.n_outputs == layers[-1]
    assert net.weights is not None and net.biases is not None and net.explicit_outputs in (True, False)
    got = jitnet.compile(path).forward(x)
    assert got.dtype == np.float32 and got.shape == want.shape
    keep = ~near_a_jump(net, x.astype(np.float64))
    assert keep.sum() >= len(x) // 2
    bound = 1e-5 * (1 + np.abs(want).max(axis=1))
    error = np.abs(got.astype(np.float64) - want).max(axis=1)
    assert (error[keep] <= bound[keep]).all(), (error[keep].max(), SUPPORTED[hidden], SUPPORTED[output])


@pytest.mark.parametrize("function", [pytest.param(f, id=name)
                                      for f, name in SUPPORTED.items()])
def test_standard_net_matches_fann_run(driver, tmp_path, function):
    # Every hidden and output neuron uses `function`: the output scale and shift of SIN, COS,
    # GAUSSIAN_SYMMETRIC, LINEAR_PIECE and the thresholds fold into the next layer and, at
    # the outputs, into extra identity neurons.
    check_matches(driver, tmp_path, "standard", function, function, (0.7, 1.3), 10 + function, [3, 5, 4, 2])


@pytest.mark.parametrize("function", [pytest.param(f, id=name)
                                      for f, name in SUPPORTED.items()])
def test_shortcut_net_matches_fann_run(driver, tmp_path, function):
    output = 5 if function != 5 else 16  # a different output function than the hidden one
    check_matches(driver, tmp_path, "shortcut", function, output, (1.1, 0.5), 40 + function, [4, 3, 3, 2])


@pytest.mark.parametrize("function", [3, 8, 16])
def test_sparse_net_matches_fann_run(driver, tmp_path, function):
    # connection_rate 0.5: FANN picks the connections, so connected_to_neuron decides the edges.
    check_matches(driver, tmp_path, "sparse", function, 5, (0.9, 0.6), 70 + function, [5, 6, 4, 3])
    net = jitnet.parse(next(tmp_path.glob("sparse_*.net")))
    assert net.n_edges < 5 * 6 + 6 * 4 + 4 * 3


@pytest.mark.parametrize("seed", range(4))
def test_random_mixes_match_fann_run(driver, tmp_path, seed):
    rng = np.random.default_rng(seed)
    choices = list(SUPPORTED)
    hidden, output = (int(f) for f in rng.choice(choices, 2))
    layers = [int(rng.integers(1, 6)) for _ in range(int(rng.integers(2, 5)))]
    steepness = tuple(float(s) for s in rng.uniform(0.2, 1.5, 2))
    check_matches(driver, tmp_path, "shortcut" if seed % 2 else "standard", hidden, output, steepness,
                  100 + seed, layers)


def test_net_shape_follows_spec_numbering(driver, tmp_path):
    # 2 inputs, 3 hidden, 2 outputs, layered, SIN outputs (scale 1/2, shift 1/2): inputs 0-1,
    # hidden 2-4, outputs 5-6, then one identity neuron per output (7, 8), read in order.
    path = tmp_path / "sin.net"
    run_fann(driver, path, "standard", 5, 16, (0.5, 0.5), 3, [2, 3, 2], np.zeros((1, 2)))
    net = jitnet.parse(path)
    assert net.n_neurons == 9 and net.inputs.tolist() == [0, 1]
    assert net.outputs.tolist() == [7, 8]
    assert net.activations.tolist() == [0, 0, 2, 2, 2, 11, 11, 0, 0]
    assert net.edges[-2:].tolist() == [[5, 7], [6, 8]]
    assert net.weights[-2:].tolist() == [0.5, 0.5] and net.biases[-2:].tolist() == [0.5, 0.5]
    # Layered: every hidden neuron reads both inputs, every output every hidden neuron.
    assert net.n_edges == 2 * 3 + 3 * 2 + 2
    # A FANN net is a complete trained NEL: weights, biases and outputs survive the round trip.
    assert jitnet.parse(text=jitnet.write(net, "nel"), format="nel") == net
    # The text sniffing: FANN text without format= is FANN.
    assert jitnet.parse(text=path.read_text()) == net
    assert jitnet.parse(text=path.read_text(), format="FANN") == net


def test_fann_2_0_file_without_scale_lines(driver, tmp_path):
    path = tmp_path / "a.net"
    run_fann(driver, path, "standard", 3, 0, (0.5, 1.0), 1, [2, 2, 1], np.zeros((1, 2)))
    text = path.read_text()
    old = text.replace("FANN_FLO_2.1", "FANN_FLO_2.0").replace("scale_included=0\n", "")
    assert jitnet.parse(text=old) == jitnet.parse(path)
    # scale lines are read and ignored
    scaled = text.replace("scale_included=0\n", "scale_included=1\n" + "".join(
        f"scale_{what}_{where}={' '.join(['1.0'] * (2 if where == 'in' else 1))} \n"
        for where in ("in", "out") for what in ("mean", "deviation", "new_min", "factor")))
    assert jitnet.parse(text=scaled) == jitnet.parse(path)
    # blank lines are allowed, CRLF too
    assert jitnet.parse(text=text.replace("\n", "\r\n\n")) == jitnet.parse(path)


@pytest.mark.parametrize("function", list(UNSUPPORTED), ids=list(UNSUPPORTED.values()))
def test_unsupported_function_is_located_at_the_neuron(driver, tmp_path, function):
    path = tmp_path / "bad.net"
    run_fann(driver, path, "standard", 5, function, (0.5, 0.5), 1, [2, 2, 1], np.zeros((1, 2)))
    lines = path.read_text().split("\n")
    row = next(k for k, line in enumerate(lines) if line.startswith("neurons ("))
    # The output neuron (6; inputs 0, 1, bias 2; hidden 3, 4, bias 5) reads 3 neurons.
    col = lines[row].index(f"(3, {function}, ") + len("(3, ") + 1
    with pytest.raises(jitnet.NetFormatError) as caught:
        jitnet.parse(path)
    assert str(caught.value).startswith(f"{path}:{row + 1}:{col}: expected a FANN activation function")
    assert str(caught.value).endswith(f"got '{function}'")


def test_constant_neurons_fold_into_biases():
    # A shortcut net: 1 input (+ bias); hidden neuron 2 reads only the bias (a constant),
    # neuron 3 reads the input, the bias and the constant neuron 2; the output 4 reads all.
    text = _fann_text(1, [2, 1, 1, 1], "(0, 0, 0.0) (0, 0, 0.0) (1, 3, 0.5) (3, 0, 1.0) (4, 5, 0.75)",
                      "(1, 0.25) "                            # 2: sigmoid(2 * 0.5 * 0.25)
                      "(0, 0.5) (1, -1.0) (2, 2.0) "         # 3: linear 0.5 x - 1 + 2 n2
                      "(0, 1.5) (1, 0.125) (2, -0.5) (3, 1.0)")  # 4: tanh(0.75 (...))
    net = jitnet.parse(text=text)
    n2 = 1 / (1 + np.exp(-2 * 0.5 * 0.25))
    assert net.n_neurons == 3 and net.edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    np.testing.assert_allclose(net.biases, [0, -1 + 2 * n2, 0.75 * (0.125 - 0.5 * n2)], rtol=1e-15)
    np.testing.assert_allclose(net.weights, [0.5, 0.75 * 1.5, 0.75], rtol=1e-15)
    x = np.linspace(-2, 2, 9)
    want = np.tanh(0.75 * (1.5 * x + 0.125 - 0.5 * n2 + (0.5 * x - 1 + 2 * n2)))
    np.testing.assert_allclose(jitnet.compile(net, dtype="float64").forward(x[:, None])[:, 0], want,
                               rtol=1e-12)


def test_constant_output_keeps_a_zero_weight_edge():
    # Layered 1-1 net whose output reads only the bias: FANN's sigmoid(2 * 1 * 0.5) for every x.
    text = _fann_text(0, [2, 2], "(0, 0, 0.0) (0, 0, 0.0) (1, 3, 1.0) (0, 3, 1.0)", "(1, 0.5)")
    net = jitnet.parse(text=text)
    assert net.edges.tolist() == [[0, 1]] and net.weights.tolist() == [0.0]
    assert net.outputs.tolist() == [1]
    y = jitnet.compile(net, dtype="float64").forward(np.array([[-3.0], [7.0]]))
    np.testing.assert_allclose(y[:, 0], 1 / (1 + np.exp(-1.0)), rtol=1e-15)


def _fann_text(network_type, layers, neurons, connections):
    keys = [f"num_layers={len(layers)}", "learning_rate=0.7", "connection_rate=1.0",
            f"network_type={network_type}"]
    keys += [f"{key}=0" for key in (
        "learning_momentum", "training_algorithm", "train_error_function", "train_stop_function",
        "cascade_output_change_fraction", "quickprop_decay", "quickprop_mu", "rprop_increase_factor",
        "rprop_decrease_factor", "rprop_delta_min", "rprop_delta_max", "rprop_delta_zero",
        "cascade_output_stagnation_epochs", "cascade_candidate_change_fraction",
        "cascade_candidate_stagnation_epochs", "cascade_max_out_epochs", "cascade_min_out_epochs",
        "cascade_max_cand_epochs", "cascade_min_cand_epochs", "cascade_num_candidate_groups",
        "bit_fail_limit", "cascade_candidate_limit", "cascade_weight_multiplier",
        "cascade_activation_functions_count")]
    keys += ["cascade_activation_functions=", "cascade_activation_steepnesses_count=0",
             "cascade_activation_steepnesses=", "layer_sizes=" + " ".join(map(str, layers)),
             "scale_included=0", f"neurons (num_inputs, activation_function, activation_steepness)={neurons}",
             f"connections (connected_to_neuron, weight)={connections}"]
    return "FANN_FLO_2.1\n" + "\n".join(keys) + "\n"

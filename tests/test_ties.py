"""Shared weights (SPEC §10, §3.3): tied nets in the model, the NEL, compiled code, generators and torch."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import dags

import jitnet
from jitnet import NetFormatError, nets, reference
from jitnet.cli import main

# --- the model ----------------------------------------------------------------------------


def _tied(net, seed, n_w=None, n_b=None, values=True):
    """`net` with random weight ties (P parameters) and bias ties (Q, some neurons without)."""
    rng = np.random.default_rng(seed)
    n_w = n_w or max(1, net.n_edges // 2)
    n_b = n_b or 3
    u = np.where(net.fan_in > 0, rng.integers(-1, n_b, net.n_neurons), -1)
    tied = net.tied(weight_ties=rng.integers(0, n_w, net.n_edges), bias_ties=u)
    if values:
        tied = tied.with_weights(rng.uniform(-1, 1, tied.n_weights), rng.uniform(-0.5, 0.5, tied.n_biases))
    return tied


def test_ties_follow_their_edges_into_canonical_order():
    net = jitnet.Net(4, [(1, 3), (0, 2), (0, 3)], weight_ties=[5, 7, 6], bias_ties=[-1, -1, 0, 1])
    assert net.edges.tolist() == [[0, 2], [0, 3], [1, 3]]
    assert net.weight_ties.tolist() == [7, 6, 5]
    assert (net.n_edges, net.n_weights, net.n_biases) == (3, 8, 2)
    assert jitnet.Net(4, [(0, 2)], weight_ties=[0], n_weights=4).n_weights == 4


@pytest.mark.parametrize("kwargs, error, message", [
    ({"weight_ties": [0, -1]}, ValueError, r"weight_ties\[1\] is -1"),
    ({"weight_ties": [0]}, ValueError, r"weight_ties has shape \(1,\); expected \(2,\)"),
    ({"weight_ties": [0.5, 1.0]}, TypeError, "must be integers"),
    ({"weight_ties": [0, 3], "n_weights": 2}, ValueError, "n_weights=2 but weight_ties names parameter 3"),
    ({"n_weights": 2}, ValueError, "pass weight_ties= too"),
    ({"bias_ties": [0, -1, 0]}, ValueError, r"bias_ties\[0\] is 0 for an input neuron"),
    ({"bias_ties": [-1, -1, -2]}, ValueError, r"expected -1 \(no bias\)"),
    ({"weight_ties": [0, 1], "weights": [1.0, 2.0, 3.0]}, ValueError, "one per weight parameter"),
    ({"bias_ties": [-1, -1, 0], "biases": [1.0, 2.0, 3.0]}, ValueError, "one per bias parameter"),
])
def test_tie_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        jitnet.Net(3, [(0, 2), (1, 2)], **kwargs)


def test_equality_covers_ties_and_pickle_round_trips():
    net = nets.dense([2, 3, 1])
    a = net.tied(weight_ties=np.arange(net.n_edges) % 3)
    assert a != net and a == net.tied(weight_ties=np.arange(net.n_edges) % 3)
    assert a != net.tied(weight_ties=(np.arange(net.n_edges) + 1) % 3)
    assert a != jitnet.Net(net.n_neurons, net.edges, net.activations, weight_ties=np.arange(net.n_edges) % 3,
                           n_weights=4)
    b = _tied(net, seed=1)
    again = pickle.loads(pickle.dumps(b))
    assert again == b and np.array_equal(again.bias_ties, b.bias_ties)


def test_tied_keeps_values_only_when_each_parameter_agrees():
    net = nets.dense([2, 2, 1]).with_weights(np.array([1.0, 2.0, 1.0, 2.0, 3.0, 3.0]), np.zeros(5))
    kept = net.tied(weight_ties=[0, 1, 0, 1, 2, 2])
    assert kept.weights.tolist() == [1.0, 2.0, 3.0] and kept.biases.tolist() == [0.0] * 5
    assert net.tied(weight_ties=[0, 0, 0, 1, 2, 2]).weights is None
    wann = net.tied(weight_ties=np.zeros(net.n_edges, int))
    assert wann.n_weights == 1 and wann.weights is None


# --- the NEL --------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(net=dags(max_neurons=14), seed=st.integers(0, 2**16), values=st.booleans())
def test_nel_round_trip_is_bit_exact(net, seed, values):
    tied = _tied(net, seed, values=values)
    text = jitnet.write(tied, "nel")
    again = jitnet.parse(text=text, format="nel")
    # NOTE: the NEL names only parameters some line uses; trailing unused ones are not written
    # without values, so compare against the count the text implies.
    if values:
        assert again == tied
    else:
        assert np.array_equal(again.weight_ties, tied.weight_ties)
        assert np.array_equal(again.bias_ties, tied.bias_ties)
    assert jitnet.write(again, "nel") == text


def test_nel_tie_lines_read():
    net = jitnet.parse(text="N 4\n00 02 @01\n01 02 @00\n02 03 @01\nbias 02 @00\n"
                            "w @00 0.5\nw @01 -0x1.8p-3\nb @00 2\nout 03\n", format="nel")
    assert net.weight_ties.tolist() == [1, 0, 1] and net.weights.tolist() == [0.5, -0.1875]
    assert net.bias_ties.tolist() == [-1, -1, 0, -1] and net.biases.tolist() == [2.0]
    assert jitnet.parse(text="N 3\n00 02 @04\n01 02 @00\n", format="nel").n_weights == 5


def test_b_then_a_neuron_is_an_edge():
    net = jitnet.parse(text="N 0d\n00 0b\nb 0c\n", format="nel")
    assert net.edges.tolist() == [[0, 11], [11, 12]]


@pytest.mark.parametrize("text, where, message", [
    ("N 3\n00 02 @00\n01 02\n", "3:6", "a parameter @P"),
    ("N 3\n00 02\n01 02 @00\n", "3:7", "no weight"),
    ("N 3\n00 02 @00\n01 02 0.5\n", "3:7", r"a parameter @P, as the first edge has"),
    ("N 3\n00 02 0.5\n01 02 @00\n", "3:7", r"a weight, as the first edge has"),
    ("N 3\n00 02 @00 0.5\n01 02 @00\n", "2:11", "end of line"),
    ("N 3\n00 02 @00\n01 02 @01\nw @00 1\nw @00 2\n", "5:3",
     r"one value line per parameter \(@00 has one on line 4\)"),
    ("N 3\n00 02 @00\n01 02 @01\nw @00 1\n", "4:3", r"@00\.\.@01 or for none \(@01 has none\)"),
    ("N 3\n00 02\n01 02\nw @00 1\n", "4:3", "no w value line in a net without edges with @P"),
    ("N 3\n00 02\n01 02\nb @00 1\n", "4:3", "no b value line in a net without bias lines with @Q"),
    ("N 4\n00 02\n01 03\nbias 02 @00\nbias 03 0.5\n", "5:9", "bias lines take @Q parameters throughout"),
    ("N 4\n00 02\n01 03\nbias 02 0.5\nbias 03 @00\n", "5:9", "bias lines take values throughout"),
    ("N 3\n00 02 @00\n01 02 @00\nw @00 inf\n", "4:7", "a finite weight"),
    ("N 3\n00 02\n01 02\nbias 01 @00\n", "4:6", "an input takes no bias"),
])
def test_nel_tie_errors_are_located(text, where, message):
    with pytest.raises(NetFormatError, match=rf"<text>:{where}: expected .*{message}"):
        jitnet.parse(text=text, format="nel")


# --- compiled code ---------------------------------------------------------------------------


def _untied_equivalent(tied):
    w = tied.weights[tied.weight_ties]
    b = np.append(tied.biases, 0.0)[tied.bias_ties]   # -1 reads the appended 0
    return jitnet.Net(tied.n_neurons, tied.edges, tied.activations, w, b)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(net=dags(max_neurons=16, codes=(0, 1, 3, 5, 9)), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(["float32", "float64"]), strategy=st.sampled_from(["ssa", "csr"]))
def test_forward_and_dx_unchanged_dw_folded_in_edge_order(net, seed, dtype, strategy):
    tied = _tied(net, seed)
    plain = _untied_equivalent(tied)
    cn = jitnet.compile(tied, dtype=dtype, strategy=strategy)
    cu = jitnet.compile(plain, dtype=dtype, strategy=strategy)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(19, net.n_inputs))
    dy = rng.normal(size=(19, cn.n_outputs))
    assert np.array_equal(cn.forward(x), cu.forward(x))
    g, gu = cn.backward(x, dy=dy), cu.backward(x, dy=dy)
    assert np.array_equal(g.dx, gu.dx)
    dw = np.zeros(tied.n_weights, dtype)
    for e, p in enumerate(tied.weight_ties.tolist()):
        dw[p] += gu.dw[e]
    db = np.zeros(tied.n_biases, dtype)
    for j, q in enumerate(tied.bias_ties.tolist()):
        if q >= 0:
            db[q] += gu.db[j]
    assert g.dw.shape == (tied.n_weights,) and np.array_equal(g.dw, dw)
    assert np.array_equal(g.db, db)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(net=dags(max_neurons=16), seed=st.integers(0, 2**16))
def test_tied_gradients_match_the_reference(net, seed):
    tied = _tied(net, seed)
    cn = jitnet.compile(tied, dtype="float64")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, net.n_inputs))
    dy = rng.normal(size=(7, cn.n_outputs))
    want = reference.vjp(tied, x, tied.weights, tied.biases, dy)
    got = cn.backward(x, dy=dy)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * (1 + np.abs(b).max(initial=0)))


def test_tied_dw_is_the_same_for_any_threads_and_out():
    net = nets.conv2d(12, 12, (1, 4), kernel=3, n_outputs=2, tied=True)
    cn = jitnet.compile(net, dtype="float32", threads=2)
    w, b = cn.init(seed=3)
    x = np.random.default_rng(0).normal(size=(3000, net.n_inputs))
    dy = np.random.default_rng(1).normal(size=(3000, 2))
    first = cn.backward(x, w, b, dy)
    out = jitnet.Gradients(np.empty_like(first.dx), np.empty_like(first.dw), np.empty_like(first.db))
    second = cn.backward(x, w, b, dy, out=out)
    assert second.dw is out.dw and np.array_equal(second.dw, first.dw) and np.array_equal(second.db, first.db)
    again = jitnet.compile(net, dtype="float32", threads=2).backward(x, w, b, dy)
    assert np.array_equal(again.dw, first.dw)


def test_init_scales_by_the_largest_fan_in_of_each_parameter():
    net = jitnet.Net(5, [(0, 3), (1, 3), (2, 3), (0, 4)], weight_ties=[0, 1, 1, 0], n_weights=3,
                     bias_ties=[-1, -1, -1, 0, 0])
    cn = jitnet.compile(net, dtype="float64")
    w, b = cn.init(seed=4)
    raw = np.random.default_rng(4).uniform(-1, 1, 3)
    assert np.array_equal(w, raw / np.sqrt([3, 3, 1])) and b.tolist() == [0.0]


def test_shapes_named_for_parameters():
    net = nets.dense([2, 2, 1]).tied(weight_ties=np.zeros(6, int))
    cn = jitnet.compile(net)
    with pytest.raises(ValueError, match=r"w has shape \(6,\); expected \(1,\) or \(S, 1\), one per weight param"):
        cn.forward(np.zeros(2), np.zeros(6))
    with pytest.raises(ValueError, match=r"expected \(1,\), one per weight parameter"):
        cn.backward(np.zeros(2), np.zeros(6), dy=np.zeros(1))


def test_training_a_tied_net_keeps_it_tied(tmp_path, capsys):
    net = nets.conv2d(4, 4, (1, 2), kernel=2, n_outputs=1, activation="tanh", tied=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16))
    y = x[:, :1] * 0.5
    cn = jitnet.compile(net, dtype="float64")
    w, b, history = jitnet.train(cn, x, y, epochs=30, batch_size=16, optimizer="adam", progress=False)
    assert w.shape == (net.n_weights,) and history["loss"][-1] < history["loss"][0]
    (tmp_path / "net.nel").write_text(jitnet.write(net, "nel"))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert main(["train", str(tmp_path / "net.nel"), "--data", str(tmp_path / "d.npz"), "-o",
                 str(tmp_path / "o.nel"), "--epochs", "2", "--dtype", "float64"]) == 0
    trained = jitnet.parse(tmp_path / "o.nel")
    assert trained.n_weights == net.n_weights and np.array_equal(trained.weight_ties, net.weight_ties)
    np.save(tmp_path / "x.npy", x[:2])
    capsys.readouterr()
    assert main(["run", str(tmp_path / "o.nel"), "--input", str(tmp_path / "x.npy"), "--dtype", "float64"]) == 0
    printed = np.array([[float(v) for v in line.split()] for line in capsys.readouterr().out.splitlines()])
    assert np.array_equal(printed, jitnet.compile(trained, dtype="float64").forward(x[:2]))


# --- many weight vectors per call ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_of_w_are_each_a_one_vector_call(dtype):
    net = nets.dense([4, 6, 3], activation="tanh").tied(bias_ties=[-1] * 4 + [0, 1, 0, 1, 0, 1, 2, 2, 2])
    cn = jitnet.compile(net, dtype=dtype)
    rng = np.random.default_rng(0)
    W, B = rng.normal(size=(5, cn.n_weights)), rng.normal(size=(5, cn.n_biases))
    x = rng.normal(size=(9, 4))
    Y = cn.forward(x, W, B)
    assert Y.shape == (5, 9, 3)
    for s in range(5):
        assert np.array_equal(Y[s], cn.forward(x, W[s], B[s]))
    shared = cn.forward(x, W, B[0])
    assert all(np.array_equal(shared[s], cn.forward(x, W[s], B[0])) for s in range(5))
    zeros = cn.forward(x[0], W)
    assert zeros.shape == (5, 3) and np.array_equal(zeros[2], cn.forward(x[0], W[2], np.zeros(3)))
    out = np.empty((5, 9, 3), dtype)
    assert cn.forward(x, W, B, out=out) is out and np.array_equal(out, Y)
    assert cn.forward(x, W[:0]).shape == (0, 9, 3)


def test_weight_agnostic_sweep():
    net = nets.dense([2, 3, 1], activation="tanh").tied(weight_ties=np.zeros(9, int))
    cn = jitnet.compile(net, dtype="float64")
    sweep = np.array([[-2.0], [-1.0], [-0.5], [0.5], [1.0], [2.0]])
    y = cn.forward(np.ones((4, 2)), sweep)
    assert y.shape == (6, 4, 1)
    assert np.array_equal(y[4], cn.forward(np.ones((4, 2)), [1.0]))


def test_rows_errors():
    cn = jitnet.compile(nets.dense([2, 2]), dtype="float64")
    with pytest.raises(ValueError, match=r"b has shape \(3, 2\); expected \(4,\), one per neuron"):
        cn.forward(np.zeros(2), np.zeros(4), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"b has shape \(2, 4\); expected \(4,\) or \(3, 4\)"):
        cn.forward(np.zeros(2), np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="backward takes one weight vector"):
        cn.backward(np.zeros(2), np.zeros((3, 4)), dy=np.zeros(2))
    with pytest.raises(ValueError, match="loss_and_grad takes one weight vector"):
        cn.loss_and_grad(np.zeros(2), np.zeros((3, 4)), target=np.zeros(2))


# --- generators against PyTorch -------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _flat(*tensors):
    return torch.cat([t.detach().flatten() for t in tensors]).numpy()


def test_tied_conv2d_is_torch_conv2d():
    torch.manual_seed(0)
    net = nets.conv2d(6, 5, (2, 4, 3), kernel=[(3, 2), 3], stride=[1, (2, 1)], padding=[(1, 0), 1],
                      groups=[2, 1], n_outputs=3, activation="tanh", tied=True)
    conv1 = torch.nn.Conv2d(2, 4, (3, 2), padding=(1, 0), groups=2, dtype=torch.float64)
    conv2 = torch.nn.Conv2d(4, 3, 3, stride=(2, 1), padding=1, dtype=torch.float64)
    head = torch.nn.Linear(3 * 3 * 4, 3, dtype=torch.float64)   # conv2 gives 3 x 3 x 4
    model = torch.nn.Sequential(conv1, torch.nn.Tanh(), conv2, torch.nn.Tanh(), torch.nn.Flatten(), head)
    w, b = _flat(conv1.weight, conv2.weight, head.weight), _flat(conv1.bias, conv2.bias, head.bias)
    assert (net.n_weights, net.n_biases) == (len(w), len(b))
    x = np.random.default_rng(0).normal(size=(5, 60))
    xt = torch.tensor(x.reshape(5, 2, 6, 5), requires_grad=True)
    yt = model(xt)
    cn = jitnet.compile(net, dtype="float64")
    np.testing.assert_allclose(cn.forward(x, w, b), yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    dy = np.random.default_rng(1).normal(size=(5, 3))
    yt.backward(torch.tensor(dy))
    g = cn.backward(x, w, b, dy)
    np.testing.assert_allclose(g.dw, _flat(conv1.weight.grad, conv2.weight.grad, head.weight.grad),
                               rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g.db, _flat(conv1.bias.grad, conv2.bias.grad, head.bias.grad),
                               rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g.dx, xt.grad.numpy().reshape(5, -1), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("layers", [1, 2])
def test_tied_rnn_is_torch_rnn(layers):
    torch.manual_seed(layers)
    n_in, steps, hidden, n_out = 3, 4, 5, 2
    net = nets.rnn(n_in, steps, hidden, n_out, n_layers=layers, tied=True)
    rnn = torch.nn.RNN(n_in, hidden, num_layers=layers, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(hidden, n_out, dtype=torch.float64)
    weights = [getattr(rnn, f"weight_{k}_l{l}") for l in range(layers) for k in ("ih", "hh")] + [head.weight]
    w = _flat(*weights)
    b = _flat(*[getattr(rnn, f"bias_ih_l{l}") + getattr(rnn, f"bias_hh_l{l}") for l in range(layers)], head.bias)
    x = np.random.default_rng(2).normal(size=(6, steps * n_in))
    xt = torch.tensor(x.reshape(6, steps, n_in), requires_grad=True)
    yt = head(rnn(xt)[0][:, -1])
    cn = jitnet.compile(net, dtype="float64")
    np.testing.assert_allclose(cn.forward(x, w, b), yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    dy = np.random.default_rng(3).normal(size=(6, n_out))
    yt.backward(torch.tensor(dy))
    g = cn.backward(x, w, b, dy)
    np.testing.assert_allclose(g.dw, _flat(*[t.grad for t in weights]), rtol=1e-11, atol=1e-12)
    db = [getattr(rnn, f"bias_ih_l{l}").grad for l in range(layers)] + [head.bias.grad]
    np.testing.assert_allclose(g.db, _flat(*db), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g.dx, xt.grad.numpy().reshape(6, -1), rtol=1e-11, atol=1e-12)


def test_conv2d_pairs_and_errors():
    assert nets.conv2d(5, 7, (1, 1), kernel=(3, 5)).n_neurons == 35 + 3 * 3
    assert nets.conv2d(5, 7, (1, 1, 1), kernel=[(3, 5), 1]).n_neurons == 35 + 9 + 9
    with pytest.raises(ValueError, match="padding"):
        nets.conv2d(5, 5, (1, 1), kernel=(3, 2), padding=(1, 2))
    with pytest.raises(ValueError, match="expected an int or a pair"):
        nets.conv2d(5, 5, (1, 1, 1), kernel=[(3, 3, 3), 3])


# --- the examples -------------------------------------------------------------------------------


def _example(name, monkeypatch):
    import importlib.util
    from pathlib import Path
    folder = Path(__file__).resolve().parent.parent / "examples"
    monkeypatch.syspath_prepend(str(folder))   # conv_digits imports digits' loader
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wann_example_scores_the_sweep_in_one_call(monkeypatch, capsys):
    accuracy = _example("wann", monkeypatch).main()
    assert accuracy.shape == (6,) and (accuracy[1:] == 1.0).all() and accuracy[0] < 0.5
    assert "mean accuracy over the sweep" in capsys.readouterr().out


def test_es_example_learns_from_forward_calls_only(monkeypatch):
    start, final = _example("es", monkeypatch).main()
    assert final < 0.05 * start


def test_conv_digits_example_trains_a_tied_conv_net(monkeypatch):
    results = _example("conv_digits", monkeypatch).main()
    assert results[True] > 0.9 and results[False] > 0.9

"""from_torch against torch itself in float64 (SPEC §8)."""

import numpy as np
import pytest

import jitnet
from jitnet.importers import from_torch

torch = pytest.importorskip("torch")
nn = torch.nn


ACTIVATIONS = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "SiLU": nn.SiLU,
               "GELU": lambda: nn.GELU(approximate="none"), "LeakyReLU": lambda: nn.LeakyReLU(0.01),
               "Softplus": nn.Softplus, "ELU": nn.ELU}
NEW_ACTIVATIONS = {"SELU": nn.SELU, "Hardtanh": nn.Hardtanh}


def check(model, x, net=None):
    """jitnet's float64 forward of the imported model within 1e-9 (1 + max|y|) of torch's, per sample."""
    model = model.double().eval()
    net = from_torch(model) if net is None else net
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    got = jitnet.compile(net, dtype="float64").forward(x.reshape(len(x), -1))
    err = np.abs(got - expected).max(axis=1)
    tol = 1e-9 * (1 + np.abs(expected).max(axis=1))
    assert (err <= tol).all(), f"sample {int(np.argmax(err > tol))}: error {err.max()}"
    return net


def random_mlp(seed, widths, activations, bias=True, sparsity=0.0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(widths) - 1):
        layers.append(nn.Linear(widths[k], widths[k + 1], bias=bias))
        if sparsity:
            with torch.no_grad():
                layers[-1].weight[torch.from_numpy(rng.random(layers[-1].weight.shape) < sparsity)] = 0.0
        make = activations[rng.integers(len(activations))]
        if make is not None:
            layers.append(make())
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activation(name):
    model = nn.Sequential(nn.Linear(5, 7), ACTIVATIONS[name](), nn.Linear(7, 3), ACTIVATIONS[name]())
    x = np.random.default_rng(0).normal(0, 2, (32, 5))
    net = check(model, x)
    assert net.n_neurons == 15 and net.n_outputs == 3


@pytest.mark.parametrize("name", list(NEW_ACTIVATIONS))
def test_each_new_activation(name):
    model = nn.Sequential(nn.Linear(5, 7), NEW_ACTIVATIONS[name](), nn.Linear(7, 3), NEW_ACTIVATIONS[name]())
    check(model, np.random.default_rng(0).normal(0, 2, (32, 5)))


@pytest.mark.parametrize("seed", range(12))
def test_random_models(seed):
    rng = np.random.default_rng(seed)
    widths = rng.integers(1, 12, rng.integers(2, 6)).tolist()
    choices = [*ACTIVATIONS.values(), None]
    model = random_mlp(seed, widths, choices, bias=bool(seed % 3), sparsity=0.3 * (seed % 2))
    check(model, rng.normal(0, 1.5, (20, widths[0])))


def test_a_single_linear_module():
    torch.manual_seed(5)
    check(nn.Linear(4, 3), np.random.default_rng(5).normal(size=(6, 4)))


def test_importing_jitnet_loads_no_optional_library():
    import subprocess
    import sys

    code = "import sys, jitnet; print(sorted({'torch', 'onnx', 'neat', 'onnxruntime'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_nested_sequential_flatten_identity_dropout_and_paths():
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(6, 4), nn.Dropout(0.5), nn.Tanh()),
                          nn.Identity(), nn.Sequential(nn.Sequential(nn.Linear(4, 2))))
    x = np.random.default_rng(1).normal(size=(8, 2, 3))
    net = check(model, x, from_torch(model.double(), input_shape=(2, 3)))
    assert net.activations.tolist() == [0] * 6 + [2] * 4 + [0] * 2
    with pytest.raises(ValueError, match=r"input_shape \(5,\)"):
        from_torch(model, input_shape=(5,))


@pytest.mark.parametrize("model, message", [
    (lambda: nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), r"module 0 \(ReLU\): an activation before any Linear"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.Tanh())),
     r"module 2\.0 \(Tanh\): two activations in a row"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.MaxPool1d(2)), r"module 1 \(MaxPool1d\) is not supported"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.2)), r"module 1 .*negative_slope=0.01"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=2)), r"module 1 .*beta=1"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh")), r"module 1 .*approximate='none'"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.ELU(alpha=0.5)), r"module 1 .*alpha=1"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.Hardtanh(-2, 2)), r"module 1 .*min_val=-1, max_val=1"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU6()), r"module 1 \(ReLU6\) is not supported"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)),
     r"a model starting with Conv2d \(0\) needs input_shape=\(C, H, W\)"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), r"module 0 \(Conv2d\): expected padding_mode='zeros'"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), r"module 0 .*dilation 1"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=3)), r"module 0 .*must be smaller than the kernel"),
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.Conv2d(1, 2, 3)), r"module 1 \(Conv2d\): a Conv2d after a Linear"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 2)), r"module 1 \(Linear\): in_features 4"),
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Flatten()), r"module 1 \(Flatten"),
    (lambda: nn.Sequential(nn.Tanh()), r"module 0 \(Tanh\)"),
    (lambda: nn.Sequential(nn.Identity()), "no Linear or Conv2d layer"),
])
def test_unsupported_is_a_value_error_naming_the_path(model, message):
    with pytest.raises(ValueError, match=message):
        from_torch(model())


def test_zero_weights_are_no_edges_and_threshold_drops_small_ones():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 1e-3, 2.0], [0.5, 0.0, -3.0]]))
    assert from_torch(model).n_edges == 4 + 2
    assert from_torch(model, threshold=2e-3).n_edges == 3 + 2
    with pytest.raises(ValueError, match="threshold"):
        from_torch(model, threshold=-1.0)


def test_constant_units_are_folded_and_a_constant_output_keeps_a_zero_edge():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 2), nn.Tanh()).double()
    with torch.no_grad():
        model[0].weight[1] = 0.0      # unit 1 of layer 0 is the constant sigmoid(b)
        model[2].weight[1] = 0.0      # output 1 is constant tanh(b)
    net = check(model, np.random.default_rng(2).normal(size=(10, 2)))
    assert net.n_neurons == 2 + 2 + 2
    out = int(net.outputs[1])
    assert net.edges[net.edges[:, 1] == out].tolist() == [[0, out]]
    assert net.weights[net.edges[:, 1] == out].tolist() == [0.0]


def expected_edges(weights):
    """Nonzero weights, less those leaving units that have no nonzero weight from a live unit (constants),
    plus one zero-weight edge per constant output: the count SPEC §8's folding leaves."""
    live = torch.ones(weights[0].shape[1], dtype=torch.bool)
    count = 0
    for w in weights:
        effective = (w != 0) & live[None, :]
        count += int(effective.sum())
        live = effective.any(dim=1)
    return count + int((~live).sum())


@pytest.mark.parametrize("amount", [0.9, 0.99])
def test_pruned_model_is_sparse(amount):
    prune = pytest.importorskip("torch.nn.utils.prune")
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64), nn.Tanh(), nn.Linear(64, 10))
    model = model.double()
    layers = (model[0], model[2], model[4])
    for layer in layers:
        prune.l1_unstructured(layer, "weight", amount=amount)
    weights = [layer.weight.detach() for layer in layers]
    nonzero = sum(int((w != 0).sum()) for w in weights)
    assert nonzero == sum(round((1 - amount) * w.numel()) for w in weights)
    net = from_torch(model)
    assert net.n_edges == expected_edges(weights)
    if amount == 0.9:   # no unit is constant at 90%: every nonzero weight is an edge, and no other
        assert net.n_edges == nonzero
    check(model, np.random.default_rng(4).normal(size=(50, 256)), net)


def test_conv2d_imports_tied_as_nets_conv2d_numbers_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 6, (3, 2), stride=(2, 1), groups=2), nn.Tanh(),
                          nn.Flatten(), nn.Linear(6 * 3 * 7, 3)).double()
    net = from_torch(model, input_shape=(2, 8, 8))
    same = jitnet.nets.conv2d(8, 8, (2, 4, 6), kernel=[3, (3, 2)], stride=[1, (2, 1)], padding=[1, 0],
                              groups=[1, 2], n_outputs=3, activation="relu", tied=True)
    assert np.array_equal(net.edges, same.edges) and np.array_equal(net.weight_ties, same.weight_ties)
    assert np.array_equal(net.bias_ties, same.bias_ties)
    second = net.activations[same.n_inputs + 8 * 8 * 4:same.n_neurons - 3]
    assert set(second.tolist()) == {jitnet.activation_code("tanh")}
    x = np.random.default_rng(0).normal(size=(5, 128))
    xt = torch.tensor(x.reshape(5, 2, 8, 8), requires_grad=True)
    yt = model(xt)
    cn = jitnet.compile(net, dtype="float64")
    np.testing.assert_allclose(cn.forward(x), yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    dy = np.random.default_rng(1).normal(size=(5, 3))
    yt.backward(torch.tensor(dy))
    g = cn.backward(x, dy=dy)
    want = np.concatenate([p.grad.flatten().numpy() for p in model.parameters() if p.dim() > 1])
    np.testing.assert_allclose(g.dw, want, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g.dx, xt.grad.numpy().reshape(5, -1), rtol=1e-11, atol=1e-12)


def test_conv2d_import_needs_no_pruning_and_the_right_channels():
    model = nn.Sequential(nn.Conv2d(1, 2, 3)).double()
    with pytest.raises(ValueError, match="import conv models with threshold=0"):
        from_torch(model, input_shape=(1, 4, 4), threshold=0.1)
    with pytest.raises(ValueError, match=r"input_shape \(2, 4, 4\) has 2 channels; 0 expects 1"):
        from_torch(model, input_shape=(2, 4, 4))
    assert from_torch(model, input_shape=(1, 4, 4)).n_outputs == 2 * 2 * 2

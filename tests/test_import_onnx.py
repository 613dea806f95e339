"""from_onnx against onnxruntime (SPEC §8): graphs built with onnx.helper, and graphs torch.onnx.export writes."""

import io

import numpy as np
import pytest

import jitnet
from jitnet.activations import activation_code
from jitnet.importers import from_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}
TOLERANCE = {"float32": 1e-5, "float64": 1e-9}


def model(nodes, weights, n_in, n_out, dtype="float32", opset=17, in_shape=None):
    """A graph from input x to output y; `weights` maps initializer names to float64 arrays."""
    elem = DTYPES[dtype]
    inits = [numpy_helper.from_array(np.asarray(v, dtype=dtype if np.asarray(v).dtype.kind == "f" else None), k)
             for k, v in weights.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, in_shape or ["batch", n_in])],
                              [helper.make_tensor_value_info("y", elem, ["batch", n_out])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def check(m, x, dtype="float32", net=None):
    """jitnet (in the model's dtype) within SPEC §8's tolerance of onnxruntime, per sample."""
    x = np.asarray(x, dtype=dtype)
    net = from_onnx(m) if net is None else net
    try:
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    except ort.capi.onnxruntime_pybind11_state.NotImplemented as e:
        pytest.skip(f"onnxruntime has no {dtype} kernel: {str(e).split(' : ')[-1]}")
    expected = session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float64)
    got = jitnet.compile(net, dtype=dtype).forward(x.reshape(len(x), -1)).astype(np.float64)
    err = np.abs(got - expected.reshape(len(x), -1)).max(axis=1)
    tol = TOLERANCE[dtype] * (1 + np.abs(expected.reshape(len(x), -1)).max(axis=1))
    assert (err <= tol).all(), f"sample {int(np.argmax(err > tol))}: error {err.max()}"
    return net


def rng_weights(seed, n_in=4, n_hidden=5, n_out=3):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(n_in, n_hidden)), "B1": rng.normal(size=n_hidden),
            "W2": rng.normal(size=(n_hidden, n_out)), "B2": rng.normal(size=n_out)}


def x_of(seed, n=4, count=40):
    return np.random.default_rng(seed + 100).normal(0, 1.5, (count, n))


def two_layer(act_nodes, dtype, opset=17, extra=None):
    """x -> MatMul+Add -> activation nodes (h -> a) -> Gemm -> y."""
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m"]), helper.make_node("Add", ["m", "B1"], ["h"]),
             *act_nodes, helper.make_node("Gemm", ["a", "W2", "B2"], ["y"])]
    return model(nodes, {**rng_weights(0), **(extra or {})}, 4, 3, dtype, opset)


def act(op, **attrs):
    return [helper.make_node(op, ["h"], ["a"], **attrs)]


ACTS = {
    "Relu": act("Relu"), "Sigmoid": act("Sigmoid"), "Tanh": act("Tanh"), "Softplus": act("Softplus"),
    "LeakyRelu": act("LeakyRelu", alpha=0.01), "Elu": act("Elu"), "Abs": act("Abs"), "Sin": act("Sin"),
    "Cos": act("Cos"), "Identity": act("Identity"), "Dropout": act("Dropout"),
    "Silu": [helper.make_node("Sigmoid", ["h"], ["s"]), helper.make_node("Mul", ["h", "s"], ["a"])],
    "SiluSwapped": [helper.make_node("Sigmoid", ["h"], ["s"]), helper.make_node("Mul", ["s", "h"], ["a"])],
    "GeluErf": [helper.make_node("Div", ["h", "SQRT2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                helper.make_node("Add", ["e", "ONE"], ["p"]), helper.make_node("Mul", ["h", "p"], ["q"]),
                helper.make_node("Mul", ["q", "HALF"], ["a"])],
    "GeluErfHalfFirst": [helper.make_node("Mul", ["h", "INV_SQRT2"], ["d"]),
                         helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["ONE", "e"], ["p"]),
                         helper.make_node("Mul", ["h", "HALF"], ["q"]),
                         helper.make_node("Mul", ["q", "p"], ["a"])],
}
GELU_CONSTANTS = {"SQRT2": np.array(np.sqrt(2.0)), "INV_SQRT2": np.array(1 / np.sqrt(2.0)),
                  "ONE": np.array(1.0), "HALF": np.array(0.5)}
NEW_ACTS = {"Exp": (act("Exp"), 17), "Selu": (act("Selu"), 17),
            "ClipAttrs": (act("Clip", min=-1.0, max=1.0), 6),
            "ClipInputs": ([helper.make_node("Clip", ["h", "LO", "HI"], ["a"])], 13)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTS))
def test_each_op(name, dtype):
    m = two_layer(ACTS[name], dtype, extra=GELU_CONSTANTS if "Gelu" in name else None)
    net = check(m, x_of(0), dtype)
    assert net.n_neurons == 4 + 5 + 3 and net.n_outputs == 3


@pytest.mark.parametrize("dtype", ["float32"])
def test_gelu_op(dtype):
    check(two_layer(act("Gelu"), dtype, opset=20), x_of(1), dtype)
    assert from_onnx(two_layer(act("Gelu"), dtype, opset=20)).activations[5] == activation_code("gelu")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NEW_ACTS))
def test_each_new_op(name, dtype):
    nodes, opset = NEW_ACTS[name]
    extra = {"LO": np.array(-1.0), "HI": np.array(1.0)}
    check(two_layer(nodes, dtype, opset, extra), x_of(2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_b, alpha, beta, c_shape", [(0, 1.0, 1.0, (3,)), (1, 0.5, 2.0, (1, 3)),
                                                          (1, 1.0, 1.0, ()), (0, 2.0, 0.0, None)])
def test_gemm_attributes(trans_b, alpha, beta, c_shape, dtype):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 4) if trans_b else (4, 3))
    inputs = ["x", "W"] + ([] if c_shape is None else ["C"])
    weights = {"W": w, **({} if c_shape is None else {"C": rng.normal(size=c_shape)})}
    m = model([helper.make_node("Gemm", inputs, ["y"], transB=trans_b, alpha=alpha, beta=beta)], weights, 4, 3,
              dtype)
    check(m, x_of(3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_reshape_transpose_constant(dtype):
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1, 6]))),
             helper.make_node("Reshape", ["f", "shape"], ["r"]),
             helper.make_node("Transpose", ["WT"], ["W"], perm=[1, 0]),
             helper.make_node("Constant", [], ["B"],
                              value=numpy_helper.from_array(rng.normal(size=2).astype(dtype))),
             helper.make_node("MatMul", ["r", "W"], ["m"]), helper.make_node("Add", ["B", "m"], ["y"])]
    m = model(nodes, {"WT": rng.normal(size=(2, 6))}, 6, 2, dtype, in_shape=["batch", 2, 3])
    check(m, rng.normal(size=(10, 2, 3)), dtype)


def test_one_dimensional_input():
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["h"]),
             helper.make_node("Tanh", ["h"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              [numpy_helper.from_array(rng.normal(size=(4, 2)).astype("float32"), "W"),
                               numpy_helper.from_array(rng.normal(size=2).astype("float32"), "B")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.normal(size=4).astype("float32")
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    got = jitnet.compile(from_onnx(m)).forward(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * (1 + np.abs(expected).max()))


def test_path_bytes_and_proto_agree(tmp_path):
    m = two_layer(ACTS["Relu"], "float32")
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    assert from_onnx(path) == from_onnx(str(path)) == from_onnx(m.SerializeToString()) == from_onnx(m)


def test_zeros_and_threshold_drop_edges():
    w = np.array([[0.0, 1.0], [0.25, 0.0], [2.0, -3.0]])
    m = model([helper.make_node("MatMul", ["x", "W"], ["y"])], {"W": w}, 3, 2, "float64")
    assert from_onnx(m).n_edges == 4
    assert from_onnx(m, threshold=0.5).n_edges == 3
    check(m, x_of(6, 3), "float64")


def test_constant_units_are_folded():
    weights = rng_weights(7)
    weights["W1"][:, 2] = 0.0
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"]), helper.make_node("Sigmoid", ["h"], ["a"]),
             helper.make_node("Gemm", ["a", "W2", "B2"], ["y"])]
    net = check(model(nodes, weights, 4, 3, "float64"), x_of(7), "float64")
    assert net.n_neurons == 4 + 4 + 3


@pytest.mark.parametrize("nodes, weights, message", [
    ([helper.make_node("Conv", ["x", "W"], ["y"], name="conv1")], {"W": np.ones((1, 1, 1, 1))},
     "ONNX node 'conv1' \\(Conv\\): op Conv is not supported"),
    ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("MaxPool", ["m"], ["y"], name="pool")],
     {"W": np.ones((4, 3))}, "'pool' \\(MaxPool\\)"),
    ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("LeakyRelu", ["m"], ["y"], alpha=0.2)],
     {"W": np.ones((4, 3))}, "LeakyRelu\\): attributes"),
    ([helper.make_node("Relu", ["x"], ["y"])], {}, "Relu\\): an activation must apply"),
    ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Erf", ["m"], ["y"])],
     {"W": np.ones((4, 3))}, "Erf is supported only in GELU's form"),
    ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Sigmoid", ["m"], ["s"]),
      helper.make_node("Mul", ["s", "s"], ["y"])], {"W": np.ones((4, 3))}, "x \\* Sigmoid\\(x\\)"),
    ([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Mul", ["m", "K"], ["y"])],
     {"W": np.ones((4, 3)), "K": np.array(2.0)}, "supported only as part of GELU's form"),
    ([helper.make_node("MatMul", ["x", "W"], ["y"])], {"W": np.ones((5, 3))}, "weight shape \\(5, 3\\)"),
])
def test_unsupported_names_the_node_and_op(nodes, weights, message):
    n_out = 3
    m = helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        [numpy_helper.from_array(np.asarray(v, dtype="float32"), k) for k, v in weights.items()]))
    with pytest.raises(ValueError, match=message):
        from_onnx(m)


def torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    return {
        "relu-mlp": nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)),
        "smooth": nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.SiLU(), nn.Dropout(0.1), nn.Linear(8, 5),
                                nn.GELU(), nn.Linear(5, 4), nn.Softplus(), nn.Linear(4, 3), nn.Sigmoid()),
        "leaky": nn.Sequential(nn.Linear(6, 7), nn.LeakyReLU(0.01), nn.Linear(7, 4), nn.ELU(), nn.Linear(4, 2)),
        "new-codes": nn.Sequential(nn.Linear(6, 7), nn.SELU(), nn.Linear(7, 4), nn.Hardtanh(), nn.Linear(4, 2)),
    }


EXPORTS = [(dynamo, opset) for dynamo in (False, True) for opset in (17, 20)]


@pytest.mark.parametrize("dynamo, opset", EXPORTS)
@pytest.mark.parametrize("name", ["relu-mlp", "smooth", "leaky"])
def test_torch_onnx_export(name, dynamo, opset):
    """opset 17 writes GELU in its Erf form; dynamo writes Softplus with torch's threshold test."""
    export_and_check(name, dynamo, opset)


@pytest.mark.parametrize("dynamo, opset", EXPORTS)
def test_torch_onnx_export_new_codes(dynamo, opset):
    export_and_check("new-codes", dynamo, opset)


def export_and_check(name, dynamo, opset):
    torch = pytest.importorskip("torch")
    module = torch_models()[name].eval()
    buffer = io.BytesIO()
    kwargs = {"dynamo": dynamo, "opset_version": opset}
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    else:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}}
    torch.onnx.export(module, (torch.randn(2, 6),), buffer, input_names=["x"], output_names=["y"], **kwargs)
    m = onnx.load_from_string(buffer.getvalue())
    net = check(m, x_of(8, 6), "float32")
    with torch.no_grad():
        direct = jitnet.from_torch(module)
    assert net.n_neurons == direct.n_neurons and np.array_equal(net.edges, direct.edges)
    assert np.array_equal(net.activations, direct.activations)


def test_graph_with_two_inputs_or_unknown_width_is_rejected():
    two = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["x", "z"], ["y"])], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 2]) for n in ("x", "z")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])]))
    with pytest.raises(ValueError, match="2 inputs and 1 outputs; expected one of each"):
        from_onnx(two)
    unknown = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "n"])]))
    with pytest.raises(ValueError, match="expected \\(batch, n\\) or \\(n,\\) with n known"):
        from_onnx(unknown)
    with pytest.raises(ValueError, match="threshold"):
        from_onnx(two, threshold=float("nan"))


def test_parse_and_compile_take_onnx_paths_and_bytes(tmp_path):
    model = two_layer(act("Relu"), "float32")
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    expected = from_onnx(model)
    assert jitnet.parse(path) == expected
    assert jitnet.parse(str(path)) == expected
    assert jitnet.parse(model.SerializeToString()) == expected
    other = tmp_path / "model.bin"
    other.write_bytes(model.SerializeToString())
    assert jitnet.parse(other, format="onnx") == expected
    x = np.random.default_rng(0).normal(size=(3, expected.n_inputs))
    assert np.array_equal(jitnet.compile(path).forward(x), jitnet.compile(expected).forward(x))

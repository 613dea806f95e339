"""Import an ONNX model: a path, bytes or `onnx.ModelProto` -> `Net` (SPEC §8).

The graph is walked once in node order, each tensor becoming one of:

- `_Const`: a constant array (an initializer, a `Constant`, a `Transpose` of one);
- `_Units`: neurons of the net (the input, or a layer already built);
- `_Pre`: a pending weighted sum `units @ W + b` (from `MatMul` or `Gemm`;
  an `Add` of a constant moves into `b`);
- `_Act`: an activation applied to a `_Pre`;
- `_Partial`: a piece of a known composite form over one `_Pre` (the `Erf`
  form of GELU, the threshold test of torch's Softplus), usable only inside that form.

A `_Pre` or `_Act` becomes neurons only when something consumes it as
neurons (the next weighted op or the graph output), so `x * Sigmoid(x)` and
the `Erf` form of GELU become one neuron per unit (silu, gelu), as torch
computes them. What no code expresses exactly is a `ValueError` naming the
node and its op.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ..activations import activation_code
from ..net import Net
from .fold import build_net

_SQRT2 = (math.sqrt(2.0), float(np.float32(math.sqrt(2.0))))
_INV_SQRT2 = (1.0 / math.sqrt(2.0), float(np.float32(1.0 / math.sqrt(2.0))))
# NOTE: ONNX stores float attributes as float32; torch writes these constants that way.
_F32 = np.float32
_SELU = (float(_F32(1.6732632423543772848170429916717)), float(_F32(1.0507009873554804934193349852946)))
_ACTIVATION_OPS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
                   "Exp": "exp", "Abs": "abs", "Sin": "sin", "Cos": "cos"}


@dataclass
class _Const:
    value: np.ndarray


@dataclass
class _Units:
    index: np.ndarray


@dataclass(eq=False)
class _Pre:
    src: np.ndarray
    w: np.ndarray
    b: np.ndarray
    built: Optional[np.ndarray] = None


@dataclass(eq=False)
class _Act:
    pre: _Pre
    code: int
    built: Optional[np.ndarray] = None


@dataclass(eq=False)
class _Partial:
    pre: _Pre
    # "scaled" (c x), "erf" (erf(x / sqrt2)), "1+erf" (c (1 + erf)), "x(1+erf)" (c x (1 + erf)), "above" (x > c)
    kind: str
    c: float
    node: str


@dataclass
class _Draft:
    n_inputs: int
    threshold: float
    codes: List[int] = field(default_factory=list)
    biases: List[np.ndarray] = field(default_factory=list)
    src: List[np.ndarray] = field(default_factory=list)
    dst: List[np.ndarray] = field(default_factory=list)
    weights: List[np.ndarray] = field(default_factory=list)

    def layer(self, pre: _Pre, code: int) -> np.ndarray:
        """Append the units `f(units @ W + b)`; zeros and |w| <= threshold are no edges."""
        first = self.n_inputs + len(self.codes)
        rows, cols = np.nonzero(np.abs(pre.w) > self.threshold)
        self.src.append(pre.src[rows])
        self.dst.append(first + cols)
        self.weights.append(pre.w[rows, cols])
        n = pre.w.shape[1]
        self.codes.extend([code] * n)
        self.biases.append(np.broadcast_to(pre.b, (n,)).astype(np.float64))
        return np.arange(first, first + n)


def from_onnx(model: Any, threshold: float = 0.0) -> Net:
    """The `Net` of a one-input, one-output ONNX graph of the ops SPEC §8 lists, with weights.

        >>> net = jitnet.from_onnx("model.onnx")    # doctest: +SKIP

    Raises:
        ValueError: naming the node and op for an unsupported op or form, or
            for a graph with other than one input and one output.
    """
    import onnx  # NOTE: optional dependency, loaded only when the importer is used (SPEC §8).
    from onnx import numpy_helper

    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if isinstance(model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(model))
    elif not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = model.graph
    values: Dict[str, Any] = {t.name: _Const(numpy_helper.to_array(t).astype(np.float64))
                              for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in values]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(f"ONNX graph has {len(inputs)} inputs and {len(graph.output)} outputs; "
                         f"expected one of each")
    n_inputs = _input_width(inputs[0])
    values[inputs[0].name] = _Units(np.arange(n_inputs))
    draft = _Draft(n_inputs, float(threshold))
    for node in graph.node:
        results = _apply(node, [values.get(name) if name else None for name in node.input], draft)
        for name, value in zip(node.output, results):
            values[name] = value
    out = graph.output[0].name
    if out not in values:
        raise ValueError(f"ONNX graph output {out!r} is computed by no node")
    outputs = _units(values[out], f"graph output {out!r}", draft)
    return build_net(n_inputs, [0] * n_inputs + draft.codes,
                     np.concatenate([np.zeros(n_inputs), *draft.biases]),
                     np.concatenate([np.zeros(0, np.int64), *draft.src]),
                     np.concatenate([np.zeros(0, np.int64), *draft.dst]),
                     np.concatenate([np.zeros(0), *draft.weights]), outputs, source="ONNX model")


def _input_width(value_info) -> int:
    dims = value_info.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    features = [d for d in (shape[1:] if len(shape) >= 2 else shape) if d is not None]
    if not features or len(features) != max(len(shape) - 1, 1):
        raise ValueError(f"ONNX input {value_info.name!r} has shape {shape}; expected (batch, n) or (n,) "
                         f"with n known")
    return math.prod(features)   # NOTE: a (batch, C, H, W) input is read flattened, as Flatten would.


def _apply(node, args: List[Any], draft: _Draft) -> List[Any]:
    op = node.op_type
    where = f"ONNX node {node.name or node.output[0]!r} ({op})"
    attrs = {a.name: _attribute(a) for a in node.attribute}

    if op == "Constant":
        return [_Const(_constant(node, attrs, where))]
    if op in ("Identity", "Dropout"):
        return [args[0]]
    if op == "Transpose":
        if not isinstance(args[0], _Const):
            raise ValueError(f"{where}: only a Transpose of an initializer is supported")
        return [_Const(np.transpose(args[0].value, attrs.get("perm")))]
    if op == "Flatten":
        if attrs.get("axis", 1) != 1 or isinstance(args[0], (_Const, _Partial)):
            raise ValueError(f"{where}: only Flatten(axis=1) of the input or a layer is supported")
        return [args[0]]
    if op == "Reshape":
        shape = _const(args[1], where).ravel()
        if isinstance(args[0], (_Const, _Partial)) or len(shape) != 2 or shape[1] not in (-1, _width(args[0])):
            raise ValueError(f"{where}: only Reshape(batch, -1) of the input or a layer is supported")
        return [args[0]]
    if op == "MatMul":
        w = _const(args[1], where)
        src = _units(args[0], where, draft)
        if w.ndim != 2 or w.shape[0] != len(src):
            raise ValueError(f"{where}: weight shape {w.shape} does not fit the {len(src)} units it reads")
        return [_Pre(src, w, np.zeros(w.shape[1]))]
    if op == "Gemm":
        return [_gemm(args, attrs, where, draft)]
    if op in ("Add", "Sum") and len(args) == 2:
        return [_add(args, where)]
    if op in ("Mul", "Div"):
        return [_mul(op, args, where)]
    if op == "Erf":
        x = args[0]
        if isinstance(x, _Partial) and x.kind == "scaled" and x.c in _INV_SQRT2:
            return [_Partial(x.pre, "erf", 1.0, where)]
        raise ValueError(f"{where}: Erf is supported only in GELU's form x/2 (1 + erf(x / sqrt 2))")
    if op == "Greater":
        return [_greater(args, where)]
    if op == "Where":
        return [_where(args, where)]
    return [_activation(op, args, attrs, where)]


def _greater(args, where) -> _Partial:
    """`x > t` of a weighted sum: the test of torch's `Softplus(threshold=t)`, `where(x > t, x, softplus x)`."""
    x, t = args
    if isinstance(x, _Pre) and isinstance(t, _Const) and t.value.size == 1:
        return _Partial(x, "above", float(t.value.ravel()[0]), where)
    raise ValueError(f"{where}: Greater is supported only as torch's Softplus threshold test (x > t, t >= 20)")


def _where(args, where) -> _Act:
    """`where(x > t, x, softplus x)` is softplus x within 2e-9 relative when t >= 20 (SPEC §8: threshold >= 20)."""
    test, a, b = args
    if (isinstance(test, _Partial) and test.kind == "above" and test.c >= 20 and a is test.pre
            and isinstance(b, _Act) and b.pre is test.pre and b.code == activation_code("softplus")):
        return b
    raise ValueError(f"{where}: Where is supported only as torch's Softplus threshold, "
                     f"where(x > t, x, Softplus(x)) with t >= 20")


def _activation(op, args, attrs, where) -> _Act:
    if op in _ACTIVATION_OPS:
        name = _ACTIVATION_OPS[op]
    elif op == "LeakyRelu" and _F32(attrs.get("alpha", 0.01)) == _F32(0.01):
        name = "leaky_relu"
    elif op == "Elu" and attrs.get("alpha", 1.0) == 1.0:
        name = "elu"
    elif op == "Selu" and (attrs.get("alpha", _SELU[0]), attrs.get("gamma", _SELU[1])) == _SELU:
        name = "selu"
    elif op == "Gelu" and attrs.get("approximate", "none") == "none":
        name = "gelu"
    elif op == "Clip" and _clip_bounds(args, attrs, where) == (-1.0, 1.0):
        name = "clamped"
    elif op in ("LeakyRelu", "Elu", "Selu", "Gelu", "Clip"):
        raise ValueError(f"{where}: attributes {attrs} have no exact form in jitnet (SPEC §8: LeakyRelu "
                         f"alpha=0.01, Elu alpha=1, Selu's defaults, Gelu approximate='none', Clip(-1, 1))")
    else:
        raise ValueError(f"{where}: op {op} is not supported by the ONNX importer")
    x = args[0]
    if not isinstance(x, _Pre):
        raise ValueError(f"{where}: an activation must apply to the output of a MatMul or Gemm "
                         f"(with its Add), got {_kind(x)}")
    return _Act(x, activation_code(name))


def _gemm(args, attrs, where, draft) -> _Pre:
    if attrs.get("transA", 0) != 0:
        raise ValueError(f"{where}: transA=1 is not supported")
    src = _units(args[0], where, draft)
    b = _const(args[1], where)
    w = b.T if attrs.get("transB", 0) else b
    if w.ndim != 2 or w.shape[0] != len(src):
        raise ValueError(f"{where}: weight shape {b.shape} does not fit the {len(src)} units it reads")
    bias = np.zeros(w.shape[1])
    if len(args) > 2 and args[2] is not None:
        bias = attrs.get("beta", 1.0) * _bias(_const(args[2], where), w.shape[1], where)
    return _Pre(src, attrs.get("alpha", 1.0) * w, bias)


def _add(args, where):
    x, y = args if not isinstance(args[0], _Const) else args[::-1]
    if isinstance(y, _Const) and isinstance(x, _Pre):
        return _Pre(x.src, x.w, x.b + _bias(y.value, x.w.shape[1], where))
    if isinstance(y, _Const) and isinstance(x, _Partial) and x.kind == "erf" and np.all(y.value == 1.0):
        return _Partial(x.pre, "1+erf", 1.0, where)
    raise ValueError(f"{where}: only the Add of a constant bias to a MatMul is supported, got "
                     f"{_kind(args[0])} + {_kind(args[1])}")


def _mul(op, args, where):
    x, y = args if not isinstance(args[0], _Const) else args[::-1]
    if isinstance(y, _Const) and y.value.size == 1 and (op == "Mul" or args[1] is y):
        c = float(y.value.ravel()[0])
        if op == "Div":
            if c not in _SQRT2:
                raise ValueError(f"{where}: Div is supported only by sqrt 2 in GELU's form")
            return _Partial(x, "scaled", 1.0 / math.sqrt(2.0), where) if isinstance(x, _Pre) else _fail(where)
        if isinstance(x, _Pre):
            return _Partial(x, "scaled", c, where)
        if isinstance(x, _Partial) and x.kind in ("1+erf", "x(1+erf)"):
            return _gelu_or_partial(x.pre, x.kind, x.c * c, where)
    if op == "Mul" and not isinstance(y, _Const):
        for a, s in ((x, y), (y, x)):
            if isinstance(s, _Act) and s.code == activation_code("sigmoid") and a is s.pre:
                return _Act(s.pre, activation_code("silu"))
            if isinstance(s, _Partial) and s.kind == "1+erf":
                if a is s.pre:
                    return _gelu_or_partial(s.pre, "x(1+erf)", s.c, where)
                if isinstance(a, _Partial) and a.kind == "scaled" and a.pre is s.pre:
                    return _gelu_or_partial(s.pre, "x(1+erf)", s.c * a.c, where)
    return _fail(where)


def _gelu_or_partial(pre, kind, c, where):
    if kind == "x(1+erf)" and c == 0.5:
        return _Act(pre, activation_code("gelu"))
    return _Partial(pre, kind, c, where)


def _fail(where):
    raise ValueError(f"{where}: supported only as x * Sigmoid(x) or in GELU's form x/2 (1 + erf(x / sqrt 2))")


def _units(value, where, draft: _Draft) -> np.ndarray:
    """The neurons holding `value`, building its layer the first time it is read as neurons."""
    if isinstance(value, _Units):
        return value.index
    if isinstance(value, _Pre):
        if value.built is None:
            value.built = draft.layer(value, 0)
        return value.built
    if isinstance(value, _Act):
        if value.built is None:
            value.built = draft.layer(value.pre, value.code)
        return value.built
    if isinstance(value, _Partial):
        raise ValueError(f"{value.node}: supported only as part of GELU's form x/2 (1 + erf(x / sqrt 2))")
    raise ValueError(f"{where}: expected a tensor of units, got {_kind(value)}")


def _width(value) -> int:
    if isinstance(value, _Units):
        return len(value.index)
    return (value if isinstance(value, _Pre) else value.pre).w.shape[1]


def _const(value, where) -> np.ndarray:
    if not isinstance(value, _Const):
        raise ValueError(f"{where}: expected a constant (an initializer or Constant), got {_kind(value)}")
    return value.value


def _bias(c: np.ndarray, n: int, where) -> np.ndarray:
    if c.shape not in ((), (n,), (1, n), (1,)):
        raise ValueError(f"{where}: bias has shape {c.shape}; expected (), ({n},) or (1, {n})")
    return np.broadcast_to(c.reshape(-1), (n,)).astype(np.float64)


def _clip_bounds(args, attrs, where):
    lo = attrs.get("min", -np.inf) if len(args) < 2 or args[1] is None else float(_const(args[1], where))
    hi = attrs.get("max", np.inf) if len(args) < 3 or args[2] is None else float(_const(args[2], where))
    return float(lo), float(hi)


def _kind(value) -> str:
    return {_Const: "a constant", _Units: "neurons", _Pre: "a weighted sum", _Act: "an activation",
            _Partial: "part of a GELU form", type(None): "nothing"}[type(value)]


def _attribute(a):
    from onnx import helper

    return helper.get_attribute_value(a) if a.type != a.STRING else a.s.decode()


def _constant(node, attrs, where) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"]).astype(np.float64)
    for key in ("value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key], dtype=np.float64)
    raise ValueError(f"{where}: only value, value_float(s) and value_int(s) constants are supported")

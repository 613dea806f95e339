"""Activation codes 00-14 (SPEC §2): code or name -> `Activation` with numpy `f` and `df`.

This is the one table of the activations' codes and names. The numpy
functions are the float64 oracle the tests and the reference evaluator use;
the compiled versions are `jitnet/lower/vmath`'s table of IR emitters, keyed
by the same codes and checked against these. Each `df` is the derivative with respect to the
pre-activation `z`, with PyTorch's values at kinks (SPEC §2).
"""

import math
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erfc = np.frompyfunc(math.erfc, 1, 1)
# NOTE: SPEC §2's selu constants (PyTorch's and neat-python's), rounded to double; lambda alpha is
# the double nearest the exact product (1.75809934084737685994...), not the product of the roundings.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA_ALPHA = 1.7580993408473768599402175208123


def _sigmoid(x):
    # NOTE: exp of a non-positive argument only, so no overflow for |x| large.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dsigmoid(x):
    s = _sigmoid(x)
    return s * _sigmoid(-x)


def _silu(x):
    return x * _sigmoid(x)


def _dsilu(x):
    # NOTE: s + x*s*(1-s) written with sigmoid(-x) for 1-s, exact in the tails.
    s = _sigmoid(x)
    return s * (1.0 + x * _sigmoid(-x))


def _gelu(x):
    # NOTE: x/2 * (1 + erf(x/sqrt2)) == x/2 * erfc(-x/sqrt2); erfc avoids the
    # cancellation of 1 + erf(.) for negative x.
    return 0.5 * x * _erfc(-x * _SQRT_HALF).astype(np.float64)


def _dgelu(x):
    cdf = 0.5 * _erfc(-x * _SQRT_HALF).astype(np.float64)
    return cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _softplus(x):
    # NOTE: log(1+e^x) = max(x,0) + log1p(e^-|x|): no overflow, exact in the tails.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _delu(x):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))


def _gauss(x):
    return np.exp(-0.5 * x * x)


def _dgauss(x):
    return -x * np.exp(-0.5 * x * x)


def _selu(x):
    return np.where(x > 0, SELU_LAMBDA * x, SELU_LAMBDA_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _dselu(x):
    return np.where(x > 0, SELU_LAMBDA, SELU_LAMBDA_ALPHA * np.exp(np.minimum(x, 0.0)))


@dataclass(frozen=True)
class Activation:
    """One row of the activation table."""

    code: int
    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS = (
    # f(x) = x                          f'(x) = 1
    Activation(0x0, "identity", lambda x: x + 0.0, lambda x: np.ones_like(x)),
    # f(x) = 1/(1+e^-x)                 f'(x) = s(x) s(-x)
    Activation(0x1, "sigmoid", _sigmoid, _dsigmoid),
    # f(x) = tanh x                     f'(x) = 1 - tanh^2 x = 1/cosh^2 x
    # NOTE: 1/cosh^2 keeps full relative accuracy in the tails, where 1 - tanh^2 is 0.
    Activation(0x2, "tanh", np.tanh, lambda x: 1.0 / np.cosh(x) ** 2),
    # f(x) = max(x, 0)                  f'(x) = 1 if x > 0 else 0 (NOTE: relu'(0) = 0)
    Activation(0x3, "relu", lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(np.float64)),
    # f(x) = x s(x)                     f'(x) = s(x) (1 + x s(-x))
    Activation(0x4, "silu", _silu, _dsilu),
    # f(x) = x/2 (1 + erf(x/sqrt2))     f'(x) = Phi(x) + x phi(x)
    Activation(0x5, "gelu", _gelu, _dgelu),
    # f(x) = x s(x) (beta = 1)          f'(x) = s(x) (1 + x s(-x))
    Activation(0x6, "swish", _silu, _dsilu),
    # f(x) = x if x >= 0 else x/100     f'(x) = 1 if x > 0 else 1/100 (NOTE: 1/100 at 0)
    Activation(0x7, "leaky_relu", lambda x: np.where(x >= 0, x, x / 100.0),
               lambda x: np.where(x > 0, 1.0, 0.01)),
    # f(x) = 1 if x > 0 else 0          f'(x) = 0
    Activation(0x8, "step", lambda x: (x > 0).astype(np.float64), lambda x: np.zeros_like(x)),
    # f(x) = log(1 + e^x)               f'(x) = s(x)
    Activation(0x9, "softplus", _softplus, _sigmoid),
    # f(x) = x if x > 0 else e^x - 1    f'(x) = 1 if x > 0 else e^x
    Activation(0xA, "elu", _elu, _delu),
    # f(x) = sin x                      f'(x) = cos x
    Activation(0xB, "sin", np.sin, np.cos),
    # f(x) = e^(-x^2/2)                 f'(x) = -x e^(-x^2/2)
    Activation(0xC, "gauss", _gauss, _dgauss),
    # f(x) = |x|                        f'(x) = sign x (NOTE: 0 at 0)
    Activation(0xD, "abs", np.abs, np.sign),
    # f(x) = cos x                      f'(x) = -sin x
    Activation(0xE, "cos", np.cos, lambda x: -np.sin(x)),
    # f(x) = x^2                        f'(x) = 2x
    Activation(0xF, "square", np.square, lambda x: 2.0 * x),
    # f(x) = max(-1, min(1, x))         f'(x) = 1 on (-1, 1), else 0 (NOTE: 0 at +-1)
    Activation(0x10, "clamped", lambda x: np.clip(x, -1.0, 1.0),
               lambda x: ((x > -1.0) & (x < 1.0)).astype(np.float64)),
    # f(x) = max(0, 1 - |x|)            f'(x) = -sign x on (-1, 1), else 0 (NOTE: 0 at 0 and +-1)
    Activation(0x11, "hat", lambda x: np.maximum(1.0 - np.abs(x), 0.0),
               lambda x: np.where(np.abs(x) < 1.0, -np.sign(x), 0.0)),
    # f(x) = x^3                        f'(x) = 3x^2
    Activation(0x12, "cube", lambda x: x * x * x, lambda x: 3.0 * (x * x)),
    # f(x) = e^x                        f'(x) = e^x
    Activation(0x13, "exp", np.exp, np.exp),
    # f(x) = l x if x > 0 else l a (e^x - 1)    f'(x) = l if x > 0 else l a e^x (NOTE: l a at 0)
    Activation(0x14, "selu", _selu, _dselu),
)

_BY_NAME = {a.name: a.code for a in ACTIVATIONS}

ActivationLike = Union[int, str, np.integer]


def activation_code(value: ActivationLike) -> int:
    """Return the code (0-20) of an activation given as an int, a hex code ("03", "14") or a name ("relu").

    Raises:
        ValueError: for anything that names no activation.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"unknown activation {value!r}")
    if isinstance(value, (int, np.integer)):
        if 0 <= int(value) < len(ACTIVATIONS):
            return int(value)
        raise ValueError(f"unknown activation code {int(value)}: expected 0-{len(ACTIVATIONS) - 1}")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _BY_NAME:
            return _BY_NAME[text]
        if text and all(c in "0123456789abcdef" for c in text) and int(text, 16) < len(ACTIVATIONS):
            return int(text, 16)
    names = ", ".join(a.name for a in ACTIVATIONS)
    raise ValueError(f"unknown activation {value!r}: expected a hex code 00-{len(ACTIVATIONS) - 1:02x} "
                     f"or one of {names}")


def activation(value: ActivationLike) -> Activation:
    """The table row for a code or name (see `activation_code`)."""
    return ACTIVATIONS[activation_code(value)]


def apply_f(codes: np.ndarray, z: np.ndarray) -> np.ndarray:
    """f_j(z_j) for every neuron of `codes` (float64), columns of `z` indexed like `codes`."""
    return _apply(codes, z, "f")


def apply_df(codes: np.ndarray, z: np.ndarray) -> np.ndarray:
    """f_j'(z_j) for every neuron of `codes` (float64), columns of `z` indexed like `codes`."""
    return _apply(codes, z, "df")


def _apply(codes, z, which):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    codes = np.asarray(codes)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for code in np.unique(codes):
            cols = codes == code
            out[..., cols] = getattr(ACTIVATIONS[code], which)(z[..., cols])
    return out

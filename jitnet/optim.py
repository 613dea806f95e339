"""Optimizers: update parameter arrays in place from their gradients (SPEC §7).

`opt.step(params, grads)` takes two lists of arrays, e.g. `[w, b]` and
`[dw, db]`, and updates each parameter in place, as `torch.optim` does, so a
training loop keeps passing the same arrays. Each optimizer keeps one set of
state arrays per parameter, keyed by its position in the list and starting at
zero; a later step whose parameters do not match that state in shape or dtype
is an error rather than a silent broadcast. The caller's gradients are never
written: `weight_decay` is added to a private copy.

    >>> import numpy as np
    >>> w = np.array([1.0, 2.0])
    >>> SGD(0.1).step([w], [np.array([1.0, -1.0])])
    >>> w.tolist()
    [0.9, 2.1]

Everything is computed in the parameter's dtype (hyperparameters are Python
floats, which numpy does not let widen a float32 array).
"""

from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ["OPTIMIZERS", "Adam", "Optimizer", "RMSprop", "SGD", "by_name"]

# The names `jitnet train --optimizer` and `train(optimizer=...)` accept, in the CLI's order.
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


class Optimizer:
    """The bookkeeping every optimizer shares: checks, weight decay, per-parameter state, `t`.

    A subclass names its state arrays in `STATE` and writes one `_update`.
    """

    STATE: Tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float):
        self.lr = _at_least(lr, "lr", 0.0)
        self.weight_decay = _at_least(weight_decay, "weight_decay", 0.0)
        self.t = 0
        self._state: Optional[List[Dict[str, np.ndarray]]] = None

    def step(self, params, grads) -> None:
        """Update every array of `params` in place from the matching array of `grads`.

        Raises:
            TypeError: for a parameter that is not a writable floating-point ndarray.
            ValueError: for lists of different lengths, a gradient shaped unlike
                its parameter, or parameters that differ from the earlier steps'.
        """
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} params but {len(grads)} grads; expected one grad per param")
        grads = [_gradient(p, g, k) for k, (p, g) in enumerate(zip(params, grads))]
        if self._state is None:
            self._state = [{name: np.zeros_like(p) for name in self.STATE} for p in params]
        state_list = self._check_state(params)
        self.t += 1
        for p, g, state in zip(params, grads, state_list):
            if self.weight_decay:
                g += self.weight_decay * p
            self._update(p, g, state)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def _check_state(self, params) -> List[Dict[str, np.ndarray]]:
        """The per-parameter state, after checking that `params` match it."""
        assert self._state is not None
        if len(params) != len(self._state):
            raise ValueError(f"step got {len(params)} params; this optimizer's state is for "
                             f"{len(self._state)} (use a new optimizer for other parameters)")
        for k, (p, state) in enumerate(zip(params, self._state)):
            held = state[self.STATE[0]]
            if p.shape != held.shape or p.dtype != held.dtype:
                raise ValueError(f"params[{k}] is {p.dtype} {p.shape}; this optimizer's state for it "
                                 f"is {held.dtype} {held.shape} (use a new optimizer for other parameters)")
        return self._state


class SGD(Optimizer):
    """Stochastic gradient descent with (EMA) momentum (SPEC §7).

        v = momentum*v + (1-momentum)*g
        p -= lr*v

    With `momentum=0` this is plain SGD, `p -= lr*g`. `weight_decay` adds
    `weight_decay*p` to `g` first.
    """

    STATE = ("v",)

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _fraction(momentum, "momentum")

    def _update(self, p, g, state):
        v = state["v"]
        v[...] = self.momentum * v + (1 - self.momentum) * g
        p -= self.lr * v


class RMSprop(Optimizer):
    """RMSprop (SPEC §7).

        s = beta*s + (1-beta)*g^2
        p -= lr*g/sqrt(s + eps)

    NOTE: `eps` sits inside the square root, as the SPEC writes it.
    `weight_decay` adds `weight_decay*p` to `g` first.
    """

    STATE = ("s",)

    def __init__(self, lr: float, beta: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta = _fraction(beta, "beta")
        self.eps = _at_least(eps, "eps", 0.0)

    def _update(self, p, g, state):
        s = state["s"]
        s[...] = self.beta * s + (1 - self.beta) * g * g
        p -= self.lr * g / np.sqrt(s + self.eps)


class Adam(Optimizer):
    """Adam with bias correction (SPEC §7); `t` is 1 on the first step.

        m = beta1*m + (1-beta1)*g
        v = beta2*v + (1-beta2)*g^2
        m_hat = m/(1-beta1^t),  v_hat = v/(1-beta2^t)
        p -= lr*m_hat/(sqrt(v_hat) + eps)

    `weight_decay` adds `weight_decay*p` to `g` first (L2, not AdamW's decoupled decay).
    """

    STATE = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = _fraction(beta1, "beta1")
        self.beta2 = _fraction(beta2, "beta2")
        self.eps = _at_least(eps, "eps", 0.0)

    def _update(self, p, g, state):
        m, v = state["m"], state["v"]
        m[...] = self.beta1 * m + (1 - self.beta1) * g
        v[...] = self.beta2 * v + (1 - self.beta2) * g * g
        # NOTE: the corrections are Python floats (float64), rounded once to p's dtype on use.
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def by_name(name: str, lr: float = 1e-3) -> "Optimizer":
    """The optimizer a name stands for (SPEC §6): `momentum` is `SGD(lr, momentum=0.9)`; the
    others are their class with its defaults but `lr`.

        >>> by_name("momentum", 0.1).momentum
        0.9

    Raises:
        ValueError: for a name not in `OPTIMIZERS`.
    """
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        return SGD(lr, momentum=0.9)
    if name == "rmsprop":
        return RMSprop(lr)
    if name == "adam":
        return Adam(lr)
    raise ValueError(f"optimizer {name!r}; expected an Optimizer or one of {', '.join(map(repr, OPTIMIZERS))}")


def _gradient(p, g, k: int) -> np.ndarray:
    """A private copy of `g` in `p`'s dtype, after checking that `p` can be updated in place."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"params[{k}] is a {type(p).__name__}; expected a numpy array (it is updated in place)")
    if p.dtype.kind != "f":
        raise TypeError(f"params[{k}] has dtype {p.dtype}; expected a floating-point array")
    if not p.flags.writeable:
        raise TypeError(f"params[{k}] is read-only; pass a writable copy")
    g = np.array(g, dtype=p.dtype)
    if g.shape != p.shape:
        raise ValueError(f"grads[{k}] has shape {g.shape}; expected {p.shape}, the shape of params[{k}]")
    return g


def _at_least(value, name: str, low: float) -> float:
    value = float(value)
    if not value >= low:
        raise ValueError(f"{name}={value!r}; expected a number >= {low}")
    return value


def _fraction(value, name: str) -> float:
    """A decay rate in [0, 1): at 1 the state would never move from zero."""
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r}; expected a number in [0, 1)")
    return value
